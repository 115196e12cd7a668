"""Losses with PyTorch's semantics, and the argument checks every loss shares. Where stability or speed needs
it (binary cross-entropy on probabilities and on logits; cross-entropy and NLL, in ``cross_entropy``) a loss is
one fused primitive with its closed-form rule beside it, as are ``smooth_l1_loss`` and ``huber_loss`` (for speed:
one compiled pass for the value and one for the gradient where NumPy makes seven and six); the other regression
losses and ``kl_div`` are composed from primitives whose rules are already their closed forms.

``reduction`` is 'mean', 'sum' or 'none' everywhere (``kl_div`` also takes 'batchmean'). float16 inputs are
computed in float32 and the loss is returned as float16. Bad input raises ``ValueError``/``TypeError`` that
names the argument, the expected and the actual value.

Mean over nothing: a 'mean' with no terms (an empty batch, or cross_entropy / nll_loss where every target is
``ignore_index``) is NaN, as in PyTorch (0/0); its gradient is 0. 'sum' gives 0.
"""

from __future__ import annotations

import math

import numpy as np

from softgrad.ops._primitive import In, Sample, cast_back, first_index, in_float32, jvp_from_vjps, op, shape_of
from softgrad.ops import compiled
from softgrad.ops.elementwise import (
    _LARGE, _flat_operand, abs, exp, maximum_p, select, sigmoid_p, softplus_impl, softplus_p, square, where, where_p,
    xlogy,
)
from softgrad.ops.reductions import mean, sum
from softgrad.ops.shape import astype
from softgrad.tensor import Tensor, as_array, concrete, is_float_dtype
from softgrad.trace import Primitive

REDUCTIONS = ("mean", "sum", "none")


# ----- the options, each checked in one place (the loss cells of softgrad.nn call these too) -----


def check_reduction(reduction: str, allowed=REDUCTIONS) -> None:
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {', '.join(map(repr, allowed))}, got {reduction!r}")


def check_ignore_index(fn: str, ignore_index) -> None:
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"{fn}: ignore_index must be an int (a class index to skip, default -100), got "
                        f"{ignore_index!r}")


def check_label_smoothing(fn: str, label_smoothing) -> None:
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must lie in [0, 1], got {label_smoothing!r}")


def check_beta(fn: str, beta) -> None:
    if not beta >= 0:  # (NaN too)
        raise ValueError(f"{fn}: beta must be ≥ 0, got {beta!r}")
    if beta == math.inf:
        raise ValueError(f"{fn}: beta must be finite, got {beta!r}")


def check_delta(fn: str, delta) -> None:
    if not delta > 0:
        raise ValueError(f"{fn}: delta must be > 0, got {delta!r}")
    if delta == math.inf:
        raise ValueError(f"{fn}: delta must be finite, got {delta!r}")


def reduce_loss(loss, reduction: str):
    """The per-element ``loss`` reduced as asked: 'mean' (over all elements), 'sum' or 'none'."""
    check_reduction(reduction)
    if reduction == "mean":
        if not math.prod(shape_of(loss)):  # a mean over nothing: NaN, as PyTorch (without NumPy's warning)
            return np.full((), np.nan, dtype=concrete(loss).dtype)
        return mean(loss)
    if reduction == "sum":
        return sum(loss)
    return loss


# ----- argument checks (shared by the losses below) -----


def array_of(value) -> np.ndarray:
    return np.asarray(concrete(value))


def loss_argument(value):
    """A loss argument as a value: Tensors and arrays as they are, Python data as ``Tensor(data)`` converts it
    (floats to float32, ints to int64)."""
    return value if isinstance(value, (Tensor, np.ndarray, np.generic)) else as_array(value)


def like(value, reference):
    """``value`` in the dtype of ``reference`` (converted, traced, when it differs)."""
    dtype = array_of(reference).dtype
    return value if array_of(value).dtype == dtype else astype(value, dtype)


def check_float(fn: str, name: str, value) -> None:
    dtype = array_of(value).dtype
    if not is_float_dtype(dtype):
        raise TypeError(f"{fn}: {name} must be floating point, got dtype {dtype}; cast it with "
                        f"{name}.astype(softgrad.float32)")


