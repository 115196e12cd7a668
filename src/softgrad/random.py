"""Random numbers through an explicit, seedable ``Generator``: no hidden global state.

>>> g = Generator(0)
>>> g.normal((2, 3)).shape
(2, 3)
>>> bool((Generator(7).uniform(4) == Generator(7).uniform(4)).all())
True
"""

from __future__ import annotations

import numpy as np

from softgrad.tensor import Tensor, as_shape, wrap


class Generator:
    """A stream of random numbers (NumPy's PCG64) fixed by ``seed``; pass it to whatever needs randomness."""

    def __init__(self, seed: int | None = None):
        if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"Generator: seed must be a non-negative int or None, got {type(seed).__name__} {seed!r}")
        if seed is not None and seed < 0:
            raise ValueError(f"Generator: seed must be a non-negative int or None, got {seed!r}")
        self._rng = np.random.default_rng(seed)

    def normal(self, shape, mean=0.0, std=1.0, dtype=np.float32) -> Tensor:
        """Samples of N(mean, std²)."""
        return wrap(self._rng.normal(mean, std, as_shape(shape)).astype(dtype))

    def uniform(self, shape, low=0.0, high=1.0, dtype=np.float32) -> Tensor:
        """Samples of U[low, high)."""
        return wrap(self._rng.uniform(low, high, as_shape(shape)).astype(dtype))

    def integers(self, low, high=None, shape=(), dtype=np.int64) -> Tensor:
        """Integers in [low, high) (in [0, low) when high is None)."""
        return wrap(self._rng.integers(low, high, as_shape(shape), dtype=dtype))

    def permutation(self, n: int) -> Tensor:
        """A random permutation of range(n)."""
        return wrap(self._rng.permutation(int(n)))

    def spawn(self, n: int) -> list["Generator"]:
        """``n`` independent child generators (for data order, dropout, init ... kept apart)."""
        children = []
        for rng in self._rng.spawn(n):
            child = Generator.__new__(Generator)
            child._rng = rng
            children.append(child)
        return children

    @property
    def numpy_generator(self) -> np.random.Generator:
        """The underlying ``np.random.Generator`` (for code that samples NumPy arrays directly)."""
        return self._rng

    def state_dict(self) -> dict:
        """The exact state, to resume a stream bit for bit."""
        return self._rng.bit_generator.state

    def load_state_dict(self, state: dict) -> None:
        self._rng.bit_generator.state = state
