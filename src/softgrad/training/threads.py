"""How many threads BLAS may use while training: one unless asked for more.

OpenBLAS splits every matrix product over all cores. On an idle machine that makes a mid-sized model's step
up to ~1.3× faster; but when another process is busy on the same cores the threads wait for each other and a
step can take 10–20× longer (measured on this project's 2-core machine: an MNIST MLP epoch 1.7 s on one
thread, 11–19 s on two beside a busy process). One thread is the predictable choice; ``--threads N`` opts in.

The count changes how OpenBLAS splits its sums, so the last bits of the results (and, after many steps, the
metrics) depend on it: it is part of a run's config, and a resumed run keeps it. Limits are applied through
threadpoolctl when it is installed.
"""

from __future__ import annotations

import contextlib
import os


@contextlib.contextmanager
def blas_threads(threads: int | None):
    """Limit BLAS to ``threads`` threads inside the block (None or ≥ the core count: no limit)."""
    if threads is None or threads >= (os.cpu_count() or 1):
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # without threadpoolctl BLAS keeps its own setting
        yield
        return
    with threadpool_limits(limits=threads, user_api="blas"):
        yield