def _check_same_shape(fn: str, input_name: str, x, target_name: str, y) -> None:
    if shape_of(x) != shape_of(y):
        raise ValueError(f"{fn}: {target_name} shape {shape_of(y)} must equal {input_name} shape {shape_of(x)}")


def _check_in_unit_interval(fn: str, name: str, value) -> None:
    array = array_of(value)
    outside = ~((array >= 0) & (array <= 1))
    if outside.any():
        position = first_index(outside)
        raise ValueError(f"{fn}: {name} must lie in [0, 1], got {array[position].item()!r} at index {position}")


def check_constant(fn: str, name: str, value) -> None:
    if isinstance(value, Tensor) and value.is_traced:
        raise TypeError(f"{fn}: {name} is a constant of this loss (its gradient is not implemented); "
                        f"pass stop_gradient({name}) or a NumPy array")


def _input_and_target(fn: str, input, target, input_name="input", target_name="target"):
    """``input`` and ``target`` of an elementwise loss, checked (float, same shape), the target in the input's
    dtype, and both in float32 if that is float16 (``((input, target), dtype)``, see ``in_float32``)."""
    input, target = loss_argument(input), loss_argument(target)
    check_float(fn, input_name, input)
    check_float(fn, target_name, target)
    _check_same_shape(fn, input_name, input, target_name, target)
    return in_float32(input, like(target, input))


# ----- binary cross-entropy on probabilities -----

_BCE_EPS = float(np.float32(1e-12))  # PyTorch's floor for p(1 − p) in the gradient (a float32 constant there)


def _clamped_log_impl(p, complement):
    """max(ln p, −100), or max(ln(1 − p), −100) computed as log1p(−p): PyTorch's clamp of BCE's logs."""
    with np.errstate(divide="ignore"):
        return np.maximum(np.log1p(-p) if complement else np.log(p), -100)


def _clamped_log_vjp(g, ans, p, complement):
    """1/p (−1/(1 − p) for the complement) where the log is above the clamp, 0 where it is clamped."""
    free = ans > -100
    d = g / where_p.bind(free, 1 - p if complement else p, 1)
    return where_p.bind(free, -d if complement else d, 0)


clamped_log_p = Primitive("clamped_log", _clamped_log_impl, (_clamped_log_vjp,), batchable=True,
                          jvp=jvp_from_vjps(_clamped_log_vjp),
                          samples=[Sample(In((2, 3), "unit"), complement=False), Sample(In((2, 3), "unit"), complement=True)])


def _bce_impl(p, y, weight):
    """w·[(y − 1)·max(ln(1 − p), −100) − y·max(ln p, −100)]."""
    loss = (y - 1) * _clamped_log_impl(p, True) - y * _clamped_log_impl(p, False)
    return loss if weight is None else loss * weight


def _bce_vjp_probs(g, ans, p, y, weight):
    """∂/∂p = w·(p − y)/max(p(1 − p), 1e-12)  (PyTorch's form: finite at p = 0 and 1)."""
    d = (p - y) / maximum_p.bind(p * (1 - p), _BCE_EPS)
    return g * (d if weight is None else d * weight)


def _bce_vjp_target(g, ans, p, y, weight):
    """∂/∂y = w·[max(ln(1 − p), −100) − max(ln p, −100)]."""
    d = clamped_log_p.bind(p, complement=True) - clamped_log_p.bind(p, complement=False)
    return g * (d if weight is None else d * weight)


def _bce_vjp_weight(g, ans, p, y, weight):
    return g * bce_p.bind(p, y, None)


bce_p = Primitive("binary_cross_entropy", _bce_impl, (_bce_vjp_probs, _bce_vjp_target, _bce_vjp_weight),
                  batchable=True,
                  jvp=jvp_from_vjps(_bce_vjp_probs, _bce_vjp_target, _bce_vjp_weight),
                  samples=[Sample(In((2, 3), "unit"), In((2, 3), "unit"), None),
                                           Sample(In((2, 3), "unit"), In((2, 3), "unit"), In((3,), "positive"))])


