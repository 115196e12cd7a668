"""The softmax family's kernels: one pass of max / exp / sum over large inputs, block by block, on threads.

This is where the performance tricks of ``softmax``, ``log_softmax``, ``logsumexp`` and ``cross_entropy`` live;
the op files call these and keep only the math.

* Large inputs go block by block (about 1 MB of leading rows, in cache while it is worked on), blocks shared
  out between threads (NumPy releases the GIL inside its loops); every block is computed whole by one thread,
  so results do not depend on the number of threads.
* Many short rows ((N, C) with C < 16) are worked on transposed, their sums added in NumPy's pairwise order:
  every path gives the same bits. Kept exponentials stay transposed (``exps_like``: (N, C) column-major), so
  cross_entropy's gradient, written into them, is column-major too: a copy back to C order would cost more than
  the whole exp pass.
* Fewer short rows (N < 4096, as a classifier's batch of logits), where Numba is installed, go through two
  compiled passes around NumPy's exp (``_few_short_rows``: the max and x − m in one, the sums and the softmax's
  scaling in the other), C-contiguous, where NumPy starts its reduction loop once per row: cross-entropy fwd+bwd
  of (256, 10) 37 → 28 µs (JAX jit 31), (1024, 10) 50 → 39, (4096, 10) 90 → 83; from 6144 rows the transposed
  NumPy kernel is faster. The first such call of a process that has not used Numba yet loads it (about 0.45 s,
  once: the default ``softgrad train`` of the digits, 0.3 s of training with SOFTGRAD_NUMBA=0, reads 0.8 s).
* The shift m is the row max (0 where it is ±inf or NaN), so e^{x−m} ≤ 1 for any finite input.
"""

from __future__ import annotations

import numpy as np

from softgrad.ops import compiled
from softgrad.ops._primitive import kept_shape
from softgrad._parallel import MAX_THREADS, share_out

_BLOCK_BYTES = 1 << 20  # the kernels below work on blocks of leading rows about this large (they stay in cache)
_SHORT_ROWS = 16  # rows of (N, C) with fewer classes are reduced along x transposed (``_short_rows``)
_MANY_ROWS = 512  # from this many rows, the whole softmax kernel works on x transposed (NumPy's path)
_FEW_ROWS = 4096  # below this many, compiled (``_few_short_rows``)


def _short_rows(x, axis) -> bool:
    """Whether x is (N, C) reduced over a short axis 1. NumPy's reduction loop starts once per row: over short
    rows, a reduction along x transposed, (C, N), is faster (and max gives the same values; sums see below)."""
    return x.ndim == 2 and axis in (1, (1,)) and x.shape[1] < _SHORT_ROWS


def _zero_non_finite(m):
    """m with its ±inf and NaN entries set to 0, in place."""
    finite = np.isfinite(m)
    if np.count_nonzero(finite) < m.size:  # (on a small m, half the time of finite.all())
        m[~finite] = 0
    return m


def row_max(x, axis, out=None):
    """max x over ``axis`` with keepdims (into ``out`` if given), 0 where it is ±inf or NaN: the shift m of the
    softmax family."""
    if _short_rows(x, axis) and x.nbytes <= _BLOCK_BYTES:
        m = np.maximum.reduce(x.T.copy(), axis=0).reshape(-1, 1)
        if out is not None:
            out[...] = m
            m = out
    else:
        m = np.maximum.reduce(x, axis=axis, keepdims=True, out=out)
    return _zero_non_finite(m)


