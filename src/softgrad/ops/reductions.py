"""Reductions over ``axis`` (None, int or tuple) with ``keepdims``. The rules spread ``g`` back over the
reduced axes: reshape to the kept shape, then ``broadcast_to`` the input's shape."""

from __future__ import annotations

import math

import numpy as np

from softgrad._checks import check_bool
from softgrad import _parallel as parallel
from softgrad.ops._primitive import (
    In, Sample, aligned, batch_shape, batched_axis, kept_shape, normalize_axis, op, shape_of,
)
from softgrad.ops.elementwise import sqrt, where_p
from softgrad.ops.shape import _axis, take_along_axis
from softgrad.tensor import concrete
from softgrad.trace import Primitive

REDUCTION_SAMPLES = [Sample(In((2, 3, 4)), axis=None, keepdims=False),
                     Sample(In((2, 3, 4)), axis=(0, 2), keepdims=True),
                     Sample(In((2, 3, 4)), axis=(1,), keepdims=False)]


# ----- broadcast_to and its transpose, unbroadcast: the one place broadcasting is undone -----


def unbroadcast(g, shape, batch_ndim: int = 0):
    """Sum ``g`` over the axes that broadcasting to its shape added or stretched, so it has ``shape`` (after
    ``batch_ndim`` leading batch axes, which are kept as they are)."""
    g_shape = shape_of(g)
    batch = g_shape[:batch_ndim]
    if g_shape == batch + shape:
        return g
    extra = len(g_shape) - batch_ndim - len(shape)
    if extra < 0:  # g is missing leading axes of shape: add them as length 1, then broadcast
        g = g.reshape(batch + (1,) * -extra + g_shape[batch_ndim:])
        return broadcast_to_p.bind(g, shape=batch + shape)
    if extra:
        g = sum_p.bind(g, axis=tuple(range(batch_ndim, batch_ndim + extra)), keepdims=False)
    stretched = tuple(batch_ndim + i for i, n in enumerate(shape) if n == 1 and g_shape[batch_ndim + extra + i] != 1)
    if stretched:
        g = sum_p.bind(g, axis=stretched, keepdims=True)
    return g


broadcast_to_p = Primitive("broadcast_to", lambda x, shape: np.broadcast_to(x, shape),
                           (lambda g, ans, x, shape: unbroadcast(g, shape_of(x), len(batch_shape(g, ans))),),
                           batchable=True,
                           jvp=lambda ts, ans, x, shape: _broadcast_to_jvp(ts[0], x, shape),
                           samples=[Sample(In((2, 1, 4)), shape=(3, 2, 5, 4)), Sample(In(()), shape=(3,))])


def _broadcast_to_jvp(t, x, shape):
    return broadcast_to_p.bind(aligned(t, x, len(shape)), shape=batch_shape(t, x) + shape)


@op(data=1)
def broadcast_to(x, shape):
    """x repeated (as a read-only view) to ``shape`` by NumPy's rules.  ∂: sum g over the repeated axes"""
    shape = tuple(shape)
    try:
        fits = np.broadcast_shapes(shape_of(x), shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"broadcast_to: an input of shape {shape_of(x)} cannot be broadcast to shape {shape}")
    return broadcast_to_p.bind(x, shape=shape)


def _spread(g, ans, x, axis, keepdims):
    """g, reduced over ``axis`` of x, broadcast back to x's shape (after g's batch axes, if any)."""
    shape = shape_of(x)
    batch = batch_shape(g, ans)
    if not keepdims:
        g = g.reshape(batch + kept_shape(shape, axis))
    return broadcast_to_p.bind(g, shape=batch + shape)


def reduction_jvp(vjp):
    """The forward rule of a reduction over ``axis`` from its VJP: Σ (∂ans/∂x)·t over the reduced axes, the
    slope ∂ans/∂x being the VJP of ones."""
    def jvp(tangents, ans, x, **params):
        t = tangents[0]
        slope = vjp(np.ones(shape_of(ans), np.asarray(concrete(ans)).dtype), ans, x, **params)
        return sum_p.bind(slope * t, axis=batched_axis(params["axis"], t, x), keepdims=params["keepdims"])

    return jvp


