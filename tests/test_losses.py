"""The loss family: the worked examples from the notes, closed-form gradients, cross_entropy = nll_loss ∘
log_softmax to the bit, extreme inputs, documented edge cases, clear errors, gradients against finite
differences (first and second order), dtype preservation and the loss cells. (PyTorch parity: test_losses_golden.)"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import softgrad as sg
from softgrad import ops

RNG = np.random.default_rng(11)


def softmax_ref(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid_ref(z):
    return 1 / (1 + np.exp(-z))


# ----- the worked examples from the notes -----


def test_bce_of_the_worked_example_is_0_319():
    loss = ops.binary_cross_entropy(np.array([0.8, 0.2, 0.4]), np.array([1.0, 0.0, 0.0]))
    expected = -(math.log(0.8) + math.log(0.8) + math.log(0.6)) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-15)
    assert round(loss.item(), 3) == 0.319


def test_cross_entropy_of_a_one_hot_label_is_minus_log_of_its_probability():
    probs = np.array([0.3, 0.6, 0.1])
    expected = -math.log(0.6)
    assert ops.nll_loss(np.log(probs), np.array(1)).item() == pytest.approx(expected, rel=1e-15)
    assert ops.cross_entropy(np.log(probs), np.array(1)).item() == pytest.approx(expected, rel=1e-15)  # softmax∘log
    assert ops.cross_entropy(np.log(probs), np.array([0.0, 1.0, 0.0])).item() == pytest.approx(expected, rel=1e-15)
    assert sg.info.cross_entropy_between(np.array([0.0, 1.0, 0.0]), probs).item() == pytest.approx(expected)


def test_multi_label_bce_gives_one_term_per_class():
    outputs, labels = np.array([0.1, 0.7, 0.8]), np.array([0.0, 1.0, 1.0])
    expected = [-math.log(0.9), -math.log(0.7), -math.log(0.8)]
    np.testing.assert_allclose(ops.binary_cross_entropy(outputs, labels, reduction="none").numpy(), expected,
                               rtol=1e-15)
    logits = np.log(outputs / (1 - outputs))
    np.testing.assert_allclose(ops.binary_cross_entropy_with_logits(logits, labels, reduction="none").numpy(),
                               expected, rtol=1e-14)


@pytest.mark.parametrize("shape", [(6, 4), (1, 10)])
def test_gradient_of_cross_entropy_is_softmax_minus_onehot_over_n(shape):
    x = RNG.standard_normal(shape)
    y = RNG.integers(0, shape[1], shape[0])
    g = sg.grad(lambda v: ops.cross_entropy(v, y))(x).numpy()
    np.testing.assert_allclose(g, (softmax_ref(x) - np.eye(shape[1])[y]) / shape[0], atol=1e-16)


def test_sigmoid_unit_gradient_is_a_minus_y_times_x_with_bce_and_carries_sigma_prime_with_mse():
    x = RNG.standard_normal(5)
    w = RNG.standard_normal(5)
    y = 1.0
    z = x @ w
    a = sigmoid_ref(z)

    def unit(loss):
        return lambda weights: loss(ops.sigmoid(ops.dot(np.asarray(x), weights)).reshape(1), np.array([y]))

    np.testing.assert_allclose(sg.grad(unit(ops.binary_cross_entropy))(w).numpy(), (a - y) * x, rtol=1e-12)
    np.testing.assert_allclose(sg.grad(unit(ops.mse_loss))(w).numpy(), 2 * (a - y) * a * (1 - a) * x, rtol=1e-12)
    np.testing.assert_allclose(
        sg.grad(lambda v: ops.binary_cross_entropy_with_logits(ops.dot(np.asarray(x), v).reshape(1),
                                                               np.array([y])))(w).numpy(), (a - y) * x, rtol=1e-12)


# ----- cross_entropy = nll_loss ∘ log_softmax, to the last bit -----


@pytest.mark.parametrize("shape", [(4,), (64, 10), (3, 7, 5, 4), (300, 3000)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_equals_nll_of_log_softmax_bitwise(shape, dtype, reduction):
    x = (5 * RNG.standard_normal(shape)).astype(dtype)
    classes = shape[1] if len(shape) > 1 else shape[0]
    y = RNG.integers(0, classes, shape[:1] + shape[2:] if len(shape) > 1 else ())
    weight = RNG.uniform(0.5, 2.0, classes).astype(dtype)
    y_ignored = np.where(RNG.random(y.shape) < 0.3, 2, y)
    axis = 1 if len(shape) > 1 else 0
    for kwargs, target in [({}, y), ({"weight": weight, "ignore_index": 2}, y_ignored)]:
        fused = ops.cross_entropy(x, target, reduction=reduction, **kwargs).numpy()
        composed = ops.nll_loss(ops.log_softmax(x, axis=axis), target, reduction=reduction, **kwargs).numpy()
        np.testing.assert_array_equal(fused, composed)
        traced = sg.value_and_grad(lambda v: ops.cross_entropy(v, target, reduction=reduction, **kwargs).sum())
        assert traced(x)[0].numpy() == fused.sum()  # the traced path (which keeps e^{x−m}) gives the same bits


def test_gradient_of_nll_of_log_softmax_equals_the_fused_gradient():
    x = RNG.standard_normal((5, 4)).astype(np.float32)
    y = RNG.integers(0, 4, 5)
    fused = sg.grad(lambda v: ops.cross_entropy(v, y))(x).numpy()
    composed = sg.grad(lambda v: ops.nll_loss(ops.log_softmax(v), y))(x).numpy()
    np.testing.assert_allclose(fused, composed, rtol=1e-6, atol=1e-8)


# ----- extreme inputs and documented edge cases -----


def test_cross_entropy_on_logits_of_1e4_in_float32_is_finite_and_exact():
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [-1e4, 1e4, 1e4]], np.float32)
    y = np.array([1, 0, 0])
    loss = ops.cross_entropy(x, y, reduction="none").numpy()
    np.testing.assert_allclose(loss, [2e4, math.log(3), 2e4 + math.log(2)], rtol=1e-7)
    value, g = sg.value_and_grad(lambda v: ops.cross_entropy(v, y, label_smoothing=0.1))(sg.Tensor(x))
    assert value.dtype == np.float32 and np.isfinite(value.numpy())
    assert g.dtype == np.float32 and np.isfinite(g.numpy()).all()


def test_cross_entropy_in_float16_up_to_6e4_is_computed_in_float32():
    x = np.array([[6e4, -6e4, 0.0], [-6e4, -6e4, -6e4]], np.float16)
    y = np.array([2, 1])
    value, g = sg.value_and_grad(lambda v: ops.cross_entropy(v, y))(sg.Tensor(x))
    assert value.dtype == np.float16 and value.item() == pytest.approx((6e4 + math.log(3)) / 2, rel=1e-3)
    assert g.dtype == np.float16 and np.isfinite(g.numpy()).all()
    np.testing.assert_allclose(g.numpy(), [[0.5, 0, -0.5], [1 / 6, -1 / 3, 1 / 6]], atol=1e-3)
    z = np.array([6e4, -6e4, 6e4, -6e4], np.float16)
    bce = ops.binary_cross_entropy_with_logits(z, np.array([1.0, 0.0, 0.0, 1.0], np.float16), reduction="none")
    assert bce.dtype == np.float16
    np.testing.assert_array_equal(bce.numpy(), np.float16([0, 0, 6e4, 6e4]))


def test_a_row_of_equal_logits_and_a_single_class():
    equal = np.full((3, 5), 7.0, np.float32)
    np.testing.assert_allclose(ops.cross_entropy(equal, np.array([0, 2, 4]), reduction="none").numpy(),
                               math.log(5), rtol=1e-7)
    single = np.array([[3.0], [-1e4]], np.float32)
    assert ops.cross_entropy(single, np.array([0, 0])).item() == 0.0
    g = sg.grad(lambda v: ops.cross_entropy(v, np.array([0, 0]), label_smoothing=0.2))(single).numpy()
    np.testing.assert_allclose(g, 0.0, atol=1e-7)  # (1 − ε) + ε/C·C − 1: float32 rounding only


def test_empty_batch_gives_nan_mean_zero_sum_and_an_empty_gradient():
    x = np.zeros((0, 4), np.float32)
    y = np.zeros((0,), np.int64)
    assert np.isnan(ops.cross_entropy(x, y).item())
    assert ops.cross_entropy(x, y, reduction="sum").item() == 0.0
    assert ops.cross_entropy(x, y, reduction="none").shape == (0,)
    assert sg.grad(lambda v: ops.cross_entropy(v, y, reduction="sum"))(x).shape == (0, 4)
    assert np.isnan(ops.mse_loss(x, x).item()) and ops.mse_loss(x, x, reduction="sum").item() == 0.0


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_a_batch_where_every_target_is_ignored(smoothing, weighted):
    """PyTorch's 0/0: the mean is NaN; the gradient is 0 (not NaN); 'sum' is 0."""
    x = RNG.standard_normal((3, 4))
    y = np.full(3, -100)
    weight = RNG.uniform(0.5, 2, 4) if weighted else None
    value, g = sg.value_and_grad(lambda v: ops.cross_entropy(v, y, weight, label_smoothing=smoothing))(x)
    assert np.isnan(value.item())
    np.testing.assert_array_equal(g.numpy(), 0.0)
    assert ops.cross_entropy(x, y, weight, reduction="sum", label_smoothing=smoothing).item() == 0.0
    assert np.isnan(ops.nll_loss(x, y, weight).item())


