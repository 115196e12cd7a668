"""Losses with PyTorch's semantics. Where stability or speed needs it (cross-entropy, NLL, binary cross-entropy
on probabilities and on logits) a loss is one fused primitive with its closed-form rule beside it; the
regression losses and ``kl_div`` are composed from primitives whose rules are already their closed forms.

``reduction`` is 'mean', 'sum' or 'none' everywhere (``kl_div`` also takes 'batchmean'). float16 inputs are
computed in float32 and the loss is returned as float16. Bad input raises ``ValueError``/``TypeError`` that
names the argument, the expected and the actual value.

Mean over nothing: a 'mean' with no terms (an empty batch, or cross_entropy / nll_loss where every target is
``ignore_index``) is NaN, as in PyTorch (0/0); its gradient is 0. 'sum' gives 0.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from softgrad.ops._primitive import lift_python, shape_of, tensor_out
from softgrad.ops.activations import (
    cast_back, exp_shifted_p, in_float32, log_total, row_max, scale_rows, softmax_parts,
)
from softgrad.ops.elementwise import (
    _softplus, abs, exp, log_p, maximum_p, sigmoid_p, softplus_p, square, where, where_p,
)
from softgrad.ops.reductions import mean, sum, sum_p
from softgrad.ops.shape import astype, getitem_p, untake_p
from softgrad.tensor import Primitive, Tensor, as_array, concrete, is_float_dtype

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction: str, allowed=REDUCTIONS) -> None:
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {', '.join(map(repr, allowed))}, got {reduction!r}")


def reduce_loss(loss, reduction: str):
    """The per-element ``loss`` reduced as asked: 'mean' (over all elements), 'sum' or 'none'."""
    check_reduction(reduction)
    if reduction == "mean":
        if not math.prod(shape_of(loss)):  # a mean over nothing: NaN, as PyTorch (without NumPy's warning)
            return tensor_out(np.full((), np.nan, dtype=concrete(loss).dtype))
        return mean(loss)
    if reduction == "sum":
        return sum(loss)
    return tensor_out(loss)


# ----- argument checks (shared by the losses below) -----


def _array(value) -> np.ndarray:
    return np.asarray(concrete(value))


def _data(value):
    """A loss argument as a value: Tensors and arrays as they are, Python data as ``Tensor(data)`` converts it
    (floats to float32, ints to int64)."""
    return value if isinstance(value, (Tensor, np.ndarray, np.generic)) else as_array(value)


def _like(value, like):
    """``value`` in the dtype of ``like`` (converted, traced, when it differs)."""
    dtype = _array(like).dtype
    return value if _array(value).dtype == dtype else astype(value, dtype)


def _check_float(fn: str, name: str, value) -> None:
    dtype = _array(value).dtype
    if not is_float_dtype(dtype):
        raise TypeError(f"{fn}: {name} must be floating point, got dtype {dtype}; cast it with "
                        f"{name}.astype(softgrad.float32)")


def _check_same_shape(fn: str, input_name: str, x, target_name: str, y) -> None:
    if shape_of(x) != shape_of(y):
        raise ValueError(f"{fn}: {target_name} shape {shape_of(y)} must equal {input_name} shape {shape_of(x)}")


def _check_in_unit_interval(fn: str, name: str, value) -> None:
    array = _array(value)
    outside = ~((array >= 0) & (array <= 1))
    if outside.any():
        position = tuple(int(i) for i in np.argwhere(outside)[0])
        raise ValueError(f"{fn}: {name} must lie in [0, 1], got {array[position].item()!r} at index {position}")


def _check_constant(fn: str, name: str, value) -> None:
    if isinstance(value, Tensor) and value.is_traced:
        raise TypeError(f"{fn}: {name} is a constant of this loss (its gradient is not implemented); "
                        f"pass stop_gradient({name}) or a NumPy array")


def _pair(fn: str, input, target, input_name="input", target_name="target"):
    """``input`` and ``target`` of an elementwise loss, checked (float, same shape), the target in the input's
    dtype, and both in float32 if that is float16 (``((input, target), dtype)``, see ``in_float32``)."""
    input, target = _data(input), _data(target)
    _check_float(fn, input_name, input)
    _check_float(fn, target_name, target)
    _check_same_shape(fn, input_name, input, target_name, target)
    return in_float32(input, _like(target, input))


# ----- cross-entropy and NLL: the targets, as the kernels see them -----


class _Targets:
    """The targets of one ``cross_entropy`` / ``nll_loss`` call, in the form the kernels use: built once per call
    and handed to the primitives and their rules as a parameter.

    The loss of sample i is ℓᵢ = Σ_c Tᵢc·(lseᵢ − xᵢc) (lse = logsumexp over the class axis, computed as
    m + ln Σ e^{x−m} with the row max m), with the *target mass*

    * class indices yᵢ:  Tᵢc = (1 − ε)·wᵢ·[c = yᵢ] + (ε/C)·vᵢ·weight_c,  vᵢ = [yᵢ ≠ ignore_index],
      wᵢ = weight[yᵢ]·vᵢ;  'mean' divides Σℓᵢ by Σwᵢ;
    * probabilities tᵢc:  Tᵢc = weight_c·((1 − ε)·tᵢc + ε/C);  'mean' divides by the number of samples;

    and the row mass aᵢ = Σ_c Tᵢc, so that ∂ℓᵢ/∂xᵢc = aᵢ·softmax(x)ᵢc − Tᵢc. Per-sample values are kept with
    a length-1 class axis so they broadcast against x. Each sample's entry of its class is x[index] (for traced
    values), or x.take(flat) (a gather from x flattened, many times faster). Probabilities are differentiable
    (traced, in rules), so they are not held here: the methods that need them take them as ``t``. Class indices
    are checked here (``fn`` names the loss in the error).
    """

    def __init__(self, fn, target, weight, shape, axis, ignore_index, label_smoothing, dtype):
        self.axis = axis
        self.classes = shape[axis]
        self.eps = label_smoothing
        self.kept = shape[:axis] + (1,) + shape[axis + 1:]
        self.class_weight = None if weight is None else weight.reshape((-1,) + (1,) * (len(shape) - axis - 1))
        labels = _array(target)
        self.probabilities = is_float_dtype(labels.dtype)
        if self.probabilities:
            self.normaliser = math.prod(self.kept)
            return
        unsigned = labels.view(_unsigned(labels.dtype))  # negative labels read as unsigned are huge,
        in_range = not labels.size or unsigned.max() < self.classes  # so one reduction checks both ends
        if not in_range:  # allowed for ignore_index only
            _check_labels(fn, labels, self.classes, ignore_index)
        labels = labels.reshape(self.kept)
        valid = None if in_range and not 0 <= ignore_index < self.classes else labels != ignore_index
        everything_valid = valid is None or bool(valid.all())
        safe = (labels if everything_valid else np.where(valid, labels, 0)).astype(np.intp, copy=False)
        grids, offsets, stride = _sample_grids(shape, axis)
        self.index = grids[:axis] + (safe,) + grids[axis + 1:]  # x[index]: each sample's entry of its class
        self.flat = offsets + (safe if stride == 1 else safe * stride)  # the same entries of x flattened
        self.valid = None if everything_valid else valid
        if weight is not None:  # wᵢ
            self.row_weight = weight[safe] if everything_valid else np.where(valid, weight[safe], 0)
            self.normaliser = self.row_weight.sum()
        else:
            self.row_weight = None if everything_valid else valid.astype(dtype)
            self.normaliser = math.prod(self.kept) if everything_valid else int(valid.sum())

    # -- the pieces of T, over values (ndarrays, or traced Tensors inside rules) --

    def mass(self, t):
        """T for probability targets t."""
        t = t * (1 - self.eps) + self.eps / self.classes if self.eps else t
        return t if self.class_weight is None else t * self.class_weight

    def row_mass(self, t):
        """a (None when every aᵢ is 1); ``t`` the probability targets, unused for class indices."""
        if self.probabilities:
            return self.mass(t).sum(axis=self.axis, keepdims=True)
        if not self.eps:
            return self.row_weight
        total = self.classes if self.class_weight is None else self.class_weight.sum()
        share = self.eps / self.classes * total
        a = (1 - self.eps) * (1 if self.row_weight is None else self.row_weight) + share
        return a if self.valid is None else np.where(self.valid, a, 0)

    def dot(self, h, t):
        """Σ_c Tᵢc·hᵢc, per sample (length-1 class axis)."""
        if self.probabilities:
            return (h * self.mass(t)).sum(axis=self.axis, keepdims=True)
        picked = getitem_p.bind(h, index=self.index)
        if self.row_weight is not None:
            picked = picked * self.row_weight
        if not self.eps:
            return picked
        spread = (h if self.class_weight is None else h * self.class_weight).sum(axis=self.axis, keepdims=True)
        if self.valid is not None:
            spread = where_p.bind(self.valid, spread, 0)
        return picked * (1 - self.eps) + spread * (self.eps / self.classes)

    def subtract_from(self, out, s, t):
        """out −= T·s, in place (out a C-contiguous ndarray of the gradient's own; s a scalar or per-sample
        array)."""
        if self.probabilities:
            out -= self.mass(t) * s
            return
        picked = s * (1 - self.eps) if self.eps else s
        if self.row_weight is not None:
            picked = picked * self.row_weight
        out.reshape(-1)[self.flat] -= picked  # a view of out, as out is C-contiguous
        if self.eps:
            spread = s * (self.eps / self.classes)
            if self.valid is not None:
                spread = np.where(self.valid, spread, 0)
            out -= spread if self.class_weight is None else spread * self.class_weight

    # -- reductions --

    def reduce(self, loss, reduction):
        """Per-sample losses reduced: 'none' (the target's shape), 'sum', or 'mean' (÷ normaliser; NaN if 0)."""
        if reduction == "none":
            return loss.reshape(self.kept[:self.axis] + self.kept[self.axis + 1:])
        total = loss.sum()
        if reduction == "sum":
            return total
        return total / self.normaliser if self.normaliser else np.asarray(np.nan, dtype=loss.dtype)

    def scale(self, g, reduction):
        """∂(reduced)/∂ℓᵢ · g: g/normaliser ('mean'; 0 when nothing counts), g ('sum'), gᵢ ('none')."""
        if reduction == "none":
            return g.reshape(self.kept)
        if reduction == "sum":
            return g
        return g / self.normaliser if self.normaliser else g * 0

    def reduce_rows(self, rows, g_shape, reduction):
        """The cotangent of g from per-sample values ``rows`` (∂/∂sᵢ): the transpose of ``scale``."""
        if reduction == "none":
            return rows.reshape(g_shape)
        total = rows.sum()
        if reduction == "sum":
            return total
        return total / self.normaliser if self.normaliser else total * 0


@functools.lru_cache(maxsize=32)
def _sample_grids(shape: tuple[int, ...], axis: int) -> tuple:
    """For x of ``shape`` with the class ``axis``: index arrays 0..n−1 along each axis of the per-sample shape
    (None at the class axis), each shaped to broadcast against the others; the offset of each sample's class 0
    in x flattened (C order); and the class axis's stride there. Read-only: they are shared between calls."""
    kept = shape[:axis] + (1,) + shape[axis + 1:]
    grids = []
    offsets = np.zeros(kept, dtype=np.intp)
    for a, n in enumerate(kept):
        grid = None if a == axis else np.arange(n).reshape((n,) + (1,) * (len(kept) - a - 1))
        if grid is not None:
            offsets = offsets + grid * math.prod(shape[a + 1:])
            grid.flags.writeable = False
        grids.append(grid)
    offsets.flags.writeable = False
    return tuple(grids), offsets, math.prod(shape[axis + 1:])


@functools.cache
def _unsigned(dtype: np.dtype) -> np.dtype:
    """The unsigned integer dtype of the integer ``dtype``'s size."""
    return np.dtype(dtype.str.replace("i", "u"))


def _check_labels(fn: str, labels, classes: int, ignore_index: int) -> None:
    """Raise unless every label is a class index in [0, classes) or ``ignore_index``."""
    bad = (labels != ignore_index) & ((labels < 0) | (labels >= classes))
    if bad.any():
        position = tuple(int(i) for i in np.argwhere(bad)[0]) if labels.ndim else ()
        raise ValueError(f"{fn}: target class index must lie in [0, {classes}) or equal ignore_index="
                         f"{ignore_index}; got {labels[position]} at index {position}")


# ----- cross-entropy on logits: one fused kernel, closed-form rule -----
#
# cross_entropy_p(x, e, total, target, shift=m, ...) takes e = e^{x−m} (m the row max, a constant) and
# total = Σ_c e as arguments: the forward's exponentials are kept for the backward, which is then a single
# scaling pass, (a·e/total − T)·s. The rule for x is that *total* derivative, so e and total need no rules of
# their own. How e and total are made depends on how x is traced:
#
# * not at all (no gradient can be taken): e is None, and total comes from a blocked kernel that allocates
#   nothing of x's size;
# * at one level (first order): one blocked pass computes m, e and total as plain ndarrays, constants of the
#   tape. The rule's result is not differentiated further (nothing below that level depends on x), and e has a
#   single reader, the rule, which may write the gradient into it (``_Exps``);
# * at several levels (higher order): e and total are traced (exp_shifted_p, sum_p), and the rule (the primitive
#   cross_entropy_grad) is differentiated through them, which exp_shifted_p and sum_p differentiate
#   (∂e/∂x = e): exact at every order.


def _traced_once(x: Tensor) -> bool:
    """Whether the traced x is traced by one transform only: below its level it holds an ndarray."""
    return not isinstance(x._data, Tensor)


class _Exps:
    """Who may write into the e^{x−m} array of one first-order ``cross_entropy`` call.

    Only the call's tape entry holds e, and only the rule for the logits reads it (e and total have no rules;
    the target's reads total). The rule's state machine:

    * 'free': the rule, called on plain values, writes the gradient into e, which becomes 'spent';
    * 'spent': a later backward pass over the same tape (a vjp_fn called again, a Jacobian) recomputes e;
    * 'shared': e went to a traced ``cross_entropy_grad`` (recorded on an outer tape): never overwritten.
    """

    __slots__ = ("state",)

    def __init__(self):
        self.state = "free"


def _neg_log_softmax(x, shift, r):
    """−log softmax(x) = r − (x − m), C-contiguous whatever x's layout, so that sums along the class axis add
    in NumPy's pairwise order (the same bits for x in C or F order)."""
    return r - np.subtract(x, shift, order="C")


def _ce_impl(x, e, total, target, shift, targets, reduction, e_state):
    r = log_total(total)  # logsumexp(x) = m + r
    if targets.probabilities:
        loss = (_neg_log_softmax(x, shift, r) * targets.mass(target)).sum(axis=targets.axis, keepdims=True)
    else:
        loss = r - (x.take(targets.flat) - shift)  # = −log_softmax(x) at the target class
        if targets.row_weight is not None:
            loss = targets.row_weight * loss
        if targets.eps:
            spread = _neg_log_softmax(x, shift, r)
            if targets.class_weight is not None:
                spread *= targets.class_weight
            spread = spread.sum(axis=targets.axis, keepdims=True)
            if targets.valid is not None:
                spread = np.where(targets.valid, spread, 0)
            loss = (1 - targets.eps) * loss + (targets.eps / targets.classes) * spread
    return targets.reduce(loss, reduction)


def _ce_vjp_logits(g, ans, x, e, total, target, shift, targets, reduction, e_state):
    """∂CE/∂x = (a·softmax(x) − T)·s:  (softmax(x) − onehot(y))/N for plain class indices. In first-order use
    the gradient is written into e when ``e_state`` allows it."""
    if e_state is None:  # higher order: e and total are traced
        return ce_grad_p.bind(e, total, g, target, targets=targets, reduction=reduction)
    if e_state.state == "spent":
        e = exp_shifted_p.impl(x, shift)  # a fresh array: the gradient may go into it too
    if isinstance(g, Tensor) or isinstance(target, Tensor):  # g or t traced by an outer transform
        if e_state.state == "free":
            e_state.state = "shared"
        return ce_grad_p.bind(e, total, g, target, targets=targets, reduction=reduction)
    if e_state.state == "shared":
        return _ce_grad_impl(e, total, g, target, targets, reduction)
    e_state.state = "spent"
    return _ce_grad_impl(e, total, g, target, targets, reduction, out=e)


def _ce_vjp_target(g, ans, x, e, total, target, shift, targets, reduction, e_state):
    """∂CE/∂t = −(1 − ε)·weight·log_softmax(x)·s  (probability targets)."""
    log_probs = (x - shift) - log_p.bind(total)
    d = log_probs * (-(1 - targets.eps) * targets.scale(g, reduction))
    return d if targets.class_weight is None else d * targets.class_weight


cross_entropy_p = Primitive("cross_entropy", _ce_impl, (_ce_vjp_logits, None, None, _ce_vjp_target))


def _ce_grad_impl(e, total, g, target, targets, reduction, out=None):
    """(a·e/total − T)·s: one scaling pass (into ``out``, which may be e, or a fresh array), then the target
    mass subtracted in place."""
    s = targets.scale(g, reduction)
    a = targets.row_mass(target)
    out = scale_rows(e, (s if a is None else a * s) / total, out=out)
    targets.subtract_from(out, s, target)
    return out


def _ce_grad_coefficient(total, g, target, targets, reduction):
    """a·s/total per sample, over values."""
    a = targets.row_mass(target)
    s = targets.scale(g, reduction)
    return (s if a is None else a * s) / total


def _ce_grad_vjp_e(h, ans, e, total, g, target, targets, reduction):
    return h * _ce_grad_coefficient(total, g, target, targets, reduction)


def _ce_grad_vjp_total(h, ans, e, total, g, target, targets, reduction):
    coefficient = _ce_grad_coefficient(total, g, target, targets, reduction)
    return -(h * e).sum(axis=targets.axis, keepdims=True) * coefficient / total


def _ce_grad_vjp_g(h, ans, e, total, g, target, targets, reduction):
    a = targets.row_mass(target)
    p = e / total
    rows = (h * (p if a is None else p * a)).sum(axis=targets.axis, keepdims=True) - targets.dot(h, target)
    return targets.reduce_rows(rows, shape_of(g), reduction)


def _ce_grad_vjp_target(h, ans, e, total, g, target, targets, reduction):
    """Probability targets: a and T are linear in t, ∂/∂tᵢc = (1 − ε)·weight_c·sᵢ·(Σ_c' h·p − hᵢc)."""
    s = targets.scale(g, reduction) * (1 - targets.eps)
    d = ((h * e).sum(axis=targets.axis, keepdims=True) / total - h) * s
    return d if targets.class_weight is None else d * targets.class_weight


ce_grad_p = Primitive("cross_entropy_grad", _ce_grad_impl,
                      (_ce_grad_vjp_e, _ce_grad_vjp_total, _ce_grad_vjp_g, _ce_grad_vjp_target))


# ----- NLL on log-probabilities -----


def _nll_impl(logp, targets, reduction):
    loss = -logp.take(targets.flat)
    if targets.row_weight is not None:
        loss = targets.row_weight * loss
    return targets.reduce(loss, reduction)


def _nll_vjp(g, ans, logp, targets, reduction):
    """∂NLL/∂log p = −w·s at the target class, 0 elsewhere."""
    dtype = concrete(logp).dtype
    w = np.ones(targets.kept, dtype=dtype) if targets.row_weight is None else targets.row_weight
    return untake_p.bind(-(targets.scale(g, reduction) * w), index=targets.index, shape=shape_of(logp))


nll_p = Primitive("nll_loss", _nll_impl, (_nll_vjp,))


# ----- cross_entropy and nll_loss: argument checks and the public functions -----


def _class_setup(fn: str, x, target, weight, input_name: str):
    """Check x, target (its shape and dtype; ``_Targets`` checks class indices) and weight; return (class axis,
    whether target holds probabilities, weight array)."""
    _check_float(fn, input_name, x)
    x_shape, t_shape = shape_of(x), shape_of(target)
    if not x_shape:
        raise ValueError(f"{fn}: {input_name} must have a class axis, shape (C,), (N, C) or (N, C, d1, ...), "
                         "got a 0-d value")
    axis = 0 if len(x_shape) == 1 else 1
    classes = x_shape[axis]
    index_shape = x_shape[:axis] + x_shape[axis + 1:]
    t_dtype = _array(target).dtype
    probabilities = t_shape == x_shape
    if probabilities and not is_float_dtype(t_dtype):
        raise TypeError(f"{fn}: target has the shape of {input_name} {x_shape}, so it holds class probabilities, "
                        f"which must be floating point; got dtype {t_dtype}. For class indices pass shape "
                        f"{index_shape}")
    if not probabilities:
        if t_shape != index_shape:
            raise ValueError(f"{fn}: target shape {t_shape} does not match {input_name} shape {x_shape}: expected "
                             f"class indices of shape {index_shape} or probabilities of shape {x_shape}")
        if t_dtype.kind not in "iu":  # signed or unsigned integers
            raise TypeError(f"{fn}: target of shape {t_shape} holds class indices, which must be integers; got "
                            f"dtype {t_dtype}. Cast it with target.astype(softgrad.int64), or pass probabilities "
                            f"of shape {x_shape}")
    _check_constant(fn, "weight", weight)
    if weight is not None:
        weight = _array(weight)
        if weight.shape != (classes,):
            raise ValueError(f"{fn}: weight must have shape ({classes},), one per class, got {weight.shape}")
        _check_float(fn, "weight", weight)
    return axis, probabilities, weight


def cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy from logits, PyTorch's semantics, in one fused kernel.

    ``logits`` is (C,), (N, C) or (N, C, d1, ...) (the class axis is 1, or 0 without a batch); ``target`` holds
    class indices (the logits' shape without the class axis, integer) or class probabilities (the logits'
    shape, float). With the target mass T (one-hot, smoothed, weighted; see below) and the row mass a = Σ_c T:

        ℓᵢ = Σ_c Tᵢc·(logsumexp(xᵢ) − xᵢc),    ∂ℓᵢ/∂xᵢc = a·softmax(xᵢ)c − Tᵢc,

    so for plain class indices with 'mean' the loss is −(1/N)·Σ log softmax(x)[y] and ∂/∂x = (softmax(x) −
    onehot(y))/N.

    * ``weight`` (C,): class indices: sample i counts with weight[yᵢ] and 'mean' divides by Σᵢ weight[yᵢ]
      over the non-ignored samples; probabilities: the weights multiply per class and 'mean' divides by N.
    * ``ignore_index``: samples with that class index contribute 0 and are not counted by 'mean' (all
      ignored: NaN, as PyTorch; gradient 0). Not allowed (≥ 0) with probability targets.
    * ``label_smoothing`` ε: class indices: (1 − ε)·nll + (ε/C)·Σ_c weight_c·(−log softmax(x)c) per
      sample, normalised as nll is; probabilities: t → (1 − ε)·t + ε/C.
    * Empty batch: 'mean' NaN, 'sum' 0, 'none' an empty array.

    >>> round(cross_entropy([[0.0, 0.0]], [1]).item(), 6)  # ln 2
    0.693147
    """
    fn = "cross_entropy"
    check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must lie in [0, 1], got {label_smoothing!r}")
    logits, target = _data(logits), _data(target)
    axis, probabilities, weight = _class_setup(fn, logits, target, weight, "logits")
    if probabilities:
        if ignore_index >= 0:
            raise ValueError(f"{fn}: ignore_index={ignore_index} is not supported with probability targets; "
                             "leave it at its default (-100)")
        target = _like(target, logits)
        if not (isinstance(target, Tensor) and target.is_traced):  # (its row sums then add as for C order)
            target = np.ascontiguousarray(concrete(target))
    (x, target), dtype = in_float32(logits, target)
    value = concrete(x)
    weight = None if weight is None else weight.astype(value.dtype)
    targets = _Targets(fn, target, weight, value.shape, axis, int(ignore_index), float(label_smoothing), value.dtype)
    e_state = None
    if not (isinstance(x, Tensor) and x.is_traced):  # a value only: nothing of x's size allocated
        e = None
        shift, total = softmax_parts(value, axis)
    elif _traced_once(x):  # first order: m, e and total in one pass, e kept for the gradient
        e, e_state = np.empty(value.shape, dtype=value.dtype), _Exps()
        shift, total = softmax_parts(value, axis, exps=e)
    else:  # higher order: e and total traced, so that the rule can be differentiated
        shift = row_max(value, axis)
        e = exp_shifted_p.bind(x, shift=shift)
        total = sum_p.bind(e, axis=(axis,), keepdims=True)
    loss = cross_entropy_p.bind(x, e, total, target if probabilities else None, shift=shift, targets=targets,
                                reduction=reduction, e_state=e_state)
    return cast_back(loss, dtype)


def nll_loss(log_probs, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of class indices given log-probabilities (e.g. ``log_softmax`` output):

        ℓᵢ = −weight[yᵢ]·log_probs[i, yᵢ],   ∂ℓᵢ/∂log_probs = −weight[yᵢ] at the target class, 0 elsewhere.

    Shapes, ``weight``, ``ignore_index`` and the reductions as ``cross_entropy`` (class indices only);
    ``nll_loss(log_softmax(x), y)`` equals ``cross_entropy(x, y)`` to the last bit.

    >>> nll_loss([[-0.5, -2.0], [-0.1, -3.0]], [0, 1])
    Tensor(shape=[], dtype=Float32, value= 1.75)
    """
    fn = "nll_loss"
    check_reduction(reduction)
    log_probs, target = _data(log_probs), _data(target)
    axis, probabilities, weight = _class_setup(fn, log_probs, target, weight, "log_probs")
    if probabilities:
        raise TypeError(f"{fn}: target must hold class indices of shape {shape_of(target)[:axis]}"
                        f"{shape_of(target)[axis + 1:]}, got probabilities of the log_probs' shape; use "
                        "cross_entropy for probability targets")
    (x,), dtype = in_float32(log_probs)
    value = concrete(x)
    weight = None if weight is None else weight.astype(value.dtype)
    targets = _Targets(fn, target, weight, value.shape, axis, int(ignore_index), 0.0, value.dtype)
    loss = nll_p.bind(x, targets=targets, reduction=reduction)
    return cast_back(loss, dtype)


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


clamped_log_p = Primitive("clamped_log", _clamped_log_impl, (_clamped_log_vjp,))


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


bce_p = Primitive("binary_cross_entropy", _bce_impl, (_bce_vjp_probs, _bce_vjp_target, _bce_vjp_weight))


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
    (probs, target), dtype = _pair(fn, probs, target, "probs", "target")
    _check_in_unit_interval(fn, "probs", probs)
    _check_in_unit_interval(fn, "target", target)
    weight = _elementwise_weight(fn, "weight", weight, probs)
    return cast_back(reduce_loss(bce_p.bind(probs, target, weight), reduction), dtype)


def _elementwise_weight(fn: str, name: str, weight, input):
    """``weight`` (or ``pos_weight``) checked to broadcast to the input's shape, in the input's dtype (it may be
    traced: these weights are differentiable)."""
    if weight is None:
        return None
    weight = _data(weight)
    w_shape, shape = shape_of(weight), shape_of(input)
    try:
        broadcast = np.broadcast_shapes(w_shape, shape)
    except ValueError:
        broadcast = None
    if broadcast != shape:
        raise ValueError(f"{fn}: {name} of shape {w_shape} must broadcast to the input shape {shape}")
    _check_float(fn, name, weight)
    return _like(weight, input)


# ----- binary cross-entropy on logits -----


def _bce_logits_impl(z, y, weight, pos_weight):
    """w·[(1 − y)·z + (1 + (p − 1)·y)·softplus(−z)]  (= w·[−p·y·ln σ(z) − (1 − y)·ln(1 − σ(z))])."""
    scale = 1 if pos_weight is None else 1 + (pos_weight - 1) * y
    loss = (1 - y) * z + scale * _softplus(-z)
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
                          _bce_logits_vjp_pos_weight))