def _row_blocks(x):
    """Slices of x's leading rows: blocks of about ``_BLOCK_BYTES``, of equal size, as many as a multiple of
    ``MAX_THREADS`` (so that threads get equal shares)."""
    n = max(x.shape[0], 1)  # an empty x: one block
    count = -(-x.nbytes // _BLOCK_BYTES)
    count = min(n, -(-count // MAX_THREADS) * MAX_THREADS)
    rows = -(-n // count)
    return [slice(start, start + rows) for start in range(0, n, rows)]


def _rows_of(shift, rows):
    return shift if shift.shape[0] == 1 else shift[rows]


def _pairwise_sum(rows, out):
    """Σ over the first axis of ``rows`` (C, B), C < 16, into ``out`` (B,), in NumPy's pairwise order: rows 0-7
    added as a tree, ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)), then the rest in turn; so the bits are
    those of np.add.reduce along a contiguous axis of length C."""
    if len(rows) < 8:
        np.copyto(out, rows[0])
        for row in rows[1:]:
            out += row
        return out
    pairs = np.add(rows[0:8:2], rows[1:8:2])
    np.add(pairs[0:4:2], pairs[1:4:2], out=pairs[:2])
    np.add(pairs[0], pairs[1], out=out)
    for row in rows[8:]:
        out += row
    return out


def _shifted_exp_sum(x, axis, m=None, e=None, total=None, work=None):
    """The softmax kernel on one block: the shift m = ``row_max(x, axis)``, e = e^{x−m} and total = Σ e over
    ``axis``, each written into the array given (e C-contiguous, or transposed: ``exps_like``) or a fresh one;
    returns (m, total). ``work``, if given, is a flat array of at least x.size entries the kernel may use (for e
    when e is None).

    Many short rows (``_short_rows``, at least ``_MANY_ROWS``) are worked on transposed, (C, B): max, exp and
    sum (row by row, in NumPy's order) along B. The transposed array is e itself when e is kept transposed
    (``exps_like``), else ``work``, from which e^{x−m} is copied into e."""
    if _short_rows(x, axis) and len(x) >= _MANY_ROWS:
        rows, classes = x.shape
        if e is not None and _transposed(e):
            xt, e = e.T, None
        elif work is not None:
            xt = work[:x.size].reshape(classes, rows)
        else:
            xt = np.empty((classes, rows), x.dtype)
        np.copyto(xt, x.T)
        m = np.empty((rows, 1), x.dtype) if m is None else m
        _zero_non_finite(np.maximum.reduce(xt, axis=0, out=m[:, 0]))
        np.subtract(xt, m[:, 0], out=xt)
        np.exp(xt, out=xt)
        total = np.empty((rows, 1), x.dtype) if total is None else total
        _pairwise_sum(xt, total[:, 0])
        if e is not None:
            np.copyto(e, xt.T)
        return m, total
    if e is None and work is not None:
        e = work[:x.size].reshape(x.shape)
    m = row_max(x, axis, out=m)
    e = np.subtract(x, m, out=e, order="C")  # whatever x's layout: the sum's order (its bits) is NumPy's pairwise
    np.exp(e, out=e)
    return m, np.add.reduce(e, axis=axis, keepdims=True, out=total)


def _transposed(e) -> bool:
    """Whether the (N, C) array e is stored class by class: e.T has contiguous rows."""
    return e.ndim == 2 and e.strides[0] == e.itemsize and e.shape[1] > 1


def exps_like(x, axis):
    """An empty array for e^{x−m} (x's shape and dtype) in the layout ``softmax_parts`` fills fastest: many short
    rows (N, C) transposed, stored as (C, N) (so that the kernel works in it without a copy back), else
    C-contiguous."""
    if _short_rows(x, axis) and len(x) >= _MANY_ROWS and not _compiled_rows(x, axis):
        return np.empty(x.shape[::-1], x.dtype).T
    return np.empty(x.shape, x.dtype)


def softmax_parts(x, axis, exps=None, scale=None):
    """``(m, Σ e^{x−m})`` over ``axis`` (an int or a tuple; keepdims), m = ``row_max(x, axis)``, and e^{x−m}
    written into ``exps`` when given (an array of x's shape and dtype, C-contiguous or from ``exps_like``), or with
    ``scale`` c, e^{x−m}·(c/Σ): the softmax times c (the bits of ``scale_rows(e, c / Σ)``). The dtype of x is kept.

    A large x (unless axis 0 is reduced) goes block by block over leading rows, blocks shared out between threads
    (``share_out``): max, exp, sum (and the scaling) of a block while it is in cache, so x comes from memory
    once, and without ``exps`` nothing of x's size is allocated.
    """
    axes = axis if isinstance(axis, tuple) else (axis,)
    parts = _few_short_rows(x, axis, exps, scale)
    if parts is not None:
        return parts
    if x.nbytes <= _BLOCK_BYTES or 0 in axes:
        m, total = _shifted_exp_sum(x, axis, e=exps)
        if scale is not None:
            _multiply(exps, scale / total, exps)
        return m, total
    m = np.empty(kept_shape(x.shape, axes), dtype=x.dtype)
    total = np.empty_like(m)
    blocks = _row_blocks(x)

    def task(part):
        short = _short_rows(x, axis)
        work = np.empty(x[blocks[0]].size, x.dtype) if exps is None or short and not _transposed(exps) else None
        for rows in part:
            _shifted_exp_sum(x[rows], axis, m=m[rows], e=None if exps is None else exps[rows], total=total[rows],
                             work=work)
            if scale is not None:
                _multiply(exps[rows], scale / total[rows], exps[rows])

    share_out(task, blocks)
    return m, total


def _few_short_rows(x, axis, exps, scale):
    """``softmax_parts`` of fewer than ``_FEW_ROWS`` short rows by the compiled ``row_shift`` and ``row_sums``
    (the max and the subtraction in one pass, the sums and the scaling in another) around NumPy's exp, so that
    the bits are those of the NumPy path; None where they do not apply (no Numba, an empty x, another dtype or a
    scale that is not a NumPy scalar of x's dtype)."""
    if not _compiled_rows(x, axis) or exps is not None and not exps.flags.c_contiguous:
        return None
    if scale is not None and not (isinstance(scale, np.generic) and scale.dtype == x.dtype):
        return None
    shift, sums = compiled.kernel("row_shift"), compiled.kernel("row_sums")
    if shift is None:
        return None
    m, total = np.empty((len(x), 1), x.dtype), np.empty((len(x), 1), x.dtype)
    e = np.empty(x.shape, x.dtype) if exps is None else exps
    shift(x, m, e)
    np.exp(e, out=e)
    sums(e, total, x.dtype.type(0 if scale is None else scale), scale is not None)
    return m, total


def _compiled_rows(x, axis) -> bool:
    """Whether ``_few_short_rows`` takes x: fewer than ``_FEW_ROWS`` short rows, not empty, float32 or float64, and
    the compiled kernels in use."""
    return (_short_rows(x, axis) and 0 < x.size and len(x) < _FEW_ROWS and x.dtype in _COMPILED_DTYPES
            and compiled.available())


_COMPILED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def log_total(total):
    """ln Σ e^{x−m}: the softmax family's sums are ≥ 1 (the row max contributes e⁰), or 0 in a row of −inf,
    whose ln, −inf, is the answer. Only then is NumPy's divide-by-zero warning silenced (np.errstate costs about
    a microsecond; the min, a fifth of count_nonzero's time on floats)."""
    if not total.size or total.min() > 0:
        return np.log(total)
    with np.errstate(divide="ignore"):
        return np.log(total)


def _multiply(x, factor, out):
    """x · factor into out; x kept transposed (``exps_like``) is multiplied along x.T's rows, as NumPy's loop would
    otherwise run along the short ones."""
    if _transposed(x):
        np.multiply(x.T, np.asarray(factor).T, out=out.T)
    else:
        np.multiply(x, factor, out=out)


def scale_rows(x, factor, out=None):
    """x · ``factor`` into ``out`` (a fresh C-contiguous array when None; it may be x); ``factor`` has one entry
    per leading row of x or one for all (e.g. keepdims values of a reduction over a later axis). A large x goes
    block by block, as ``softmax_parts``."""
    out = np.empty(x.shape, x.dtype) if out is None else out
    if x.nbytes <= _BLOCK_BYTES:
        _multiply(x, factor, out)
        return out

    def task(part):
        for rows in part:
            _multiply(x[rows], _rows_of(factor, rows), out[rows])

    share_out(task, _row_blocks(x))
    return out


def exp_shifted(x, shift):
    """e^{x − m} (m a constant shift broadcasting against x), block by block as ``softmax_parts``."""
    out = np.empty(x.shape, dtype=x.dtype)
    if x.nbytes <= _BLOCK_BYTES or shift.shape[0] == 1:
        np.subtract(x, shift, out=out)
        return np.exp(out, out=out)

    def task(part):
        for rows in part:
            e = np.subtract(x[rows], shift[rows], out=out[rows])
            np.exp(e, out=e)

    share_out(task, _row_blocks(x))
    return out


__all__ = ["row_max", "exps_like", "softmax_parts", "log_total", "scale_rows", "exp_shifted"]
