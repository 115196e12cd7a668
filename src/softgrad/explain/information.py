"""Entropy, cross-entropy and KL in nats and bits; maximum likelihood is minimum cross-entropy."""

from __future__ import annotations

import math

import numpy as np

import softgrad as sg
from softgrad import info, ops

PAIRS = {  # (p, q)
    "p vs uniform q": (np.array([0.7, 0.2, 0.1]), np.array([1 / 3, 1 / 3, 1 / 3])),
    "p vs a near miss": (np.array([0.7, 0.2, 0.1]), np.array([0.6, 0.3, 0.1])),
    "p vs itself": (np.array([0.7, 0.2, 0.1]), np.array([0.7, 0.2, 0.1])),
    "one-hot p vs a prediction": (np.array([0.0, 1.0, 0.0]), np.array([0.1, 0.7, 0.2])),
}


def entropy_kl(r) -> None:
    """H(p) = −Σ p log p, H(p, q) = −Σ p log q, KL(p‖q) = Σ p log(p/q): H(p, q) = H(p) + KL(p‖q); KL ≥ 0 with
    equality only at p = q (Gibbs); KL(p‖q) ≠ KL(q‖p). Bits are nats / ln 2."""
    worst = 0.0
    for name, (p, q) in PAIRS.items():
        h, cross, kl = float(info.entropy(p)), float(info.cross_entropy_between(p, q)), float(info.kl_divergence(p, q))
        back = float(info.kl_divergence(q, p)) if (p > 0).all() else math.inf
        bits = float(info.cross_entropy_between(p, q, base=2))
        r.say(f"{name}: H(p) = {h:.4f}, H(p,q) = {cross:.4f} nats = {bits:.4f} bits, KL(p‖q) = {kl:.4f}, "
              f"KL(q‖p) = {back:.4f}")
        worst = max(worst, abs(cross - h - kl))
        r.numbers[f"KL(p||q) ({name})"] = kl
        r.numbers[f"KL(q||p) ({name})"] = back
        r.numbers[f"bits / nats ({name})"] = bits / cross if cross else 1 / math.log(2)
    r.number("H(p,q) - H(p) - KL(p||q)", worst, shown=f"{worst:.2e} (largest over the pairs)")
    _draw_entropy(r)


def _draw_entropy(r) -> None:
    figure = r.figure(11, 4)
    if figure is None:
        return
    bars, curves = figure.subplots(1, 2)
    names = list(PAIRS)
    h = [float(info.entropy(p, base=2)) for p, _ in PAIRS.values()]
    kl = [float(info.kl_divergence(p, q, base=2)) for p, q in PAIRS.values()]
    bars.bar(names, h, label="H(p)")
    bars.bar(names, kl, bottom=h, label="KL(p‖q)")
    bars.scatter(names, [float(info.cross_entropy_between(p, q, base=2)) for p, q in PAIRS.values()], color="black",
                 zorder=3, label="H(p, q), computed directly")
    bars.set(ylabel="bits", title="cross-entropy = entropy + KL")
    bars.tick_params(axis="x", labelrotation=15)
    bars.legend()
    theta = np.linspace(0.01, 0.99, 197)
    p = np.array([0.3, 0.7])
    forward = [float(info.kl_divergence(p, np.array([1 - t, t]))) for t in theta]
    backward = [float(info.kl_divergence(np.array([1 - t, t]), p)) for t in theta]
    curves.plot(theta, forward, label="KL(p‖q)")
    curves.plot(theta, backward, "--", label="KL(q‖p)")
    curves.axvline(0.7, color="grey", lw=1)
    curves.set(xlabel="q = Bernoulli(θ); p = Bernoulli(0.7)", ylabel="nats", ylim=(0, 2),
               title="KL ≥ 0, zero only at q = p, and not symmetric")
    curves.legend()
    r.save(figure, "decomposition")


