"""Activations and normalisations: the softmax family (a class ``axis``, default −1) and the pointwise
non-linearities, each forward beside its closed-form rule.

``sigmoid``, ``softplus``, ``relu`` and ``tanh`` are elementwise primitives the core needs too; they live in
``elementwise`` (``ops.sigmoid`` etc.). ``logsumexp``, ``log_softmax`` and ``cross_entropy`` compute
logsumexp the same way, m + ln Σ e^{x−m} with m the row max (exact where |m| ≫ ln Σ e^{x−m}), so
``nll_loss(log_softmax(x), y) = cross_entropy(x, y)`` holds to the last bit. The blocked, threaded kernels
behind them are in ``softmax_kernels``.

float16 inputs are computed in float32 and returned as float16 (``in_float32``): the exponentials and the
sums of the softmax family, and ``x²`` in GELU, are out of float16's range long before the results are.
"""

from __future__ import annotations

import math

import numpy as np

from softgrad.ops._primitive import (
    In, Sample, batch_shape, batched_axis, cast_back, in_float32, jvp_from_vjps, kept_shape, normalize_axis, number,
    op, shape_of,
)
from softgrad.ops.elementwise import abs as absolute, exp_p, select, sigmoid_p, sqrt, tanh_p, where_p
from softgrad.ops.reductions import max as reduce_max, sum as reduce_sum, sum_p
from softgrad.ops.softmax_kernels import exp_shifted, log_total, row_max, softmax_parts
from softgrad.trace import Primitive


def softmax_axes(x, axis, name: str) -> int | tuple[int, ...]:
    """``axis`` of x (an int or a tuple of ints, as MindSpore's softmax) as a non-negative int, or a sorted tuple
    for several axes; x must have at least one axis."""
    ndim = len(shape_of(x))
    if ndim == 0:
        raise ValueError(f"{name}: expected an input with at least one axis, got a 0-d value; "
                         "reshape it to (1,) or (N, C)")
    if axis is None:
        raise ValueError(f"{name}: axis must be an int or a tuple of ints, got None; pass axis=-1 for the last")
    axes = normalize_axis(axis, ndim)
    if not axes:
        raise ValueError(f"{name}: axis must name at least one axis, got {axis!r}")
    return axes[0] if len(axes) == 1 else axes


SOFTMAX_SAMPLES = [Sample(In((3, 4)), axis=1), Sample(In((2, 3, 2)), axis=0), Sample(In((5,)), axis=0),
                   Sample(In((2, 3, 2)), axis=(0, 2))]

# ----- the softmax family: one pass of max / exp / sum, closed-form rules -----

exp_shifted_p = Primitive("exp_shifted", exp_shifted, (lambda g, ans, x, shift: g * ans,), batchable=True,
                          jvp=lambda ts, ans, x, shift: ts[0] * ans,
                          samples=[Sample(In((3, 4)), shift=np.array([[0.5], [-1.0], [2.0]]))])
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
    """∂ logsumexp = softmax(x) over ``axis``, as e^{x−m}/Σe^{x−m} (not e^{x − lse}: lse is rounded); one
    ``softmax`` primitive (not exp, sum and divide), so a second derivative traces one entry with a closed-form
    rule."""
    p = softmax_p.bind(x, axis=axis)
    if not keepdims:
        g = g.reshape(batch_shape(g, ans) + kept_shape(shape_of(x), axis))
    return g * p


def _logsumexp_jvp(tangents, ans, x, axis, keepdims):
    """J·t = Σ softmax(x)·t over ``axis``: the softmax primitive of the VJP, without its cotangent of ones."""
    t = tangents[0]
    p = softmax_p.bind(x, axis=axis)
    return sum_p.bind(p * t, axis=batched_axis(axis, t, x), keepdims=keepdims)


logsumexp_p = Primitive("logsumexp", _logsumexp_impl, (_logsumexp_vjp,), batchable=True,
                        jvp=_logsumexp_jvp,
                        samples=[Sample(In((3, 4)), axis=(1,), keepdims=False), Sample(In((2, 3, 2)), axis=None,
                                                                                       keepdims=True)])


@op
def logsumexp(x, axis=None, keepdims=False):
    """ln Σ eˣ over ``axis`` (all axes when None), computed as m + ln Σ e^{x−m}.  ∂/∂x = softmax(x)

    >>> logsumexp([1000.0, 1000.0])
    Tensor(shape=[], dtype=Float32, value= 1000.6932)
    """
    (x,), dtype = in_float32(x)
    return cast_back(logsumexp_p.bind(x, axis=normalize_axis(axis, len(shape_of(x))), keepdims=keepdims), dtype)