def _reduced(prim, t, x, axis, keepdims):
    """A linear reduction's forward rule: the tangent t of x reduced over the same axes (after its batch axes)."""
    return prim.bind(t, axis=batched_axis(axis, t, x), keepdims=keepdims)


def _reduce(prim, x, axis, keepdims):
    return prim.bind(x, axis=normalize_axis(axis, len(shape_of(x))), keepdims=keepdims)


# ----- sum, mean, prod -----


def _sum_impl(x, axis, keepdims):
    if _gemv_sums(x, axis):
        kept = x.shape[len(axis):]
        out = parallel.matmul(np.ones(x.size // math.prod(kept), x.dtype), x.reshape(-1, math.prod(kept)))
        return out.reshape(kept_shape(x.shape, axis) if keepdims else kept)
    return np.add.reduce(x, axis=axis, keepdims=keepdims)  # what x.sum() calls, minus two Python layers


def _gemv_sums(x, axis) -> bool:
    """Whether to sum x over its leading axes as the matrix-vector product 1ᵀX (BLAS) rather than by
    ``np.add.reduce``, which adds the rows one after another: a bias gradient (Σ over the batch of a (1024, 256)
    cotangent) takes 80 µs that way and 15-30 µs as a GEMV, and its blocked sums round less (within float32
    rounding of the sequential sum, not the same bits). Only for C-contiguous float32/float64 arrays of at least
    4096 entries (below, the two take the same time), summed over some but not all of their leading axes."""
    return (type(x) is np.ndarray and x.size >= 4096 and x.dtype in _BLAS_FLOATS and x.flags.c_contiguous
            and type(axis) is tuple and 0 < len(axis) < x.ndim and axis == tuple(range(len(axis))))


_BLAS_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


sum_p = Primitive("sum", _sum_impl, (lambda g, ans, x, axis, keepdims: _spread(g, ans, x, axis, keepdims),),
                  batchable=True, jvp=lambda ts, ans, x, axis, keepdims: _reduced(sum_p, ts[0], x, axis, keepdims),
                  samples=REDUCTION_SAMPLES)


@op
def sum(x, axis=None, keepdims=False):
    """Σ x over ``axis``.  ∂/∂x = 1 (g spread over the summed axes)

    >>> sum([[1.0, 2.0], [3.0, 4.0]], axis=0)
    Tensor(shape=[2], dtype=Float32, value=
    [4., 6.])
    """
    return _reduce(sum_p, x, axis, keepdims)


def _count(shape, axis) -> int:
    return int(np.prod([shape[a] for a in axis] if axis is not None else shape, dtype=np.int64))


def _mean_vjp(g, ans, x, axis, keepdims):
    """g/n spread over the reduced axes: divided before it is spread (the same values, and a broadcast, not a
    division over x's every cell: 1.3 ms of 1.2 M float32)."""
    return _spread(g / _count(shape_of(x), axis), ans, x, axis, keepdims)


def _mean_impl(x, axis, keepdims):
    if x.dtype.kind != "f" or x.dtype.itemsize < 4:  # ints → float64, float16 accumulates in float32: np.mean
        return np.mean(x, axis=axis, keepdims=keepdims)
    return np.add.reduce(x, axis=axis, keepdims=keepdims) / _count(x.shape, axis)


mean_p = Primitive("mean", _mean_impl, (_mean_vjp,), batchable=True,
                   jvp=lambda ts, ans, x, axis, keepdims: _reduced(mean_p, ts[0], x, axis, keepdims),
                   samples=REDUCTION_SAMPLES)


@op
def mean(x, axis=None, keepdims=False):
    """(1/n) Σ x over ``axis``.  ∂/∂x = 1/n"""
    return _reduce(mean_p, x, axis, keepdims)


def _prod_vjp(g, ans, x, axis, keepdims):
    """∂/∂xᵢ Π x = Π_{j≠i} xⱼ, computed without dividing by zero: the product of the non-zero entries,
    divided by xᵢ where no entry is zero, kept as is at the single zero, and 0 where two or more are zero.
    (Second derivatives at inputs that contain zeros are not exact.)"""
    is_zero = x == 0
    safe_x = where_p.bind(is_zero, 1, x)
    nonzero_prod = prod_p.bind(safe_x, axis=axis, keepdims=True)
    zeros = sum_p.bind(is_zero, axis=axis, keepdims=True)
    others = where_p.bind(zeros == 0, nonzero_prod / safe_x, where_p.bind(is_zero & (zeros == 1), nonzero_prod, 0))
    return _spread(g, ans, x, axis, keepdims) * others


prod_p = Primitive("prod", lambda x, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims), (_prod_vjp,),
                   batchable=True, jvp=reduction_jvp(_prod_vjp), samples=REDUCTION_SAMPLES)


@op
def prod(x, axis=None, keepdims=False):
    """Π x over ``axis``.  ∂/∂xᵢ = Π_{j≠i} xⱼ (exact with zeros in x)"""
    return _reduce(prod_p, x, axis, keepdims)


# ----- max, min: the gradient is split evenly between ties, as in JAX -----


def _extremum_vjp(g, ans, x, axis, keepdims):
    spread = _spread(g, ans, x, axis, keepdims)
    if not keepdims:
        ans = ans.reshape(kept_shape(shape_of(x), axis))
    winners = x == ans
    share = winners / sum_p.bind(winners, axis=axis, keepdims=True)
    return spread * share.astype(x.dtype)


max_p = Primitive("max", lambda x, axis, keepdims: np.maximum.reduce(x, axis=axis, keepdims=keepdims),
                  (_extremum_vjp,), batchable=True, jvp=reduction_jvp(_extremum_vjp), samples=REDUCTION_SAMPLES)
min_p = Primitive("min", lambda x, axis, keepdims: np.minimum.reduce(x, axis=axis, keepdims=keepdims),
                  (_extremum_vjp,), batchable=True, jvp=reduction_jvp(_extremum_vjp), samples=REDUCTION_SAMPLES)


@op
def max(x, axis=None, keepdims=False):
    """max x over ``axis``.  ∂/∂xᵢ = [xᵢ = max]/#ties"""
    return _reduce(max_p, x, axis, keepdims)


@op
def min(x, axis=None, keepdims=False):
    """min x over ``axis``.  ∂/∂xᵢ = [xᵢ = min]/#ties"""
    return _reduce(min_p, x, axis, keepdims)


# ----- variance and standard deviation: composed from the primitives above -----


@op
def var(x, axis=None, keepdims=False, ddof=0):
    """Σ (x − x̄)² / (n − ddof), NumPy's convention (``ddof=0``; pass ``ddof=1`` for PyTorch's default)."""
    if isinstance(ddof, bool) or not isinstance(ddof, (int, np.integer)) or ddof < 0:
        raise ValueError(f"var: ddof (delta degrees of freedom) must be an int ≥ 0, got {ddof!r}")
    axes = normalize_axis(axis, len(shape_of(x)))
    centred = x - mean(x, axis=axes, keepdims=True)
    n = _count(shape_of(x), axes)
    return sum(centred * centred, axis=axes, keepdims=keepdims) / (n - ddof)


@op
def std(x, axis=None, keepdims=False, ddof=0):
    """√var(x), NumPy's convention (``ddof=0``)."""
    return sqrt(var(x, axis=axis, keepdims=keepdims, ddof=ddof))


# ----- scans: running sums and products along one axis (kept negative, so g's batch axes lead) -----

SCAN_SAMPLES = [Sample(In((4,)), axis=-1), Sample(In((2, 3, 4)), axis=-2), Sample(In((2, 3, 4)), axis=-3)]


def _reversed(v, axis: int):
    """v read backwards along ``axis`` (< 0)."""
    return v[(Ellipsis, slice(None, None, -1)) + (slice(None),) * (-axis - 1)]


def _reverse_cumsum(v, axis: int):
    """Σ_{m ≥ k} v_m at each k along ``axis``."""
    return _reversed(cumsum_p.bind(_reversed(v, axis), axis=axis), axis)


cumsum_p = Primitive("cumsum", lambda x, axis: np.cumsum(x, axis=axis),
                     (lambda g, ans, x, axis: _reverse_cumsum(g, axis),), batchable=True,
                     jvp=lambda ts, ans, x, axis: cumsum_p.bind(ts[0], axis=axis), samples=SCAN_SAMPLES)


def _cumprod_vjp(g, ans, x, axis):
    """∂/∂xᵢ of yₖ = Π_{j≤k} xⱼ is Π_{j≤k, j≠i} xⱼ (k ≥ i). Without zeros in x that is yₖ / xᵢ, so the gradient
    is Σ_{k≥i} gₖ yₖ / xᵢ; with zeros, each Π_{j≤k, j≠i} xⱼ is a running product of x with xᵢ read as 1
    (an n × n table per lane). Both are exact and differentiable again."""
    if not (np.asarray(concrete(x)) == 0).any():
        return _reverse_cumsum(g * ans, axis) / x
    others, later = _products_without(x, axis)
    terms = where_p.bind(later, g.swapaxes(axis, -1)[..., None, :] * others, 0)
    return sum_p.bind(terms, axis=(len(shape_of(terms)) - 1,), keepdims=False).swapaxes(axis, -1)


def _products_without(x, axis: int):
    """The n × n table [..., i, k] = Π_{j≤k, j≠i} xⱼ along ``axis`` (a running product with xᵢ read as 1), and
    the mask k ≥ i where it counts."""
    n = shape_of(x)[axis]
    rows = x.swapaxes(axis, -1)[..., None, :]  # [..., i, k] = x_k
    return (cumprod_p.bind(where_p.bind(np.eye(n, dtype=bool), 1, rows), axis=-1),
            np.triu(np.ones((n, n), dtype=bool)))


def _cumprod_jvp(tangents, ans, x, axis):
    """ẏₖ = Σ_{i≤k} ṫᵢ Π_{j≤k, j≠i} xⱼ: yₖ Σ_{i≤k} ṫᵢ/xᵢ without zeros in x, else from the table of the VJP."""
    t = tangents[0]
    if not (np.asarray(concrete(x)) == 0).any():
        return ans * cumsum_p.bind(t / x, axis=axis)
    others, later = _products_without(x, axis)
    terms = where_p.bind(later, t.swapaxes(axis, -1)[..., :, None] * others, 0)
    return sum_p.bind(terms, axis=(len(shape_of(terms)) - 2,), keepdims=False).swapaxes(axis, -1)


cumprod_p = Primitive("cumprod", lambda x, axis: np.cumprod(x, axis=axis), (_cumprod_vjp,), batchable=True,
                      jvp=_cumprod_jvp, samples=SCAN_SAMPLES)


def _scan(prim, fn: str, x, axis):
    ndim = len(shape_of(x))
    if ndim == 0:
        raise ValueError(f"{fn}: x must have at least 1 dimension, got a 0-d input")
    return prim.bind(x, axis=_axis(fn, "axis", axis, ndim) - ndim)


@op(data=1)
def cumsum(x, axis):
    """Running sum along ``axis``: yₖ = Σ_{j≤k} xⱼ (MindSpore's ``ops.cumsum``, PyTorch's ``cumsum(input, dim)``).
    ∂/∂xᵢ = Σ_{k≥i} gₖ (a reversed running sum of g)

    >>> cumsum([1.0, 2.0, 3.0], 0)
    Tensor(shape=[3], dtype=Float32, value=
    [1., 3., 6.])
    """
    return _scan(cumsum_p, "cumsum", x, axis)


@op(data=1)
def cumprod(x, axis):
    """Running product along ``axis``: yₖ = Π_{j≤k} xⱼ (MindSpore's ``ops.cumprod``, PyTorch's
    ``cumprod(input, dim)``).  ∂/∂xᵢ = Σ_{k≥i} gₖ Π_{j≤k, j≠i} xⱼ (exact where x has zeros)

    >>> cumprod([1.0, 2.0, 3.0], 0)
    Tensor(shape=[3], dtype=Float32, value=
    [1., 2., 6.])
    """
    return _scan(cumprod_p, "cumprod", x, axis)


# ----- arg-reductions: not differentiable -----

argmax_p = Primitive("argmax", lambda x, axis, keepdims: np.argmax(x, axis=axis, keepdims=keepdims))
argmin_p = Primitive("argmin", lambda x, axis, keepdims: np.argmin(x, axis=axis, keepdims=keepdims))


@op
def argmax(x, axis=None, keepdims=False):
    """Index of the largest entry (first one on ties), over the flattened array when ``axis`` is None."""
    return argmax_p.bind(x, axis=axis, keepdims=keepdims)


@op
def argmin(x, axis=None, keepdims=False):
    """Index of the smallest entry (first one on ties), over the flattened array when ``axis`` is None."""
    return argmin_p.bind(x, axis=axis, keepdims=keepdims)


# ----- ordering: indices are not differentiable; sorted values are gathered, so ∂ scatters g back -----


def _argsort_impl(x, axis, descending):
    """Stable: ties keep their order in x, also when descending (NaN sorts as the largest value)."""
    if not descending:
        return np.argsort(x, axis=axis, kind="stable")
    backwards = np.flip(np.argsort(np.flip(x, axis), axis=axis, kind="stable"), axis)
    return x.shape[axis] - 1 - backwards


argsort_p = Primitive("argsort", _argsort_impl)


def _ordering(fn: str, x, axis, descending):
    ndim = len(shape_of(x))
    if ndim == 0:
        raise ValueError(f"{fn}: x must have at least 1 dimension, got a 0-d input")
    return argsort_p.bind(x, axis=_axis(fn, "axis", axis, ndim), descending=check_bool(fn, "descending", descending))


@op(data=1)
def argsort(input, axis=-1, descending=False):
    """Indices that sort ``input`` along ``axis`` (MindSpore's ``ops.argsort``); stable: equal entries keep their
    order. int64 indices, as ``argmax``'s.

    >>> argsort([1.0, 3.0, 5.0, 4.0, 2.0, 1.0])
    Tensor(shape=[6], dtype=Int64, value=
    [0, 5, 4, 1, 3, 2])
    """
    return _ordering("argsort", input, axis, descending)


@op(data=1)
def sort(input_x, axis=-1, descending=False):
    """(values, indices): ``input_x`` sorted along ``axis`` (MindSpore's ``ops.sort``; PyTorch's ``sort`` with
    ``stable=True``).  ∂/∂x = g scattered back to where each value came from

    >>> sort([[8.0, 2.0, 1.0]])[0]
    Tensor(shape=[1, 3], dtype=Float32, value=
    [[1., 2., 8.]])
    """
    indices = _ordering("sort", input_x, axis, descending)
    return take_along_axis(input_x, indices, axis), indices


@op(data=1)
def topk(input, k, dim=None, largest=True, sorted=True):
    """(values, indices) of the k largest (``largest=False``: smallest) entries along ``dim`` (the last axis when
    None), MindSpore's and PyTorch's ``topk``; of equal entries the one with the smaller index comes first. The
    result is sorted also with ``sorted=False`` (which leaves the order unspecified in both frameworks).
    ∂/∂x = g scattered back to the chosen entries

    >>> topk([0.5, 0.2, 0.9, 0.4], 2)[0]
    Tensor(shape=[2], dtype=Float32, value=
    [0.9, 0.5])
    """
    shape = shape_of(input)
    axis = -1 if dim is None else dim
    indices = _ordering("topk", input, axis, check_bool("topk", "largest", largest))
    check_bool("topk", "sorted", sorted)
    n = shape[axis]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
        raise ValueError(f"topk: k must be an int in [0, {n}] (the length of axis {axis}), got {k!r}")
    kept = [slice(None)] * len(shape)
    kept[axis] = slice(0, int(k))
    indices = indices[tuple(kept)]
    return take_along_axis(input, indices, axis), indices


__all__ = ["unbroadcast", "broadcast_to", "sum", "mean", "prod", "max", "min", "var", "std", "cumsum", "cumprod", "argmax",
           "argmin", "argsort", "sort", "topk"]
