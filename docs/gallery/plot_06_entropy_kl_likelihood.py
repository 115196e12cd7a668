"""
Entropy, KL divergence and maximum likelihood
=============================================

The entropy H(p) = −Σ p log p is the average surprise of outcomes drawn from p; the cross-entropy
H(p, q) = −Σ p log q is the average surprise when they are drawn from p but scored with q; and the gap is the
Kullback–Leibler divergence: H(p, q) = H(p) + KL(p‖q), with KL ≥ 0 (Gibbs) and = 0 only when q = p. In nats
(natural log) or bits (log₂): 1 bit = ln 2 nats. Minimising the cross-entropy against the data's empirical
distribution is maximising the likelihood.
"""

import math

import matplotlib.pyplot as plt
import numpy as np

import softgrad as sg
from softgrad import info

# %%
# H(p, q) = H(p) + KL(p‖q), in nats and in bits
# ---------------------------------------------

p = np.array([0.5, 0.25, 0.125, 0.125])
q = np.array([0.1, 0.2, 0.3, 0.4])
table = {}
for unit, base in (("nats", math.e), ("bits", 2)):
    h, cross = info.entropy(p, base=base).item(), info.cross_entropy_between(p, q, base=base).item()
    kl_pq, kl_qp = info.kl_divergence(p, q, base=base).item(), info.kl_divergence(q, p, base=base).item()
    table[unit] = h, cross, kl_pq, kl_qp
    print(f"{unit}: H(p) = {h:.4f}  H(p, q) = {cross:.4f}  KL(p‖q) = {kl_pq:.4f}  KL(q‖p) = {kl_qp:.4f}")
    assert np.isclose(cross, h + kl_pq, rtol=1e-12)
assert np.isclose(table["bits"][0], 1.75)  # 1 bit for half the draws, 2 for a quarter, 3 for the rest
assert np.isclose(table["nats"][0], table["bits"][0] * math.log(2))
assert table["nats"][2] > 0 and not np.isclose(table["nats"][2], table["nats"][3])  # KL > 0, asymmetric
assert info.kl_divergence(p, p).item() == 0

# %%
# Gibbs' inequality over many random pairs
# ----------------------------------------

rng = np.random.default_rng(0)
pairs = rng.dirichlet(np.ones(4), size=(2, 500))
kl_forward = info.kl_divergence(pairs[0], pairs[1]).numpy()
kl_backward = info.kl_divergence(pairs[1], pairs[0]).numpy()
print(f"500 random pairs: smallest KL {kl_forward.min():.2e}, largest |KL(p‖q) − KL(q‖p)| "
      f"{np.abs(kl_forward - kl_backward).max():.3f}")
assert (kl_forward >= 0).all()

# %%
# A coin's likelihood over θ
# --------------------------
# 7 heads in 10 flips. The likelihood L(θ) = θ⁷(1 − θ)³ is largest at θ = 7/10, and −log L(θ)/10 is the
# cross-entropy H(p̂, q_θ) between the empirical distribution p̂ = (0.7, 0.3) and the model q_θ = (θ, 1 − θ):
# the same curve turned upside down, its minimum H(p̂) where KL(p̂‖q_θ) = 0.

heads, flips = 7, 10
thetas = np.linspace(0.01, 0.99, 197)
likelihood = thetas**heads * (1 - thetas) ** (flips - heads)
empirical = np.array([heads / flips, 1 - heads / flips])
cross_entropies = np.array([info.cross_entropy_between(empirical, [t, 1 - t]).item() for t in thetas])
best = thetas[np.argmax(likelihood)]
slope = sg.grad(lambda t: info.cross_entropy_between(empirical, sg.ops.stack([t, 1 - t])))(np.float64(0.7))
print(f"likelihood largest at θ = {best:.3f}; d H(p̂, q_θ)/dθ at 0.7 = {slope.item():.1e}")
assert np.isclose(best, 0.7) and thetas[np.argmin(cross_entropies)] == best
assert np.allclose(cross_entropies, -np.log(likelihood) / flips, rtol=1e-12)
assert abs(slope.item()) < 1e-12
assert np.isclose(cross_entropies.min(), info.binary_entropy(0.7).item())

fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
ax = axes[0]
ax.bar(np.arange(4) - 0.2, p, 0.4, label="p", color="tab:blue")
ax.bar(np.arange(4) + 0.2, q, 0.4, label="q", color="tab:gray")
ax.set_xticks(range(4))
ax.set_xlabel("outcome")
ax.set_ylabel("probability")
ax.set_title("two distributions p and q")
ax.legend()
ax = axes[1]
units = list(table)
h = np.array([table[u][0] for u in units])
kl = np.array([table[u][2] for u in units])
ax.bar(units, h, color="tab:blue", label="H(p)")
ax.bar(units, kl, bottom=h, color="tab:orange", label="KL(p‖q)")
for i, u in enumerate(units):
    ax.annotate(f"H(p, q) = {table[u][1]:.3f}", (i, table[u][1] + 0.03), ha="center")
ax.set_ylim(0, 3.2)
ax.set_xlabel("unit")
ax.set_ylabel("information")
ax.set_title("H(p, q) = H(p) + KL(p‖q)\n(1 bit = ln 2 = 0.693 nats)")
ax.legend(loc="upper left")
ax = axes[2]
ax.plot(thetas, likelihood / likelihood.max(), color="tab:green", lw=2, label="likelihood L(θ) / max")
ax.plot(thetas, cross_entropies, color="tab:purple", lw=2, label="H(p̂, q_θ) = −log L(θ) / 10 (nats)")
ax.axvline(best, color="black", ls="--", lw=1, label=f"θ = {best:.1f}: max L = min H")
ax.set_ylim(0, 2.4)
ax.set_xlabel("θ, the probability of heads")
ax.set_ylabel("value")
ax.set_title("7 heads in 10 flips:\nmaximum likelihood = minimum cross-entropy")
ax.legend(fontsize=8, loc="upper center")
fig.suptitle(f"Entropy, KL divergence and maximum likelihood (KL is not symmetric: KL(p‖q) = {table['nats'][2]:.3f}, "
             f"KL(q‖p) = {table['nats'][3]:.3f} nats)")
fig.tight_layout()
plt.show()
