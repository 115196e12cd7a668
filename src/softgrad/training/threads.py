"""How many threads training uses: one unless asked for more, softgrad's threads and BLAS's alike.

Threads split every large matrix product and convolution over the cores. On an idle machine that makes a step
up to ~1.3× faster; but when another process is busy on the same cores the threads wait for
each other and a step can take 10–20× longer (measured on this project's 2-core machine: an MNIST MLP epoch 1.7 s
on one thread, 11–19 s on two beside a busy process). One thread is the predictable choice; ``--threads N`` opts
in, and sets both ``softgrad.config.threads`` (softgrad's kernels and its largest matrix products) and BLAS's
count (the other products).

On more than one thread, softgrad's matrix products run on its own threads from the start of the run (one pool,
``softgrad._parallel``). The count can change the last bits of the results (and, after many steps, the metrics):
it is part of a run's config, and a resumed run keeps it. BLAS's limit is applied through threadpoolctl when it
is installed, which also tells how many threads BLAS then runs: that count, not the one asked, is what a run
records.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from softgrad import _parallel as parallel
from softgrad._blas import bundled_paths

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def running_blas_threads() -> int | None:
    """The threads BLAS runs now (the fewest over NumPy's BLAS libraries), or None without threadpoolctl.

    NumPy's are the ones its wheel bundles (``_blas.bundled_paths``); a BLAS library loaded later by another
    package is not NumPy's (Numba's first compile imports SciPy, which loads its own OpenBLAS with the
    environment's limit: no product of softgrad's runs on it). Without one (NumPy linked to the system's BLAS),
    every BLAS library counts."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    libraries = [info for info in threadpool_info() if info["user_api"] == "blas"]
    bundled = {str(path) for path in bundled_paths()}
    own = [info for info in libraries if os.path.realpath(info["filepath"]) in bundled]
    counts = [info["num_threads"] for info in own or libraries]
    return min(counts) if counts else None


def thread_limit_source() -> str:
    """What in the environment sets BLAS's thread count, for messages."""
    given = [f"{name}={os.environ[name]}" for name in THREAD_VARIABLES if name in os.environ]
    return ", ".join(given) + " in the environment" if given else "the BLAS library's own limit"


@contextlib.contextmanager
def blas_threads(threads: int | None) -> Iterator[int | None]:
    """softgrad's threads and BLAS's limited to ``threads`` inside the block (None: both left alone); yields the
    count BLAS runs (None when threadpoolctl is missing, and BLAS keeps its own setting)."""
    if threads is None:
        yield running_blas_threads()
        return
    previous = parallel.threads_requested()
    parallel.set_threads(threads)
    parallel.one_pool()  # (more than one thread: every step and a resumed run on one path)
    try:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            yield None
            return
        with threadpool_limits(limits=threads, user_api="blas"):
            yield running_blas_threads()
    finally:
        parallel.set_threads(previous)


__all__ = ["running_blas_threads", "thread_limit_source", "blas_threads"]
