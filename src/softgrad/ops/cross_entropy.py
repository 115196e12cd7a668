"""Cross-entropy on logits and NLL on log-probabilities: PyTorch's semantics, each one fused primitive with its
closed-form rule.

* ``_Targets``: the targets of one call (class indices or probabilities, class weights, ``ignore_index``,
  label smoothing) in the form the kernels use, built once per call;
* ``cross_entropy_p``: the loss from the kept exponentials e^{x−m} (the blocked kernels of
  ``softmax_kernels``), and ``ce_grad_p``, its gradient as a primitive of its own so that it can be
  differentiated again;
* ``nll_p``: NLL, a gather of −log p at the targets;
* ``cross_entropy`` and ``nll_loss``: the argument checks and the public functions.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from softgrad.ops._primitive import In, Sample, cast_back, first_index, in_float32, multilinear, op, shape_of
from softgrad.ops.activations import exp_shifted_p, log_softmax
from softgrad.ops.creation import arange
from softgrad.ops.elementwise import log_p, where, where_p
from softgrad.ops.losses import (
    array_of, check_constant, check_float, check_ignore_index, check_label_smoothing, check_reduction, like,
    loss_argument,
)
from softgrad.ops.reductions import sum as total, sum_p
from softgrad.ops.shape import expand_dims, getitem_p, untake_p
from softgrad.ops.softmax_kernels import exp_shifted, exps_like, log_total, row_max, scale_rows, softmax_parts
from softgrad.tensor import Tensor, concrete, is_float_dtype
from softgrad.trace import Primitive, batch_axes

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
        labels = array_of(target)
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
        """out −= T·s, in place (out an ndarray of the gradient's own, C-contiguous or (N, C) column-major; s a
        scalar or per-sample array)."""
        if self.probabilities:
            out -= self.mass(t) * s
            return
        picked = s * (1 - self.eps) if self.eps else s
        if self.row_weight is not None:
            picked = picked * self.row_weight
        if out.flags.c_contiguous:
            np.subtract.at(out.reshape(-1), self.flat, picked)  # (reshape: a view of out)
        else:  # column-major (N, C): entry (i, c) at c·N + i
            rows, labels = self.index
            np.subtract.at(out.T.reshape(-1), labels * len(out) + rows, picked)
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
        position = first_index(bad)
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

    With ``scale`` c (class indices, unweighted, 'mean' or 'sum'), the forward pass wrote e already as the
    softmax times c = the scale of a unit cotangent, while each block was in cache: for that cotangent (a loss
    differentiated as it is) the rule only subtracts the targets, where it would read e back from memory and
    write the product (half the memory traffic of the loss's forward and backward); for any other, e is made
    again.

    So the gradient has e's layout: many short rows, (N, C) with C < 16, are kept column-major (``exps_like``).
    """

    __slots__ = ("state", "scale")

    def __init__(self, scale=None):
        self.state, self.scale = "free", scale


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
    traced = isinstance(g, Tensor) or isinstance(target, Tensor)  # g or t traced by an outer transform
    if e_state.state == "free" and e_state.scale is not None:  # e is the softmax times the scale the forward assumed
        s = None if traced else targets.scale(g, reduction)
        e_state.state = "spent"
        if s is not None and np.shape(s) == () and s == e_state.scale:
            targets.subtract_from(e, s, target)
            return e
    if e_state.state == "spent":
        e = exp_shifted(x, shift)  # a fresh array: the gradient may go into it too
    if traced:
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


def _ce_jvp(tangents, ans, x, e, total, target, shift, targets, reduction, e_state):
    """Each loss entry depends on its own row of x (and of the target) only, so J·ṫ sums the rows of ∂CE/∂x
    (the VJP of ones, never written into e) times ṫ, and the same for the target."""
    ones = np.ones(shape_of(ans), np.asarray(concrete(ans)).dtype)
    if e_state is not None and (e_state.scale is not None or e_state.state == "spent"):
        e = exp_shifted(x, shift)  # (e holds the softmax scaled, or a gradient written into it)
    total_tangent = None
    for t, vjp in ((tangents[0], _ce_vjp_logits), (tangents[3], _ce_vjp_target)):
        if t is not None:
            rows = vjp(ones, ans, x, e, total, target, shift, targets, reduction, None) * t
            axes = (targets.axis,) if reduction == "none" else None
            term = rows.sum(axis=axes).reshape(shape_of(ans))
            total_tangent = term if total_tangent is None else total_tangent + term
    return total_tangent


def _sample_cross_entropy(label_smoothing=0.0, weight=None, probabilities=False):
    """A ``Sample`` of cross_entropy_p on (3, 4) logits: built through ``cross_entropy``, which makes the kept
    exponentials for the order it is traced at."""
    target = In((3, 4), "unit") if probabilities else np.array([2, 0, 3])
    return Sample(In((3, 4)), target, build=lambda x, t: cross_entropy(x, t, weight=weight,
                                                                       label_smoothing=label_smoothing))


