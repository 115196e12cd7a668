"""softgrad's switches, as attributes of ``softgrad.config``, and context managers of the same names.

* ``debug_nans``: every primitive whose result — in the forward pass or a derivative rule in the backward — holds
  a NaN raises ``FloatingPointError``, naming the op, its input shapes and value ranges (as JAX's
  ``jax_debug_nans``). The first such op is where a NaN is born.
* ``debug_infs``: the same for ±inf (separate, because some results are legitimately infinite: ``log(0)``).

Both are off by default and then cost nothing (``Primitive.bind`` is the plain ``bind``).

* ``threads``: how many threads softgrad's kernels share their work between (as ``torch.set_num_threads``): an
  int ≥ 1, or None for the default, one per CPU this process may run on, at most 4. Convolutions, pooling and the
  softmax family run on these threads, with the same bits whatever the count; so do matrix products once one of
  those has (before: on BLAS's own threads, as NumPy's; ``softgrad._parallel`` says why). The LAPACK ops (inv,
  solve, svd, ...) and einsum of three or more operands run on BLAS's threads.

>>> import numpy as np, softgrad as sg
>>> with sg.debug_nans(), np.errstate(invalid="ignore"):  # (NumPy's own warning silenced)
...     sg.ops.log(sg.Tensor([-1.0]))
Traceback (most recent call last):
...
FloatingPointError: NaN in the result of the forward of 'log' (shape (1,)); its inputs: #0 shape (1,) float32 in [-1.0, -1.0]. Turn the check off with softgrad.config.debug_nans = False (debug_infs for ±inf)
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from softgrad import trace
from softgrad import _parallel as parallel


class Config:
    """``softgrad.config``: ``debug_nans`` and ``debug_infs`` (booleans), ``threads`` (see the module docstring)."""

    @property
    def debug_nans(self) -> bool:
        return trace.CHECKS["nan"]

    @debug_nans.setter
    def debug_nans(self, enabled: bool) -> None:
        trace.set_checks(nan=_flag("debug_nans", enabled), inf=trace.CHECKS["inf"])

    @property
    def debug_infs(self) -> bool:
        return trace.CHECKS["inf"]

    @debug_infs.setter
    def debug_infs(self, enabled: bool) -> None:
        trace.set_checks(nan=trace.CHECKS["nan"], inf=_flag("debug_infs", enabled))

    @property
    def threads(self) -> int:
        return parallel.threads()

    @threads.setter
    def threads(self, count: int | None) -> None:
        if count is not None:
            message = f"softgrad.config.threads must be an int >= 1 or None (one per CPU), got {count!r}"
            if isinstance(count, bool) or not isinstance(count, int):
                raise TypeError(message)
            if count < 1:
                raise ValueError(message)
        parallel.set_threads(count)

    def __repr__(self) -> str:
        return (f"softgrad.config(debug_nans={self.debug_nans}, debug_infs={self.debug_infs}, "
                f"threads={self.threads})")


def _flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"softgrad.config.{name} must be True or False, got {value!r}")
    return value


config = Config()


@contextlib.contextmanager
def _switched(name: str, enabled: bool) -> Iterator[None]:
    """``config.<name>`` set to ``enabled`` for a block, restored after it."""
    previous = getattr(config, name)
    setattr(config, name, enabled)
    try:
        yield
    finally:
        setattr(config, name, previous)


def debug_nans(enabled: bool = True):
    """``with softgrad.debug_nans():`` — ``config.debug_nans`` set for the block, restored after it."""
    return _switched("debug_nans", enabled)


def debug_infs(enabled: bool = True):
    """``with softgrad.debug_infs():`` — ``config.debug_infs`` set for the block, restored after it."""
    return _switched("debug_infs", enabled)


__all__ = ["Config", "debug_nans", "debug_infs"]
