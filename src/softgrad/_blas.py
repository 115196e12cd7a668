"""``axpy`` and ``blas_threads_local``, through the OpenBLAS that NumPy's wheels bundle
(``numpy.libs/libscipy_openblas64_*``, 64-bit integers, called with ctypes).

``axpy``: y ← a·x + y in place, in one pass over memory. NumPy has no such ufunc:
``y += a * x`` reads x, writes a temporary, and reads it again.

The optimizers use it for large parameters (through ``_parallel.axpy``: BLAS single-threaded in the one pool).
Where that library is absent (NumPy built against another BLAS) or the arrays do not fit (dtype, layout, overlap),
``axpy_operands`` says so (None) and the caller uses NumPy.

``blas_threads_local(n)``: the calling thread's BLAS calls use n threads within the block (kernels that share
their own work out between threads, as the Winograd convolution, run BLAS single-threaded on each). In the
OpenBLAS NumPy 2.4 bundles (0.3.31) the count set is the one every thread reads: ``_parallel.on_threads``
sets and restores it from the calling thread around the helpers' work.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import numpy as np


def bundled_paths() -> list[Path]:
    """The OpenBLAS libraries NumPy's wheel bundles (``numpy.libs``), resolved; empty for a NumPy built against
    another BLAS."""
    return sorted((Path(np.__file__).resolve().parent.parent / "numpy.libs").glob("libscipy_openblas64_*"))


@functools.cache
def _openblas(loader=ctypes.CDLL) -> ctypes.CDLL | None:
    """NumPy's bundled OpenBLAS, or None when there is none; its functions called through ``loader``: ``CDLL``
    gives the GIL up for the call (a long one, as axpy), ``PyDLL`` keeps it (a call of a microsecond: giving it up
    lets the other thread take it, and getting it back waits for that thread's next release)."""
    for path in bundled_paths():
        try:
            return loader(str(path))
        except OSError:
            continue
    return None


@functools.cache
def _kernels() -> dict[np.dtype, ctypes._CFuncPtr]:
    """{dtype: cblas ?axpy} from NumPy's bundled OpenBLAS, or {}."""
    lib = _openblas()
    try:
        kernels = {np.dtype(np.float32): (lib.scipy_cblas_saxpy64_, ctypes.c_float),
                   np.dtype(np.float64): (lib.scipy_cblas_daxpy64_, ctypes.c_double)}
    except AttributeError:  # (also lib None)
        return {}
    for kernel, scalar in kernels.values():
        kernel.restype = None  # void cblas_?axpy(n, alpha, x, incx, y, incy), integers 64-bit
        kernel.argtypes = (ctypes.c_int64, scalar, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64)
    return {dtype: kernel for dtype, (kernel, _) in kernels.items()}


def axpy_operands(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """x and y as flat views of their memory, in the same order, when BLAS axpy can do y ← a·x + y in one pass
    (same dtype float32/float64, same non-zero size, both C- or both F-contiguous, no overlap, both writeable);
    else None."""
    if _kernels().get(y.dtype) is None or x.dtype != y.dtype or x.shape != y.shape or not y.size:
        return None
    x_flags, y_flags = x.flags, y.flags
    if not (x_flags.writeable and y_flags.writeable):  # (x too: ctypes takes the address of writeable buffers)
        return None
    if not (x_flags.c_contiguous and y_flags.c_contiguous):
        if not (x_flags.f_contiguous and y_flags.f_contiguous):
            return None
        x, y = x.T, y.T  # the same memory, C-contiguous
    if np.may_share_memory(x, y):
        return None
    return x.reshape(-1), y.reshape(-1)


def axpy(a: float, x: np.ndarray, y: np.ndarray) -> None:
    """y ← a·x + y in place, for flat x and y from ``axpy_operands``."""
    _kernels()[y.dtype](y.size, a, _address(_bytes(x)), 1, _address(_bytes(y)), 1)


_bytes, _address = ctypes.c_char.from_buffer, ctypes.addressof  # a C-contiguous writeable array's address


@functools.cache
def _thread_control() -> ctypes._CFuncPtr | None:
    """``openblas_set_num_threads_local`` (OpenBLAS ≥ 0.3.27: the calling thread's BLAS thread count; returns the
    previous one), or None."""
    try:
        fn = _openblas(ctypes.PyDLL).openblas_set_num_threads_local  # (the GIL kept: ~0.3 µs)
    except AttributeError:  # (also no library)
        return None
    fn.restype, fn.argtypes = ctypes.c_int, (ctypes.c_int,)
    return fn


class blas_threads_local:
    """``with blas_threads_local(n):`` BLAS calls made by this thread use ``n`` threads within the block (where the
    bundled OpenBLAS allows it; otherwise nothing changes): for kernels that share their own work out between
    threads. (A class, not a generator: entered around every matrix product, it costs two C calls, ~1 µs.)"""

    __slots__ = ("n", "previous")

    def __init__(self, n: int):
        self.n = n

    def __enter__(self) -> None:
        fn = _thread_control()
        self.previous = fn(self.n) if fn is not None else None

    def __exit__(self, *exc) -> None:
        if self.previous is not None and self.previous != self.n:
            _thread_control()(self.previous)