def test_bce_clamps_logs_at_minus_100_and_floors_the_gradient_denominator():
    p = np.array([0.0, 1.0, 0.0, 1.0])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    np.testing.assert_array_equal(ops.binary_cross_entropy(p, y, reduction="none").numpy(), [100, 100, 0, 0])
    g = sg.grad(lambda v: ops.binary_cross_entropy(v, y, reduction="sum"))(p).numpy()
    eps = float(np.float32(1e-12))
    np.testing.assert_allclose(g, [-1 / eps, 1 / eps, 0, 0])


def test_kl_div_reductions_and_zero_targets():
    log_q = np.log(np.array([[0.2, 0.8], [0.5, 0.5]]))
    p = np.array([[0.0, 1.0], [0.5, 0.5]])
    pointwise = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1)) - log_q), 0.0)
    assert ops.kl_div(log_q, p, reduction="sum").item() == pytest.approx(pointwise.sum())
    assert ops.kl_div(log_q, p, reduction="mean").item() == pytest.approx(pointwise.mean())
    assert ops.kl_div(log_q, p, reduction="batchmean").item() == pytest.approx(pointwise.sum() / 2)
    assert ops.kl_div(log_q, np.log(p + 1e-300), reduction="sum", log_target=True).item() == pytest.approx(
        pointwise.sum())
    np.testing.assert_allclose(sg.grad(lambda v: ops.kl_div(v, p, reduction="sum"))(log_q).numpy(), -p)


