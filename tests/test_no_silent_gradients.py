"""Gradients that were silently wrong or crashed (issue #12), each reproduced, and their siblings: PyTorch's
conventions at boundary points, Tensor-valued arguments that have no rule, values that cut the trace, Parameters
returned as they are or frozen, custom-gradient Cells, and NaN/inf hunting."""

import numpy as np
import pytest

import softgrad as sg
from softgrad import nn, ops

# ----- pow at 0 -----


def test_pow_derivative_at_zero_base_and_zero_exponent_is_zero():
    g = sg.grad(lambda x: (x ** 0.0).sum())(np.array([0.0, 2.0]))
    np.testing.assert_array_equal(g.numpy(), [0.0, 0.0])  # PyTorch: 0 (0·0⁻¹ was NaN)


def test_polynomial_features_with_a_zero_have_finite_exact_gradients():
    x = np.array([0.0, 1.5, -2.0])
    powers = np.arange(4.0)
    g = sg.grad(lambda x: (x[:, None] ** powers).sum())(x).numpy()
    np.testing.assert_allclose(g, 0 + 1 + 2 * x + 3 * x ** 2)  # d/dx Σ_k x^k
    h = sg.hessian(lambda x: (x[:, None] ** powers).sum())(x).numpy()
    np.testing.assert_allclose(h, np.diag(2 + 6 * x))


def test_pow_exponent_derivative_at_zero_base_follows_pytorch():
    dy = sg.grad(lambda y: (np.array([0.0, 0.0, 2.0]) ** y).sum())(np.array([2.0, 0.0, 1.0])).numpy()
    np.testing.assert_array_equal(dy, [0.0, 0.0, 2 * np.log(2.0)])  # masked where x = 0 and y ≥ 0
    with np.errstate(divide="ignore"):  # (the forward, 0⁻¹ = inf, warns as NumPy does)
        dy_negative = sg.grad(lambda y: (np.array([0.0]) ** y).sum())(np.array([-1.0])).numpy()
    assert dy_negative[0] == -np.inf  # xʸ·ln x = inf·(−inf), as PyTorch


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("y", [2, 2.0, 3, 2.5, -1, 1])
def test_pow_by_a_python_number_gives_the_bits_of_an_exponent_array(dtype, y):
    """x ** y for y a Python number takes the short ways (x·x for 2, no elementwise test for y = 0 in the rule):
    value, gradient and second derivative bit for bit those of y as a 0-d array of x's dtype (the general
    path), NaN, ±inf and −0 included."""
    x = np.random.default_rng(2).standard_normal(40).astype(dtype)
    x[:4] = [np.nan, np.inf, -0.0, 0.0]
    as_array = np.asarray(y, dtype)
    with np.errstate(all="ignore"):
        for by_number, by_array in [(ops.pow(x, y), ops.pow(x, as_array)),
                                    (sg.grad(lambda x: (x ** y).sum())(x), sg.grad(lambda x: (x ** as_array).sum())(x)),
                                    (sg.grad(sg.grad(lambda x: (x ** y).sum()))(x),
                                     sg.grad(sg.grad(lambda x: (x ** as_array).sum()))(x))]:
            a, b = by_number.numpy(), by_array.numpy()
            assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
            assert np.array_equal(np.signbit(a), np.signbit(b))


# ----- clip: Tensor bounds are differentiated; twice too -----


def test_clip_differentiates_tensor_bounds_as_pytorch():
    x = np.array([-2.0, 0.0, 0.5, 3.0])
    lower, upper = np.array([-1.0, -1.0, 1.0, -1.0]), np.array([1.0, 1.0, 2.0, 2.0])
    gx, gl, gu = sg.grad(lambda x, l, u: ops.clip(x, l, u).sum(), (0, 1, 2))(x, lower, upper)
    np.testing.assert_array_equal(gx.numpy(), [0, 1, 0, 0])
    np.testing.assert_array_equal(gl.numpy(), [1, 0, 1, 0])
    np.testing.assert_array_equal(gu.numpy(), [0, 0, 0, 1])
    crossed = sg.grad(lambda l, u: ops.clip(np.zeros(2), l, u).sum(), (0, 1))(np.array([1.0, 1.0]),
                                                                               np.array([0.5, 2.0]))
    np.testing.assert_array_equal(crossed[0].numpy(), [0, 1])  # lower > upper: the result is upper
    np.testing.assert_array_equal(crossed[1].numpy(), [1, 0])
    scalar_bound = sg.grad(lambda l: ops.clip(np.array([-3.0, 0.0, -2.0]), l, None).sum())(np.array(-1.0))
    assert scalar_bound.numpy() == 2.0  # summed over the broadcast


