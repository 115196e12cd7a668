"""Activation cells: the ``softgrad.ops`` functions as cells, for ``SequentialCell``.

``ReLU``, ``Tanh`` and ``Sigmoid`` apply one elementwise op, which each carries as ``op``: ``SequentialCell`` hands
it to a preceding ``Dense``, which runs it inside its primitive. ``GELU``, ``LeakyReLU``, ``ELU``, ``Softplus`` and
``LogSigmoid`` are elementwise too; the parametrised ones carry their parameter in ``op`` (MindSpore's
signatures and defaults, PyTorch's keywords accepted). ``Softmax`` and ``LogSoftmax`` take an axis.

>>> import softgrad as sg
>>> sg.nn.Softmax()(sg.Tensor([[0.0, 0.0]]))
Tensor(shape=[1, 2], dtype=Float32, value=
[[0.5, 0.5]])
>>> ReLU()(sg.Tensor([-1.0, 2.0]))
Tensor(shape=[2], dtype=Float32, value=
[0., 2.])
"""

from __future__ import annotations

import functools
import math
import numbers

from softgrad import ops
from softgrad.nn.cell import Cell


class ElementwiseActivation(Cell):
    """A cell that applies the elementwise op ``op`` (a class attribute) and nothing else."""

    op = staticmethod(ops.relu)

    def construct(self, x):
        return self.op(x)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


#: the activations a layer takes by name (``Dense(..., activation='relu')``): the elementwise activation ops.
#: Names are matched ignoring case and underscores, so MindSpore's 'leakyrelu' is 'leaky_relu'.
ACTIVATION_OPS = {"relu": ops.relu, "tanh": ops.tanh, "sigmoid": ops.sigmoid, "gelu": ops.gelu, "elu": ops.elu,
                  "leaky_relu": ops.leaky_relu, "softplus": ops.softplus, "logsigmoid": ops.logsigmoid}


def activation_op(name: str):
    """The op of ``ACTIVATION_OPS`` called ``name`` (case and underscores ignored)."""
    key = name.lower().replace("_", "") if isinstance(name, str) else None
    for known, fn in ACTIVATION_OPS.items():
        if known.replace("_", "") == key:
            return fn
    raise ValueError(f"unknown activation {name!r}; pass one of {', '.join(map(repr, ACTIVATION_OPS))}, an "
                     "activation Cell such as nn.ReLU(), or a callable")


def elementwise_op(cell):
    """The op of ``cell`` if it is an ``ElementwiseActivation`` that computes exactly ``op(x)`` (its construct not
    overridden), else None."""
    if isinstance(cell, ElementwiseActivation) and type(cell).construct is ElementwiseActivation.construct:
        return cell.op
    return None


class ReLU(ElementwiseActivation):
    """max(x, 0)."""

    op = staticmethod(ops.relu)


class Tanh(ElementwiseActivation):
    """tanh x."""

    op = staticmethod(ops.tanh)


class Sigmoid(ElementwiseActivation):
    """σ(x) = 1/(1 + e⁻ˣ), stable on both tails."""

    op = staticmethod(ops.sigmoid)


class LogSigmoid(ElementwiseActivation):
    """ln σ(x) = −softplus(−x).  ∂/∂x = σ(−x)"""

    op = staticmethod(ops.logsigmoid)


class _ParametrisedActivation(ElementwiseActivation):
    """An elementwise activation whose ``op`` (set per cell) binds its parameters, shown by its repr."""

    def _bind(self, fn, **params) -> None:
        self.params = params
        self.op = functools.partial(fn, **params)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.params.items())})"


def _number(owner: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"{owner}: {name} must be a finite number, got {type(value).__name__} {value!r}")
    return float(value)


class GELU(_ParametrisedActivation):
    """x·Φ(x), Φ the standard normal CDF; ``approximate=True`` (MindSpore's default) is the tanh form
    ½x(1 + tanh(√(2/π)(x + 0.044715x³))). PyTorch's ``nn.GELU()`` is ``GELU(approximate='none')`` (also
    accepted: 'tanh', False).  ∂/∂x = Φ(x) + x·φ(x) (exact form)

    >>> GELU(approximate='none')
    GELU(approximate='none')
    """

    def __init__(self, approximate=True):
        super().__init__()
        modes = {True: "tanh", False: "none", "tanh": "tanh", "none": "none"}
        if not isinstance(approximate, (bool, str)) or approximate not in modes:
            raise ValueError(f"GELU: approximate must be True, False, 'none' or 'tanh', got {approximate!r}")
        self._bind(ops.gelu, approximate=modes[approximate])


class LeakyReLU(_ParametrisedActivation):
    """x for x > 0, alpha·x otherwise. MindSpore's default alpha=0.2; PyTorch's ``nn.LeakyReLU()`` is
    ``LeakyReLU(negative_slope=0.01)`` (its keyword is accepted).  ∂/∂x = 1 or alpha

    >>> import softgrad as sg
    >>> LeakyReLU()(sg.Tensor([-1.0, 2.0]))
    Tensor(shape=[2], dtype=Float32, value=
    [-0.2,  2. ])
    """

    def __init__(self, alpha: float = 0.2, *, negative_slope: float | None = None):
        super().__init__()
        slope = alpha if negative_slope is None else negative_slope
        self._bind(ops.leaky_relu, negative_slope=_number("LeakyReLU", "alpha (negative_slope)", slope))


class ELU(_ParametrisedActivation):
    """x for x > 0, alpha·(eˣ − 1) otherwise (MindSpore's and PyTorch's alpha=1).  ∂/∂x = 1 or alpha·eˣ"""

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self._bind(ops.elu, alpha=_number("ELU", "alpha", alpha))


class Softplus(_ParametrisedActivation):
    """ln(1 + e^{βx})/β, and x itself where βx > threshold (MindSpore's and PyTorch's beta=1, threshold=20).
    ∂/∂x = σ(βx) (1 past the threshold)"""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self._bind(ops.softplus, beta=_number("Softplus", "beta", beta),
                   threshold=_number("Softplus", "threshold", threshold))


class AxisActivation(Cell):
    """A cell that applies the op ``op`` (a class attribute) along ``axis`` (default −1, as MindSpore)."""

    op = staticmethod(ops.softmax)

    def __init__(self, axis: int = -1):
        super().__init__()
        self.axis = axis

    def construct(self, x):
        return self.op(x, axis=self.axis)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(axis={self.axis})"


class Softmax(AxisActivation):
    """softmax along ``axis``."""

    op = staticmethod(ops.softmax)


class LogSoftmax(AxisActivation):
    """log_softmax along ``axis``."""

    op = staticmethod(ops.log_softmax)


__all__ = [
    "ElementwiseActivation", "activation_op", "elementwise_op", "ReLU", "Tanh", "Sigmoid", "LogSigmoid", "GELU",
    "LeakyReLU", "ELU", "Softplus", "AxisActivation", "Softmax", "LogSoftmax",
]