# ----- errors that name the argument, the expected and the actual value -----

X = np.zeros((3, 4), np.float32)
Y = np.array([0, 1, 2])

BAD_CALLS = [
    ("class index out of range", lambda: ops.cross_entropy(X, np.array([0, 4, 1])), ValueError,
     r"target class index must lie in \[0, 4\) or equal ignore_index=-100; got 4 at index \(1,\)"),
    ("negative class index", lambda: ops.nll_loss(X, np.array([0, -1, 1])), ValueError, r"got -1 at index \(1,\)"),
    ("target shape", lambda: ops.cross_entropy(X, np.array([0, 1])), ValueError,
     r"target shape \(2,\) does not match logits shape \(3, 4\): expected class indices of shape \(3,\)"),
    ("float indices", lambda: ops.cross_entropy(X, np.array([0.0, 1.0, 2.0])), TypeError,
     "holds class indices, which must be integers; got dtype float64"),
    ("integer probabilities", lambda: ops.cross_entropy(X, np.zeros((3, 4), np.int64)), TypeError,
     "holds class probabilities, which must be floating point; got dtype int64"),
    ("nll with probabilities", lambda: ops.nll_loss(X, np.zeros((3, 4), np.float32)), TypeError,
     "must hold class indices"),
    ("unknown reduction", lambda: ops.cross_entropy(X, Y, reduction="avg"), ValueError,
     "reduction must be one of 'mean', 'sum', 'none', got 'avg'"),
    ("unknown reduction kl", lambda: ops.kl_div(X, X, reduction="batch"), ValueError, "'batchmean', got 'batch'"),
    ("label_smoothing", lambda: ops.cross_entropy(X, Y, label_smoothing=1.5), ValueError,
     r"label_smoothing must lie in \[0, 1\], got 1.5"),
    ("weight shape", lambda: ops.cross_entropy(X, Y, weight=np.ones(3)), ValueError,
     r"weight must have shape \(4,\), one per class, got \(3,\)"),
    ("ignore_index with probabilities", lambda: ops.cross_entropy(X, X, ignore_index=0), ValueError,
     "ignore_index=0 is not supported with probability targets"),
    ("integer logits", lambda: ops.cross_entropy(np.zeros((3, 4), np.int64), Y), TypeError,
     "logits must be floating point, got dtype int64"),
    ("0-d logits", lambda: ops.cross_entropy(np.float32(1.0), np.array(0)), ValueError, "must have a class axis"),
    ("probs above 1", lambda: ops.binary_cross_entropy(np.array([0.5, 1.5]), np.array([0.0, 1.0])), ValueError,
     r"probs must lie in \[0, 1\], got 1.5 at index \(1,\)"),
    ("bce target below 0", lambda: ops.binary_cross_entropy(np.array([0.5]), np.array([-0.5])), ValueError,
     r"target must lie in \[0, 1\], got -0.5"),
    ("bce nan", lambda: ops.binary_cross_entropy(np.array([np.nan]), np.array([0.0])), ValueError, "got nan"),
    ("bce shape", lambda: ops.binary_cross_entropy(np.array([0.5, 0.5]), np.array([1.0])), ValueError,
     r"target shape \(1,\) must equal probs shape \(2,\)"),
    ("bce weight shape", lambda: ops.binary_cross_entropy(np.full((2, 3), 0.5), np.ones((2, 3)), np.ones(2)),
     ValueError, r"weight of shape \(2,\) must broadcast to the input shape \(2, 3\)"),
    ("pos_weight shape", lambda: ops.binary_cross_entropy_with_logits(np.ones((2, 3)), np.ones((2, 3)),
                                                                      pos_weight=np.ones(4)),
     ValueError, r"pos_weight of shape \(4,\) must broadcast"),
    ("mse shape", lambda: ops.mse_loss(np.ones(3), np.ones(4)), ValueError, r"target shape \(4,\) must equal"),
    ("mse integer target", lambda: ops.mse_loss(np.ones(3), np.ones(3, np.int64)), TypeError,
     "target must be floating point, got dtype int64"),
    ("smooth_l1 beta", lambda: ops.smooth_l1_loss(np.ones(3), np.ones(3), beta=-1.0), ValueError,
     "beta must be ≥ 0, got -1.0"),
    ("huber delta", lambda: ops.huber_loss(np.ones(3), np.ones(3), delta=0.0), ValueError,
     "delta must be > 0, got 0.0"),
]


