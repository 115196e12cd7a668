"""
Functional autodiff: grad, value_and_grad, has_aux, stop_gradient
=================================================================

MindSpore's autodiff tutorial, in softgrad: one neuron z = x·w + b (x: 5 inputs, w: 5×3, b: 3) with a
binary-cross-entropy-with-logits loss against y = 0. ``grad(fn, grad_position)`` returns a function that
computes the gradient with respect to the arguments at those positions; ``value_and_grad`` returns the value
too; ``weights=`` differentiates with respect to Parameters instead. The closed form checks every number:
∂loss/∂b = (σ(z) − y)/3 (the mean over 3 outputs) and ∂loss/∂w = x ⊗ ∂loss/∂b.
"""

import matplotlib.pyplot as plt
import numpy as np

import softgrad as sg
from softgrad import nn, ops

x = ops.ones(5, sg.float32)
y = ops.zeros(3, sg.float32)
generator = sg.random.Generator(0)
w = sg.Parameter(generator.normal((5, 3)), name="w")
b = sg.Parameter(generator.normal((3,)), name="b")

z_value = x.numpy() @ w.numpy() + b.numpy()
db_expected = (1 / (1 + np.exp(-z_value)) - y.numpy()) / 3
dw_expected = np.outer(x.numpy(), db_expected)


def loss_only(x, y, w, b):
    z = ops.matmul(x, w) + b
    return ops.binary_cross_entropy_with_logits(z, y)


def loss_and_z(x, y, w, b):
    z = ops.matmul(x, w) + b
    return ops.binary_cross_entropy_with_logits(z, y), z


def loss_and_z_cut(x, y, w, b):
    z = ops.matmul(x, w) + b
    return ops.binary_cross_entropy_with_logits(z, y), sg.stop_gradient(z)


# %%
# ``grad`` with respect to the arguments at positions 2 and 3 (w and b)
# ---------------------------------------------------------------------

dw, db = sg.grad(loss_only, grad_position=(2, 3))(x, y, w, b)
print("db =", db.numpy().round(6), "  (σ(z) − y)/3 =", db_expected.round(6))
assert np.allclose(db.numpy(), db_expected, rtol=1e-6) and np.allclose(dw.numpy(), dw_expected, rtol=1e-6)

# %%
# Several outputs: the gradient of their sum
# ------------------------------------------
# A function returning (loss, z) is differentiated as loss + Σz (an all-ones sensitivity, as in MindSpore):
# ∂Σz/∂b = 1 and ∂Σz/∂w = x ⊗ 1 = 1, so every entry grows by 1.

dw_two, db_two = sg.grad(loss_and_z, (2, 3))(x, y, w, b)
print("db with z also returned =", db_two.numpy().round(6))
assert np.allclose(db_two.numpy(), db_expected + 1, rtol=1e-6)
assert np.allclose(dw_two.numpy(), dw_expected + 1, rtol=1e-6)

# %%
# ``stop_gradient`` cuts z out of the gradient, ``has_aux`` returns it aside
# --------------------------------------------------------------------------

dw_cut, db_cut = sg.grad(loss_and_z_cut, (2, 3))(x, y, w, b)
(dw_aux, db_aux), (aux_z,) = sg.grad(loss_and_z, (2, 3), has_aux=True)(x, y, w, b)
print("db with stop_gradient(z) =", db_cut.numpy().round(6))
print("db with has_aux=True     =", db_aux.numpy().round(6), "  aux z =", aux_z.numpy().round(4))
for g in (db_cut, db_aux):
    assert np.allclose(g.numpy(), db_expected, rtol=1e-6)
assert np.allclose(aux_z.numpy(), z_value, rtol=1e-6)

# %%
# A Cell and ``value_and_grad`` over its Parameters
# -------------------------------------------------


class Network(nn.Cell):
    def __init__(self):
        super().__init__()
        self.w = w
        self.b = b

    def construct(self, x):
        return ops.matmul(x, self.w) + self.b


model = Network()
loss_fn = nn.BCEWithLogitsLoss()
forward = sg.value_and_grad(lambda x, y: loss_fn(model(x), y), None, weights=model.trainable_params())
loss, (dw_cell, db_cell) = forward(x, y)
print(f"loss = {loss.item():.6f}; parameters {[p.name for p in model.trainable_params()]}")
assert np.isclose(loss.item(), loss_only(x, y, w, b).item(), rtol=1e-6)
assert np.allclose(db_cell.numpy(), db_expected, rtol=1e-6) and np.allclose(dw_cell.numpy(), dw_expected, rtol=1e-6)

# %%
# The four ways, side by side
# ---------------------------

variants = {"grad(loss)": db, "grad((loss, z)): +1": db_two, "stop_gradient(z)": db_cut, "has_aux=True": db_aux}
fig, ax = plt.subplots(figsize=(9, 4.5))
width = 0.2
for k, (name, gradient) in enumerate(variants.items()):
    ax.bar(np.arange(3) + (k - 1.5) * width, gradient.numpy(), width, label=name)
ax.hlines(db_expected, np.arange(3) - 2 * width, np.arange(3) + 2 * width, colors="black", lw=2,
          label="closed form (σ(z) − y)/3")
ax.hlines(db_expected + 1, np.arange(3) - 2 * width, np.arange(3) + 2 * width, colors="black", lw=2, ls=":",
          label="(σ(z) − y)/3 + 1")
ax.set_xticks(range(3), [f"b[{i}]" for i in range(3)])
ax.set_xlabel("bias entry")
ax.set_ylabel("∂/∂b  [log scale]")
ax.set_yscale("log")
ax.set_title("The gradient with respect to b: returning z adds Σz (so +1);\n"
             "stop_gradient and has_aux give back the loss's own gradient")
ax.legend(fontsize=9, ncol=3, loc="upper left")
ax.set_ylim(0.01, 10)
fig.tight_layout()
plt.show()
