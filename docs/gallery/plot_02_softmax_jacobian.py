"""
The softmax Jacobian
====================

For p = softmax(x), ∂pᵢ/∂xⱼ = pᵢ(δᵢⱼ − pⱼ), that is J = diag(p) − p pᵀ: positive on the diagonal (raising a
logit raises its own probability), negative off it (and lowers every other one), symmetric, and each row sums
to 0 (the probabilities keep summing to 1). ``softgrad.jacobian`` computes J by reverse-mode autodiff, one
backward sweep with the identity as a batch of cotangents; here it is set beside the closed form.
"""

import matplotlib.pyplot as plt
import numpy as np

import softgrad as sg
from softgrad import ops

x = np.array([2.0, 1.0, 0.1, -1.0, 0.5])  # five logits, float64
p = ops.softmax(x).numpy()
autodiff = sg.jacobian(ops.softmax)(sg.Tensor(x)).numpy()
closed_form = np.diag(p) - np.outer(p, p)
difference = autodiff - closed_form

with np.printoptions(precision=4, suppress=True):
    print("p =", p)
    print("J from softgrad.jacobian:\n", autodiff)
print("largest |autodiff − (diag(p) − p pᵀ)|:", np.abs(difference).max())
print("row sums:", autodiff.sum(axis=1))

assert np.abs(difference).max() < 1e-15  # the same matrix, to float64 rounding
assert np.allclose(autodiff, autodiff.T, rtol=0, atol=1e-16)  # symmetric
assert np.allclose(autodiff.sum(axis=1), 0, atol=1e-16)  # rows sum to 0
assert (np.diag(autodiff) > 0).all() and (autodiff[~np.eye(5, dtype=bool)] < 0).all()

# %%
# The two matrices and their difference
# -------------------------------------
# Same colour scale for both Jacobians (red > 0, blue < 0); the difference has its own, some 10⁻¹⁷.

fig, axes = plt.subplots(1, 3, figsize=(13, 4.3))
scale = np.abs(closed_form).max()
panels = [("softgrad.jacobian(ops.softmax)(x)", autodiff, scale),
          ("closed form diag(p) − p pᵀ", closed_form, scale),
          ("difference autodiff − closed form", difference, max(np.abs(difference).max(), 1e-300))]
for ax, (title, matrix, limit) in zip(axes, panels):
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit)
    for (i, j), value in np.ndenumerate(matrix):
        label = ("0" if value == 0 else f"{value:.0e}") if matrix is difference else f"{value:.3f}"
        colour = "white" if abs(value) > 0.6 * limit else "black"
        ax.text(j, i, label, ha="center", va="center", fontsize=8, color=colour)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("logit j (xⱼ)")
    ax.set_ylabel("probability i (pᵢ)")
    ax.set_xticks(range(5))
    ax.set_yticks(range(5))
    fig.colorbar(image, ax=ax, shrink=0.8, label="∂pᵢ/∂xⱼ" if matrix is not difference else "error")
fig.suptitle(f"Softmax Jacobian at x = ({', '.join(f'{v:g}' for v in x)}): autodiff equals diag(p) − p pᵀ "
             f"(largest difference {np.abs(difference).max():.0e})")
fig.tight_layout()
plt.show()
