"""How softgrad's kernels share their work between threads: one pool of threads for all of them, BLAS included.

NumPy releases the GIL inside its loops and BLAS calls, so Python threads run NumPy passes side by side. Every
kernel that shares out its work does it here:

* ``share_out(task, parts)``: ``task(run)`` for consecutive runs of ``parts``, one run on the calling thread, the
  others on the pool's helpers. Each part is computed whole by one thread and the parts depend on the shapes
  alone, so results do not depend on the number of threads.
* ``on_threads(task, parts)``: ``task(part)`` for every part, shared out, BLAS single-threaded throughout.
* ``matmul(a, b)``: NumPy's ``a @ b``, once the pool is in use a large product cut into blocks of rows or of
  columns computed on it; ``axpy(a, x, y)``: y ← a·x + y, the optimizers' update.
* ``elementwise(fn, x)``: a large elementwise pass (a ReLU by hand) in runs of x's leading axis on the pool.
* ``chunks(n, per_image, budget)``: slices of a batch of images small enough that a chunk's temporaries stay in
  cache from one NumPy pass to the next (the Winograd convolutions, pooling, the fused activations).
* ``scratch(name, shape, dtype)``: buffers private to each thread, allocated once and reused chunk after chunk and
  call after call (fresh arrays of a few MB each come from, and go back to, the operating system: its page
  faults took ~10× the time of the arithmetic in a Winograd transform).
* ``held_arrays(chunks, shape_of, dtype)`` and ``hand_back(arrays)``: arrays a forward pass keeps for its backward
  (Winograd's tiles, a depthwise convolution's x channels-last), by chunk, written into the memory of a set that
  was used up before.

BLAS's threads and the pool's: one or the other, not both. After a product, OpenBLAS's threads spin for about
100 ms waiting for the next one (measured), on the cores the pool's threads need: in the MNIST example CNN's
training step on 2 cores, the forward 32→64 convolution took 10.5 ms after a product on BLAS's threads, 6.4 ms
with BLAS kept on one; the whole step 46 ms against 36. Yet that spinning is what makes them quick to start:
OpenBLAS shares out an MLP layer's product in microseconds where the pool, whose threads sleep, takes 30-80 µs,
and an MLP step that mixed the two (large products on the pool, small ones on BLAS's threads) ran 1.7× slower
than on BLAS's threads alone. So a process works in one of two regimes:

* until the pool first shares out a kernel (a convolution, pooling, a large softmax: ``one_pool``), BLAS shares
  out every product and update on its own threads, as NumPy does;
* from then on (``_one_pool``), nothing of softgrad's wakes BLAS's threads: BLAS runs single-threaded, and a
  product of at least 2·``_SPLIT`` multiply-adds is cut here into blocks set by its shapes alone, computed on
  the pool (bits that do not depend on the number of threads, softgrad's or BLAS's).

A product's last bits can differ between the two (as between BLAS's thread counts); the training command, on more
than one thread, works in one pool from its start, so that every step and a resumed run take the same path.

The pool's size: ``softgrad.config.threads`` (the training command's ``--threads``), by default ``MAX_THREADS``,
fewer if fewer CPUs are this process's (``threads``).
"""

from __future__ import annotations

import contextvars
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from softgrad._blas import axpy as blas_axpy, axpy_operands, blas_threads_local

MAX_THREADS = 4  # at most this many threads share out one call (fewer if fewer CPUs are ours)
_BLAS_ALONE = 2304 * 4  # OpenBLAS runs products of at most this many multiply-adds on one thread anyway (m·n·k of
#                         a matrix product; m·n of a matrix-vector product, its threshold being the lower)
_SPLIT = 1 << 23  # in one pool, a product of k·_SPLIT multiply-adds (~0.17 ms on one core each) is cut in
#                  min(k, MAX_THREADS) blocks: handing a block to another thread costs 30-80 µs here
_DEEP = 16  # a product this many times deeper than either side is split along its depth
_ROW_ALIGN, _COLUMN_ALIGN = 8, 64  # blocks start at these multiples (OpenBLAS's kernels' tiles do not straddle them)

_pool: ThreadPoolExecutor | None = None
_pool_pid, _pool_helpers = -1, 0
_requested: int | None = None  # softgrad.config.threads
_one_pool = False  # whether the pool has shared out a kernel in this process (the second regime above)


def _thread_pool() -> ThreadPoolExecutor:
    """The helper threads of this process (a forked child makes its own: threads don't survive a fork)."""
    global _pool, _pool_pid, _pool_helpers
    if _pool_pid != os.getpid():
        _pool_helpers = max(MAX_THREADS, _requested or 0) - 1
        _pool, _pool_pid = ThreadPoolExecutor(_pool_helpers, thread_name_prefix="softgrad"), os.getpid()
    return _pool