def mle(r) -> None:
    """A coin with 7 heads in 10 tosses: the likelihood θ⁷(1 − θ)³ peaks at θ = 0.7, where the mean binary
    cross-entropy of the tosses against θ is smallest (−ln L / n). Logistic regression by gradient descent on
    the cross-entropy recovers the parameters that generated the data: the maximum-likelihood fit."""
    tosses = np.array([1.0] * 7 + [0.0] * 3)
    logit = np.array(0.0)  # θ = σ(logit), so every step stays a probability
    nll = sg.value_and_grad(lambda z: ops.binary_cross_entropy_with_logits(ops.broadcast_to(z, tosses.shape), tosses))
    for _ in range(200):
        _, g = nll(logit)
        logit = logit - 2.0 * g.numpy()
    r.number("θ maximising the coin's likelihood (by gradient descent on the cross-entropy)",
             float(ops.sigmoid(logit)))
    r.number("mean BCE at θ = 0.7 + ln L(0.7) / n", float(ops.binary_cross_entropy(np.full(10, 0.7), tosses))
             + (7 * math.log(0.7) + 3 * math.log(0.3)) / 10)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(2000)
    y = (rng.random(2000) < 1 / (1 + np.exp(-(2.0 * x - 1.0)))).astype(np.float64)
    params = np.zeros(2)
    fit = sg.value_and_grad(lambda p: ops.binary_cross_entropy_with_logits(p[0] * x + p[1], y))
    for _ in range(2000):
        _, g = fit(params)
        params = params - 1.0 * g.numpy()
    r.number("logistic regression: fitted w (data made with w = 2)", float(params[0]))
    r.number("logistic regression: fitted b (data made with b = −1)", float(params[1]))
    _check_logistic_density(r)
    _draw_mle(r, tosses, params, x, y)


def _check_logistic_density(r) -> None:
    """The logistic distribution: F(x) = σ((x − μ)/s) and f = F′ = F(1 − F)/s (from autodiff)."""
    mu, s, x = 1.0, 0.5, np.linspace(-3, 5, 41)
    density = sg.grad(lambda v: ops.sigmoid((v - mu) / s).sum())(x).numpy()
    f = ops.sigmoid((x - mu) / s).numpy()
    r.number("max |dF/dx (autodiff) − F(1 − F)/s|", float(np.abs(density - f * (1 - f) / s).max()))


def _draw_mle(r, tosses, params, x, y) -> None:
    figure = r.figure(12, 4)
    if figure is None:
        return
    coin, logistic, density = figure.subplots(1, 3)
    theta = np.linspace(0.01, 0.99, 197)
    likelihood = theta ** tosses.sum() * (1 - theta) ** (len(tosses) - tosses.sum())
    coin.plot(theta, likelihood / likelihood.max(), label="likelihood (scaled)")
    coin.plot(theta, [float(ops.binary_cross_entropy(np.full(10, t), tosses)) for t in theta], label="mean BCE")
    coin.axvline(0.7, color="grey", lw=1)
    coin.set(xlabel="θ = P(heads)", title="7 heads in 10: max likelihood\n= min cross-entropy, at θ = 0.7")
    coin.legend()
    grid = np.linspace(-3, 3, 200)
    logistic.scatter(x[:300], y[:300] + np.random.default_rng(1).uniform(-0.03, 0.03, 300), s=4, alpha=0.4,
                     label="data (jittered)")
    logistic.plot(grid, 1 / (1 + np.exp(-(2 * grid - 1))), label="true σ(2x − 1)")
    logistic.plot(grid, 1 / (1 + np.exp(-(params[0] * grid + params[1]))), "--", label="fitted (min CE)")
    logistic.set(xlabel="x", ylabel="P(y = 1)", title="logistic regression by maximum likelihood")
    logistic.legend(fontsize=8)
    for (mu, s), color in zip(((0.0, 1.0), (0.0, 0.5), (1.0, 1.0)), ("tab:blue", "tab:green", "tab:purple")):
        values = 1 / (1 + np.exp(-(grid - mu) / s))
        density.plot(grid, values, color=color, label=f"F, μ = {mu}, s = {s}")
        density.plot(grid, values * (1 - values) / s, ":", lw=2, color=color, label="its f = F(1 − F)/s")
    density.set(xlabel="x", title="the logistic distribution: F = σ((x − μ)/s)")
    density.legend(fontsize=7)
    r.save(figure, "likelihood")


__all__ = ["entropy_kl", "mle"]
