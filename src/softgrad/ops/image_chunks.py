"""Chunks of a batch of images, shared out between threads: how the convolution and pooling kernels stay in cache
and use every CPU.

A kernel that works image by image (the Winograd convolutions, max pooling) runs ``task(chunk)`` for slices of
the batch small enough that a chunk's temporaries stay in cache from one NumPy pass to the next (``chunks``), the
slices split between threads (``on_threads``: NumPy releases the GIL inside its loops, and each thread's BLAS runs
single-threaded, as per-chunk GEMMs are too small for OpenBLAS to split well). Each chunk is computed whole by one
thread, so results do not depend on the number of threads.
"""

from __future__ import annotations

from softgrad._blas import blas_threads_local
from softgrad.ops.softmax_kernels import _by_blocks


def chunks(n: int, per_image: int, budget: int) -> list[slice]:
    """Slices of the N images, each with about ``budget`` bytes of temporaries at ``per_image`` bytes an image."""
    size = max(1, min(n, budget // max(per_image, 1)))
    return [slice(s, s + size) for s in range(0, n, size)]


def on_threads(task, chunk_list) -> None:
    """``task(chunk)`` for every chunk, shared out between threads, each thread's BLAS on one thread."""
    def part(chunks_part):
        with blas_threads_local(1):
            for chunk in chunks_part:
                task(chunk)
    _by_blocks(part, chunk_list)


__all__ = ["chunks", "on_threads"]
