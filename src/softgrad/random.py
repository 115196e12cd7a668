"""Random numbers through an explicit, seedable ``Generator``, and MindSpore's global seed beside it.

Pass a ``Generator`` to whatever needs randomness; what is built or sampled without one (a layer's weights, a
dropout mask, ``randn``) draws from ``default_generator()``: after ``set_seed(s)`` a stream fixed by ``s`` (the
same seed and the same calls in the same order give the same numbers, as ``mindspore.set_seed`` and
``torch.manual_seed``), before it an unseeded one.

>>> g = Generator(0)
>>> g.normal((2, 3)).shape
(2, 3)
>>> bool((Generator(7).uniform(4) == Generator(7).uniform(4)).all())
True
>>> set_seed(3); a = randn(2, 2)
>>> set_seed(3); bool((randn(2, 2) == a).all())
True
"""

from __future__ import annotations

import numpy as np

from softgrad.tensor import Tensor, as_shape, wrap


def _check_seed(owner: str, seed) -> None:
    if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"{owner}: seed must be a non-negative int or None, got {type(seed).__name__} {seed!r}")
    if seed is not None and seed < 0:
        raise ValueError(f"{owner}: seed must be a non-negative int or None, got {seed!r}")


class Generator:
    """A stream of random numbers (NumPy's PCG64) fixed by ``seed``; pass it to whatever needs randomness."""

    def __init__(self, seed: int | None = None):
        _check_seed("Generator", seed)
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


# ----- the global seed (MindSpore's set_seed) and the samplers that use it -----

_GLOBAL: dict = {"seed": None, "generator": None}


def set_seed(seed: int) -> None:
    """Fix the global stream: every later draw without an explicit ``generator`` (layers' initial weights,
    dropout masks, ``randn``/``rand``/``randint``) comes from ``Generator(seed)``, in call order
    (``mindspore.set_seed``; PyTorch's ``torch.manual_seed``)."""
    if seed is None:
        raise TypeError("set_seed: seed must be a non-negative int, got None")
    _check_seed("set_seed", seed)
    _GLOBAL["seed"], _GLOBAL["generator"] = int(seed), Generator(int(seed))


def get_seed() -> int | None:
    """The seed of the last ``set_seed`` call, None if there was none (``mindspore.get_seed``)."""
    return _GLOBAL["seed"]


def default_generator() -> Generator:
    """The generator of a draw that was given none: the global stream after ``set_seed``, else a fresh unseeded
    one."""
    return _GLOBAL["generator"] if _GLOBAL["generator"] is not None else Generator()


def _size(owner: str, size) -> tuple[int, ...]:
    """``randn(2, 3)``, ``randn((2, 3))`` or ``randn([2, 3])`` as the shape (2, 3)."""
    shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise ValueError(f"{owner}: size must be non-negative ints (randn(2, 3) or randn((2, 3))), got {size!r}")
    return shape


def randn(*size, dtype=np.float32, generator: Generator | None = None) -> Tensor:
    """Samples of N(0, 1) of shape ``size`` (``torch.randn``/``mindspore.ops.randn``), from ``generator`` or
    the global stream (``set_seed``)."""
    return (generator or default_generator()).normal(_size("randn", size), dtype=dtype)


def rand(*size, dtype=np.float32, generator: Generator | None = None) -> Tensor:
    """Samples of U[0, 1) of shape ``size`` (``torch.rand``), from ``generator`` or the global stream."""
    return (generator or default_generator()).uniform(_size("rand", size), dtype=dtype)


def randint(low, high, size, dtype=np.int64, generator: Generator | None = None) -> Tensor:
    """Integers uniform in [low, high) of shape ``size`` (``torch.randint(low, high, size)``), from
    ``generator`` or the global stream."""
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"randint: {name} must be an int, got {type(value).__name__} {value!r}")
    if high <= low:
        raise ValueError(f"randint: high must exceed low (the range is [low, high)), got low={low}, high={high}")
    shape = _size("randint", size if isinstance(size, (tuple, list)) else (size,))
    return (generator or default_generator()).integers(low, high, shape, dtype=dtype)


__all__ = ["Generator", "set_seed", "get_seed", "default_generator", "randn", "rand", "randint"]
