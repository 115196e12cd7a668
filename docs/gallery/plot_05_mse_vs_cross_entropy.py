"""
MSE against cross-entropy after a sigmoid
=========================================

One sigmoid neuron a = σ(w·x + b) with x = 1, target y = 0, started badly wrong: w = b = 2, so a = σ(4) = 0.98.
With the squared error (a − y)² the gradient is ∂/∂w = 2(a − y)·σ'(z)·x, and σ'(z) = σ(z)(1 − σ(z)) is tiny
when the neuron is saturated: the more wrong it is, the slower it learns. With binary cross-entropy the σ'(z)
cancels: ∂/∂w = (a − y)·x, so the step is proportional to the error itself. Both gradients below come from
``softgrad.grad``.
"""

import matplotlib.pyplot as plt
import numpy as np

import softgrad as sg
from softgrad import ops

X, Y = np.float64(1.0), np.float64(0.0)
LEARNING_RATE, STEPS = 0.15, 300


def mse(w, b):
    return ops.mse_loss(ops.sigmoid(w * X + b), Y)


def cross_entropy(w, b):
    return ops.binary_cross_entropy_with_logits(w * X + b, Y)


def descend(loss):
    """Plain gradient descent from w = b = 2: the output a, the loss, w and σ'(z) after every step."""
    w, b = np.float64(2.0), np.float64(2.0)
    loss_and_grads = sg.value_and_grad(loss, (0, 1))
    history = {"a": [], "loss": [], "w": [], "slope": []}
    for _ in range(STEPS + 1):
        value, (dw, db) = loss_and_grads(w, b)
        a = 1 / (1 + np.exp(-(w * X + b)))
        for key, v in zip(history, (a, float(value), w, a * (1 - a))):
            history[key].append(v)
        w, b = w - LEARNING_RATE * float(dw), b - LEARNING_RATE * float(db)
    return {key: np.array(v) for key, v in history.items()}


runs = {"MSE (a − y)²": descend(mse), "cross-entropy": descend(cross_entropy)}

# %%
# The factor σ'(z), step by step
# ------------------------------
# At the start the MSE gradient is 2σ'(z) = 0.035 times the cross-entropy one.

dw_mse = sg.grad(mse)(2.0, 2.0).item()
dw_ce = sg.grad(cross_entropy)(2.0, 2.0).item()
slope = runs["cross-entropy"]["slope"][0]
print(f"at w = b = 2: a = {runs['cross-entropy']['a'][0]:.4f}, σ'(z) = {slope:.4f}")
print(f"∂MSE/∂w = {dw_mse:.5f}, ∂CE/∂w = {dw_ce:.5f}, ratio {dw_mse / dw_ce:.5f} = 2σ'(z) = {2 * slope:.5f}")
assert np.isclose(dw_mse / dw_ce, 2 * slope, rtol=1e-12)
assert np.isclose(dw_ce, runs["cross-entropy"]["a"][0] - Y, rtol=1e-12)  # (a − y)·x

print("step   a (MSE)  σ'(z) (MSE)   a (CE)")
for step in (0, 10, 25, 50, 100, 200, 300):
    m, c = runs["MSE (a − y)²"], runs["cross-entropy"]
    print(f"{step:4d}   {m['a'][step]:.4f}   {m['slope'][step]:.4f}        {c['a'][step]:.4f}")
assert runs["cross-entropy"]["a"][50] < 0.2 < 0.9 < runs["MSE (a − y)²"]["a"][50]  # CE right, MSE still stuck
assert runs["cross-entropy"]["a"][STEPS] < runs["MSE (a − y)²"]["a"][STEPS]

# %%
# Output, loss and weight, side by side
# -------------------------------------

fig, axes = plt.subplots(2, 2, figsize=(12, 7.5))
colours = {"MSE (a − y)²": "tab:red", "cross-entropy": "tab:blue"}
panels = [("a", "output a = σ(wx + b)", "the output, target y = 0"),
          ("loss", "loss / loss at step 0", "the loss, relative to its start"),
          ("w", "weight w", "the weight"),
          ("slope", "σ'(z) = a(1 − a)", "σ'(z): the factor in MSE's gradient, not in CE's")]
for ax, (key, ylabel, title) in zip(axes.flat, panels):
    for name, history in runs.items():
        values = history[key] / history[key][0] if key == "loss" else history[key]
        ax.plot(values, color=colours[name], lw=2, label=name)
    ax.set_xlabel("gradient-descent step (learning rate 0.15)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
fig.suptitle("Started badly wrong (a = 0.98 for y = 0): cross-entropy learns at once, MSE crawls while σ'(z) ≈ 0")
fig.tight_layout()
plt.show()
