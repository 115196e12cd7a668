"""Activations and normalisations: the softmax family (a class ``axis``, default −1) and the pointwise
non-linearities, each forward beside its closed-form rule.

``sigmoid``, ``softplus``, ``relu`` and ``tanh`` are elementwise primitives the core needs too; they live in
``elementwise`` (``ops.sigmoid`` etc.). ``logsumexp``, ``log_softmax`` and ``cross_entropy`` compute
logsumexp the same way, m + ln Σ e^{x−m} with m the row max (exact where
|m| ≫ ln Σ e^{x−m}), so ``nll_loss(log_softmax(x), y) = cross_entropy(x, y)`` holds to the last bit.

The softmax family's kernels take large inputs block by block (about 1 MB of leading rows, in cache while it
is worked on), blocks shared out between threads (NumPy releases the GIL inside its loops); every block is
computed whole by one thread, so results do not depend on the number of threads. Many short rows ((N, C) with
C < 16) are worked on transposed, their sums added in NumPy's pairwise order: every path gives the same bits.

float16 inputs are computed in float32 and returned as float16 (``in_float32``): the exponentials and the
sums of the softmax family, and ``x²`` in GELU, are out of float16's range long before the results are.
"""

from __future__ import annotations

import contextvars
import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from softgrad.ops._primitive import batch_shape, kept_shape, lift_python, normalize_axis, shape_of, tensor_out
from softgrad.ops.elementwise import abs as absolute, exp_p, sigmoid_p, sqrt, tanh_p, where_p
from softgrad.ops.reductions import max as reduce_max, sum as reduce_sum
from softgrad.ops.shape import astype
from softgrad.tensor import Primitive, Tensor, concrete, float16, float32

# ----- float16 in, float32 inside, float16 out -----


def _is_half(value) -> bool:
    return getattr(concrete(value), "dtype", None) == float16


def in_float32(*values):
    """``(values, dtype)``: if any value is float16, the float16 ones converted (traced) to float32 and
    ``dtype = float16`` (hand it to ``cast_back``); otherwise the values unchanged and ``dtype = None``."""
    if not any(map(_is_half, values)):
        return values, None
    return tuple(astype(v, float32) if _is_half(v) else v for v in values), float16


def cast_back(out, dtype) -> Tensor:
    """A result as a Tensor, converted (traced) back to float16 when ``in_float32`` said so (values beyond
    float16's range round to ±inf, as float16 arithmetic would)."""
    out = tensor_out(out)
    if dtype is None:
        return out
    with np.errstate(over="ignore"):
        return astype(out, dtype)


def class_axis(x, axis, name: str) -> int:
    """``axis`` of x as a non-negative int; x must have at least one axis."""
    ndim = len(shape_of(x))
    if ndim == 0:
        raise ValueError(f"{name}: expected an input with at least one axis, got a 0-d value; "
                         "reshape it to (1,) or (N, C)")
    return normalize_axis(axis, ndim)[0]


# ----- the softmax family: one pass of max / exp / sum, closed-form rules -----