def _softmax_impl(x, axis):
    """e^{x−m} / Σ e^{x−m}, m = max x (exact for any finite x: every exponent is ≤ 0)."""
    e = np.subtract(x, row_max(x, axis))
    np.exp(e, out=e)
    e /= np.add.reduce(e, axis=axis, keepdims=True)
    return e


def _softmax_vjp(g, ans, x, axis):
    """∂softmax: p ⊙ (g − Σ g·p)."""
    return ans * (g - (g * ans).sum(axis=batched_axis(axis, g, ans), keepdims=True))


softmax_p = Primitive("softmax", _softmax_impl, (_softmax_vjp,), batchable=True,
                      jvp=jvp_from_vjps(_softmax_vjp), samples=SOFTMAX_SAMPLES)


def _log_softmax_impl(x, axis):
    """(x − m) − ln Σ e^{x−m}, as cross_entropy computes it (so nll_loss(log_softmax(x)) = cross_entropy(x))."""
    m, total = softmax_parts(x, axis)
    out = np.subtract(x, m)
    out -= log_total(total)
    return out


def _log_softmax_vjp(g, ans, x, axis):
    """∂log_softmax: g − softmax·Σg, with softmax = e^{log_softmax}."""
    return g - exp_p.bind(ans) * g.sum(axis=batched_axis(axis, g, ans), keepdims=True)


def _log_softmax_jvp(tangents, ans, x, axis):
    """J·t of log_softmax: t − Σ softmax·t."""
    t = tangents[0]
    return t - (exp_p.bind(ans) * t).sum(axis=batched_axis(axis, t, ans), keepdims=True)


log_softmax_p = Primitive("log_softmax", _log_softmax_impl, (_log_softmax_vjp,), batchable=True,
                          jvp=_log_softmax_jvp, samples=SOFTMAX_SAMPLES)


@op
def softmax(x, axis=-1):
    """softmax(x)ᵢ = e^{xᵢ−m} / Σⱼ e^{xⱼ−m} along ``axis`` (an int, or a tuple: jointly over those axes, as
    MindSpore); m = max x, so it is finite for any finite input.

    ∂: p ⊙ (g − Σ g·p)

    >>> softmax([1000.0, 1000.0, -1000.0])
    Tensor(shape=[3], dtype=Float32, value=
    [0.5, 0.5, 0. ])
    """
    (x,), dtype = in_float32(x)
    return cast_back(softmax_p.bind(x, axis=softmax_axes(x, axis, "softmax")), dtype)


@op
def log_softmax(x, axis=-1):
    """log softmax(x) = x − logsumexp(x) along ``axis`` (an int or a tuple), exact where softmax underflows to 0.

    ∂: g − softmax(x)·Σg

    >>> log_softmax([0.0, -1e4])
    Tensor(shape=[2], dtype=Float32, value=
    [     0., -10000.])
    """
    (x,), dtype = in_float32(x)
    return cast_back(log_softmax_p.bind(x, axis=softmax_axes(x, axis, "log_softmax")), dtype)


# ----- pointwise activations -----


def _logsigmoid_impl(x):
    """ln σ(x) = min(x, 0) − ln(1 + e^{−|x|}): finite for every x, exact on both tails."""
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


POINTWISE_SAMPLES = [Sample(In((2, 3)))]
logsigmoid_p = Primitive("logsigmoid", _logsigmoid_impl, (lambda g, ans, x: g * sigmoid_p.bind(-x),),
                         batchable=True, jvp=lambda ts, ans, x: ts[0] * sigmoid_p.bind(-x), samples=POINTWISE_SAMPLES)


@op
def logsigmoid(x):
    """ln σ(x) = −softplus(−x), stable for any x.  ∂/∂x = σ(−x) = 1 − σ(x)

    >>> logsigmoid([-1e4, 0.0]).tolist()
    [-10000.0, -0.6931471824645996]
    """
    (x,), dtype = in_float32(x)
    return cast_back(logsigmoid_p.bind(x), dtype)


def _leaky_relu_vjp(g, ans, x, negative_slope):
    return where_p.bind(x > 0, g, g * negative_slope)


leaky_relu_p = Primitive("leaky_relu", lambda x, negative_slope: select(x > 0, x, x * negative_slope),
                         (_leaky_relu_vjp,), batchable=True,
                         jvp=jvp_from_vjps(_leaky_relu_vjp),
                         samples=[Sample(In((2, 3), "nonzero"), negative_slope=0.1)])


