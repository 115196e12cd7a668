"""``vmap(fn, in_axes=0, out_axes=0)``: ``fn`` mapped over an axis of its inputs, as JAX and MindSpore define it.

``fn`` runs once, on ``BatchedTensor`` s: Tensors of a trace level of their own (``softgrad.trace``) that hold
every example's value stacked on axis 0 and show one example's shape. Each primitive applied to them goes
through its batching rule (``softgrad.ops.batching``), which computes all examples at once one level below; so
``vmap`` nests, and composes with every transform both ways: ``vmap(grad(loss), in_axes=(None, 0, 0))`` gives
per-example gradients in one backward sweep, ``grad`` of a ``vmap`` differentiates through the batched
primitives.

A primitive without a batching rule (``batching.BATCH_RULES`` lists those with one) runs once per example and
the results are stacked — the fallback, still inside the one call of ``fn``. Python control flow on a batched
value (``if x > 0``, ``float(x)``) has no one answer for all examples: it raises, as in JAX; use ``ops.where``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from softgrad.autodiff.transforms import _check_callable, tree_flatten
from softgrad.ops._primitive import python_data, shape_of
from softgrad.ops.batching import batch_rule
from softgrad.ops.reductions import broadcast_to_p
from softgrad.ops.shape import stack, transpose_p
from softgrad.tensor import Tensor, concrete, wrap
from softgrad.trace import close_level, new_batch_level, value_of

_new_tensor = object.__new__

_PER_EXAMPLE = ("vmap: {what} of a batched Tensor differs from example to example, so Python code cannot branch "
                "on it or read it inside vmap; compute with ops instead (e.g. ops.where(x > 0, a, b) for an if)")


class BatchedTensor(Tensor):
    """A Tensor inside ``vmap``: ``_data`` holds every example stacked on axis 0; ``shape`` is one example's."""

    __slots__ = ()

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape[1:]

    @property
    def dtype(self) -> np.dtype:
        return np.asarray(concrete(self._data)).dtype

    def _value(self):
        raise TypeError(_PER_EXAMPLE.format(what="the value"))

    def __repr__(self) -> str:
        return f"BatchedTensor(shape={list(self.shape)}, dtype={self.dtype}, examples={self._data.shape[0]})"


def _batched(value, level: int) -> BatchedTensor:
    tensor = _new_tensor(BatchedTensor)
    tensor._data, tensor._trace, tensor._node = value, level, -1
    return tensor


def _bind_batched(prim, level: int, args, params):
    """``prim`` applied to arguments of which some are batched at ``level``: its batching rule, else once per
    example."""
    values, batched = [], []
    for a in args:
        is_batched = isinstance(a, Tensor) and a._trace == level
        values.append(a._data if is_batched else a)
        batched.append(is_batched)
    rule = batch_rule(prim)
    out = rule(values, batched, **params) if rule is not None else None
    if out is None:
        out = _per_example(prim, values, batched, params)
    if isinstance(out, tuple):
        return tuple(_batched(o, level) for o in out)
    return _batched(out, level)


def _per_example(prim, values, batched, params):
    """The fallback: ``prim`` on each example, the results stacked on axis 0."""
    size = next(shape_of(v)[0] for v, b in zip(values, batched) if b)
    results = [prim.bind(*[v[i] if b else v for v, b in zip(values, batched)], **params) for i in range(size)]
    if isinstance(results[0], tuple):
        return tuple(_stacked([r[k] for r in results]) for k in range(len(results[0])))
    return _stacked(results)


def _stacked(values):
    out = stack(values)
    return out._data if out._trace == 0 else out


def _axes_like(axes, value, what: str) -> list:
    """``axes`` (an int or None for all leaves, or a structure matching ``value``) as one entry per leaf."""
    leaves, _ = tree_flatten(value)
    if axes is None or isinstance(axes, (int, np.integer)):
        return [axes] * len(leaves)
    axis_leaves, _ = tree_flatten(axes)
    if len(axis_leaves) != len(leaves):
        raise ValueError(f"vmap: {what} {axes!r} does not match the structure of the value it describes "
                         f"({len(leaves)} leaf/leaves, {len(axis_leaves)} axes)")
    return axis_leaves


