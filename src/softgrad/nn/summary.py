"""``summary(cell, input_shape)``: a model's layers, each one's output shape and Parameter count, and the
totals, as torchinfo's ``summary`` prints them for PyTorch.

>>> import softgrad as sg
>>> g = sg.random.Generator(0)
>>> net = sg.nn.SequentialCell(sg.nn.Conv2d(1, 4, 3, generator=g), sg.nn.ReLU(), sg.nn.MaxPool2d(2),
...                            sg.nn.Flatten(), sg.nn.Dense(64, 10, generator=g), sg.nn.BatchNorm1d(10))
>>> print(summary(net, (2, 1, 8, 8)))
Layer (type)        Output shape    Param #
===========================================
SequentialCell      [2, 10]             726
  0: Conv2d         [2, 4, 8, 8]         36
  1: ReLU           [2, 4, 8, 8]          0
  2: MaxPool2d      [2, 4, 4, 4]          0
  3: Flatten        [2, 64]               0
  4: Dense          [2, 10]             650
  5: BatchNorm1d    [2, 10]              40
===========================================
Total params: 726 (2.8 KiB)
Trainable params: 706
Non-trainable params: 20

The shapes come from one forward pass over zeros of ``input_shape`` (the batch axis included) in evaluation
mode, so nothing of the model changes: BatchNorm's moving statistics are not updated, and each cell's
training flag is restored afterwards.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from softgrad.nn.activations import ElementwiseActivation
from softgrad.nn.cell import Cell
from softgrad.tensor import Tensor


class SummaryRow(NamedTuple):
    depth: int  # 0 for the model, 1 for its sub-cells, ...
    name: str  # the attribute path's last part ('' for the model)
    kind: str  # the cell's class name
    output_shape: object  # a list of sizes, a list of them for several outputs, or None if never called
    num_params: int  # the entries of the cell's Parameters, its sub-cells' included, each Parameter once


class Summary:
    """The result of ``summary``: ``rows`` (``SummaryRow``), ``total_params``, ``trainable_params``,
    ``param_bytes``; printed (or shown at a prompt) as a table."""

    def __init__(self, rows: list[SummaryRow], cell: Cell):
        params = cell.parameters_dict().values()
        self.rows = rows
        self.total_params = sum(p.size for p in params)
        self.trainable_params = sum(p.size for p in params if p.requires_grad)
        self.param_bytes = sum(p.numpy().nbytes for p in params)

    def __str__(self) -> str:
        labels = [("  " * row.depth + (f"{row.name}: " if row.name else "") + row.kind) for row in self.rows]
        shapes = ["--" if row.output_shape is None else str(row.output_shape) for row in self.rows]
        counts = [f"{row.num_params:,}" for row in self.rows]
        widths = [max(len(s) for s in column + [title]) + 4 for column, title in
                  ((labels, "Layer (type)"), (shapes, "Output shape"))]
        count_width = max(len(s) for s in counts + ["Param #"])
        lines = ["Layer (type)".ljust(widths[0]) + "Output shape".ljust(widths[1]) + "Param #".rjust(count_width)]
        lines += [a.ljust(widths[0]) + b.ljust(widths[1]) + c.rjust(count_width) for a, b, c in
                  zip(labels, shapes, counts)]
        rule = "=" * len(lines[0])
        return "\n".join([lines[0], rule, *lines[1:], rule,
                          f"Total params: {self.total_params:,} ({self.param_bytes / 1024:.1f} KiB)",
                          f"Trainable params: {self.trainable_params:,}",
                          f"Non-trainable params: {self.total_params - self.trainable_params:,}"])

    __repr__ = __str__


def _check_input_shape(input_shape) -> tuple[int, ...]:
    if not (isinstance(input_shape, (tuple, list)) and input_shape and all(
            isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1 for n in input_shape)):
        raise ValueError(f"summary: input_shape must be the shape of one input batch, a tuple of sizes >= 1 with the "
                         f"batch axis first such as (1, 1, 28, 28), got {input_shape!r:.80}")
    return tuple(int(n) for n in input_shape)


def _shape_of(output):
    if isinstance(output, (tuple, list)):
        return [_shape_of(item) for item in output]
    return list(np.shape(output._value() if isinstance(output, Tensor) else output))


def _record_shapes(cell: Cell, x) -> dict[int, object]:
    """id(sub-cell) → the shape of its first output during ``cell(x)``: each sub-cell's ``construct`` (and
    ``construct_with``, which ``SequentialCell`` calls on a Dense it fuses with the activation after it) is
    wrapped on the instance for the call, then removed."""
    shapes: dict[int, object] = {}
    wrapped = []
    for _, sub in cell.cells_and_names():
        for method in ("construct", "construct_with"):
            if hasattr(sub, method):
                def recording(*args, _sub=sub, _original=getattr(sub, method), **kwargs):
                    out = _original(*args, **kwargs)
                    shapes.setdefault(id(_sub), _shape_of(out))
                    return out
                object.__setattr__(sub, method, recording)
                wrapped.append((sub, method))
    try:
        cell(x)
    finally:
        for sub, method in wrapped:
            object.__delattr__(sub, method)
    return shapes


def summary(cell: Cell, input_shape, dtype=np.float32) -> Summary:
    """The layers of ``cell`` (depth first, indented by depth), the shape of each one's output for an input
    of ``input_shape`` (batch axis first) and ``dtype``, and the Parameter counts. An elementwise activation
    that ran fused into the Dense before it (see ``SequentialCell``) shows that Dense's output shape; a cell
    the forward pass never called shows '--'."""
    if not isinstance(cell, Cell):
        raise TypeError(f"summary: cell must be a Cell, got {type(cell).__name__} {cell!r:.80}")
    shape = _check_input_shape(input_shape)
    modes = [(sub, sub.training) for _, sub in cell.cells_and_names()]
    cell.set_train(False)
    try:
        shapes = _record_shapes(cell, Tensor(np.zeros(shape, dtype)))
    finally:
        for sub, mode in modes:
            object.__setattr__(sub, "training", mode)
    rows, previous = [], None
    for path, sub in cell.cells_and_names():
        output = shapes.get(id(sub))
        if output is None and isinstance(sub, ElementwiseActivation):
            output = previous  # fused into the Dense before it: the same shape
        params = {id(p): p.size for _, p in sub.parameters_and_names()}
        rows.append(SummaryRow(path.count(".") + bool(path), path.rpartition(".")[2], type(sub).__name__, output,
                               sum(params.values())))
        previous = output
    return Summary(rows, cell)


__all__ = ["summary", "Summary", "SummaryRow"]
