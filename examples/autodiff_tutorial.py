"""MindSpore's functional-autodiff tutorial, in softgrad: one neuron z = x·w + b with a BCE-with-logits loss.

Run: python examples/autodiff_tutorial.py
"""

from __future__ import annotations

from typing import Any

import numpy as np

import softgrad as sg
from softgrad import nn, ops

x = ops.ones(5, sg.float32)  # input
y = ops.zeros(3, sg.float32)  # expected output
generator = sg.random.Generator(0)
w = sg.Parameter(generator.normal((5, 3)), name="w")  # weight
b = sg.Parameter(generator.normal((3,)), name="b")  # bias


def function(x: sg.Tensor, y: sg.Tensor, w: sg.Tensor, b: sg.Tensor) -> sg.Tensor:
    z = ops.matmul(x, w) + b
    loss = ops.binary_cross_entropy_with_logits(z, y, ops.ones_like(z), ops.ones_like(z))
    return loss


def function_with_logits(x: sg.Tensor, y: sg.Tensor, w: sg.Tensor, b: sg.Tensor) -> tuple[sg.Tensor, sg.Tensor]:
    """Two outputs: the gradient is that of loss + Σz."""
    z = ops.matmul(x, w) + b
    loss = ops.binary_cross_entropy_with_logits(z, y, ops.ones_like(z), ops.ones_like(z))
    return loss, z


def function_stop_gradient(x: sg.Tensor, y: sg.Tensor, w: sg.Tensor, b: sg.Tensor) -> tuple[sg.Tensor, sg.Tensor]:
    """z leaves through stop_gradient: the gradient is the loss's again."""
    z = ops.matmul(x, w) + b
    loss = ops.binary_cross_entropy_with_logits(z, y, ops.ones_like(z), ops.ones_like(z))
    return loss, sg.stop_gradient(z)


class Network(nn.Cell):
    def __init__(self) -> None:
        super().__init__()
        self.w = w
        self.b = b

    def construct(self, x: sg.Tensor) -> sg.Tensor:
        return ops.matmul(x, self.w) + self.b


def run() -> dict[str, Any]:
    """Every gradient of the tutorial, by name."""
    results = {"loss": function(x, y, w, b)}
    results["grads"] = sg.grad(function, (2, 3))(x, y, w, b)
    results["grads_with_logits"] = sg.grad(function_with_logits, (2, 3))(x, y, w, b)
    results["grads_stop_gradient"] = sg.grad(function_stop_gradient, (2, 3))(x, y, w, b)
    results["grads_has_aux"], (results["aux_z"],) = sg.grad(function_with_logits, (2, 3), has_aux=True)(x, y, w, b)

    model = Network()
    loss_fn = nn.BCEWithLogitsLoss()

    def forward_fn(x: sg.Tensor, y: sg.Tensor) -> sg.Tensor:
        z = model(x)
        return loss_fn(z, y)

    results["cell_loss"], results["cell_grads"] = sg.value_and_grad(
        forward_fn, None, weights=model.trainable_params())(x, y)
    return results


def main() -> None:
    with np.printoptions(precision=6, suppress=True):
        report(run())


def report(r: dict[str, Any]) -> None:
    print("loss:", r["loss"])
    print("\ngrad(function, (2, 3)) -> (dw, db):")
    for g in r["grads"]:
        print(g)
    print("\nfunction_with_logits (loss, z): gradient of loss + Σz, i.e. every entry + 1:")
    for g in r["grads_with_logits"]:
        print(g)
    print("\nstop_gradient(z): back to the loss's gradient:")
    for g in r["grads_stop_gradient"]:
        print(g)
    print("\nhas_aux=True -> (grads, (z,)); z =", r["aux_z"])
    print("\nCell + value_and_grad(forward_fn, None, weights=model.trainable_params()):")
    print("loss:", r["cell_loss"])
    for p, g in zip(Network().trainable_params(), r["cell_grads"]):
        print(f"{p.name}:", g)


if __name__ == "__main__":
    main()