cross_entropy_p = Primitive("cross_entropy", _ce_impl, (_ce_vjp_logits, None, None, _ce_vjp_target), jvp=_ce_jvp,
                            samples=[
    _sample_cross_entropy(), _sample_cross_entropy(0.2, np.array([0.5, 1.0, 2.0, 1.5])),
    _sample_cross_entropy(0.1, probabilities=True)])


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


def _ce_grad_jvp(tangents, ans, e, total, g, target, targets, reduction):
    """Through c = a·s/total in e and total; linear in g (the same kernel of ġ); probability targets through a
    and T, linear in t: ((1 − ε)·s)·(Σ_c w·ṫ · e/total − w·ṫ)."""
    te, t_total, tg, tt = tangents
    coefficient = _ce_grad_coefficient(total, g, target, targets, reduction)
    terms = []
    if te is not None:
        terms.append(te * coefficient)
    if t_total is not None:
        terms.append(-(e * coefficient) * (t_total / total))
    if tg is not None:
        terms.append(ce_grad_p.bind(e, total, tg, target, targets=targets, reduction=reduction))
    if tt is not None:
        weighted = tt if targets.class_weight is None else tt * targets.class_weight
        s = targets.scale(g, reduction) * (1 - targets.eps)
        terms.append((weighted.sum(axis=targets.axis, keepdims=True) * e / total - weighted) * s)
    total_tangent = terms[0]
    for term in terms[1:]:
        total_tangent = total_tangent + term
    return total_tangent


def _sample_cross_entropy_grad(reduction, label_smoothing=0.0):
    """A ``Sample`` of cross_entropy_grad_p: e > 0, its row sums, and a cotangent g of the reduced loss."""
    labels = np.array([2, 0, 3])
    targets = _Targets("sample", labels, None, (3, 4), 1, -100, label_smoothing, np.dtype(np.float64))
    g = In(()) if reduction != "none" else In((3,))
    return Sample(In((3, 4), "positive"), In((3, 1), "positive"), g, None, targets=targets, reduction=reduction)


ce_grad_p = Primitive("cross_entropy_grad", _ce_grad_impl,
                      (_ce_grad_vjp_e, _ce_grad_vjp_total, _ce_grad_vjp_g, _ce_grad_vjp_target), jvp=_ce_grad_jvp,
                      samples=[_sample_cross_entropy_grad("mean", 0.1), _sample_cross_entropy_grad("none")])


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


nll_p = Primitive("nll_loss", _nll_impl, (_nll_vjp,), jvp=multilinear(lambda: nll_p), samples=[
    Sample(In((3, 4)), np.array([2, 0, 3]), build=lambda x, t: nll_loss(x, t)),
    Sample(In((3, 4)), np.array([2, -100, 3]), build=lambda x, t: nll_loss(x, t, np.array([1.0, 2.0, 0.5, 1.0])))])


# ----- cross_entropy and nll_loss: argument checks and the public functions -----


def _class_setup(fn: str, x, target, weight, input_name: str):
    """Check x, target (its shape and dtype; ``_Targets`` checks class indices) and weight; return (class axis,
    whether target holds probabilities, weight array)."""
    check_float(fn, input_name, x)
    x_shape, t_shape = shape_of(x), shape_of(target)
    if not x_shape:
        raise ValueError(f"{fn}: {input_name} must have a class axis, shape (C,), (N, C) or (N, C, d1, ...), "
                         "got a 0-d value")
    axis = 0 if len(x_shape) == 1 else 1
    classes = x_shape[axis]
    index_shape = x_shape[:axis] + x_shape[axis + 1:]
    t_dtype = array_of(target).dtype
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
    check_constant(fn, "weight", weight)
    if weight is not None:
        weight = array_of(weight)
        if weight.shape != (classes,):
            raise ValueError(f"{fn}: weight must have shape ({classes},), one per class, got {weight.shape}")
        check_float(fn, "weight", weight)
    return axis, probabilities, weight


