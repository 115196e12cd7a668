"""Softmax: why exp(x − max x) keeps it finite, and its Jacobian diag(p) − p pᵀ."""

from __future__ import annotations

import numpy as np

import softgrad as sg
from softgrad import ops

DTYPES = (np.float16, np.float32, np.float64)


def _naive_softmax(x):
    """exp(x)/Σexp(x), computed as written."""
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(x)
        return e / e.sum()


def _shifted_softmax(x):
    """exp(x − m)/Σexp(x − m), m = max x: every exponent ≤ 0, so nothing overflows."""
    e = np.exp(x - x.max())
    return e / e.sum()


def softmax_overflow(r) -> None:
    """The naive softmax overflows where eˣ does — above ln(max float): 11.1 in float16, 88.7 in float32, 709.8
    in float64 — while the shifted one, the same function (softmax(x) = softmax(x − c) for every c), stays exact."""
    logits = np.array([1000.0, 1001.0, 1002.0])
    exact = _shifted_softmax(np.array([0.0, 1.0, 2.0]))
    r.say(f"logits {logits.tolist()}: exact softmax {np.round(exact, 4).tolist()}")
    for dtype in DTYPES:
        x = logits.astype(dtype)
        name = np.dtype(dtype).name
        shifted = _shifted_softmax(x).astype(np.float64).round(4).tolist()
        r.say(f"  {name}: naive {_naive_softmax(x).tolist()}, shifted {shifted}, "
              f"ops.softmax {ops.softmax(x).numpy().astype(np.float64).round(4).tolist()}")
        r.numbers[f"naive finite ({name})"] = bool(np.isfinite(_naive_softmax(x)).all())
        r.numbers[f"shifted error ({name})"] = float(np.abs(_shifted_softmax(x) - exact).max())
        r.number(f"overflow threshold ln(max {name})", float(np.log(np.finfo(dtype).max)))
    small = np.array([1.0, 2.0, 3.0])
    r.number("max |naive − shifted| on (1, 2, 3), float64",
             float(np.abs(_naive_softmax(small) - _shifted_softmax(small)).max()))
    r.number("max |softmax(x) − softmax(x − 5)|",
             float(np.abs(_shifted_softmax(small) - _shifted_softmax(small - 5)).max()))
    _draw_overflow(r, exact)


def _draw_overflow(r, exact) -> None:
    figure = r.figure(10, 4)
    if figure is None:
        return
    axes = figure.subplots(1, 3, sharey=True)
    offsets = np.geomspace(1, 1000, 1500)
    for ax, dtype in zip(axes, DTYPES):
        naive = np.array([_naive_softmax((c + np.array([0.0, 1.0, 2.0])).astype(dtype))[2] for c in offsets], float)
        shifted = np.array([_shifted_softmax((c + np.array([0.0, 1.0, 2.0])).astype(dtype))[2] for c in offsets], float)
        limit = float(offsets[np.argmax(~np.isfinite(naive))])
        ax.axvspan(limit, 1000, color="tab:red", alpha=0.12)
        ax.plot(offsets, shifted, lw=4, color="tab:green", label="exp(x − max x) / Σ")
        ax.plot(offsets, naive, "--", lw=2, color="tab:red", label="exp(x) / Σexp(x)")
        ax.text(limit * 1.15, 0.35, f"naive: NaN\nfrom c ≈ {limit:.0f}", fontsize=9, color="tab:red")
        ax.set(title=np.dtype(dtype).name, xlabel="c, in logits (c, c + 1, c + 2)", xscale="log", ylim=(0, 1),
               xlim=(1, 1000))
    axes[0].set_ylabel("p₃ (exact: %.3f)" % exact[2])
    axes[0].legend(loc="lower left", fontsize=9)
    figure.suptitle("softmax of large logits: the max-shifted form is finite for every c")
    r.save(figure, "probabilities")


def softmax_jacobian(r) -> None:
    """∂pᵢ/∂xⱼ = pᵢ(δᵢⱼ − pⱼ): the Jacobian autodiff computes equals diag(p) − p pᵀ; its rows sum to 0 (Σp = 1)."""
    x = np.array([1.0, 2.0, 0.5, -1.0, 0.0])
    p = ops.softmax(x).numpy()
    from_autodiff = sg.jacobian(ops.softmax)(x).numpy()
    formula = np.diag(p) - np.outer(p, p)
    r.say(f"x = {x.tolist()}, p = {np.round(p, 4).tolist()}")
    r.number("max |autodiff − (diag(p) − p pᵀ)|", float(np.abs(from_autodiff - formula).max()))
    r.number("max |row sum| of the Jacobian", float(np.abs(from_autodiff.sum(axis=1)).max()))
    r.number("max |J − Jᵀ| (symmetric)", float(np.abs(from_autodiff - from_autodiff.T).max()))
    figure = r.figure(12, 4)
    if figure is None:
        return
    panels = [("autodiff: sg.jacobian(ops.softmax)", from_autodiff), ("formula: diag(p) − p pᵀ", formula),
              (f"difference (at most {np.abs(from_autodiff - formula).max():.0e}: rounding)", from_autodiff - formula)]
    for ax, (title, matrix) in zip(figure.subplots(1, 3), panels):
        limit = np.abs(matrix).max() or 1e-16
        image = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set(title=title, xlabel="j (input xⱼ)", ylabel="i (output pᵢ)")
        figure.colorbar(image, ax=ax, shrink=0.8)
    figure.suptitle(f"the softmax Jacobian at x = {x.tolist()}")
    r.save(figure, "heatmaps")


__all__ = ["softmax_overflow", "softmax_jacobian"]