def _cpus() -> int:
    """The number of CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def threads() -> int:
    """How many threads share out a call: ``softgrad.config.threads`` when set, else ``MAX_THREADS`` at most the
    CPUs this process may run on."""
    return _requested if _requested is not None else min(MAX_THREADS, _cpus())


def threads_requested() -> int | None:
    """What ``set_threads`` was last given (None: the default)."""
    return _requested


def set_threads(count: int | None) -> None:
    """``softgrad.config.threads = count``: softgrad's kernels share out their work between ``count`` threads
    (None: as many as ``threads`` finds). The pool grows to match."""
    global _requested, _pool, _pool_pid
    if count is not None and _pool is not None and _pool_helpers < count - 1:
        _pool.shutdown(wait=False)  # a larger pool at the next call
        _pool, _pool_pid = None, -1
    _requested = count


def one_pool() -> None:
    """From now on, in this process, softgrad's products run on the pool with BLAS single-threaded (the second
    regime of the module docstring), when softgrad has more than one thread. The kernels that run on the pool call
    it before their first product; the training loop, at its start, so that every step and a resumed run take
    one path."""
    global _one_pool
    if threads() > 1:
        _one_pool = True


def share_out(task, parts) -> None:
    """``task(run)`` for consecutive runs of ``parts``, as equal as can be: one on this thread, the others on
    helper threads. Each part is processed whole by one thread, so results do not depend on the number of
    threads. The helpers see this thread's NumPy error state."""
    count = min(threads(), len(parts))
    if count <= 1:
        task(parts)
        return
    one_pool()
    size = -(-len(parts) // count)
    helpers = [_thread_pool().submit(contextvars.copy_context().run, task, parts[start:start + size])
               for start in range(size, len(parts), size)]
    task(parts[:size])
    for helper in helpers:
        helper.result()


def on_threads(task, parts) -> None:
    """``task(part)`` for every part, shared out between threads, each thread's BLAS on one thread. The calling
    thread also sets that around the whole call and restores its count last, once every helper is done: in the
    OpenBLAS NumPy bundles (0.3.31) a "thread-local" count is the process's, so a helper restoring the count it
    read after the caller had set it left BLAS on one thread for the rest of the process."""
    def run(parts_run):
        with blas_threads_local(1):
            for part in parts_run:
                task(part)
    with blas_threads_local(1):
        share_out(run, parts)


# ----- matrix products -----


def _cuts(length, align, parts):
    """Slices of range(length) into at most ``parts`` pieces, every cut at a multiple of ``align``."""
    step = -(-length // (parts * align)) * align
    return [slice(start, min(start + step, length)) for start in range(0, length, step)]


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None, epilogue=None) -> np.ndarray:
    """``np.matmul(a, b)`` (into ``out`` if given), then ``epilogue(block, columns)`` in place on the result,
    block by block, ``columns`` the slice of the last axis a block holds (a fused bias and activation). Once the
    pool is in use (``_one_pool``), with BLAS single-threaded, and a product of matrices of at least 2·``_SPLIT``
    multiply-adds cut into blocks of output rows (of columns when there are more columns than rows: each thread
    then reads only its part of the larger operand), a stack of products into runs of the stack, computed on the
    pool, each block's epilogue on the thread that made it. The blocks depend on the shapes alone."""
    if not _one_pool or a.ndim == 0 or b.ndim == 0:
        return _finished(np.matmul(a, b, out=out), epilogue)
    if a.ndim == 2 and b.ndim == 2:
        (m, k), n, stack_shape = a.shape, b.shape[1], ()
    else:
        m, k = (a.shape[-2] if a.ndim >= 2 else 1), a.shape[-1]
        n = b.shape[-1] if b.ndim >= 2 else 1
        stack_shape = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    work = math.prod(stack_shape) * m * n * k
    if work <= _BLAS_ALONE:
        return _finished(np.matmul(a, b, out=out), epilogue)
    every, whole = slice(None), (Ellipsis,)
    parts = min(MAX_THREADS, work // _SPLIT)
    if parts < 2 or min(a.ndim, b.ndim) < 2 or a.shape[:-2] != b.shape[:-2] or a.dtype.kind not in "fc":
        with blas_threads_local(1):
            return _finished(np.matmul(a, b, out=out), epilogue)
    if out is None:
        out = np.empty(stack_shape + (m, n), np.result_type(a, b))
    if a.ndim > 2 and a.shape[0] > 1:  # a stack: runs of its first axis
        blocks = [((part,), (part,), (part,), every) for part in _cuts(a.shape[0], 1, parts)]
    elif a.ndim == 2 and b.ndim == 2 and k >= _DEEP * max(m, n):
        return _finished(_summed_over_depth(a, b, out, parts), epilogue)
    elif n > m:
        blocks = [(whole, (Ellipsis, part), (Ellipsis, part), part) for part in _cuts(n, _COLUMN_ALIGN, parts)]
    else:
        blocks = [((Ellipsis, part, every), whole, (Ellipsis, part, every), every)
                  for part in _cuts(m, _ROW_ALIGN, parts)]

    def task(block):
        a_part, b_part, out_part, columns = block
        _finished(np.matmul(a[a_part], b[b_part], out=out[out_part]), epilogue, columns)
    on_threads(task, blocks)
    return out


def _summed_over_depth(a, b, out, parts):
    """a @ b for a depth k much larger than either side (m, n): partial products over runs of k on the pool,
    summed in their order on this thread. Each thread reads only its run of both operands (a dense layer's 64 ×
    9216 inputs by its 9216 × 128 weight: every thread would otherwise read all of a)."""
    runs = _cuts(a.shape[1], _COLUMN_ALIGN, parts)
    partial = [None] * len(runs)

    def task(index):
        run = runs[index]
        partial[index] = np.matmul(a[:, run], b[run])
    on_threads(task, list(range(len(runs))))
    np.add(partial[0], partial[1], out=out)
    for more in partial[2:]:
        np.add(out, more, out=out)
    return out


def _finished(product, epilogue, columns=slice(None)):
    if epilogue is not None:
        epilogue(product, columns)
    return product


def axpy(a: float, x: np.ndarray, y: np.ndarray) -> bool:
    """y ← a·x + y in place by BLAS axpy (single-threaded once the pool is in use: ``_one_pool``); False, y
    untouched, where BLAS cannot (``_blas.axpy_operands``)."""
    operands = axpy_operands(x, y)
    if operands is None:
        return False
    if not _one_pool:
        blas_axpy(a, *operands)
    else:
        with blas_threads_local(1):
            blas_axpy(a, *operands)
    return True


# ----- elementwise passes -----

_ELEMENTWISE_BYTES = 4 << 20  # from this size, once the pool is in use, an elementwise pass is shared out


def elementwise(fn, x: np.ndarray, out: np.ndarray | None = None):
    """``fn(part, out=out_part)`` over runs of x's leading axis on the pool, into ``out`` (x itself, say) or a fresh
    array laid out as x (the same bits as ``fn(x)``: every element is computed alone), once the pool is in use
    (``_one_pool``: a process whose BLAS keeps its own threads is left alone) and x has at least
    ``_ELEMENTWISE_BYTES``; else ``fn(x, out=out)``. A ReLU written by hand after a convolution of the MNIST net:
    0.74 → 0.54 ms a pass (2 threads)."""
    if not _one_pool or type(x) is not np.ndarray or x.nbytes < _ELEMENTWISE_BYTES or x.ndim == 0:
        return fn(x) if out is None else fn(x, out=out)
    if out is None:
        out = np.empty_like(x)
    n = x.shape[0]
    step = -(-n // (2 * MAX_THREADS))
    on_threads(lambda part: fn(x[part], out=out[part]), [slice(i, i + step) for i in range(0, n, step)])
    return out


# ----- chunks of a batch of images, and their scratch buffers -----


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


_SCRATCH_LIMIT = 64 << 20  # larger requests get fresh arrays: no thread keeps more than this per buffer
_local = threading.local()


# Kept arrays are large (the 32 → 64 layer's Winograd tiles, 5×5: 100 MB a batch of 64) and a fresh array is fresh
# memory, which the kernel maps in page by page as it is first written (10.8 ms of that forward's 46 on one core;
# on two threads a depthwise convolution's 5.5 MB copy of x cost more than its arithmetic). Sets that were used
# up are held (the latest ``_HELD_SETS``, so that two layers in turn each find theirs) for the next request of the
# same shapes.
_held: list = []
_HELD_SETS = 2


def held_arrays(chunks, shape_of, dtype) -> dict:
    """{chunk start: an uninitialised array of shape ``shape_of(image count)``}: a held set of those shapes if there
    is one (its memory mapped in already), else fresh arrays."""
    shapes = [shape_of(chunk.stop - chunk.start) for chunk in chunks]
    dtype = np.dtype(dtype)
    for index, arrays in enumerate(_held):
        if [a.shape for a in arrays] == shapes and arrays[0].dtype == dtype:
            arrays = _held.pop(index)
            break
    else:
        arrays = [np.empty(shape, dtype) for shape in shapes]
    return {chunk.start: a for chunk, a in zip(chunks, arrays)}


def hand_back(arrays: dict) -> None:
    """Hold a used-up set of ``held_arrays`` for a later request; the caller must be done with them."""
    _held.append(list(arrays.values()))
    del _held[:-_HELD_SETS]


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


__all__ = ["MAX_THREADS", "threads", "threads_requested", "set_threads", "one_pool", "share_out", "on_threads",
           "matmul", "axpy", "elementwise", "chunks", "scratch", "held_arrays", "hand_back"]