@op
def binary_cross_entropy(probs, target, weight=None, reduction="mean"):
    """Binary cross-entropy of probabilities, with PyTorch's clamp of the logs at −100:

        ℓ = −w·[y·ln p + (1 − y)·ln(1 − p)],   ∂ℓ/∂p = w·(p − y)/max(p(1 − p), 1e-12).

    ``probs`` and ``target`` must have the same shape and lie in [0, 1]; ``weight`` broadcasts to it. Prefer
    ``binary_cross_entropy_with_logits`` on logits: it is exact where p rounds to 0 or 1.

    >>> round(binary_cross_entropy([0.8, 0.2, 0.4], [1.0, 0.0, 0.0]).item(), 6)
    0.319038
    """
    fn = "binary_cross_entropy"
    check_reduction(reduction)
    (probs, target), dtype = _input_and_target(fn, probs, target, "probs", "target")
    _check_in_unit_interval(fn, "probs", probs)
    _check_in_unit_interval(fn, "target", target)
    weight = _elementwise_weight(fn, "weight", weight, probs)
    return cast_back(reduce_loss(bce_p.bind(probs, target, weight), reduction), dtype)


def _elementwise_weight(fn: str, name: str, weight, input):
    """``weight`` (or ``pos_weight``) checked to broadcast to the input's shape, in the input's dtype (it may be
    traced: these weights are differentiable)."""
    if weight is None:
        return None
    weight = loss_argument(weight)
    w_shape, shape = shape_of(weight), shape_of(input)
    try:
        broadcast = np.broadcast_shapes(w_shape, shape)
    except ValueError:
        broadcast = None
    if broadcast != shape:
        raise ValueError(f"{fn}: {name} of shape {w_shape} must broadcast to the input shape {shape}")
    check_float(fn, name, weight)
    return like(weight, input)


# ----- binary cross-entropy on logits -----


def _bce_logits_impl(z, y, weight, pos_weight):
    """w·[(1 − y)·z + (1 + (p − 1)·y)·softplus(−z)]  (= w·[−p·y·ln σ(z) − (1 − y)·ln(1 − σ(z))])."""
    scale = 1 if pos_weight is None else 1 + (pos_weight - 1) * y
    loss = (1 - y) * z + scale * softplus_impl(-z)
    return loss if weight is None else loss * weight


def _bce_logits_vjp_logits(g, ans, z, y, weight, pos_weight):
    """∂/∂z = w·[(1 + (p − 1)·y)·σ(z) − p·y]  (= w·(σ(z) − y) without pos_weight)."""
    s = sigmoid_p.bind(z)
    d = s - y if pos_weight is None else (1 + (pos_weight - 1) * y) * s - pos_weight * y
    return g * (d if weight is None else d * weight)


def _bce_logits_vjp_label(g, ans, z, y, weight, pos_weight):
    """∂/∂y = w·[(p − 1)·softplus(−z) − z]."""
    d = -z if pos_weight is None else (pos_weight - 1) * softplus_p.bind(-z) - z
    return g * (d if weight is None else d * weight)


def _bce_logits_vjp_weight(g, ans, z, y, weight, pos_weight):
    return g * bce_logits_p.bind(z, y, None, pos_weight)


def _bce_logits_vjp_pos_weight(g, ans, z, y, weight, pos_weight):
    """∂/∂p = w·y·softplus(−z)."""
    d = y * softplus_p.bind(-z)
    return g * (d if weight is None else d * weight)


bce_logits_p = Primitive("binary_cross_entropy_with_logits", _bce_logits_impl,
                         (_bce_logits_vjp_logits, _bce_logits_vjp_label, _bce_logits_vjp_weight,
                          _bce_logits_vjp_pos_weight), batchable=True,
                         jvp=jvp_from_vjps(_bce_logits_vjp_logits, _bce_logits_vjp_label, _bce_logits_vjp_weight,
                                           _bce_logits_vjp_pos_weight),
                         samples=[Sample(In((2, 3)), In((2, 3), "unit"), None, None),
                                  Sample(In((2, 3)), In((2, 3), "unit"), In((2, 3), "positive"), In((3,), "positive"))])


