"""softgrad's loops compiled by Numba, when it is installed (``pip install softgrad[fast]``): the few passes that
NumPy cannot make in one sweep over memory. Every kernel has a NumPy path beside it (used without Numba, or with
``SOFTGRAD_NUMBA=0``), and ``tests/test_compiled.py`` checks each against it or against its matrix.

``kernel(name)`` returns the compiled function (None without Numba). Compiled on first use per dtype and layout
and cached on disk (the first process to use them takes ~0.3 s to load Numba and the cached kernels, ~1 s the
very first time, compiling them); each releases the GIL, so the pool's threads run them chunk by chunk side by
side.

**Winograd's transforms** (``winograd._both_axes``): each of the four applies a small matrix M (Bᵀ, Aᵀ or their
transposes) along the two leading axes of a chunk's tiles, (a, a, X) → (k, k, X), as 2-D passes ``kernel(src,
out)``: out[r, x] = Σ_p M[r, p] src[p, x]. BLAS does each pass as a product with 6 rows, which runs at a quarter of
the speed of a plain copy of the data (108 µs against 30 for a 1 MB chunk on this project's machine); the loops
below read each column of a cells once and write its k results, one pass at about copy speed (42 µs). The
arithmetic is M's own, its integer entries written out (±1 as additions); only the rounding order differs.

**Max pooling over windows that tile the input** (stride = kernel, undilated: ``nn_kernels``): the maxima, and
the backward's scatter of g to each window's first maximum, each in one pass over the windows, the innermost
loop over the contiguous channels (selects, no branches, so LLVM vectorises it). NumPy needs a pass per offset
and boolean temporaries: on the MNIST net's pool (64×64×24×24, one core) 0.82 → 0.40 ms forward and 2.65 → 1.04
ms backward. They write and read the pooled maxima and g as (N, C, Ho, Wo) C-contiguous, PyTorch's layout, so that
a flatten after the pool is a view; x is channels-last (the convolutions' output).
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
    """Whether the compiled kernels are in use: Numba importable and ``SOFTGRAD_NUMBA`` not 0."""
    return _numba() is not None


# ----- Winograd's four transforms: out[:, x] = M · src[:, x] -----


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


# ----- max pooling over windows that tile x: x (n, Ho, kh, Wo, kw, C), the pooled and g (n, C, Ho, Wo) -----
# (x is the channels-last input with its rows and columns split into windows and offsets: a view, C-contiguous
# when the windows cover it exactly; indexing x[a, i·kh + p, …] of the 4-D array instead ran 1.3-1.5× slower.
# The pooled and g may have any strides: as NCHW views of channels-last memory they are read in order.)


def _pool_max(x, out):
    """out[a, c, i, j] = max over the window's offsets (p, q) of x[a, i, p, j, q, c]; NaN if one is NaN."""
    n, ho, kh, wo, kw, c = x.shape
    row = np.empty((wo, c), x.dtype)  # one row of windows, channels-last, before its NCHW store
    for a in range(n):
        for i in range(ho):
            for j in range(wo):
                for ch in range(c):
                    row[j, ch] = x[a, i, 0, j, 0, ch]
                for p in range(kh):
                    for q in range(kw):
                        for ch in range(c):
                            v, m = x[a, i, p, j, q, ch], row[j, ch]
                            row[j, ch] = v if (v > m) | (v != v) else m
            for ch in range(c):
                for j in range(wo):
                    out[a, ch, i, j] = row[j, ch]


def _pool_scatter(x, pooled, g, out):
    """out[a, i, p, j, q, c] = g[a, c, i, j] at the window's first offset (p, q), row-major, where x equals its
    maximum, else 0 (a NaN maximum equals nothing: no cell, as in the NumPy path)."""
    n, ho, kh, wo, kw, c = x.shape
    best, grad = np.empty((wo, c), x.dtype), np.empty((wo, c), g.dtype)
    free = np.empty(c, np.bool_)  # no earlier offset of this window has claimed its maximum
    zero = g.dtype.type(0)
    for a in range(n):
        for i in range(ho):
            best[:] = pooled[a, :, i, :].T
            grad[:] = g[a, :, i, :].T
            for j in range(wo):
                free[:] = True
                for p in range(kh):
                    for q in range(kw):
                        for ch in range(c):
                            hit = free[ch] & (x[a, i, p, j, q, ch] == best[j, ch])
                            out[a, i, p, j, q, ch] = grad[j, ch] if hit else zero
                            free[ch] = free[ch] & (not hit)


KERNELS = {"BT": _bt_rows, "B": _b_rows, "AT": _at_rows, "A": _a_rows,  # Winograd's, by the matrix they apply
           "pool_max": _pool_max, "pool_scatter": _pool_scatter}


@functools.cache
def kernel(name: str):
    """The compiled ``KERNELS[name]``, else None (Numba not installed, or switched off)."""
    if name not in KERNELS:
        raise ValueError(f"kernel name must be one of {sorted(KERNELS)}, got {name!r}")
    numba = _numba()
    if numba is None:
        return None
    return numba.njit(nogil=True, boundscheck=False, cache=True)(KERNELS[name])


__all__ = ["available", "kernel", "KERNELS"]