def test_clip_can_be_differentiated_twice():
    f = lambda x: (ops.clip(x, -1.0, 1.0) ** 3).sum()  # noqa: E731
    x = np.array([-2.0, 0.5, 0.8])
    np.testing.assert_allclose(sg.hessian(f)(x).numpy(), np.diag([0.0, 3.0, 4.8]))
    np.testing.assert_allclose(sg.grad(lambda x: sg.grad(f)(x).sum())(x).numpy(), [0.0, 3.0, 4.8])


# ----- the softmax family over several axes -----


@pytest.mark.parametrize("axis", [(0, 1), (1, 2), (0, 2), (-1, 0)])
def test_softmax_over_several_axes(axis):
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    p = ops.softmax(x, axis=axis).numpy()
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    np.testing.assert_allclose(p, e / e.sum(axis=axis, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(p.sum(axis=axis), 1.0)
    np.testing.assert_allclose(ops.log_softmax(x, axis=axis).numpy(), np.log(p), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ops.normalize(x, 1, axis=axis).numpy(),
                               x / np.abs(x).sum(axis=axis, keepdims=True), rtol=1e-12)
    for op in (ops.softmax, ops.log_softmax, lambda x, axis: ops.normalize(x, 2, axis=axis)):
        sg.check_grad(lambda x: op(x, axis=axis), x)


def test_softmax_refuses_no_axis_and_repeated_axes():
    with pytest.raises(ValueError, match="axis must be an int or a tuple of ints, got None"):
        ops.softmax(np.ones((2, 2)), axis=None)
    with pytest.raises(ValueError, match="repeats an axis"):
        ops.softmax(np.ones((2, 2)), axis=(1, -1))


# ----- .numpy() and np.asarray of a Tensor being differentiated -----


def test_numpy_of_a_traced_tensor_is_refused_with_the_fix():
    with pytest.raises(TypeError, match=r"silently cut the gradient path; use softgrad.stop_gradient\(x\).numpy\(\)"):
        sg.grad(lambda x: (x.numpy() * x).sum())(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"np.asarray\(x\) on a Tensor that is being differentiated"):
        sg.grad(lambda x: (np.asarray(x) * x).sum())(np.array([1.0, 2.0]))


def test_the_allowed_ways_to_read_a_traced_value():
    seen = {}

    def f(x):
        seen["item"] = x[0].item()
        seen["float"] = float(x[1])
        seen["list"] = x.tolist()
        seen["constant"] = sg.stop_gradient(x).numpy()
        seen["repr"] = repr(x)
        return (x * sg.stop_gradient(x)).sum()

    g = sg.grad(f)(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(g.numpy(), [1.0, 2.0])  # the constant factor is not differentiated
    assert seen["item"] == 1.0 and seen["float"] == 2.0 and seen["list"] == [1.0, 2.0]
    assert "Float64" in seen["repr"]


# ----- Parameters: returned as they are, or frozen -----


def test_a_parameter_returned_directly_gets_its_cotangent():
    w = sg.Parameter(np.array([1.0, 2.0]), name="w")
    np.testing.assert_array_equal(sg.grad(lambda x: w, None, w)(np.zeros(1)).numpy(), [1.0, 1.0])  # MindSpore: 1
    value, (gw,) = sg.value_and_grad(lambda: (w, w * 3), None, [w])()
    np.testing.assert_array_equal(gw.numpy(), [4.0, 4.0])
    assert not value[0].is_traced and value[0].numpy().tolist() == [1.0, 2.0]


def test_a_frozen_parameter_in_weights_gets_zeros():
    w = sg.Parameter(np.array([1.0, 2.0]), name="w", requires_grad=False)
    b = sg.Parameter(np.array([0.5]), name="b")
    gw, gb = sg.grad(lambda x: (w * x + b).sum(), None, [w, b])(np.array([3.0, 4.0]))
    np.testing.assert_array_equal(gw.numpy(), [0.0, 0.0])  # MindSpore: zeros
    np.testing.assert_array_equal(gb.numpy(), [2.0])


# ----- a Cell with MindSpore's custom gradient bprop: differentiated through it (tests/test_mindspore.py) -----


class WithCustomGradient(nn.Cell):
    def construct(self, x):
        return x * 2

    def bprop(self, x, out, dout):
        return (dout * 100,)


def test_a_cell_with_bprop_is_differentiated_through_bprop_not_construct():
    cell = WithCustomGradient()
    np.testing.assert_array_equal(np.asarray(cell(np.array([1.0]))), [2.0])
    np.testing.assert_array_equal(sg.grad(lambda x: cell(x).sum())(np.array([1.0])).numpy(), [100.0])


# ----- constants of an op passed as traced Tensors: refused rather than cut -----


@pytest.mark.parametrize("call", [lambda s: ops.leaky_relu(np.array([-1.0, 2.0]), negative_slope=s),
                                  lambda s: ops.elu(np.array([-1.0, 2.0]), alpha=s)], ids=["leaky_relu", "elu"])
def test_a_traced_hyperparameter_without_a_rule_is_refused(call):
    with pytest.raises(TypeError, match="is not differentiated"):
        sg.grad(lambda s: call(s).sum())(np.array(0.1))


def test_grad_of_a_function_returning_none_says_so():
    with pytest.raises(TypeError, match="returned NoneType None; the function to differentiate must return a Tensor"):
        sg.grad(lambda x: None)(np.array([1.0]))


# ----- debug_nans / debug_infs -----


@pytest.fixture
def quiet_numpy():
    """NumPy's own warnings (log of a negative number, 0/0) silenced: these tests are about softgrad's checks."""
    with np.errstate(all="ignore"):
        yield


def test_debug_nans_names_the_first_op_that_makes_a_nan(quiet_numpy):
    x = np.array([1.0, -1.0])
    assert np.isnan(ops.log(x).numpy()[1])  # off: NaN propagates as in NumPy
    with sg.debug_nans():
        with pytest.raises(FloatingPointError, match=r"NaN in the result of the forward of 'log' \(shape \(2,\)\); "
                                                      r"its inputs: #0 shape \(2,\) float64 in \[-1.0, 1.0\]"):
            sg.grad(lambda x: ops.exp(ops.log(x)).sum())(x)
    assert not sg.config.debug_nans


def test_debug_nans_catches_a_nan_born_in_a_derivative_rule(quiet_numpy):
    x = np.array([0.0, 1.0])
    with sg.debug_nans():
        y = ops.sqrt(x * 0.0)  # the forward is finite
        assert not np.isnan(y.numpy()).any()
        with pytest.raises(FloatingPointError, match="derivative rule of 'sqrt'|forward of 'div'"):
            sg.grad(lambda x: (ops.sqrt(x * 0.0) * 0.0).sum())(x)  # 0/(2·0) = NaN in the backward


def test_debug_nans_checks_the_operators_inside_a_transform_too(quiet_numpy):
    """The operators (x * y) record on the tape through their own fast path (trace.operator_method): with the
    checks on, switched on before the transform or inside it, they go through the checked bind."""
    x = np.array([1.0, 2.0])
    nan_at_mul = r"NaN in the result of the forward of 'mul'"
    with sg.debug_nans(), pytest.raises(FloatingPointError, match=nan_at_mul):
        sg.grad(lambda x: (x * np.inf * 0.0).sum())(x)

    def switched_on_inside(x):
        y = x * 2.0  # unchecked: not a NaN anyway
        with sg.debug_nans():
            return (y * np.inf * 0.0).sum()

    with pytest.raises(FloatingPointError, match=nan_at_mul):
        sg.grad(switched_on_inside)(x)
    assert np.isnan(sg.grad(lambda x: (x * np.inf * 0.0).sum())(x).numpy()).all()  # off again: NaN propagates


def test_debug_infs_is_separate_from_debug_nans(quiet_numpy):
    x = np.array([0.0])
    with sg.debug_nans():
        assert ops.log(x).numpy()[0] == -np.inf  # legitimately infinite: not a NaN
    with sg.debug_infs():
        with pytest.raises(FloatingPointError, match="±inf in the result of the forward of 'log'"):
            ops.log(x)


def test_the_switches_take_booleans_only():
    with pytest.raises(TypeError, match=r"debug_nans must be True or False, got 1"):
        sg.config.debug_nans = 1
    sg.config.debug_infs = True
    sg.config.debug_infs = False
    assert repr(sg.config) == f"softgrad.config(debug_nans=False, debug_infs=False, threads={sg.config.threads})"


def test_the_thread_count_takes_positive_ints_or_none():
    default = sg.config.threads
    for bad, error in ((0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError), ("2", TypeError)):
        with pytest.raises(error, match=r"softgrad.config.threads must be an int >= 1 or None .*got"):
            sg.config.threads = bad
    assert sg.config.threads == default
    try:
        sg.config.threads = 1
        assert sg.config.threads == 1
    finally:
        sg.config.threads = None
    assert sg.config.threads == default


# ----- boundary points: the derivative PyTorch 2.13 takes where the function has a kink, tie or pole -----

BOUNDARY = [  # (name, f, x, expected gradient of f(x).sum())
    ("relu at 0", ops.relu, [0.0], [0.0]),
    ("abs at 0", ops.abs, [0.0], [0.0]),
    ("sign", ops.sign, [0.0, 2.0], [0.0, 0.0]),
    ("leaky_relu at 0", lambda x: ops.leaky_relu(x, 0.2), [0.0], [0.2]),
    ("elu at 0", lambda x: ops.elu(x, 1.5), [0.0], [1.5]),
    ("clip at its bounds", lambda x: ops.clip(x, -1.0, 1.0), [-1.0, 1.0], [1.0, 1.0]),
    ("maximum tie", lambda x: ops.maximum(x, np.array([1.0])), [1.0], [0.5]),
    ("minimum tie", lambda x: ops.minimum(x, np.array([1.0])), [1.0], [0.5]),
    ("max ties split", ops.max, [2.0, 2.0, 1.0], [0.5, 0.5, 0.0]),  # documented: split evenly, as JAX
    ("sqrt at 0", ops.sqrt, [0.0], [np.inf]),
    ("log at 0", ops.log, [0.0], [np.inf]),
    ("x^0.5 at 0", lambda x: x ** 0.5, [0.0], [np.inf]),
    ("x^2 at 0", lambda x: x ** 2.0, [0.0], [0.0]),
    ("softplus at 0", ops.softplus, [0.0], [0.5]),
    ("relu at inf", ops.relu, [np.inf], [1.0]),
    ("sigmoid at ±inf", ops.sigmoid, [np.inf, -np.inf], [0.0, 0.0]),
    ("tanh at ±inf", ops.tanh, [np.inf, -np.inf], [0.0, 0.0]),
    ("exp at -inf", ops.exp, [-np.inf], [0.0]),
    ("empty", ops.tanh, np.zeros((0, 3)), np.zeros((0, 3))),
]


@pytest.mark.parametrize("name,f,x,expected", BOUNDARY, ids=[b[0] for b in BOUNDARY])
def test_derivatives_at_boundary_points(name, f, x, expected):
    with np.errstate(divide="ignore", invalid="ignore"):
        g = sg.grad(lambda x: f(x).sum())(np.asarray(x, dtype=np.float64)).numpy()
    np.testing.assert_array_equal(g, expected)