@op
def binary_cross_entropy_with_logits(logits, label, weight=None, pos_weight=None, reduction="mean"):
    """Sigmoid + binary cross-entropy in one stable kernel (MindSpore's argument order):

    ℓ = w·[(1 − y)·z + (1 + (p − 1)·y)·ln(1 + e^{−z})],  ∂ℓ/∂z = w·[(1 + (p − 1)·y)·σ(z) − p·y],

    with ``pos_weight`` p broadcasting along the last (class) axis. Finite for any logit.

    >>> round(binary_cross_entropy_with_logits([0.0], [1.0]).item(), 6)  # ln 2
    0.693147
    """
    fn = "binary_cross_entropy_with_logits"
    check_reduction(reduction)
    (logits, label), dtype = _input_and_target(fn, logits, label, "logits", "label")
    weight = _elementwise_weight(fn, "weight", weight, logits)
    pos_weight = _elementwise_weight(fn, "pos_weight", pos_weight, logits)
    return cast_back(reduce_loss(bce_logits_p.bind(logits, label, weight, pos_weight), reduction), dtype)


# ----- regression losses: composed (the rules of sub, square, abs and where are their closed forms) -----


@op
def mse_loss(input, target, reduction="mean"):
    """(x − y)².  ∂/∂x = 2(x − y)

    >>> mse_loss([1.0, 2.0], [1.0, 4.0])
    Tensor(shape=[], dtype=Float32, value= 2.)
    """
    check_reduction(reduction)
    (x, y), dtype = _input_and_target("mse_loss", input, target)
    return cast_back(reduce_loss(square(x - y), reduction), dtype)


@op
def l1_loss(input, target, reduction="mean"):
    """|x − y|.  ∂/∂x = sign(x − y) (0 at x = y, as PyTorch)

    >>> l1_loss([1.0, 2.0], [1.0, 4.0])
    Tensor(shape=[], dtype=Float32, value= 1.)
    """
    check_reduction(reduction)
    (x, y), dtype = _input_and_target("l1_loss", input, target)
    return cast_back(reduce_loss(abs(x - y), reduction), dtype)


@op
def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """½d²/β for |d| < β, |d| − ½β otherwise (d = x − y; ``beta=0`` is l1_loss).  ∂/∂x = d/β or sign(d)

    One primitive with huber_loss (``huber_p``, its slope ``huber_slope_p`` for higher orders), compiled for large
    arrays.

    >>> smooth_l1_loss([0.0, 0.0], [0.5, 3.0])
    Tensor(shape=[], dtype=Float32, value= 1.3125)
    """
    check_reduction(reduction)
    check_beta("smooth_l1_loss", beta)
    (x, y), dtype = _input_and_target("smooth_l1_loss", input, target)
    loss = abs(x - y) if beta == 0 else huber_p.bind(x, y, width=float(beta), huber=False)
    return cast_back(reduce_loss(loss, reduction), dtype)


@op
def huber_loss(input, target, reduction="mean", delta=1.0):
    """½d² for |d| < δ, δ·(|d| − ½δ) otherwise (d = x − y).  ∂/∂x = d or δ·sign(d)

    >>> huber_loss([0.0, 0.0], [0.5, 3.0], delta=2.0)
    Tensor(shape=[], dtype=Float32, value= 2.0625)
    """
    check_reduction(reduction)
    check_delta("huber_loss", delta)
    (x, y), dtype = _input_and_target("huber_loss", input, target)
    return cast_back(reduce_loss(huber_p.bind(x, y, width=float(delta), huber=True), reduction), dtype)


# smooth_l1 (width β) and huber (width δ) are one family: with d = x − y and a = |d|, ℓ = c·d² for a < width, w·(a −
# ½width) beyond, and ∂ℓ/∂x = d/s inside, w·sign(d) beyond; smooth_l1: c = ½/β, w = 1, s = β; huber: c = ½, w = δ,
# s = 1 (w = 1 and s = 1 multiply and divide exactly: each loss's formula, bit for bit).


def _constants(width, huber):
    """(c, w, s) of the family above."""
    return (0.5, width, 1.0) if huber else (0.5 / width, 1.0, width)


def _huber_kernel(x, y):
    """``compiled``'s huber for plain, C-contiguous x and y of one float dtype, large enough, else None."""
    if not (type(x) is np.ndarray and type(y) is np.ndarray and x.size >= _LARGE and x.dtype == y.dtype
            and x.dtype in (np.float32, np.float64) and x.flags.c_contiguous and y.flags.c_contiguous):
        return None
    return compiled.kernel("huber")


