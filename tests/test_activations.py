"""Activations and normalisations: closed-form references, gradients (first and second order) against finite
differences, extreme inputs in float32 and float16, and the softmax properties under hypothesis."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.preprocessing import normalize as sk_normalize

import softgrad as sg
from softgrad import ops
from softgrad.ops import activations

RNG = np.random.default_rng(7)
ERF = np.vectorize(math.erf)


def softmax_ref(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def away_from_zero(shape):
    return RNG.choice([-1, 1], shape) * RNG.uniform(0.2, 3.0, shape)


# name, op, float64 reference, whether the input must avoid the kink at 0
POINTWISE = [
    ("logsigmoid", ops.logsigmoid, lambda x: -np.log1p(np.exp(-x)), False),
    ("leaky_relu", lambda x: ops.leaky_relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x), True),
    ("elu", lambda x: ops.elu(x, 1.5), lambda x: np.where(x > 0, x, 1.5 * np.expm1(x)), True),
    ("gelu", ops.gelu, lambda x: 0.5 * x * (1 + ERF(x / math.sqrt(2))), False),
    ("gelu_tanh", lambda x: ops.gelu(x, approximate="tanh"),
     lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))), False),
]

SOFTMAX_FAMILY = [
    ("softmax", ops.softmax, softmax_ref),
    ("log_softmax", ops.log_softmax, lambda x, axis=-1: np.log(softmax_ref(x, axis))),
]


@pytest.mark.parametrize("name,op,ref,kinked", POINTWISE, ids=[p[0] for p in POINTWISE])
def test_pointwise_value_and_gradients(name, op, ref, kinked):
    x = away_from_zero((3, 4)) if kinked else 2 * RNG.standard_normal((3, 4))
    np.testing.assert_allclose(op(x).numpy(), ref(x), rtol=1e-12, atol=1e-14)
    sg.check_grad(op, x)
    sg.check_grad(sg.grad(lambda v: (op(v) * np.arange(12.0).reshape(3, 4)).sum()), x)  # second order


@pytest.mark.parametrize("name,op,ref", SOFTMAX_FAMILY, ids=[s[0] for s in SOFTMAX_FAMILY])
@pytest.mark.parametrize("shape,axis", [((5,), -1), ((3, 4), -1), ((3, 4), 0), ((2, 3, 4), 1)])
def test_softmax_family_value_and_gradients_to_second_order(name, op, ref, shape, axis):
    x = 2 * RNG.standard_normal(shape)
    np.testing.assert_allclose(op(x, axis=axis).numpy(), ref(x, axis), rtol=1e-12, atol=1e-14)
    sg.check_grad(lambda v: op(v, axis=axis), x)
    weights = RNG.standard_normal(shape)
    sg.check_grad(sg.grad(lambda v: (op(v, axis=axis) * weights).sum()), x)


def test_softmax_hessian_is_the_closed_form():
    """∂²/∂x² of Σ w·softmax(x) from the rule, against the analytic third-order tensor contracted with w."""
    x, w = RNG.standard_normal(4), RNG.standard_normal(4)
    hessian = sg.hessian(lambda v: (ops.softmax(v) * w).sum())(x).numpy()
    p = softmax_ref(x)
    jac = np.diag(p) - np.outer(p, p)  # ∂p_i/∂x_j
    wp = w @ p
    expected = np.zeros((4, 4))
    for j in range(4):
        for k in range(4):  # ∂/∂x_k of Σ_i w_i p_i (δ_ij − p_j) = Σ_i w_i ∂p_i/∂x_k (δ_ij − p_j) − wp ∂p_j/∂x_k
            expected[j, k] = w[j] * jac[j, k] - p[j] * (w @ jac[:, k]) - wp * jac[j, k]
    np.testing.assert_allclose(hessian, expected, atol=1e-14)


def test_derivative_rules_are_the_closed_forms():
    x = RNG.standard_normal((2, 5))
    g = RNG.standard_normal((2, 5))
    p = softmax_ref(x)
    _, vjp = sg.vjp(ops.softmax, x)
    np.testing.assert_allclose(vjp(g)[0].numpy(), p * (g - (g * p).sum(-1, keepdims=True)), atol=1e-15)
    _, vjp = sg.vjp(ops.log_softmax, x)
    np.testing.assert_allclose(vjp(g)[0].numpy(), g - p * g.sum(-1, keepdims=True), atol=1e-15)
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(sg.grad(lambda v: ops.sigmoid(v).sum())(x).numpy(), s * (1 - s), atol=1e-15)
    np.testing.assert_allclose(sg.grad(lambda v: ops.logsigmoid(v).sum())(x).numpy(), 1 - s, atol=1e-15)


def test_log_softmax_is_x_minus_logsumexp():
    x = 3 * RNG.standard_normal((4, 6))
    np.testing.assert_allclose(ops.log_softmax(x).numpy(), x - ops.logsumexp(x, axis=-1, keepdims=True).numpy(),
                               rtol=0, atol=1e-14)


# ----- extreme inputs -----

EXTREME32 = np.array([[1e4, -1e4, 0.0, 1.0], [-1e4, -1e4, -1e4, -1e4], [3.0, 3.0, 3.0, 3.0]], np.float32)
EXTREME16 = np.array([[6e4, 0.0, 1.0, 5e4], [-6e4, -6e4, -6e4, -6e4], [3.0, 3.0, 3.0, 3.0]], np.float16)


@pytest.mark.parametrize("op", [ops.softmax, ops.log_softmax, ops.sigmoid, ops.logsigmoid, ops.softplus, ops.elu,
                                ops.gelu, lambda x: ops.gelu(x, approximate="tanh"), ops.leaky_relu, ops.tanh,
                                ops.normalize],
                         ids=["softmax", "log_softmax", "sigmoid", "logsigmoid", "softplus", "elu", "gelu",
                              "gelu_tanh", "leaky_relu", "tanh", "normalize"])
@pytest.mark.parametrize("x", [EXTREME32, EXTREME16], ids=["float32_1e4", "float16_6e4"])
def test_extreme_inputs_give_finite_values_and_gradients_in_the_input_dtype(op, x):
    out = op(x)
    assert out.dtype == x.dtype
    assert np.isfinite(out.numpy()).all()
    weights = (np.linspace(0.5, 1.5, 12).reshape(3, 4) / np.abs(x).max()).astype(x.dtype)  # no overflow in Σ
    g = sg.grad(lambda v: (op(v) * weights).sum())(sg.Tensor(x))
    assert g.dtype == x.dtype and np.isfinite(g.numpy()).all()


def test_extreme_values_are_right():
    p = ops.softmax(EXTREME32).numpy()
    np.testing.assert_array_equal(p[0], [1, 0, 0, 0])
    np.testing.assert_allclose(p[1:], 0.25, rtol=1e-7)
    logp = ops.log_softmax(EXTREME32).numpy()
    np.testing.assert_allclose(logp[1], -math.log(4), rtol=1e-7)  # exact where |max| ≫ log-sum
    assert logp[0, 1] == -2e4
    np.testing.assert_allclose(ops.logsigmoid(np.float32([-1e4, 1e4])).numpy(), [-1e4, 0.0])
    half = ops.log_softmax(np.float16([6e4, 0.0, 6e4])).numpy()
    assert half.dtype == np.float16
    np.testing.assert_array_equal(half, np.float16([-math.log(2), -6e4, -math.log(2)]))
    beyond = ops.log_softmax(np.float16([6e4, -6e4])).numpy()  # −1.2e5 is beyond float16: it rounds to −inf
    np.testing.assert_array_equal(beyond, [0, -np.inf])


def test_float16_is_computed_in_float32():
    x = np.linspace(-8, 8, 200).astype(np.float16).reshape(2, 100)
    expected = softmax_ref(x.astype(np.float64)).astype(np.float16)
    np.testing.assert_array_equal(ops.softmax(x).numpy(), expected)


# ----- hypothesis: softmax properties -----

finite_rows = hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=8),
                         elements=st.floats(-1e4, 1e4))


@settings(max_examples=60, deadline=None)
@given(x=finite_rows, shift=st.floats(-1e3, 1e3))
def test_softmax_sums_to_one_and_ignores_a_constant_per_row(x, shift):
    p = ops.softmax(x).numpy()
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-12)
    assert (p >= 0).all()
    shifts = shift * np.arange(1, x.shape[0] + 1)[:, None]
    np.testing.assert_allclose(ops.softmax(x + shifts).numpy(), p, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(x=hnp.arrays(np.float32, (3, 5), elements=st.floats(-1e4, 1e4, width=32)))
def test_float32_softmax_family_is_finite_anywhere_in_1e4(x):
    assert np.isfinite(ops.log_softmax(x).numpy()).all()
    np.testing.assert_allclose(ops.softmax(x).numpy().sum(-1), 1.0, rtol=1e-5)


# ----- normalize -----


@pytest.mark.parametrize("ord,norm", [(1, "l1"), (2, "l2"), (math.inf, "max")])
def test_normalize_matches_sklearn_including_zero_rows(ord, norm):
    x = RNG.standard_normal((4, 5))
    x[2] = 0.0
    np.testing.assert_allclose(ops.normalize(x, ord=ord).numpy(), sk_normalize(x, norm=norm), rtol=1e-14)
    np.testing.assert_allclose(ops.normalize(x.T, ord=ord, axis=0).numpy(), sk_normalize(x, norm=norm).T,
                               rtol=1e-14)
    away = away_from_zero((3, 4))
    sg.check_grad(lambda v: ops.normalize(v, ord=ord), away)
    sg.check_grad(sg.grad(lambda v: (ops.normalize(v, ord=ord) * np.arange(12.0).reshape(3, 4)).sum()), away)


def test_normalize_has_no_overflow_or_underflow():
    x = np.array([[3e30, 4e30], [3e-30, -4e-30]], np.float32)
    np.testing.assert_allclose(ops.normalize(x).numpy(), [[0.6, 0.8], [0.6, -0.8]], rtol=1e-6)


# ----- PyTorch's conventions at the kinks, the erfc fallback, errors, cells -----


def test_gradients_at_zero_follow_pytorch():
    zero = np.zeros(1)
    assert sg.grad(lambda v: ops.leaky_relu(v, 0.2).sum())(zero).item() == 0.2
    assert sg.grad(lambda v: ops.elu(v, 1.5).sum())(zero).item() == 1.5
    assert sg.grad(lambda v: ops.relu(v).sum())(zero).item() == 0.0


def test_the_math_erfc_fallback_agrees_with_scipy():
    from scipy.special import erfc

    x = np.linspace(-26, 26, 401)  # erfc(26) ≈ 6e-296: still a normal float64
    np.testing.assert_allclose(activations._erfc_elementwise(x), erfc(x), rtol=1e-12, atol=0)


@pytest.mark.parametrize("call,error,match", [
    (lambda: ops.softmax(np.ones((2, 3)), axis=2), ValueError, "axis 2 is out of range"),
    (lambda: ops.softmax(np.float64(1.0)), ValueError, "at least one axis"),
    (lambda: ops.gelu(np.ones(2), approximate="fast"), ValueError, "approximate must be 'none' or 'tanh'"),
    (lambda: ops.normalize(np.ones(2), ord=3), ValueError, "ord must be 1, 2 or inf"),
])
def test_bad_arguments_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_activation_cells():
    x = RNG.standard_normal((2, 3))
    np.testing.assert_array_equal(sg.nn.Softmax(axis=0)(x).numpy(), ops.softmax(x, axis=0).numpy())
    np.testing.assert_array_equal(sg.nn.LogSoftmax()(x).numpy(), ops.log_softmax(x).numpy())
    np.testing.assert_array_equal(sg.nn.Sigmoid()(x).numpy(), ops.sigmoid(x).numpy())
    assert repr(sg.nn.Softmax(axis=1)) == "Softmax(axis=1)"
