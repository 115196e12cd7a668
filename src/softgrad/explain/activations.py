"""The activation functions and their derivatives, the derivatives taken by autodiff and checked against their
closed forms."""

from __future__ import annotations

import math

import numpy as np

import softgrad as sg
from softgrad import ops


def _normal_cdf(x):
    return 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


#: name -> (op, closed-form derivative)
ACTIVATIONS = {
    "sigmoid": (ops.sigmoid, lambda x: (s := 1 / (1 + np.exp(-x))) * (1 - s)),
    "tanh": (ops.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "relu": (ops.relu, lambda x: (x > 0).astype(float)),
    "softplus": (ops.softplus, lambda x: 1 / (1 + np.exp(-x))),
    "gelu": (ops.gelu, lambda x: _normal_cdf(x) + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)),
}


def activations(r) -> None:
    """σ′ = σ(1 − σ), tanh′ = 1 − tanh², relu′ = [x > 0], softplus′ = σ, gelu′ = Φ + xφ: the derivatives
    autodiff computes (the gradient of Σ f(x), elementwise) equal the closed forms."""
    x = np.linspace(-4, 4, 801)  # (0 itself is a grid point: relu′(0) = 0, as PyTorch)
    curves = {}
    for name, (op, closed_form) in ACTIVATIONS.items():
        derivative = sg.grad(lambda v: op(v).sum())(x).numpy()
        curves[name] = (op(x).numpy(), derivative)
        r.number(f"max |{name}′ (autodiff) − closed form|", float(np.abs(derivative - closed_form(x)).max()))
    figure = r.figure(11, 4)
    if figure is None:
        return
    values, derivatives = figure.subplots(1, 2, sharex=True)
    for name, (value, derivative) in curves.items():
        values.plot(x, value, label=name)
        derivatives.plot(x, derivative, label=name)
    values.set(title="f(x)", xlabel="x", ylim=(-1.5, 4))
    derivatives.set(title="f′(x), by autodiff", xlabel="x", ylim=(-0.2, 1.2))
    for ax in (values, derivatives):
        ax.axhline(0, color="grey", lw=0.5)
        ax.legend()
    figure.suptitle("activations and their derivatives")
    r.save(figure, "curves")


__all__ = ["activations"]
