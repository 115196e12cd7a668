"""Winograd's small transforms compiled by Numba, when it is installed (``pip install softgrad[fast]``).

Each of ``winograd``'s four transforms applies a small matrix M (Bᵀ, Aᵀ or their transposes) along the two
leading axes of a chunk's tiles, (a, a, X) → (k, k, X) (``winograd._both_axes``), as 2-D passes ``kernel(src,
out)``: out[r, x] = Σ_p M[r, p] src[p, x]. BLAS does each pass as a product with 6 rows, which runs at a quarter of
the speed of a plain copy of the data (108 µs against 30 for a 1 MB chunk on this project's machine); the loops
below read each column of a cells once and write its k results, one pass at about copy speed (42 µs). The
arithmetic is M's own, its integer entries written out (±1 as additions); only the rounding order differs.

``rows(matrix)`` returns the kernel for one of the four matrices (None without Numba, or with
``SOFTGRAD_NUMBA=0``: then ``winograd`` uses BLAS). Compiled on first use per dtype and cached on disk (the first
Winograd convolution of a process takes ~0.3 s to load Numba and the cached kernels, ~0.8 s the very first time,
compiling them); each releases the GIL, so the pool's threads run them chunk by chunk side by side.
``tests/test_winograd.py`` checks each kernel against its matrix.
"""

from __future__ import annotations

import functools
import os

import numpy as np


@functools.cache
def _numba():
    switch = os.environ.get("SOFTGRAD_NUMBA", "1")
    if switch not in ("0", "1"):
        raise ValueError(f"the environment variable SOFTGRAD_NUMBA must be 0 (off) or 1 (on, the default), "
                         f"got {switch!r}")
    if switch == "0":
        return None
    try:
        import numba
    except ImportError:
        return None
    return numba


def available() -> bool:
    """Whether the compiled transforms are in use: Numba importable and ``SOFTGRAD_NUMBA`` not 0."""
    return _numba() is not None


# ----- the four kernels: out[:, x] = M · src[:, x] -----


def _bt_rows(src, out):
    """M = Bᵀ (6×6), the input transform."""
    k2, k4, k5 = src.dtype.type(2), src.dtype.type(4), src.dtype.type(5)
    for x in range(src.shape[1]):
        d0, d1, d2, d3, d4, d5 = src[0, x], src[1, x], src[2, x], src[3, x], src[4, x], src[5, x]
        out[0, x] = k4 * d0 - k5 * d2 + d4
        out[1, x] = -k4 * d1 - k4 * d2 + d3 + d4
        out[2, x] = k4 * d1 - k4 * d2 - d3 + d4
        out[3, x] = -k2 * d1 - d2 + k2 * d3 + d4
        out[4, x] = k2 * d1 - d2 - k2 * d3 + d4
        out[5, x] = k4 * d1 - k5 * d3 + d5


def _b_rows(src, out):
    """M = B (6×6), the input transpose's: Bᵀ transposed."""
    k2, k4, k5 = src.dtype.type(2), src.dtype.type(4), src.dtype.type(5)
    for x in range(src.shape[1]):
        d0, d1, d2, d3, d4, d5 = src[0, x], src[1, x], src[2, x], src[3, x], src[4, x], src[5, x]
        out[0, x] = k4 * d0
        out[1, x] = -k4 * d1 + k4 * d2 - k2 * d3 + k2 * d4 + k4 * d5
        out[2, x] = -k5 * d0 - k4 * d1 - k4 * d2 - d3 - d4
        out[3, x] = d1 - d2 + k2 * d3 - k2 * d4 - k5 * d5
        out[4, x] = d0 + d1 + d2 + d3 + d4
        out[5, x] = d5


def _at_rows(src, out):
    """M = Aᵀ (4×6), the output transform."""
    k2, k4, k8 = src.dtype.type(2), src.dtype.type(4), src.dtype.type(8)
    for x in range(src.shape[1]):
        d0, d1, d2, d3, d4, d5 = src[0, x], src[1, x], src[2, x], src[3, x], src[4, x], src[5, x]
        out[0, x] = d0 + d1 + d2 + d3 + d4
        out[1, x] = d1 - d2 + k2 * d3 - k2 * d4
        out[2, x] = d1 + d2 + k4 * d3 + k4 * d4
        out[3, x] = d1 - d2 + k8 * d3 - k8 * d4 + d5


def _a_rows(src, out):
    """M = A (6×4), the gradient's tiles: Aᵀ transposed."""
    k2, k4, k8 = src.dtype.type(2), src.dtype.type(4), src.dtype.type(8)
    for x in range(src.shape[1]):
        d0, d1, d2, d3 = src[0, x], src[1, x], src[2, x], src[3, x]
        out[0, x] = d0
        out[1, x] = d0 + d1 + d2 + d3
        out[2, x] = d0 - d1 + d2 - d3
        out[3, x] = d0 + k2 * d1 + k4 * d2 + k8 * d3
        out[4, x] = d0 - k2 * d1 + k4 * d2 - k8 * d3
        out[5, x] = d3


KERNELS = {"BT": _bt_rows, "B": _b_rows, "AT": _at_rows, "A": _a_rows}  # by the matrix they apply


@functools.cache
def rows(matrix: str):
    """The compiled ``out[:, x] = M · src[:, x]`` for M = ``matrix`` (a key of ``KERNELS``), else None."""
    if matrix not in KERNELS:
        raise ValueError(f"matrix must be one of {sorted(KERNELS)}, got {matrix!r}")
    numba = _numba()
    if numba is None:
        return None
    return numba.njit(nogil=True, boundscheck=False, cache=True)(KERNELS[matrix])


__all__ = ["available", "rows", "KERNELS"]