@pytest.mark.parametrize("name,call,error,match", BAD_CALLS, ids=[b[0] for b in BAD_CALLS])
def test_bad_input_raises_a_clear_error(name, call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_a_traced_class_weight_is_refused_rather_than_silently_not_differentiated():
    with pytest.raises(TypeError, match="weight is a constant of this loss"):
        sg.grad(lambda w: ops.cross_entropy(X, Y, weight=w), grad_position=0)(np.ones(4, np.float32))


def test_ignore_index_may_be_any_value_outside_the_classes():
    loss = ops.cross_entropy(X, np.array([0, 255, 1]), ignore_index=255, reduction="none").numpy()
    np.testing.assert_allclose(loss, [math.log(4), 0.0, math.log(4)], rtol=1e-7)


@pytest.mark.parametrize("options", [dict(), dict(label_smoothing=0.1), dict(weight="w"),
                                     dict(weight="w", label_smoothing=0.2)],
                         ids=["plain", "smoothing", "weight", "weight-smoothing"])
@pytest.mark.parametrize("targets", ["indices", "probabilities"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_bits_do_not_depend_on_memory_layout(options, targets, reduction):
    """Logits and probability targets in C or F order give the same loss and gradient, to the last bit (the
    class sums add in NumPy's pairwise order: 37 classes, past its 8-element blocks)."""
    x = RNG.standard_normal((6, 37)).astype(np.float32)
    t = RNG.integers(0, 37, 6) if targets == "indices" else RNG.dirichlet(np.ones(37), 6).astype(np.float32)
    options = {k: RNG.uniform(0.5, 2, 37).astype(np.float32) if v == "w" else v for k, v in options.items()}
    fortran = [np.asfortranarray(a) if a.ndim == 2 else a for a in (x, t)]

    def value_and_gradient(x, t):
        loss = ops.cross_entropy(x, t, reduction=reduction, **options).numpy()
        value, g = sg.value_and_grad(lambda v: ops.cross_entropy(v, t, reduction=reduction, **options).sum())(x)
        return loss, value.numpy(), g.numpy()

    for got, expected in zip(value_and_gradient(*fortran), value_and_gradient(x, t)):
        np.testing.assert_array_equal(got, expected)


# ----- gradients against finite differences (float64), first and second order -----

CE_OPTIONS = [
    dict(),
    dict(weight=np.array([0.5, 2.0, 1.0, 1.5])),
    dict(ignore_index=1),
    dict(label_smoothing=0.2),
    dict(weight=np.array([0.5, 2.0, 1.0, 1.5]), ignore_index=1, label_smoothing=0.2),
]


@pytest.mark.parametrize("options", CE_OPTIONS, ids=["plain", "weight", "ignore", "smoothing", "all"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 2, 2), (4,)], ids=["2d", "spatial", "1d"])
def test_cross_entropy_gradients_first_and_second_order(options, reduction, shape):
    x = RNG.standard_normal(shape)
    target_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    y = RNG.integers(0, 4, target_shape)
    if "ignore_index" in options:
        y = np.where(np.arange(y.size).reshape(target_shape) % 3 == 0, 1, np.where(y == 1, 0, y))
        y.reshape(-1)[-1] = 3  # at least one target counts
    weights = RNG.standard_normal(np.shape(ops.cross_entropy(x, y, reduction=reduction).numpy()))

    def f(v):
        return ops.cross_entropy(v, y, reduction=reduction, **options)

    sg.check_grad(f, x)
    sg.check_grad(sg.grad(lambda v: (f(v) * weights).sum()), x)


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_with_probability_targets_is_differentiable_in_both_to_second_order(smoothing, reduction):
    x, t = RNG.standard_normal((3, 4)), RNG.uniform(0, 1, (3, 4))
    weight = np.array([0.5, 2.0, 1.0, 1.5])

    def f(a, b):
        return ops.cross_entropy(a, b, weight=weight, reduction=reduction, label_smoothing=smoothing)

    sg.check_grad(f, x, t)
    sg.check_grad(lambda a, b: sg.grad(lambda u, v: (f(u, v) ** 2).sum(), (0, 1))(a, b), x, t)


def test_cross_entropy_hessian_is_the_closed_form():
    x, y = RNG.standard_normal((3, 4)), np.array([0, 3, 1])
    hessian = sg.hessian(lambda v: ops.cross_entropy(v, y))(x).numpy().reshape(12, 12)
    p = softmax_ref(x)
    expected = np.zeros((12, 12))
    for i in range(3):
        expected[4 * i:4 * i + 4, 4 * i:4 * i + 4] = (np.diag(p[i]) - np.outer(p[i], p[i])) / 3
    np.testing.assert_allclose(hessian, expected, atol=1e-15)


def test_jvp_of_cross_entropy_is_the_directional_derivative():
    x, y, v = RNG.standard_normal((4, 3)), np.array([0, 2, 1, 1]), RNG.standard_normal((4, 3))
    _, tangent = sg.jvp(lambda u: ops.cross_entropy(u, y), (sg.Tensor(x),), (sg.Tensor(v),))
    expected = (((softmax_ref(x) - np.eye(3)[y]) / 4) * v).sum()
    assert tangent.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_gradients(weighted, reduction):
    logp, y = RNG.standard_normal((4, 3, 2)), np.array([[0, 2], [1, -100], [2, 2], [0, 1]])
    weight = np.array([0.5, 2.0, 1.5]) if weighted else None
    sg.check_grad(lambda v: ops.nll_loss(v, y, weight, reduction=reduction), logp)


ELEMENTWISE = [
    ("bce", lambda a, b, w: ops.binary_cross_entropy(a, b, weight=w, reduction="sum"), "probs"),
    ("bce_logits", lambda a, b, w: ops.binary_cross_entropy_with_logits(a, b, weight=w, reduction="mean"), "any"),
    ("bce_logits_pos_weight", lambda a, b, w: ops.binary_cross_entropy_with_logits(
        a, b, weight=w, pos_weight=np.array([0.5, 1.0, 3.0]), reduction="none"), "any"),
    ("mse", lambda a, b, w: ops.mse_loss(a, b, reduction="none") * w, "any"),
    ("l1", lambda a, b, w: ops.l1_loss(a, b, reduction="sum"), "apart"),
    ("smooth_l1", lambda a, b, w: ops.smooth_l1_loss(a, b, reduction="mean", beta=0.7), "apart"),
    ("huber", lambda a, b, w: ops.huber_loss(a, b, reduction="none", delta=0.7), "apart"),
    ("kl_div", lambda a, b, w: ops.kl_div(a, b, reduction="batchmean"), "probs_target"),
    ("kl_div_log_target", lambda a, b, w: ops.kl_div(a, b, reduction="sum", log_target=True), "any"),
]


def elementwise_inputs(kind):
    shape = (4, 3)
    if kind == "probs":
        return RNG.uniform(0.05, 0.95, shape), RNG.uniform(0, 1, shape)
    if kind == "probs_target":
        return RNG.standard_normal(shape), RNG.uniform(0.05, 1, shape)
    if kind == "apart":  # |a − b| away from the kinks at 0 and at beta/delta
        b = RNG.standard_normal(shape)
        gap = RNG.choice([-1, 1], shape) * RNG.choice([0.3, 1.5], shape)
        return b + gap, b
    return 2 * RNG.standard_normal(shape), RNG.uniform(0, 1, shape)


@pytest.mark.parametrize("name,loss,kind", ELEMENTWISE, ids=[e[0] for e in ELEMENTWISE])
def test_elementwise_loss_gradients_in_every_argument_first_and_second_order(name, loss, kind):
    a, b = elementwise_inputs(kind)
    w = RNG.uniform(0.5, 2.0, (3,))
    sg.check_grad(lambda u, v, c: loss(u, v, c), a, b, w)
    sg.check_grad(lambda u, v: sg.grad(lambda p, q: loss(p, q, w).sum(), (0, 1))(u, v), a, b)


# ----- hypothesis: CE ≥ 0, gradients against finite differences on random inputs -----


@settings(max_examples=40, deadline=None)
@given(x=hnp.arrays(np.float64, (4, 5), elements=st.floats(-50, 50)),
       y=hnp.arrays(np.int64, (4,), elements=st.integers(0, 4)),
       smoothing=st.floats(0, 1))
def test_cross_entropy_is_non_negative_and_its_gradient_rows_sum_to_zero(x, y, smoothing):
    loss = ops.cross_entropy(x, y, reduction="none", label_smoothing=smoothing).numpy()
    assert (loss >= 0).all()
    g = sg.grad(lambda v: ops.cross_entropy(v, y, label_smoothing=smoothing))(x).numpy()
    np.testing.assert_allclose(g.sum(axis=1), 0.0, atol=1e-15)


@settings(max_examples=25, deadline=None)
@given(x=hnp.arrays(np.float64, (3, 4), elements=st.floats(-5, 5)),
       t=hnp.arrays(np.float64, (3, 4), elements=st.floats(0.01, 0.99)),
       name=st.sampled_from(["cross_entropy", "bce", "bce_logits", "mse", "kl_div"]))
def test_loss_gradients_match_finite_differences_on_random_inputs(x, t, name):
    y = (np.abs(x * 1000).astype(np.int64)) % 4
    losses = {
        "cross_entropy": lambda a, b: ops.cross_entropy(a, y[:, 0], label_smoothing=0.1) + ops.cross_entropy(a, b),
        "bce": lambda a, b: ops.binary_cross_entropy(ops.sigmoid(a), b),
        "bce_logits": lambda a, b: ops.binary_cross_entropy_with_logits(a, b, pos_weight=np.full(4, 2.0)),
        "mse": lambda a, b: ops.mse_loss(a, b),
        "kl_div": lambda a, b: ops.kl_div(a, b, reduction="batchmean"),
    }
    sg.check_grad(losses[name], x, t, rtol=1e-4, atol=1e-6)


# ----- dtypes: float32 stays float32 -----


@pytest.mark.parametrize("call", [
    lambda x, y, p: ops.cross_entropy(x, y),
    lambda x, y, p: ops.cross_entropy(x, p, weight=np.ones(4), label_smoothing=0.1),
    lambda x, y, p: ops.nll_loss(x, y, weight=np.ones(4)),
    lambda x, y, p: ops.binary_cross_entropy(p, p, weight=np.ones(4)),
    lambda x, y, p: ops.binary_cross_entropy_with_logits(x, p, pos_weight=np.ones(4)),
    lambda x, y, p: ops.mse_loss(x, p) + ops.l1_loss(x, p) + ops.smooth_l1_loss(x, p) + ops.huber_loss(x, p),
    lambda x, y, p: ops.kl_div(x, p, reduction="batchmean"),
], ids=["ce", "ce_probabilities", "nll", "bce", "bce_logits", "regression", "kl_div"])
def test_float32_inputs_give_float32_values_and_gradients(call):
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    p = RNG.uniform(0.1, 0.9, (3, 4)).astype(np.float32)
    y = np.array([0, 3, 1])
    value, g = sg.value_and_grad(lambda v: call(v, y, p))(sg.Tensor(x))
    assert value.dtype == np.float32 and g.dtype == np.float32


def test_float64_targets_and_weights_do_not_promote_float32_logits():
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    t = softmax_ref(RNG.standard_normal((3, 4)))  # float64
    assert ops.cross_entropy(x, t, weight=np.ones(4)).dtype == np.float32
    assert ops.mse_loss(x, t).dtype == np.float32
    assert ops.cross_entropy([[1.0, 2.0]], [1]).dtype == np.float32  # Python data: float32, as Tensor(data)


# ----- the loss cells -----


def test_loss_cells_equal_their_functions():
    x, y = RNG.standard_normal((3, 4)), np.array([0, 3, 1])
    p, t = RNG.uniform(0.1, 0.9, (3, 4)), RNG.uniform(0, 1, (3, 4))
    weight = np.array([0.5, 2.0, 1.0, 1.5])
    pairs = [
        (sg.nn.CrossEntropyLoss(weight, ignore_index=3, reduction="sum", label_smoothing=0.1)(x, y),
         ops.cross_entropy(x, y, weight, 3, "sum", 0.1)),
        (sg.nn.NLLLoss(weight, reduction="none")(x, y), ops.nll_loss(x, y, weight, reduction="none")),
        (sg.nn.BCELoss(weight)(p, t), ops.binary_cross_entropy(p, t, weight)),
        (sg.nn.BCEWithLogitsLoss(pos_weight=weight)(x, t), ops.binary_cross_entropy_with_logits(x, t, None, weight)),
        (sg.nn.MSELoss("sum")(x, t), ops.mse_loss(x, t, "sum")),
        (sg.nn.L1Loss()(x, t), ops.l1_loss(x, t)),
        (sg.nn.SmoothL1Loss(beta=0.5)(x, t), ops.smooth_l1_loss(x, t, beta=0.5)),
        (sg.nn.HuberLoss(delta=0.5)(x, t), ops.huber_loss(x, t, delta=0.5)),
        (sg.nn.KLDivLoss("batchmean")(x, t), ops.kl_div(x, t, "batchmean")),
    ]
    for cell_value, function_value in pairs:
        np.testing.assert_array_equal(cell_value.numpy(), function_value.numpy())
    expected = "CrossEntropyLoss(reduction='mean', ignore_index=-100, label_smoothing=0.0)"
    assert repr(sg.nn.CrossEntropyLoss()) == expected


def test_loss_cells_check_their_options_when_built():
    with pytest.raises(ValueError, match="reduction must be one of"):
        sg.nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing must lie in"):
        sg.nn.CrossEntropyLoss(label_smoothing=-0.1)
    with pytest.raises(ValueError, match="delta must be > 0"):
        sg.nn.HuberLoss(delta=-1.0)
    sg.nn.KLDivLoss(reduction="batchmean")


def test_a_loss_cell_trains_through_grad_with_weights():
    layer = sg.Parameter(sg.Tensor(RNG.standard_normal((4, 3))), name="w")
    x, y = RNG.standard_normal((5, 4)), np.array([0, 2, 1, 1, 0])
    loss_fn = sg.nn.CrossEntropyLoss()
    g = sg.grad(lambda inputs: loss_fn(inputs @ layer, y), grad_position=None, weights=layer)(x)
    expected = x.T @ ((softmax_ref(x @ layer.numpy()) - np.eye(3)[y]) / 5)
    np.testing.assert_allclose(g.numpy(), expected, atol=1e-14)


def test_cross_entropy_backward_can_run_again_and_under_an_outer_transform():
    """The first plain backward may write the gradient into the kept e^{x−m}; every later sweep over the same
    tape (vjp_fn twice, a Jacobian, a traced cotangent) must still see the true e^{x−m}."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 4))
    y = rng.integers(0, 4, 6)
    p = np.exp(x - x.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    expected = (p - np.eye(4)[y]) / 6
    _, vjp_fn = sg.vjp(lambda z: ops.cross_entropy(z, y), x)
    first = vjp_fn(np.array(1.0))[0].numpy().copy()
    second = vjp_fn(np.array(2.0))[0].numpy()
    np.testing.assert_allclose(first, expected, rtol=1e-12)
    np.testing.assert_allclose(second, 2 * expected, rtol=1e-12)
    traced = sg.grad(lambda s: (vjp_fn(s)[0] * x).sum())(np.array(3.0)).numpy()  # linear in s: Σ expected·x
    np.testing.assert_allclose(traced, (expected * x).sum(), rtol=1e-12)
    np.testing.assert_allclose(vjp_fn(np.array(1.0))[0].numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("shape", [(3, 5), (600, 4), (2100, 300)], ids=["small", "many-short-rows", "blocks"])
def test_cross_entropy_writes_the_softmax_scaled_for_a_unit_cotangent_in_its_forward_pass(monkeypatch, shape):
    """Class indices, 'mean': the forward pass writes e as softmax/N while each block is in cache, and the
    gradient of the loss itself only subtracts the targets (e^{x−m} is not made again); the bits are those of
    the unscaled path. Another cotangent (0.5·loss), a second vjp, and forward mode make e again, exactly."""
    import sys

    module = sys.modules["softgrad.ops.cross_entropy"]
    made, exp_shifted = [], module.exp_shifted
    monkeypatch.setattr(module, "exp_shifted", lambda *a: made.append(1) or exp_shifted(*a))
    rng = np.random.default_rng(7)
    z = rng.standard_normal(shape).astype(np.float32) * 3
    y = rng.integers(0, shape[1], shape[0])

    def gradients():
        grad = sg.grad(lambda z: ops.cross_entropy(z, y))(z).numpy()
        half = sg.grad(lambda z: 0.5 * ops.cross_entropy(z, y))(z).numpy()
        _, vjp_fn = sg.vjp(lambda z: ops.cross_entropy(z, y), z)
        again = [vjp_fn(np.float32(1.0))[0].numpy() for _ in range(2)]
        tangent = sg.jvp(lambda z: ops.cross_entropy(z, y), (z,), (np.ones_like(z),))[1].numpy()
        return [grad, half, *again, tangent]
    got = gradients()
    assert len(made) == 3  # (0.5·loss, the second vjp, forward mode)
    with monkeypatch.context() as m:
        m.setattr(module._Targets, "row_mass", lambda self, t: 1.0)  # (no unit scale: e^{x−m} kept as it is)
        want = gradients()
    for a, e in zip(got, want):
        np.testing.assert_array_equal(a, e)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(shape[0]), y] -= 1
    np.testing.assert_allclose(got[0], p / shape[0], rtol=1e-5, atol=1e-8)
