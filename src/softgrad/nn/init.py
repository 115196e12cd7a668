"""Weight initialisers: ``initialize(init, shape, generator)`` turns a name, a number, an array or a callable
into a fresh float32 ndarray.

Names (case and underscores ignored, so ``'he_uniform'`` = ``'HeUniform'``), with fan_in / fan_out the
number of inputs / outputs feeding one unit (for a conv weight (O, C, kh, kw): C·kh·kw and O·kh·kw):

====================  =========================================================================
``'zeros'``/``'ones'``  constants
``'normal'``          N(0, 0.01²)  (MindSpore's ``Normal()``)
``'uniform'``         U(−0.07, 0.07)  (MindSpore's ``Uniform()``)
``'he_uniform'``      U(−b, b), b = √(6 / fan_in)        (Kaiming uniform, ReLU gain)
``'he_normal'``       N(0, 2 / fan_in)
``'xavier_uniform'``  U(−b, b), b = √(6 / (fan_in + fan_out))   (Glorot)
``'xavier_normal'``   N(0, 2 / (fan_in + fan_out))
``'torch_default'``   U(−b, b), b = 1/√fan_in: PyTorch's Linear/Conv default (Kaiming uniform with
                      a = √5) for weights, and for biases with the fan_in of their weight
====================  =========================================================================

>>> from softgrad.random import Generator
>>> w = initialize('xavier_uniform', (3, 4), Generator(0))
>>> w.shape, w.dtype, bool(abs(w).max() <= (6 / 7) ** 0.5)
((3, 4), dtype('float32'), True)
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from softgrad.random import Generator, default_generator
from softgrad.tensor import Tensor, concrete


def fan_in_and_fan_out(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of ``shape``: (out, in) for dense, (out, in, *kernel) for conv."""
    if len(shape) < 2:
        raise ValueError(f"fan_in and fan_out need a weight of at least 2 dimensions, got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _uniform(bound: float):
    return lambda shape, rng: rng.uniform(-bound, bound, shape)


def _normal(std: float):
    return lambda shape, rng: rng.normal(0.0, std, shape)


def _he_uniform(shape, rng):
    return _uniform(math.sqrt(6.0 / fan_in_and_fan_out(shape)[0]))(shape, rng)


def _he_normal(shape, rng):
    return _normal(math.sqrt(2.0 / fan_in_and_fan_out(shape)[0]))(shape, rng)


def _xavier_uniform(shape, rng):
    return _uniform(math.sqrt(6.0 / sum(fan_in_and_fan_out(shape))))(shape, rng)


def _xavier_normal(shape, rng):
    return _normal(math.sqrt(2.0 / sum(fan_in_and_fan_out(shape))))(shape, rng)


def _torch_default(shape, rng):
    return _uniform(1.0 / math.sqrt(fan_in_and_fan_out(shape)[0]))(shape, rng)


# name (lower case, no underscores) -> sampler(shape, numpy Generator) -> float64 ndarray
INITIALIZERS: dict[str, Callable] = {
    "zeros": lambda shape, rng: np.zeros(shape),
    "ones": lambda shape, rng: np.ones(shape),
    "normal": _normal(0.01),
    "uniform": _uniform(0.07),
    "heuniform": _he_uniform,
    "kaiminguniform": _he_uniform,
    "henormal": _he_normal,
    "kaimingnormal": _he_normal,
    "xavieruniform": _xavier_uniform,
    "glorotuniform": _xavier_uniform,
    "xaviernormal": _xavier_normal,
    "glorotnormal": _xavier_normal,
    "torchdefault": _torch_default,
}


def initialize(init, shape, generator: Generator | None = None, dtype=np.float32) -> np.ndarray:
    """A new ndarray of ``shape`` from ``init``: an initialiser name (table above), a number (constant), an
    array or Tensor of that shape (copied), or a callable ``init(shape, numpy_generator) -> array``.

    ``generator`` supplies the randomness (when None, the global stream of ``softgrad.random.set_seed``, else
    unseeded: pass a seeded ``softgrad.random.Generator`` for reproducible weights).
    """
    shape = tuple(int(n) for n in shape)
    if isinstance(init, (Tensor, np.ndarray)):
        array = np.asarray(concrete(init))
        if array.shape != shape:
            raise ValueError(f"initial value has shape {array.shape}, expected {shape}")
        return array.astype(dtype, copy=True)
    if isinstance(init, (int, float)) and not isinstance(init, bool):
        return np.full(shape, init, dtype=dtype)
    rng = (generator if generator is not None else default_generator()).numpy_generator
    if callable(init):
        return np.asarray(init(shape, rng), dtype=dtype).reshape(shape)
    key = str(init).lower().replace("_", "")
    if key not in INITIALIZERS:
        raise ValueError(f"unknown initialiser {init!r}; use one of "
                         f"{', '.join(sorted(INITIALIZERS))}, a number, an array or a callable(shape, rng)")
    return INITIALIZERS[key](shape, rng).astype(dtype)


__all__ = ["fan_in_and_fan_out", "initialize"]