@op
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

    The gradient of many short rows ((N, C) logits, C < 16, N ≥ 4096; N ≥ 512 without Numba) comes column-major,
    the layout its kernel works in (``softmax_kernels.exps_like``); its values are those of any other layout.

    >>> round(cross_entropy([[0.0, 0.0]], [1]).item(), 6)  # ln 2
    0.693147
    """
    fn = "cross_entropy"
    check_reduction(reduction)
    check_ignore_index(fn, ignore_index)
    check_label_smoothing(fn, label_smoothing)
    logits, target = loss_argument(logits), loss_argument(target)
    axis, probabilities, weight = _class_setup(fn, logits, target, weight, "logits")
    if probabilities:
        target = _probability_target(fn, target, logits, ignore_index)
    (x, target), dtype = in_float32(logits, target)
    if batch_axes(x) or batch_axes(target):
        return cast_back(_composed_loss(fn, log_softmax(x, axis), target, weight, axis, probabilities,
                                        int(ignore_index), float(label_smoothing), reduction), dtype)
    value = concrete(x)
    weight = None if weight is None else weight.astype(value.dtype)
    targets = _Targets(fn, target, weight, value.shape, axis, int(ignore_index), float(label_smoothing), value.dtype)
    unit = None  # the scale of a unit cotangent, where the gradient is (softmax − onehot)·s
    if reduction != "none" and not probabilities and targets.row_mass(None) is None:
        unit = targets.scale(value.dtype.type(1), reduction)  # (a NumPy scalar: 0.1 µs, np.ones((), ·) 0.6)
    shift, e, total, e_state = _exponentials(x, value, axis, unit)
    loss = cross_entropy_p.bind(x, e, total, target if probabilities else None, shift=shift, targets=targets,
                                reduction=reduction, e_state=e_state)
    return cast_back(loss, dtype)


def _probability_target(fn: str, target, logits, ignore_index):
    """Probability targets in the logits' dtype (C-contiguous unless traced, so that its row sums add as for
    C order); ``ignore_index`` must be left at its default."""
    if ignore_index >= 0:
        raise ValueError(f"{fn}: ignore_index={ignore_index} is not supported with probability targets; "
                         "leave it at its default (-100)")
    target = like(target, logits)
    if not (isinstance(target, Tensor) and target.is_traced):
        target = np.ascontiguousarray(concrete(target))
    return target


def _exponentials(x, value, axis, scale=None):
    """``(shift, e, total, e_state)`` for cross_entropy_p: the row max m, e = e^{x−m} (in first order use with
    ``scale``, the softmax times it: ``_Exps``), Σ_c e, and who may write into e, by how x is traced (see the
    comment above ``_traced_once``)."""
    if not (isinstance(x, Tensor) and x.is_traced):  # a value only: nothing of x's size allocated
        shift, total = softmax_parts(value, axis)
        return shift, None, total, None
    if _traced_once(x):  # first order: m, e and total in one pass, e kept for the gradient
        e = exps_like(value, axis)
        shift, total = softmax_parts(value, axis, exps=e, scale=scale)
        return shift, e, total, _Exps(scale)
    shift = row_max(value, axis)  # higher order: e and total traced, so that the rule can be differentiated
    e = exp_shifted_p.bind(x, shift=shift)
    return shift, e, sum_p.bind(e, axis=(axis,), keepdims=True), None


# ----- inside vmap: the same losses composed from ops -----
# The fused kernels' parameters (the row max, the targets' gather indices) are built from concrete values,
# which inside vmap hold every example at once; there the losses are composed from log_softmax, comparisons and
# sums instead, which batch. The values are those of _Targets (ℓᵢ = Σ_c Tᵢc·(−log pᵢc)) to rounding.


def _composed_loss(fn, logp, target, weight, axis, probabilities, ignore_index, eps, reduction):
    """ℓ of every sample from log-probabilities ``logp``, reduced; see ``_Targets`` for T."""
    classes = shape_of(logp)[axis]
    along_axis = (classes,) + (1,) * (len(shape_of(logp)) - axis - 1)
    class_weight = None if weight is None else weight.astype(array_of(logp).dtype).reshape(along_axis)
    if probabilities:
        mass = target * (1 - eps) + eps / classes if eps else target
        mass = mass if class_weight is None else mass * class_weight
        loss, normaliser = -total(mass * logp, axis=axis), math.prod(shape_of(target)) // classes
    else:
        labels = array_of(target)
        if labels.size and ((labels < 0) | (labels >= classes)).any():
            _check_labels(fn, labels, classes, ignore_index)
        hit = expand_dims(target, axis) == arange(classes).reshape(along_axis)
        valid = target != ignore_index
        dtype = array_of(logp).dtype
        row_weight = (valid.astype(dtype) if class_weight is None
                      else where(valid, total(where(hit, class_weight, 0), axis=axis), 0))
        loss = -total(where(hit, logp, 0), axis=axis) * row_weight * (1 - eps)
        if eps:
            spread = -total(logp if class_weight is None else logp * class_weight, axis=axis)
            loss = loss + where(valid, spread, 0) * (eps / classes)
        normaliser = total(row_weight)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return total(loss)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total(loss) / normaliser


@op
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
    check_ignore_index(fn, ignore_index)
    log_probs, target = loss_argument(log_probs), loss_argument(target)
    axis, probabilities, weight = _class_setup(fn, log_probs, target, weight, "log_probs")
    if probabilities:
        raise TypeError(f"{fn}: target must hold class indices of shape {shape_of(target)[:axis]}"
                        f"{shape_of(target)[axis + 1:]}, got probabilities of the log_probs' shape; use "
                        "cross_entropy for probability targets")
    (x,), dtype = in_float32(log_probs)
    if batch_axes(x) or batch_axes(target):
        return cast_back(_composed_loss(fn, x, target, weight, axis, False, int(ignore_index), 0.0, reduction), dtype)
    value = concrete(x)
    weight = None if weight is None else weight.astype(value.dtype)
    targets = _Targets(fn, target, weight, value.shape, axis, int(ignore_index), 0.0, value.dtype)
    loss = nll_p.bind(x, targets=targets, reduction=reduction)
    return cast_back(loss, dtype)


__all__ = ["cross_entropy", "nll_loss"]
