"""How an op is declared: a ``Primitive`` (NumPy forward + one VJP rule per argument) and its public function.

Rules are written over *values* (ndarrays, or traced Tensors in higher-order use) with operators, ndarray
methods (``.sum .reshape .swapaxes .astype``) and ``other_p.bind(...)``; so one rule serves first order at
NumPy speed and any higher order by tracing itself.
"""

from __future__ import annotations

import numpy as np

from softgrad.tensor import ARRAY_TYPES, Primitive, Tensor, as_array, bind, wrap


def public(prim: Primitive, doc: str):
    """The user-facing op of ``prim``: accepts Tensors, ndarrays and scalars, always returns a Tensor."""

    def op(*args, **params):
        out = bind(prim, *args, **params)
        if isinstance(out, Tensor):
            return out
        return wrap(out if _has_array(args) else prim.impl(*[_python_data(a) for a in args], **params))

    op.__name__ = op.__qualname__ = prim.name
    op.__doc__ = doc
    op.primitive = prim
    return op


def _has_array(args) -> bool:
    for a in args:
        if isinstance(a, ARRAY_TYPES):
            return True
    return False


def _python_data(a):
    """Python numbers and lists, where no array fixes the dtype, convert as Tensor(data) does (floats to float32)."""
    return as_array(a) if isinstance(a, (list, tuple, float, int)) and not isinstance(a, bool) else a


_VALUE_TYPES = (Tensor,) + ARRAY_TYPES


def lift_python(*args):
    """Arguments for a composite op: Python data converted as ``Tensor(data)`` would when no array is among
    them (so ``sum([1.0, 2.0])`` is float32, like ``Tensor([1.0, 2.0]).sum()``)."""
    for a in args:
        if isinstance(a, _VALUE_TYPES):
            return args
    return tuple(_python_data(a) for a in args)


def tensor_out(value) -> Tensor:
    """A primitive's result as a Tensor (values from NumPy inputs are wrapped without a copy)."""
    return value if isinstance(value, Tensor) else wrap(value)


def normalize_axis(axis, ndim: int) -> tuple[int, ...] | None:
    """``axis`` (None, int or sequence) as a sorted tuple of non-negative ints, or None for all axes."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for an array of {ndim} dimension(s)")
        out.append(int(a) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"axis {axis} repeats an axis")
    return tuple(sorted(out))


def kept_shape(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> tuple[int, ...]:
    """The shape a reduction over ``axes`` has with ``keepdims=True``."""
    if axes is None:
        return (1,) * len(shape)
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def batch_shape(g, ans) -> tuple[int, ...]:
    """The leading axes g has beyond ans's shape (empty outside a batched sweep; see Primitive.batchable)."""
    g_shape = shape_of(g)
    return g_shape[:len(g_shape) - len(shape_of(ans))]


def shape_of(x) -> tuple[int, ...]:
    """The shape of a value: an ndarray, NumPy scalar, Tensor, or Python number/list."""
    try:
        return x.shape
    except AttributeError:
        return np.shape(x)
