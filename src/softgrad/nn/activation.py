"""Activation cells: ``Softmax(axis)``, ``LogSoftmax(axis)`` and ``Sigmoid()`` (the ``softgrad.ops`` functions as
cells, for ``SequentialCell``).

>>> import softgrad as sg
>>> sg.nn.Softmax()(sg.Tensor([[0.0, 0.0]]))
Tensor(shape=[1, 2], dtype=Float32, value=
[[0.5, 0.5]])
"""

from __future__ import annotations

from softgrad import ops
from softgrad.nn.cell import Cell


class Softmax(Cell):
    """softmax along ``axis`` (default −1, as MindSpore)."""

    def __init__(self, axis: int = -1):
        super().__init__()
        self.axis = axis

    def construct(self, x):
        return ops.softmax(x, axis=self.axis)

    def __repr__(self) -> str:
        return f"Softmax(axis={self.axis})"


class LogSoftmax(Cell):
    """log_softmax along ``axis`` (default −1)."""

    def __init__(self, axis: int = -1):
        super().__init__()
        self.axis = axis

    def construct(self, x):
        return ops.log_softmax(x, axis=self.axis)

    def __repr__(self) -> str:
        return f"LogSoftmax(axis={self.axis})"


class Sigmoid(Cell):
    """σ(x) = 1/(1 + e⁻ˣ), stable on both tails."""

    def construct(self, x):
        return ops.sigmoid(x)

    def __repr__(self) -> str:
        return "Sigmoid()"
