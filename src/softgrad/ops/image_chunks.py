"""Chunks of a batch of images, shared out between threads: how the convolution and pooling kernels stay in cache
and use every CPU.

A kernel that works image by image (the Winograd convolutions, max pooling) runs ``task(chunk)`` for slices of
the batch small enough that a chunk's temporaries stay in cache from one NumPy pass to the next (``chunks``), the
slices split between threads (``on_threads``: NumPy releases the GIL inside its loops, and each thread's BLAS runs
single-threaded, as per-chunk GEMMs are too small for OpenBLAS to split well). Each chunk is computed whole by one
thread, so results do not depend on the number of threads. A chunk's temporaries come from ``scratch``: buffers
private to each thread, allocated once and reused chunk after chunk and call after call (fresh arrays of a
few MB would each come from, and go back to, the operating system: its page faults took ~10× the time of the
arithmetic in a Winograd transform).
"""

from __future__ import annotations

import math
import threading

import numpy as np

from softgrad._blas import blas_threads_local
from softgrad.ops.softmax_kernels import _by_blocks


def chunks(n: int, per_image: int, budget: int) -> list[slice]:
    """Slices of the N images, each with at most about ``budget`` bytes of temporaries at ``per_image`` bytes an
    image. More than one chunk: each half of the batch cut into the same number of parts, equal within an image,
    so that two threads, each taking half of the list, get the same work (64 images at 6 a chunk: 5 5 6 5 5 6
    twice, not ten of 6 and one of 4). The cut depends on N alone, never on the threads, so neither do the bits."""
    size = max(1, min(n, budget // max(per_image, 1)))
    if size >= n:
        return [slice(0, n)]
    per_half = -(-((n + 1) // 2) // size)  # chunks in each half
    bounds = [0]
    for start, stop in ((0, (n + 1) // 2), ((n + 1) // 2, n)):
        bounds += [start + (stop - start) * (k + 1) // per_half for k in range(per_half)]
    return [slice(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def on_threads(task, chunk_list) -> None:
    """``task(chunk)`` for every chunk, shared out between threads, each thread's BLAS on one thread. The calling
    thread also sets that around the whole call and restores its count last, once every helper is done: in the
    OpenBLAS NumPy bundles (0.3.31) a "thread-local" count is the process's, so a helper restoring the count it
    read after the caller had set it left BLAS on one thread for the rest of the process."""
    def part(chunks_part):
        with blas_threads_local(1):
            for chunk in chunks_part:
                task(chunk)
    with blas_threads_local(1):
        _by_blocks(part, chunk_list)


_SCRATCH_LIMIT = 64 << 20  # larger requests get fresh arrays: no thread keeps more than this per buffer
_local = threading.local()


def scratch(name: str, shape, dtype) -> np.ndarray:
    """An uninitialised array of ``shape`` and ``dtype`` private to the calling thread: the same memory at every
    request for ``name`` (grown when too small), so the caller must be done with the previous one."""
    size = math.prod(shape) * np.dtype(dtype).itemsize
    if size > _SCRATCH_LIMIT:
        return np.empty(shape, dtype)
    buffers = _local.__dict__.setdefault("buffers", {})
    buffer = buffers.get(name)
    if buffer is None or buffer.size < size:
        buffer = buffers[name] = np.empty(size, np.uint8)
    return buffer[:size].view(dtype).reshape(shape)


__all__ = ["chunks", "on_threads", "scratch"]
