"""Creating tensors: constants, ranges, identity. Not differentiable; float32 unless ``dtype`` says."""

from __future__ import annotations

import numpy as np

from softgrad.ops._primitive import shape_of
from softgrad.tensor import Tensor, as_shape, concrete, wrap


def ones(shape, dtype=np.float32) -> Tensor:
    """A tensor of ones.

    >>> ones(3)
    Tensor(shape=[3], dtype=Float32, value=
    [1., 1., 1.])
    """
    return wrap(np.ones(as_shape(shape), dtype=dtype))


def zeros(shape, dtype=np.float32) -> Tensor:
    """A tensor of zeros."""
    return wrap(np.zeros(as_shape(shape), dtype=dtype))


def full(shape, fill_value, dtype=np.float32) -> Tensor:
    """A tensor filled with ``fill_value``."""
    return wrap(np.full(as_shape(shape), fill_value, dtype=dtype))


def _dtype_of(x, dtype):
    """``dtype``, or x's (of one example's shape inside vmap, as the *_like ops make their arrays)."""
    return np.asarray(concrete(x)).dtype if dtype is None else dtype


def ones_like(x, dtype=None) -> Tensor:
    """Ones with x's shape (and dtype unless given)."""
    return wrap(np.ones(shape_of(x), dtype=_dtype_of(x, dtype)))


def zeros_like(x, dtype=None) -> Tensor:
    """Zeros with x's shape (and dtype unless given)."""
    return wrap(np.zeros(shape_of(x), dtype=_dtype_of(x, dtype)))


def full_like(x, fill_value, dtype=None) -> Tensor:
    """``fill_value`` with x's shape (and dtype unless given)."""
    return wrap(np.full(shape_of(x), fill_value, dtype=_dtype_of(x, dtype)))


def arange(start, stop=None, step=1, dtype=None) -> Tensor:
    """Evenly spaced values in [start, stop), as ``np.arange`` (int64 for ints, float32 for floats)."""
    if step == 0:
        raise ValueError(f"arange: step must not be 0, got {step!r}")
    values = np.arange(start, stop, step) if stop is not None else np.arange(start)
    if dtype is None and values.dtype == np.float64:
        dtype = np.float32
    return wrap(values.astype(dtype) if dtype is not None else values)


def linspace(start, stop, num, dtype=np.float32) -> Tensor:
    """``num`` evenly spaced values from start to stop, both included."""
    return wrap(np.linspace(start, stop, int(num), dtype=dtype))


def eye(n, m=None, dtype=np.float32) -> Tensor:
    """The n×m identity matrix (square when m is None)."""
    for name, size in (("n", n), ("m", m)):
        if size is not None and (isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0):
            raise ValueError(f"eye: {name} must be an int ≥ 0, got {size!r}")
    return wrap(np.eye(n, m, dtype=dtype))


__all__ = ["ones", "zeros", "full", "ones_like", "zeros_like", "full_like", "arange", "linspace", "eye"]