@op
def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, ``negative_slope``·x otherwise.  ∂/∂x = 1 for x > 0, else ``negative_slope`` (at 0 too,
    as PyTorch)

    >>> leaky_relu([-2.0, 3.0], negative_slope=0.1)
    Tensor(shape=[2], dtype=Float32, value=
    [-0.2,  3. ])
    """
    return leaky_relu_p.bind(x, negative_slope=number("leaky_relu", "negative_slope", negative_slope))


def _elu_impl(x, alpha):
    return select(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))  # min: no overflow in the unused branch


def _elu_vjp(g, ans, x, alpha):
    """∂elu: 1 for x > 0, α·eˣ = elu(x) + α otherwise."""
    return where_p.bind(x > 0, g, g * (ans + alpha))


elu_p = Primitive("elu", _elu_impl, (_elu_vjp,), batchable=True,
                  jvp=jvp_from_vjps(_elu_vjp), samples=[Sample(In((2, 3), "nonzero"), alpha=1.5)])


@op
def elu(x, alpha=1.0):
    """x for x > 0, α·(eˣ − 1) otherwise.  ∂/∂x = 1 for x > 0, α·eˣ otherwise

    >>> elu([-1e4, 2.0])
    Tensor(shape=[2], dtype=Float32, value=
    [-1.,  2.])
    """
    (x,), dtype = in_float32(x)
    return cast_back(elu_p.bind(x, alpha=number("elu", "alpha", alpha)), dtype)


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


normal_cdf_p = Primitive("normal_cdf", _normal_cdf_impl, (lambda g, ans, x: g * _normal_pdf(x),), batchable=True,
                         jvp=lambda ts, ans, x: ts[0] * _normal_pdf(x), samples=POINTWISE_SAMPLES)

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


gelu_p = Primitive("gelu", _gelu_impl, (_gelu_vjp,), batchable=True,
                   jvp=jvp_from_vjps(_gelu_vjp),
                   samples=[Sample(In((2, 3)), approximate="none"), Sample(In((2, 3)), approximate="tanh")])


@op
def gelu(x, approximate="none"):
    """x·Φ(x), Φ the standard normal CDF (``approximate='tanh'``: ½x(1 + tanh(√(2/π)(x + 0.044715x³))),
    as PyTorch).  ∂/∂x = Φ(x) + x·φ(x)

    >>> gelu([-1e4, 0.0, 1e4])
    Tensor(shape=[3], dtype=Float32, value=
    [   -0.,     0., 10000.])
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    (x,), dtype = in_float32(x)
    return cast_back(gelu_p.bind(x, approximate=approximate), dtype)


# ----- normalize: L1 / L2 / max scaling, composed (the rules follow from abs, max, sum, sqrt, div) -----


@op
def normalize(x, ord=2, axis=-1):
    """x / ‖x‖ along ``axis`` (an int or a tuple) for ``ord`` 1 (Σ|x|), 2 (√Σx²) or ``inf`` (max |x|); rows of
    zeros stay zero.

    x is first divided by max |x| (the result is scale-invariant), so no square overflows or underflows for
    any finite input.

    >>> normalize([[3.0, -4.0], [0.0, 0.0]])
    Tensor(shape=[2, 2], dtype=Float32, value=
    [[ 0.6, -0.8],
     [ 0. ,  0. ]])
    """
    if ord not in (1, 2, math.inf):
        raise ValueError(f"normalize: ord must be 1, 2 or inf, got {ord!r}")
    (x,), dtype = in_float32(x)
    axis = softmax_axes(x, axis, "normalize")
    peak = reduce_max(absolute(x), axis=axis, keepdims=True)
    scaled = x / where_p.bind(peak == 0, 1, peak)  # |scaled| ≤ 1, with an entry ±1 in every non-zero row
    if ord == math.inf:
        return cast_back(scaled, dtype)
    total = reduce_sum(absolute(scaled) if ord == 1 else scaled * scaled, axis=axis, keepdims=True)  # ≥ 1, or 0
    norm = where_p.bind(total == 0, 1, total)
    if ord == 2:
        norm = sqrt(norm)
    return cast_back(scaled / norm, dtype)


__all__ = [
    "softmax_axes", "logsumexp", "softmax", "log_softmax", "logsigmoid", "leaky_relu", "elu", "gelu", "normalize",
]
