"""
Softmax and its stability
=========================

softmax(x)ᵢ = exp(xᵢ) / Σⱼ exp(xⱼ). Written that way it overflows as soon as one logit passes the log of the
largest float: exp(1000) is ``inf`` in every floating type, and inf / inf is ``nan``. Subtracting the row
maximum first changes nothing mathematically (the factor exp(−m) cancels between numerator and denominator)
but keeps every exponent ≤ 0, so nothing overflows. ``softgrad.ops.softmax`` does that (and computes float16
in float32).
"""

import matplotlib.pyplot as plt
import numpy as np

from softgrad import ops

DTYPES = (np.float16, np.float32, np.float64)


def naive_softmax(x):
    """exp(x) / Σ exp(x), as written on paper: no shift."""
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(x)
        return e / e.sum()


def shifted_softmax(x):
    """exp(x − max x) / Σ exp(x − max x): the same function, every exponent ≤ 0."""
    e = np.exp(x - x.max())
    return e / e.sum()


# %%
# The logits (1000, 1001, 1002) in float16, float32 and float64
# -------------------------------------------------------------
# The exact answer is softmax(0, 1, 2) = (0.0900, 0.2447, 0.6652): only differences between logits matter.

exact = np.exp([0.0, 1.0, 2.0]) / np.exp([0.0, 1.0, 2.0]).sum()
for dtype in DTYPES:
    x = np.array([1000.0, 1001.0, 1002.0], dtype=dtype)
    naive, shifted, library = naive_softmax(x), shifted_softmax(x), ops.softmax(x).numpy()
    print(f"{np.dtype(dtype).name:8s} naive {naive}   shifted {shifted}   ops.softmax {library}")
    assert np.isnan(naive).all()  # inf / inf
    tolerance = 10 * np.finfo(dtype).eps
    assert np.allclose(shifted, exact, rtol=tolerance) and np.allclose(library, exact, rtol=tolerance)
    assert library.dtype == dtype

# %%
# The shift changes nothing mathematically
# ----------------------------------------
# Where the naive formula does not overflow, both agree to rounding, and softmax(x + c) = softmax(x) for any c.

small = np.array([1.0, 2.0, 3.0])
print("naive  (1, 2, 3):", naive_softmax(small))
print("shifted(1, 2, 3):", shifted_softmax(small))
assert np.allclose(naive_softmax(small), shifted_softmax(small), rtol=1e-15, atol=0)
assert np.allclose(ops.softmax(small + 1000.0).numpy(), ops.softmax(small).numpy(), rtol=1e-15, atol=0)

# %%
# Where the naive softmax breaks, per type
# ----------------------------------------
# Logits (a, a + 1, a + 2) for a growing offset a: the naive largest probability is right until exp(a + 2)
# overflows, at a + 2 = ln(largest float): 11.1 in float16, 88.7 in float32, 709.8 in float64 (float16's sum
# overflows a little earlier, giving 0 first). Then it is ``nan`` (the line stops, grey region). The shifted
# softmax stays at 0.665 for every a.

offsets = np.geomspace(1, 2000, 400)
fig, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
for ax, dtype in zip(axes, DTYPES):
    name, limit = np.dtype(dtype).name, float(np.log(np.finfo(dtype).max))
    naive_top = np.array([naive_softmax((a + np.arange(3)).astype(dtype))[2] for a in offsets], dtype=float)
    shifted_top = [ops.softmax((a + np.arange(3)).astype(dtype)).numpy()[2] for a in offsets]
    broken = offsets[np.isnan(naive_top)]
    assert abs(broken[0] - (limit - 2)) / (limit - 2) < 0.03  # nan from where exp(a + 2) overflows
    ax.axvspan(broken[0], offsets[-1], color="0.85", label=f"naive gives nan (a + 2 > ln max = {limit:.1f})")
    ax.plot(offsets, naive_top, color="tab:red", lw=2.5, label="naive exp(x)/Σexp(x)")
    ax.plot(offsets, shifted_top, "k--", lw=1.5, label="max-shifted: ops.softmax")
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("softmax(x)₃")
    ax.set_title(f"{name}: the naive softmax breaks past a = {limit - 2:.1f}, the shifted one never", fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
axes[-1].set_xscale("log")
axes[-1].set_xlabel("offset a of the logits (a, a + 1, a + 2)  [log scale]")
fig.suptitle("Largest probability of softmax(a, a + 1, a + 2): exactly 0.665 for every a")
fig.tight_layout()
plt.show()
