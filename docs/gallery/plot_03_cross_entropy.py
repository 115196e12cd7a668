"""
Cross-entropy, NLL and log-softmax
==================================

Cross-entropy of logits x against a class y is −log softmax(x)_y = logsumexp(x) − x_y. PyTorch splits it in
two: ``log_softmax`` (x − logsumexp x, computed stably) and ``nll_loss`` (minus the entry at the target,
averaged). softgrad computes ``cross_entropy`` in one fused kernel, yet ``nll_loss(log_softmax(x), y)`` gives
the same number to the last bit. Its gradient with respect to the logits is (p − t)/N: the predicted
probabilities minus the one-hot target, divided by the batch size.
"""

import matplotlib.pyplot as plt
import numpy as np

import softgrad as sg
from softgrad import ops

generator = np.random.default_rng(0)
N, C = 4, 5
x32 = (2 * generator.standard_normal((N, C))).astype(np.float32)
y = np.array([0, 3, 1, 4])

# %%
# The same number, to the bit
# ---------------------------

for x in (x32, x32.astype(np.float64)):
    fused = ops.cross_entropy(x, y).numpy()
    composed = ops.nll_loss(ops.log_softmax(x, axis=1), y).numpy()
    by_hand = np.mean(np.log(np.exp(x).sum(axis=1)) - x[np.arange(N), y])
    print(f"{x.dtype}: cross_entropy {fused}   nll_loss(log_softmax) {composed}   by hand {by_hand}")
    assert fused == composed  # bit for bit
    assert np.isclose(fused, by_hand, rtol=10 * np.finfo(x.dtype).eps)

# %%
# The gradient is (p − t)/N
# -------------------------
# For class indices t is one-hot(y); for probability targets (soft labels) t is the target row itself.

p = ops.softmax(x32, axis=1).numpy()
soft_targets = ops.softmax(generator.standard_normal((N, C)).astype(np.float32), axis=1).numpy()
gradients = {}
for name, target, t in [("class indices", y, np.eye(C, dtype=np.float32)[y]),
                        ("probabilities", soft_targets, soft_targets)]:
    autodiff = sg.grad(lambda logits: ops.cross_entropy(logits, target))(sg.Tensor(x32)).numpy()
    closed_form = (p - t) / N
    print(f"{name}: largest |autodiff − (p − t)/N| = {np.abs(autodiff - closed_form).max():.1e}")
    assert np.allclose(autodiff, closed_form, rtol=1e-6, atol=1e-7)
    assert np.allclose(autodiff.sum(axis=1), 0, atol=1e-7)  # each row: Σp − Σt = 1 − 1
    gradients[name] = autodiff, closed_form

# %%
# Per sample: the autodiff gradient (bars) and (p − t)/N (dots)
# --------------------------------------------------------------
# The target class gets a negative gradient (gradient descent raises its logit), the others a positive one
# proportional to their probability.

fig, axes = plt.subplots(2, N, figsize=(13, 5.5), sharey=True)
for row, (name, (autodiff, closed_form)) in enumerate(gradients.items()):
    for i, ax in enumerate(axes[row]):
        ax.bar(range(C), autodiff[i], color="tab:blue", label="sg.grad of cross_entropy")
        ax.plot(range(C), closed_form[i], "o", color="tab:orange", label="(p − t)/N")
        ax.axhline(0, color="black", lw=0.8)
        target_text = f"y = {y[i]}" if name == "class indices" else "soft target"
        ax.set_title(f"sample {i}, {target_text}", fontsize=10)
        ax.set_xlabel("class c")
        ax.set_xticks(range(C))
    axes[row, 0].set_ylabel(f"∂loss/∂x_c\n({name})")
fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="lower center", ncol=2)
fig.suptitle("Cross-entropy's gradient w.r.t. the logits is (softmax(x) − t)/N, for index and probability targets")
fig.tight_layout(rect=(0, 0.06, 1, 1))
plt.show()
