"""Activation cells: the ``softgrad.ops`` functions as cells, for ``SequentialCell``.

``ReLU``, ``Tanh`` and ``Sigmoid`` apply one elementwise op, which each carries as ``op``: ``SequentialCell`` hands
it to a preceding ``Dense``, which runs it inside its primitive. ``Softmax`` and ``LogSoftmax`` take an axis.

>>> import softgrad as sg
>>> sg.nn.Softmax()(sg.Tensor([[0.0, 0.0]]))
Tensor(shape=[1, 2], dtype=Float32, value=
[[0.5, 0.5]])
>>> ReLU()(sg.Tensor([-1.0, 2.0]))
Tensor(shape=[2], dtype=Float32, value=
[0., 2.])
"""

from __future__ import annotations

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