def _checked_axis(axis, ndim: int, what: str):
    if axis is None:
        return None
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise ValueError(f"vmap: {what} {axis!r} is not an axis of a value with {ndim} dimension(s)")
    return int(axis) % ndim


def _moved(value, source: int, destination: int):
    """``value`` with axis ``source`` moved to ``destination`` (traced: a transpose)."""
    if source == destination:
        return value
    order = [a for a in range(len(shape_of(value))) if a != source]
    order.insert(destination, source)
    return transpose_p.bind(value, axes=tuple(order))


def vmap(fn: Callable, in_axes=0, out_axes=0) -> Callable:
    """``fn`` mapped over axis ``in_axes`` of its arguments: an int for every argument, None (not mapped:
    the same value for every example), or a tuple with one entry per argument — each an int, None, or a
    structure matching a dict / list / tuple argument. ``out_axes`` places the mapped axis in the outputs the
    same way (None: an output that does not depend on the mapped inputs, returned once).

    >>> import softgrad as sg
    >>> per_example = vmap(sg.grad(lambda w, x: (w * x).sum()), in_axes=(None, 0))
    >>> per_example(sg.Tensor([1.0, 2.0]), sg.Tensor([[1.0, 2.0], [3.0, 4.0]]))
    Tensor(shape=[2, 2], dtype=Float32, value=
    [[1., 2.],
     [3., 4.]])
    """
    _check_callable(fn, "vmap")

    def mapped(*args):
        arg_axes = in_axes if isinstance(in_axes, (tuple, list)) else (in_axes,) * len(args)
        if len(arg_axes) != len(args):
            raise ValueError(f"vmap: in_axes has {len(arg_axes)} entries, but the function was called with "
                             f"{len(args)} argument(s)")
        flat, rebuilds, sizes = [], [], set()
        for i, (arg, axes) in enumerate(zip(args, arg_axes)):
            leaves, rebuild = tree_flatten(arg)
            axes = _axes_like(axes, arg, f"in_axes[{i}]")
            leaves = [python_data(leaf) if a is not None else leaf for leaf, a in zip(leaves, axes)]
            checked = [_checked_axis(a, len(shape_of(leaf)), f"in_axes[{i}]") for leaf, a in zip(leaves, axes)]
            sizes.update(shape_of(leaf)[a] for leaf, a in zip(leaves, checked) if a is not None)
            flat.append(list(zip(leaves, checked)))
            rebuilds.append(rebuild)
        if len(sizes) != 1:
            raise ValueError("vmap: the mapped axes must all have the same length, got "
                             + (f"{sorted(sizes)}" if sizes else "no mapped argument (every in_axes is None)"))
        (size,) = sizes
        level = new_batch_level(_bind_batched)
        try:
            boxed = [rebuild([leaf if a is None else _batched(_moved(value_of(leaf), a, 0), level)
                              for leaf, a in pairs]) for pairs, rebuild in zip(flat, rebuilds)]
            out = fn(*boxed)
            leaves, rebuild = tree_flatten(out)
            axes = _axes_like(out_axes, out, "out_axes")
            return rebuild([_unbatched(leaf, a, level, size) for leaf, a in zip(leaves, axes)])
        finally:
            close_level(level)

    mapped.__name__ = f"vmap_of_{getattr(fn, '__name__', 'fn')}"
    return mapped


def _unbatched(leaf, axis, level: int, size: int):
    """One output leaf with the examples on ``axis`` (an output the same for all examples is repeated)."""
    if axis is None:
        if isinstance(leaf, Tensor) and leaf._trace == level:
            raise ValueError("vmap: out_axes is None for an output that differs from example to example; give the "
                             "axis to stack the examples on")
        return leaf
    if isinstance(leaf, Tensor) and leaf._trace == level:
        value = leaf._data
    else:
        value = python_data(leaf) if not isinstance(leaf, Tensor) else leaf
        value = broadcast_to_p.bind(value, shape=(size,) + tuple(shape_of(value)))
    ndim = len(shape_of(value))
    return wrap(_moved(value, 0, _checked_axis(axis, ndim, "out_axes")))


__all__ = ["vmap", "BatchedTensor"]