def binary_cross_entropy_with_logits(logits, label, weight=None, pos_weight=None, reduction="mean"):
    """Sigmoid + binary cross-entropy in one stable kernel (MindSpore's argument order):

    ℓ = w·[(1 − y)·z + (1 + (p − 1)·y)·ln(1 + e^{−z})],  ∂ℓ/∂z = w·[(1 + (p − 1)·y)·σ(z) − p·y],

    with ``pos_weight`` p broadcasting along the last (class) axis. Finite for any logit.

    >>> round(binary_cross_entropy_with_logits([0.0], [1.0]).item(), 6)  # ln 2
    0.693147
    """
    fn = "binary_cross_entropy_with_logits"
    check_reduction(reduction)
    (logits, label), dtype = _pair(fn, logits, label, "logits", "label")
    weight = _elementwise_weight(fn, "weight", weight, logits)
    pos_weight = _elementwise_weight(fn, "pos_weight", pos_weight, logits)
    return cast_back(reduce_loss(bce_logits_p.bind(logits, label, weight, pos_weight), reduction), dtype)


# ----- regression losses: composed (the rules of sub, square, abs and where are their closed forms) -----


def mse_loss(input, target, reduction="mean"):
    """(x − y)².  ∂/∂x = 2(x − y)

    >>> mse_loss([1.0, 2.0], [1.0, 4.0])
    Tensor(shape=[], dtype=Float32, value= 2.)
    """
    check_reduction(reduction)
    (x, y), dtype = _pair("mse_loss", input, target)
    return cast_back(reduce_loss(square(x - y), reduction), dtype)