_BLOCK_BYTES = 1 << 20  # the kernels below work on blocks of leading rows about this large (they stay in cache)
_SHORT_ROWS = 16  # rows of (N, C) with fewer classes are reduced along x transposed (``_short_rows``)
_MANY_ROWS = 512  # from this many rows, the whole softmax kernel works on x transposed
_THREADS = 4  # at most this many threads share out the blocks of one call (fewer if fewer CPUs are ours)


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
    ``_THREADS`` (so that threads get equal shares)."""
    n = max(x.shape[0], 1)  # an empty x: one block
    count = -(-x.nbytes // _BLOCK_BYTES)
    count = min(n, -(-count // _THREADS) * _THREADS)
    rows = -(-n // count)
    return [slice(start, start + rows) for start in range(0, n, rows)]


def _rows_of(shift, rows):
    return shift if shift.shape[0] == 1 else shift[rows]


_pool: ThreadPoolExecutor | None = None
_pool_pid = -1


def _thread_pool() -> ThreadPoolExecutor:
    """The helper threads of this process (a forked child makes its own: threads don't survive a fork)."""
    global _pool, _pool_pid
    if _pool_pid != os.getpid():
        _pool, _pool_pid = ThreadPoolExecutor(_THREADS - 1, thread_name_prefix="softgrad"), os.getpid()
    return _pool


def _cpus() -> int:
    """The number of CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _by_blocks(task, blocks) -> None:
    """``task(part)`` for consecutive parts of ``blocks``: one part on this thread, the others on helper threads
    (NumPy releases the GIL inside its loops). Each block is processed whole by one thread, so results do not
    depend on the number of threads. The helpers see this thread's NumPy error state."""
    threads = min(_THREADS, len(blocks))
    if threads > 1:
        threads = min(threads, _cpus())
    if threads <= 1:
        task(blocks)
        return
    size = -(-len(blocks) // threads)
    helpers = [_thread_pool().submit(contextvars.copy_context().run, task, blocks[start:start + size])
               for start in range(size, len(blocks), size)]
    task(blocks[:size])
    for helper in helpers:
        helper.result()


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
    ``axis``, each written into the array given (e C-contiguous) or a fresh one; returns (m, total). ``work``, if
    given, is a flat array of at least x.size entries the kernel may use (for e when e is None).

    Many short rows (``_short_rows``, at least ``_MANY_ROWS``) are worked on transposed, (C, B), in ``work``:
    max, exp and sum (row by row, in NumPy's order) along B; e^{x−m} is then copied back into e."""
    if _short_rows(x, axis) and len(x) >= _MANY_ROWS:
        rows, classes = x.shape
        xt = np.empty((classes, rows), x.dtype) if work is None else work[:x.size].reshape(classes, rows)
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


def softmax_parts(x, axis, exps=None):
    """``(m, Σ e^{x−m})`` over ``axis`` (an int or a tuple; keepdims), m = ``row_max(x, axis)``, and e^{x−m}
    written into ``exps`` when given (an array of x's shape and dtype). The dtype of x is kept.

    A large x (unless axis 0 is reduced) goes block by block over leading rows, blocks shared out between threads
    (``_by_blocks``): max, exp and sum of a block while it is in cache, so x comes from memory once, and without
    ``exps`` nothing of x's size is allocated.
    """
    axes = axis if isinstance(axis, tuple) else (axis,)
    if x.nbytes <= _BLOCK_BYTES or 0 in axes:
        return _shifted_exp_sum(x, axis, e=exps)
    m = np.empty(kept_shape(x.shape, axes), dtype=x.dtype)
    total = np.empty_like(m)
    blocks = _row_blocks(x)

    def task(part):
        work = np.empty(x[blocks[0]].size, x.dtype) if exps is None or _short_rows(x, axis) else None
        for rows in part:
            _shifted_exp_sum(x[rows], axis, m=m[rows], e=None if exps is None else exps[rows], total=total[rows],
                             work=work)

    _by_blocks(task, blocks)
    return m, total


def log_total(total):
    """ln Σ e^{x−m}: the softmax family's sums are ≥ 1 (the row max contributes e⁰), or 0 in a row of −inf,
    whose ln, −inf, is the answer. Only then is NumPy's divide-by-zero warning silenced (np.errstate costs about
    a microsecond)."""
    if np.count_nonzero(total) == total.size:
        return np.log(total)
    with np.errstate(divide="ignore"):
        return np.log(total)


def scale_rows(x, factor, out=None):
    """x · ``factor`` into ``out`` (a fresh C-contiguous array when None; it may be x); ``factor`` has one entry
    per leading row of x or one for all (e.g. keepdims values of a reduction over a later axis). A large x goes
    block by block, as ``softmax_parts``."""
    out = np.empty(x.shape, x.dtype) if out is None else out
    if x.nbytes <= _BLOCK_BYTES:
        return np.multiply(x, factor, out=out)

    def task(part):
        for rows in part:
            np.multiply(x[rows], _rows_of(factor, rows), out=out[rows])

    _by_blocks(task, _row_blocks(x))
    return out


def _exp_shifted_impl(x, shift):
    """e^{x − m} (m a constant shift broadcasting against x), block by block as ``softmax_parts``."""
    out = np.empty(x.shape, dtype=x.dtype)
    if x.nbytes <= _BLOCK_BYTES or shift.shape[0] == 1:
        np.subtract(x, shift, out=out)
        return np.exp(out, out=out)

    def task(part):
        for rows in part:
            e = np.subtract(x[rows], shift[rows], out=out[rows])
            np.exp(e, out=e)

    _by_blocks(task, _row_blocks(x))
    return out


exp_shifted_p = Primitive("exp_shifted", _exp_shifted_impl, (lambda g, ans, x, shift: g * ans,), batchable=True)
# e^{x − m} with m = row_max(x) passed as a constant: softmax = e / Σe and logsumexp = m + ln Σe are then
# exact where |m| ≫ ln Σe (a row of −1e4 in float32), and their derivatives follow from ∂e/∂x = e alone
# (logsumexp − m and softmax are the same functions of x for any constant shift).


def _logsumexp_impl(x, axis, keepdims):
    """m + ln Σ e^{x−m}, m = max x (0 where ±inf, so a row of −inf gives −inf, not NaN)."""
    if axis is not None and x.ndim:
        m, total = softmax_parts(x, axis)
    else:
        m = row_max(x, axis)
        total = np.add.reduce(np.exp(x - m), axis, keepdims=True)
    out = log_total(total) + m
    return out if keepdims else out.reshape(np.add.reduce(total, axis=axis).shape if axis is None else
                                            tuple(n for i, n in enumerate(x.shape) if i not in axis))


def _logsumexp_vjp(g, ans, x, axis, keepdims):
    """∂ logsumexp = softmax(x) over ``axis``, as e^{x−m}/Σe^{x−m} (not e^{x − lse}: lse is rounded)."""
    e = exp_shifted_p.bind(x, shift=row_max(concrete(x), axis))
    p = e / e.sum(axis=axis, keepdims=True)
    if not keepdims:
        g = g.reshape(batch_shape(g, ans) + kept_shape(shape_of(x), axis))
    return g * p


logsumexp_p = Primitive("logsumexp", _logsumexp_impl, (_logsumexp_vjp,), batchable=True)


def logsumexp(x, axis=None, keepdims=False):
    """ln Σ eˣ over ``axis`` (all axes when None), computed as m + ln Σ e^{x−m}.  ∂/∂x = softmax(x)

    >>> logsumexp([1000.0, 1000.0])
    Tensor(shape=[], dtype=Float32, value= 1000.6932)
    """
    (x,) = lift_python(x)
    (x,), dtype = in_float32(x)
    return cast_back(logsumexp_p.bind(x, axis=normalize_axis(axis, len(shape_of(x))), keepdims=keepdims), dtype)


def _softmax_impl(x, axis):
    """e^{x−m} / Σ e^{x−m}, m = max x (exact for any finite x: every exponent is ≤ 0)."""
    e = np.subtract(x, row_max(x, axis))
    np.exp(e, out=e)
    e /= np.add.reduce(e, axis=axis, keepdims=True)
    return e


def _batched_axis(axis, g, ans):
    """``axis`` of ans as an axis of g, which may carry leading batch axes (Primitive.batchable)."""
    lead = len(batch_shape(g, ans))
    if axis is None:
        return tuple(range(lead, len(shape_of(g))))
    return lead + axis if isinstance(axis, int) else tuple(lead + a for a in axis)


def _softmax_vjp(g, ans, x, axis):
    """∂softmax: p ⊙ (g − Σ g·p)."""
    return ans * (g - (g * ans).sum(axis=_batched_axis(axis, g, ans), keepdims=True))


softmax_p = Primitive("softmax", _softmax_impl, (_softmax_vjp,), batchable=True)


def _log_softmax_impl(x, axis):
    """(x − m) − ln Σ e^{x−m}, as cross_entropy computes it (so nll_loss(log_softmax(x)) = cross_entropy(x))."""
    m, total = softmax_parts(x, axis)
    out = np.subtract(x, m)
    out -= log_total(total)
    return out


def _log_softmax_vjp(g, ans, x, axis):
    """∂log_softmax: g − softmax·Σg, with softmax = e^{log_softmax}."""
    return g - exp_p.bind(ans) * g.sum(axis=_batched_axis(axis, g, ans), keepdims=True)


log_softmax_p = Primitive("log_softmax", _log_softmax_impl, (_log_softmax_vjp,), batchable=True)


def softmax(x, axis=-1):
    """softmax(x)ᵢ = e^{xᵢ−m} / Σⱼ e^{xⱼ−m} along ``axis`` (m = max x: finite for any finite input).

    ∂: p ⊙ (g − Σ g·p)

    >>> softmax([1000.0, 1000.0, -1000.0])
    Tensor(shape=[3], dtype=Float32, value=
    [0.5, 0.5, 0. ])
    """
    (x,) = lift_python(x)
    (x,), dtype = in_float32(x)
    return cast_back(softmax_p.bind(x, axis=class_axis(x, axis, "softmax")), dtype)


def log_softmax(x, axis=-1):
    """log softmax(x) = x − logsumexp(x) along ``axis``, exact where softmax underflows to 0.

    ∂: g − softmax(x)·Σg

    >>> log_softmax([0.0, -1e4])
    Tensor(shape=[2], dtype=Float32, value=
    [     0., -10000.])
    """
    (x,) = lift_python(x)
    (x,), dtype = in_float32(x)
    return cast_back(log_softmax_p.bind(x, axis=class_axis(x, axis, "log_softmax")), dtype)


# ----- pointwise activations -----


def _logsigmoid_impl(x):
    """ln σ(x) = min(x, 0) − ln(1 + e^{−|x|}): finite for every x, exact on both tails."""
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


logsigmoid_p = Primitive("logsigmoid", _logsigmoid_impl, (lambda g, ans, x: g * sigmoid_p.bind(-x),))


def logsigmoid(x):
    """ln σ(x) = −softplus(−x), stable for any x.  ∂/∂x = σ(−x) = 1 − σ(x)

    >>> logsigmoid([-1e4, 0.0]).tolist()
    [-10000.0, -0.6931471824645996]
    """
    (x,) = lift_python(x)
    (x,), dtype = in_float32(x)
    return cast_back(logsigmoid_p.bind(x), dtype)


def _leaky_relu_vjp(g, ans, x, negative_slope):
    return where_p.bind(x > 0, g, g * negative_slope)


leaky_relu_p = Primitive("leaky_relu", lambda x, negative_slope: np.where(x > 0, x, x * negative_slope),
                         (_leaky_relu_vjp,))


def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, ``negative_slope``·x otherwise.  ∂/∂x = 1 for x > 0, else ``negative_slope`` (at 0 too,
    as PyTorch)

    >>> leaky_relu([-2.0, 3.0], negative_slope=0.1)
    Tensor(shape=[2], dtype=Float32, value=
    [-0.2,  3. ])
    """
    (x,) = lift_python(x)
    return tensor_out(leaky_relu_p.bind(x, negative_slope=float(negative_slope)))


def _elu_impl(x, alpha):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))  # min: no overflow in the unused branch


def _elu_vjp(g, ans, x, alpha):
    """∂elu: 1 for x > 0, α·eˣ = elu(x) + α otherwise."""
    return where_p.bind(x > 0, g, g * (ans + alpha))


elu_p = Primitive("elu", _elu_impl, (_elu_vjp,))


def elu(x, alpha=1.0):
    """x for x > 0, α·(eˣ − 1) otherwise.  ∂/∂x = 1 for x > 0, α·eˣ otherwise

    >>> elu([-1e4, 2.0])
    Tensor(shape=[2], dtype=Float32, value=
    [-1.,  2.])
    """
    (x,) = lift_python(x)
    (x,), dtype = in_float32(x)
    return cast_back(elu_p.bind(x, alpha=float(alpha)), dtype)


# GELU needs the standard normal CDF Φ. SciPy's ufunc is used when installed; math.erfc (correctly rounded
# to double, one Python call per element) otherwise.

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_erfc_elementwise = np.vectorize(math.erfc, otypes=[np.float64])


def _erfc(x):
    try:
        from scipy.special import erfc
    except ImportError:  # pragma: no cover - scipy is present wherever the test suite runs
        erfc = _erfc_elementwise
    return erfc(x)


def _normal_cdf_impl(x):
    """Φ(x) = ½·erfc(−x/√2) (erfc keeps the relative accuracy of the left tail)."""
    return (0.5 * _erfc(-_INV_SQRT2 * x)).astype(x.dtype, copy=False)


def _normal_pdf(x):
    """φ(x) = e^{−x²/2}/√(2π), over values (traced or not)."""
    return exp_p.bind(-0.5 * (x * x)) * _INV_SQRT_2PI


normal_cdf_p = Primitive("normal_cdf", _normal_cdf_impl, (lambda g, ans, x: g * _normal_pdf(x),))

_TANH_C = math.sqrt(2.0 / math.pi)  # constants of the tanh approximation of GELU (Hendrycks & Gimpel)
_TANH_K = 0.044715


def _gelu_impl(x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(_TANH_C * (x + _TANH_K * x * x * x)))
    return x * _normal_cdf_impl(x)


def _gelu_vjp(g, ans, x, approximate):
    """exact: Φ(x) + x·φ(x);  tanh: ½(1 + t) + ½x(1 − t²)·c(1 + 3k·x²), t = tanh(c(x + k·x³))."""
    if approximate == "tanh":
        t = tanh_p.bind(_TANH_C * (x + _TANH_K * (x * x * x)))
        return g * (0.5 * (1 + t) + (0.5 * x) * (1 - t * t) * (_TANH_C * (1 + 3 * _TANH_K * (x * x))))
    return g * (normal_cdf_p.bind(x) + x * _normal_pdf(x))


gelu_p = Primitive("gelu", _gelu_impl, (_gelu_vjp,))


def gelu(x, approximate="none"):
    """x·Φ(x), Φ the standard normal CDF (``approximate='tanh'``: ½x(1 + tanh(√(2/π)(x + 0.044715x³))),
    as PyTorch).  ∂/∂x = Φ(x) + x·φ(x)

    >>> gelu([-1e4, 0.0, 1e4])
    Tensor(shape=[3], dtype=Float32, value=
    [   -0.,     0., 10000.])
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    (x,) = lift_python(x)
    (x,), dtype = in_float32(x)
    return cast_back(gelu_p.bind(x, approximate=approximate), dtype)


# ----- normalize: L1 / L2 / max scaling, composed (the rules follow from abs, max, sum, sqrt, div) -----


def normalize(x, ord=2, axis=-1):
    """x / ‖x‖ along ``axis`` for ``ord`` 1 (Σ|x|), 2 (√Σx²) or ``inf`` (max |x|); rows of zeros stay zero.

    x is first divided by max |x| (the result is scale-invariant), so no square overflows or underflows for
    any finite input.

    >>> normalize([[3.0, -4.0], [0.0, 0.0]])
    Tensor(shape=[2, 2], dtype=Float32, value=
    [[ 0.6, -0.8],
     [ 0. ,  0. ]])
    """
    if ord not in (1, 2, math.inf):
        raise ValueError(f"normalize: ord must be 1, 2 or inf, got {ord!r}")
    (x,) = lift_python(x)
    (x,), dtype = in_float32(x)
    axis = class_axis(x, axis, "normalize")
    peak = reduce_max(absolute(x), axis=axis, keepdims=True)
    scaled = x / where_p.bind(peak == 0, 1, peak)  # |scaled| ≤ 1, with an entry ±1 in every non-zero row
    if ord == math.inf:
        return cast_back(scaled, dtype)
    total = reduce_sum(absolute(scaled) if ord == 1 else scaled * scaled, axis=axis, keepdims=True)  # ≥ 1, or 0
    norm = where_p.bind(total == 0, 1, total)
    if ord == 2:
        norm = sqrt(norm)
    return cast_back(scaled / norm, dtype)
