"""``vmap(fn, in_axes=0, out_axes=0)``: ``fn`` mapped over an axis of its inputs, as JAX and MindSpore define it.

softgrad runs the batch as a loop today: ``fn`` once per example, the results stacked (traced, so ``vmap``
composes with every transform: ``vmap(grad(loss), in_axes=(None, 0, 0))`` gives per-example gradients, and
``grad`` of a ``vmap`` differentiates through the stack). This is the fallback the batching rules will replace:
the values are the same, the speed is that of the loop.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from softgrad.autodiff.transforms import _check_callable, tree_flatten
from softgrad.ops.shape import getitem, stack
from softgrad.tensor import Tensor, concrete


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


def vmap(fn: Callable, in_axes=0, out_axes=0) -> Callable:
    """``fn`` mapped over axis ``in_axes`` of its arguments: an int for every argument, None (not mapped:
    the same value for every example), or a tuple with one entry per argument — each an int, None, or a
    structure matching a dict / list / tuple argument. ``out_axes`` places the mapped axis in the outputs the
    same way (None: the output of the first example, for outputs that do not depend on the mapped inputs).

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
            checked = [_checked_axis(a, len(np.shape(concrete(leaf))), f"in_axes[{i}]")
                       for leaf, a in zip(leaves, axes)]
            sizes.update(np.shape(concrete(leaf))[a] for leaf, a in zip(leaves, checked) if a is not None)
            flat.append(list(zip(leaves, checked)))
            rebuilds.append(rebuild)
        if len(sizes) != 1:
            raise ValueError("vmap: the mapped axes must all have the same length, got "
                             + (f"{sorted(sizes)}" if sizes else "no mapped argument (every in_axes is None)"))
        (size,) = sizes
        results = [fn(*[rebuild([_example(leaf, a, b) for leaf, a in pairs]) for pairs, rebuild in zip(flat, rebuilds)])
                   for b in range(size)]
        return _stack_results(results, out_axes)

    mapped.__name__ = f"vmap_of_{getattr(fn, '__name__', 'fn')}"
    return mapped


def _example(leaf, axis, b: int):
    if axis is None:
        return leaf
    index = (slice(None),) * axis + (b,)
    return getitem(leaf, index) if isinstance(leaf, Tensor) else np.asarray(leaf)[index]


def _stack_results(results: list, out_axes):
    """The examples' outputs stacked along ``out_axes``, in the structure of one output."""
    first_leaves, rebuild = tree_flatten(results[0])
    axes = _axes_like(out_axes, results[0], "out_axes")
    per_leaf = [tree_flatten(r)[0] for r in results]
    stacked = []
    for k, axis in enumerate(axes):
        if axis is None:
            stacked.append(first_leaves[k])
            continue
        ndim = len(np.shape(concrete(first_leaves[k]))) + 1
        stacked.append(stack([leaves[k] for leaves in per_leaf], axis=_checked_axis(axis, ndim, "out_axes")))
    return rebuild(stacked)


__all__ = ["vmap"]