def l1_loss(input, target, reduction="mean"):
    """|x − y|.  ∂/∂x = sign(x − y) (0 at x = y, as PyTorch)

    >>> l1_loss([1.0, 2.0], [1.0, 4.0])
    Tensor(shape=[], dtype=Float32, value= 1.)
    """
    check_reduction(reduction)
    (x, y), dtype = _pair("l1_loss", input, target)
    return cast_back(reduce_loss(abs(x - y), reduction), dtype)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """½d²/β for |d| < β, |d| − ½β otherwise (d = x − y; ``beta=0`` is l1_loss).  ∂/∂x = d/β or sign(d)

    >>> smooth_l1_loss([0.0, 0.0], [0.5, 3.0])
    Tensor(shape=[], dtype=Float32, value= 1.3125)
    """
    check_reduction(reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be ≥ 0, got {beta!r}")
    (x, y), dtype = _pair("smooth_l1_loss", input, target)
    d = x - y
    size = abs(d)
    loss = size if beta == 0 else where(size < beta, (0.5 / beta) * (d * d), size - 0.5 * beta)
    return cast_back(reduce_loss(loss, reduction), dtype)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """½d² for |d| < δ, δ·(|d| − ½δ) otherwise (d = x − y).  ∂/∂x = d or δ·sign(d)

    >>> huber_loss([0.0, 0.0], [0.5, 3.0], delta=2.0)
    Tensor(shape=[], dtype=Float32, value= 2.0625)
    """
    check_reduction(reduction)
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta!r}")
    (x, y), dtype = _pair("huber_loss", input, target)
    d = x - y
    size = abs(d)
    loss = where(size < delta, 0.5 * (d * d), delta * (size - 0.5 * delta))
    return cast_back(reduce_loss(loss, reduction), dtype)