def _huber_impl(x, y, width, huber):
    """ℓ elementwise: compiled in one pass (``compiled``'s huber), else NumPy's seven, the same bits."""
    c, w, s = _constants(width, huber)
    kernel = _huber_kernel(x, y)
    if kernel is None:
        d = x - y
        size = np.abs(d)
        return select(size < width, c * (d * d), w * (size - 0.5 * width))
    out = np.empty(x.shape, x.dtype)
    kernel(0, x.reshape(-1), y.reshape(-1), width, c, w, s, x.reshape(-1)[:1], out.reshape(-1))
    return out


def _huber_slope_impl(x, y, width, huber):
    """∂ℓ/∂x: d/s for |d| < width, else w·sign(d)."""
    _, w, s = _constants(width, huber)
    d = x - y
    size = np.abs(d)
    return select(size < width, d / s, w * np.sign(d))


def _huber_vjp_x(g, ans, x, y, width, huber):
    """g·∂ℓ/∂x; for plain arrays in one compiled pass (the same bits as g * slope)."""
    if isinstance(g, Tensor) or isinstance(x, Tensor) or isinstance(y, Tensor):
        return g * huber_slope_p.bind(x, y, width=width, huber=huber)
    kernel = _huber_kernel(x, y)
    g_cells = _flat_operand(g, x.shape, x.dtype) if type(g) is np.ndarray and g.dtype == x.dtype else None
    if kernel is None or g_cells is None:  # (g of x's shape and dtype, or one number broadcast: select's operands)
        return g * _huber_slope_impl(x, y, width, huber)
    out = np.empty(x.shape, x.dtype)
    kernel(1, x.reshape(-1), y.reshape(-1), width, *_constants(width, huber), g_cells, out.reshape(-1))
    return out


def _huber_vjp_y(g, ans, x, y, width, huber):
    return -_huber_vjp_x(g, ans, x, y, width, huber)


def _huber_slope_vjp_x(g, ans, x, y, width, huber):
    """∂²ℓ/∂x² = 1/s for |x − y| < width, else 0."""
    return where(abs(x - y) < width, g if huber else g / width, 0)


def _huber_slope_vjp_y(g, ans, x, y, width, huber):
    return -_huber_slope_vjp_x(g, ans, x, y, width, huber)


_HUBER_SAMPLES = [Sample(In((3, 4)), In((3, 4)), width=0.7, huber=False), Sample(In((2, 3)), In((2, 3)), width=2.0,
                                                                                 huber=True)]
huber_slope_p = Primitive("huber_slope", _huber_slope_impl, (_huber_slope_vjp_x, _huber_slope_vjp_y), batchable=True,
                          jvp=jvp_from_vjps(_huber_slope_vjp_x, _huber_slope_vjp_y), samples=_HUBER_SAMPLES)
huber_p = Primitive("huber", _huber_impl, (_huber_vjp_x, _huber_vjp_y), batchable=True,
                    jvp=jvp_from_vjps(_huber_vjp_x, _huber_vjp_y), samples=_HUBER_SAMPLES)



@op
def kl_div(log_input, target, reduction="mean", log_target=False):
    """KL divergence with PyTorch's argument convention: ``log_input`` = ln q, ``target`` = p (or ln p with
    ``log_target=True``); pointwise ℓ = p·(ln p − ln q) (0 where p = 0).  ∂ℓ/∂ln q = −p

    ``reduction='batchmean'`` divides the sum by the batch size (the mathematical KL of each row, averaged);
    'mean' divides by the number of elements, as PyTorch.

    >>> round(kl_div([math.log(0.5), math.log(0.5)], [0.25, 0.75], reduction='sum').item(), 5)
    0.13081
    """
    fn = "kl_div"
    check_reduction(reduction, REDUCTIONS + ("batchmean",))
    (log_q, p), dtype = _input_and_target(fn, log_input, target, "log_input", "target")
    if log_target:
        loss = exp(p) * (p - log_q)
    else:
        loss = xlogy(p, p) - p * log_q
    if reduction != "batchmean":
        return cast_back(reduce_loss(loss, reduction), dtype)
    shape = shape_of(log_q)
    total = sum(loss)
    return cast_back(total / shape[0] if shape else total, dtype)


__all__ = [
    "check_reduction", "check_ignore_index", "check_label_smoothing", "check_beta", "check_delta", "reduce_loss",
    "array_of", "loss_argument", "like", "check_float", "check_constant", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div",
]