# ----- xlogy and the KL divergence -----


def _xlogy_impl(x, y):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x == 0, 0, x * np.log(y))


def _xlogy_vjp_y(g, ans, x, y):
    """x/y (0 where x = 0, even at y = 0)."""
    return g * (x / where_p.bind(x == 0, 1, y))


xlogy_p = Primitive("xlogy", _xlogy_impl, (lambda g, ans, x, y: g * xlogy_p.bind(x != 0, y), _xlogy_vjp_y))


def xlogy(x, y):
    """x·ln y, with 0·ln y = 0 for every y (so 0·ln 0 = 0).  ∂/∂x = ln y (0 where x = 0), ∂/∂y = x/y

    >>> xlogy([0.0, 2.0], [0.0, 1.0])
    Tensor(shape=[2], dtype=Float32, value=
    [0., 0.])
    """
    x, y = lift_python(x, y)
    return tensor_out(xlogy_p.bind(x, y))


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
    (log_q, p), dtype = _pair(fn, log_input, target, "log_input", "target")
    if log_target:
        loss = exp(p) * (p - log_q)
    else:
        loss = xlogy(p, p) - p * log_q
    if reduction != "batchmean":
        return cast_back(reduce_loss(loss, reduction), dtype)
    shape = shape_of(log_q)
    total = sum(loss)
    return cast_back(total / shape[0] if shape else total, dtype)
