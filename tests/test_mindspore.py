"""MindSpore's autodiff surface, checked with the examples of MindSpore's own documentation and their printed
outputs (GradOperation, grad/value_and_grad/get_grad, vjp, jvp, linearize, jacrev, jacfwd, custom bprop,
custom_vjp), and gradient-checked where the values are not printed there. docs/MINDSPORE.md is the table."""

import numpy as np
import pytest

import softgrad as sg
from softgrad import nn, ops

F32 = np.float32


def T(values):
    return sg.Tensor(np.array(values, dtype=F32))


def close(actual, expected, rtol=1e-5):
    np.testing.assert_allclose(np.asarray(actual.numpy() if isinstance(actual, sg.Tensor) else actual),
                               np.array(expected, dtype=F32), rtol=rtol, atol=1e-6)


class MatMulNet(nn.Cell):
    """GradOperation's example: out = (x · z) @ y with a Parameter z = [1]."""

    def __init__(self):
        super().__init__()
        self.z = sg.Parameter(T([1.0]), name="z")

    def construct(self, x, y):
        return ops.matmul(x * self.z, y)


# ----- GradOperation -----


def test_grad_operation_of_the_first_input():
    x = T([[0.5, 0.6, 0.4], [1.2, 1.3, 1.1]])
    y = T([[0.01, 0.3, 1.1], [0.1, 0.2, 1.3], [2.1, 1.2, 3.3]])
    close(ops.GradOperation()(MatMulNet())(x, y), [[1.4100001, 1.5999999, 6.6], [1.4100001, 1.5999999, 6.6]])


def test_grad_operation_get_all():
    x = T([[0.8, 0.6, 0.2], [1.8, 1.3, 1.1]])
    y = T([[0.1, 3.3, 1.1], [1.1, 0.2, 1.4], [1.1, 2.2, 0.3]])
    dx, dy = ops.GradOperation(get_all=True)(MatMulNet())(x, y)
    close(dx, [[4.5, 2.7, 3.6], [4.5, 2.7, 3.6]])
    close(dy, [[2.6, 2.6, 2.6], [1.9, 1.9, 1.9], [1.3, 1.3, 1.3]])
    single = ops.GradOperation(get_all=True)(lambda x: x * 2)(T([1.0]))
    assert isinstance(single, tuple) and len(single) == 1


def test_grad_operation_with_a_sensitivity():
    x = T([[0.8, 0.6, 0.2], [1.8, 1.3, 1.1]])
    y = T([[0.11, 3.3, 1.1], [1.1, 0.2, 1.4], [1.1, 2.2, 0.3]])
    sens = T([[0.1, 0.6, 0.2], [0.8, 1.3, 1.1]])
    grad_fn = ops.GradOperation(get_all=True, sens_param=True)(MatMulNet())
    for dx, dy in (grad_fn(x, y, sens), grad_fn(x, y, sens=sens)):
        close(dx, [[2.211, 0.51, 1.49], [5.588, 2.68, 4.07]])
        close(dy, [[1.52, 2.82, 2.14], [1.1, 2.05, 1.55], [0.9, 1.55, 1.25]])
    da = ops.GradOperation(sens_param=True)(lambda a: (a * 2, a * 3))(T([1.0]), (T([1.0]), T([10.0])))
    close(da, [32.0])  # a tuple output takes a tuple of sensitivities


def test_grad_operation_by_list_and_both():
    net = MatMulNet()
    x = T([[0.8, 0.6, 0.2], [1.8, 1.3, 1.1]])
    y = T([[0.11, 3.3, 1.1], [1.1, 0.2, 1.4], [1.1, 2.2, 0.3]])
    (dz,) = ops.GradOperation(get_by_list=True)(net, net.trainable_params())(x, y)
    close(dz, [21.536])
    x = T([[0.1, 0.6, 1.2], [0.5, 1.3, 0.1]])
    y = T([[0.12, 2.3, 1.1], [1.3, 0.2, 2.4], [0.1, 2.2, 0.3]])
    (dx, dy), (dz,) = ops.GradOperation(get_all=True, get_by_list=True)(net, net.trainable_params())(x, y)
    close(dx, [[3.52, 3.9, 2.6], [3.52, 3.9, 2.6]])
    close(dy, [[0.6, 0.6, 0.6], [1.9, 1.9, 1.9], [1.3, 1.3, 1.3]])
    close(dz, [12.902])


def test_grad_operation_checks_its_flags_as_mindspore():
    with pytest.raises(TypeError, match="For 'GradOperation', the 'get_all' should be bool, but got int"):
        ops.GradOperation(get_all=1)
    with pytest.raises(ValueError, match="get_by_list=True"):
        ops.GradOperation(get_by_list=True)(MatMulNet())
    with pytest.raises(ValueError, match="sensitivity value"):
        ops.GradOperation(sens_param=True)(lambda a: (a, a))(T([1.0]), T([1.0]))


# ----- grad, value_and_grad, get_grad -----


class XYZ(nn.Cell):
    def construct(self, x, y, z):
        return x * y * z


XYZ_INPUTS = (T([1, 2]), T([-2, 3]), T([0, 3]))


def test_grad_and_value_and_grad_examples():
    dy, dz = sg.grad(XYZ(), grad_position=(1, 2))(*XYZ_INPUTS)
    close(dy, [0, 6])
    close(dz, [-2, 6])

    def fn(x, y, z):
        return x * ops.exp(y) * ops.pow(z, 2), z

    gradient, aux = sg.grad(fn, (1, 2), None, True)(T([3, 3]), T([0, 0]), T([5, 5]))
    close(gradient[0], [75, 75])
    close(gradient[1], [30, 30])
    close(aux[0], [5, 5])
    output, inputs_gradient = sg.value_and_grad(XYZ(), grad_position=1)(*XYZ_INPUTS)
    close(output, [-0.0, 18])
    close(inputs_gradient, [0, 6])


def test_get_grad_finds_positions_and_parameters():
    out_grad = sg.grad(XYZ(), grad_position=(1, 2), return_ids=True)(*XYZ_INPUTS)
    assert out_grad[0][0] == 1 and out_grad[1][0] == 2
    close(sg.get_grad(out_grad, 1), [0, 6])
    net = MatMulNet()
    x, y = T([[1.0, 2.0]]), T([[1.0], [1.0]])
    both = sg.grad(net, 0, net.trainable_params(), return_ids=True)(x, y)
    close(sg.get_grad(both, net.z), [3.0])
    close(sg.get_grad(both, 0), [[1.0, 1.0]])
    with pytest.raises(RuntimeError, match="no gradient for 1"):
        sg.get_grad(both, 1)
    with pytest.raises(TypeError, match="identifier must be a position"):
        sg.get_grad(both, "z")


# ----- vjp, jvp, linearize -----

X22 = T([[1, 2], [3, 4]])


class Cube(nn.Cell):
    def construct(self, x, y):
        return x ** 3 + y


def test_vjp_examples():
    outputs, vjp_fn = sg.vjp(Cube(), X22, X22)
    close(outputs, [[2, 10], [30, 68]])
    gx, gy = vjp_fn(T([[1, 1], [1, 1]]))
    close(gx, [[3, 12], [27, 48]])
    close(gy, [[1, 1], [1, 1]])
    outputs, vjp_fn, aux = sg.vjp(lambda x, y: (2 * x + y, y ** 3), X22, X22, has_aux=True)
    close(outputs, [[3, 6], [9, 12]])
    close(aux, [[1, 8], [27, 64]])
    gx, gy = vjp_fn(T([[1, 1], [1, 1]]))
    close(gx, [[2, 2], [2, 2]])
    close(gy, [[1, 1], [1, 1]])


def test_vjp_with_weights_and_several_outputs():
    net = MatMulNet()
    x, y = T([[1.0, 2.0]]), T([[1.0], [1.0]])
    _, vjp_fn = sg.vjp(net, x, y, weights=net.trainable_params())
    (gx, gy), (gz,) = vjp_fn(T([[2.0]]))
    close(gx, [[2.0, 2.0]])
    close(gz, [6.0])
    _, vjp_fn = sg.vjp(lambda a: (a * 2, a * 3), T([1.0]))
    (ga,) = vjp_fn(T([1.0]), T([10.0]))  # one cotangent per output
    close(ga, [32.0])


def test_jvp_and_linearize_examples():
    ones = T([[1, 1], [1, 1]])
    output, tangent = sg.jvp(Cube(), (X22, X22), (ones, ones))
    close(output, [[2, 10], [30, 68]])
    close(tangent, [[4, 13], [28, 49]])
    output, tangent, aux = sg.jvp(lambda x, y: (x ** 3 + y, y), (X22, X22), (ones, ones), has_aux=True)
    close(tangent, [[4, 13], [28, 49]])
    close(aux, [[1, 2], [3, 4]])
    x, y = T([[1, 2, 3], [3, 4, 5]]), T([[1, 2], [3, 4], [5, 6]])
    output, jvp_fn = sg.linearize(ops.matmul, (x, y))
    close(output, [[22, 28], [40, 52]])
    close(jvp_fn((T([[1, 1, 1], [1, 1, 1]]), T([[1, 1], [1, 1], [0, 0]]))), [[12, 15], [16, 19]])


# ----- jacrev, jacfwd -----


class TwoOutputs(nn.Cell):
    def construct(self, x, y, z):
        return x ** 2 + y ** 2 + z ** 2, x * y * z


JAC_INPUTS = (T([[1, 2], [3, 4]]), T([[1, 2], [3, 4]]), T([[1, 1], [1, 1]]))
JAC_EXPECTED = [[[[2, 0], [0, 0]], [[0, 4], [0, 0]]], [[[0, 0], [6, 0]], [[0, 0], [0, 8]]]]


@pytest.mark.parametrize("jac", [sg.jacrev, sg.jacfwd], ids=["jacrev", "jacfwd"])
def test_jacobian_examples(jac):
    jacobian, aux = jac(TwoOutputs(), grad_position=0, has_aux=True)(*JAC_INPUTS)
    close(jacobian, JAC_EXPECTED)
    close(aux, [[1, 4], [9, 16]])


@pytest.mark.parametrize("jac", [sg.jacrev, sg.jacfwd], ids=["jacrev", "jacfwd"])
def test_jacobian_structure_for_several_outputs_and_inputs(jac):
    x, y, z = (np.random.default_rng(i).standard_normal((2, 3)) for i in range(3))
    nested = jac(TwoOutputs(), grad_position=(0, 1))(x, y, z)
    assert len(nested) == 2 and all(len(row) == 2 for row in nested)  # one tuple per output, one entry per input
    assert nested[1][0].shape == (2, 3, 2, 3)
    np.testing.assert_allclose(nested[1][0].numpy().reshape(6, 6), np.diag((y * z).ravel()), atol=1e-12)
    np.testing.assert_allclose(nested[0][1].numpy().reshape(6, 6), np.diag(2 * y.ravel()), atol=1e-12)
    flat = jac(TwoOutputs(), grad_position=2)(x, y, z)  # several outputs, one input: a flat tuple
    assert isinstance(flat, tuple) and len(flat) == 2
    reverse = sg.jacrev(lambda x: ops.tanh(x) @ x.T)(x)
    np.testing.assert_allclose(sg.jacfwd(lambda x: ops.tanh(x) @ x.T)(x).numpy(), reverse.numpy(), rtol=1e-12)


# ----- custom gradients -----


class MatMulWithBprop(nn.Cell):
    def construct(self, x, y):
        return ops.matmul(x, y)

    def bprop(self, x, y, out, dout):
        return x + 1, y + 1


def test_cell_bprop_example_of_mindspore():
    x = T([[0.5, 0.6, 0.4], [1.2, 1.3, 1.1]])
    y = T([[0.01, 0.3, 1.1], [0.1, 0.2, 1.3], [2.1, 1.2, 3.3]])
    dx, dy = ops.GradOperation(get_all=True)(MatMulWithBprop())(x, y)
    close(dx, [[1.5, 1.6, 1.4], [2.2, 2.3, 2.1]])
    close(dy, [[1.01, 1.3, 2.1], [1.1, 1.2, 2.3], [3.1, 2.2, 4.3]])


class ProductWithBprop(nn.Cell):
    def construct(self, x, y):
        return x * y * y

    def bprop(self, x, y, out, dout):
        return x + y, x * y


def test_cell_bprop_tutorial_and_its_checks():
    dx, dy = ops.GradOperation(get_all=True)(ProductWithBprop())(T(1.0), T(2.0))
    close(dx, 3.0)
    close(dy, 2.0)

    class WrongCount(nn.Cell):
        def construct(self, x, y):
            return x * y

        def bprop(self, x, y, out, dout):
            return (dout,)

    with pytest.raises(ValueError, match="must return one gradient per input, a tuple of 2; got 1 value"):
        sg.grad(lambda x, y: WrongCount()(x, y).sum(), (0, 1))(T([1.0]), T([2.0]))


def test_custom_vjp_both_forms_and_higher_order():
    @sg.custom_vjp
    def square(x):
        return x * x

    square.defbwd(lambda x, out, dout: (2 * x * dout,))
    sg.check_grad(lambda x: square(x), np.array([0.5, -1.5]))
    sg.check_grad(lambda x: sg.grad(lambda y: square(y).sum())(x), np.array([0.5, -1.5]))  # through the rule

    @sg.custom_vjp
    def sine(x):
        return ops.sin(x)

    sine.defvjp(lambda x: (ops.sin(x), ops.cos(x)), lambda cos_x, dout: (cos_x * dout,))
    np.testing.assert_allclose(sg.grad(lambda x: sine(x).sum())(np.array([0.3])).numpy(), np.cos([0.3]))
    with pytest.raises(TypeError, match="define its backward first"):
        sg.custom_vjp(lambda x: x)(np.ones(1))


def test_jit_and_set_context_are_accepted():
    assert sg.jit(np.sin) is np.sin
    assert sg.jit()(np.cos) is np.cos
    assert sg.set_context(mode=0, device_target="CPU") is None


# ----- pytrees, integer inputs -----


def test_dicts_lists_and_tuples_of_tensors_are_differentiated_leaf_by_leaf():
    params = {"w": T([1.0, 2.0]), "b": [T([0.5]), (T([3.0]),)]}

    def loss(p, x):
        return (p["w"] * x).sum() + p["b"][0].sum() * p["b"][1][0].sum()

    g = sg.grad(loss)(params, T([10.0, 20.0]))
    assert set(g) == {"w", "b"} and isinstance(g["b"], list) and isinstance(g["b"][1], tuple)
    close(g["w"], [10.0, 20.0])
    close(g["b"][0], [3.0])
    close(g["b"][1][0], [0.5])
    (gp,) = sg.vjp(lambda p: p["w"] * 2, {"w": T([1.0])})[1](T([1.0]))
    close(gp["w"], [2.0])
    value, (gx, gp) = sg.value_and_grad(lambda x, p: (x * p[0]).sum(), (0, 1))(T([2.0]), (T([3.0]),))
    close(gp[0], [2.0])


def test_integer_inputs_are_differentiated_in_floating_point():
    g = sg.grad(lambda x: (0.5 * x).sum())(sg.Tensor(np.array([1, 2])))
    assert g.dtype == np.float32
    close(g, [0.5, 0.5])  # MindSpore returns it in the integer dtype: [0, 0]


# ----- vmap -----


def test_vmap_maps_axes_in_and_out_and_nests():
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(sg.vmap(lambda r: r.sum())(x).numpy(), x.sum(1))
    np.testing.assert_array_equal(sg.vmap(lambda c: c * 2, in_axes=1, out_axes=1)(x).numpy(), x * 2)
    np.testing.assert_array_equal(sg.vmap(lambda a, b: a + b, in_axes=(0, None))(x, np.ones(3)).numpy(), x + 1)
    outer = sg.vmap(sg.vmap(lambda a, b: a * b, in_axes=(None, 0)), in_axes=(0, None))(np.arange(2.0),
                                                                                        np.arange(3.0))
    np.testing.assert_array_equal(outer.numpy(), np.outer(np.arange(2.0), np.arange(3.0)))
    out = sg.vmap(lambda d: {"s": d["a"].sum(), "k": d["a"]}, in_axes=({"a": 0},), out_axes={"k": 1, "s": 0})(
        {"a": x})
    np.testing.assert_array_equal(out["k"].numpy(), x.T)
    with pytest.raises(ValueError, match="same length"):
        sg.vmap(lambda a, b: a + b)(np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="in_axes has 1 entries"):
        sg.vmap(lambda a, b: a + b, in_axes=(0,))(np.ones(2), np.ones(2))


def test_per_example_gradients_of_the_readme_mlp():
    g = sg.random.Generator(0)
    model = nn.SequentialCell(nn.Dense(4, 8, generator=g, dtype=np.float64), nn.ReLU(),
                              nn.Dense(8, 3, generator=g, dtype=np.float64))
    xs, ys = np.random.default_rng(0).standard_normal((5, 4)), np.array([0, 2, 1, 1, 0])
    weights = model.trainable_params()

    def loss(x, y):
        return ops.cross_entropy(model(x[None]), y[None])

    per_example = sg.vmap(sg.grad(loss, None, weights), in_axes=(0, 0))(xs, ys)
    assert [p.shape for p in per_example] == [(5,) + w.shape for w in weights]
    for i in range(5):
        expected = sg.grad(loss, None, weights)(xs[i], ys[i])
        for got, want in zip(per_example, expected):
            np.testing.assert_allclose(got.numpy()[i], want.numpy(), rtol=1e-12)
    mean = sg.grad(lambda: ops.cross_entropy(model(xs), ys), None, weights)()
    for got, want in zip(per_example, mean):
        np.testing.assert_allclose(got.numpy().mean(0), want.numpy(), rtol=1e-10, atol=1e-12)


def test_grad_of_vmap():
    sg.check_grad(lambda x: sg.vmap(lambda r: ops.tanh(r).sum() * r)(x), np.random.default_rng(1).standard_normal((3, 2)))


# ----- Cells: ForwardValueAndGrad, TrainOneStepCell with a sensitivity, set_grad -----


def test_forward_value_and_grad_returns_the_output_and_grad_operations_gradients():
    net = MatMulNet()
    x = T([[0.8, 0.6, 0.2], [1.8, 1.3, 1.1]])
    y = T([[0.11, 3.3, 1.1], [1.1, 0.2, 1.4], [1.1, 2.2, 0.3]])
    out, ((dx, dy), (dz,)) = nn.ForwardValueAndGrad(net, net.trainable_params(), get_all=True, get_by_list=True)(x, y)
    close(out, ops.matmul(x, y).numpy())
    close(dz, [21.536])
    sens = T([[0.1, 0.6, 0.2], [0.8, 1.3, 1.1]])
    out, (dx, dy) = nn.ForwardValueAndGrad(net, get_all=True, sens_param=True)(x, y, sens)
    close(dx, [[2.211, 0.51, 1.49], [5.588, 2.68, 4.07]])
    assert net.set_grad() is net


def test_train_one_step_with_a_sensitivity_scales_the_gradients():
    def run(sens):
        net = nn.Dense(2, 1, weight_init="zeros", bias_init="zeros", dtype=np.float64)
        opt = sg.optim.SGD(net.trainable_params(), lr=0.1)
        step = nn.TrainOneStepCell(nn.WithLossCell(net, ops.mse_loss), opt, sens=sens)
        step(np.array([[1.0, 2.0]]), np.array([[1.0]]))
        return net.weight.numpy()

    np.testing.assert_allclose(run(0.5), run(1.0) / 2, rtol=1e-12)
    with pytest.raises(ValueError, match="sens must be a finite number, got nan"):
        nn.TrainOneStepCell(nn.WithLossCell(nn.Dense(2, 1), ops.mse_loss), sg.optim.SGD(
            nn.Dense(2, 1).trainable_params(), lr=0.1), sens=float("nan"))


# ----- Taylor mode: jet, derivative -----

EXP_SIN_PRIMALS = [[2.319777, 2.4825778], [1.1515628, 0.4691642]]  # MindSpore's printed examples of jet/derivative
EXP_SIN_SERIES = [[[1.2533808, -1.0331168], [-1.1400385, -0.3066662]],
                  [[-1.2748207, -1.8274734], [0.966121, 0.55551505]],
                  [[-4.0515366, 3.6724353], [0.5053504, -0.52061415]]]


def exp_sin(x):
    return ops.exp(ops.sin(x))


def two_inputs_net(x, y):
    """MindSpore's MultipleInputSingleOutputNet: exp(sin x · cos y + sin x / cos y)."""
    s, c = ops.sin(x), ops.cos(y)
    return ops.exp(s * c + s / c)


def test_jet_of_mindspores_example():
    primals = T([[1, 2], [3, 4]])
    series = T([[[1, 1], [1, 1]], [[0, 0], [0, 0]], [[0, 0], [0, 0]]])
    out_primals, out_series = sg.jet(exp_sin, primals, series)
    close(out_primals, EXP_SIN_PRIMALS)
    assert out_series.shape == (3, 2, 2) and out_series.dtype == F32
    close(out_series, EXP_SIN_SERIES)


def test_derivative_of_mindspores_example_is_the_last_order_of_jet():
    out_primals, out_series = sg.derivative(exp_sin, T([[1, 2], [3, 4]]), 3)
    close(out_primals, EXP_SIN_PRIMALS)
    assert out_series.shape == (2, 2)
    close(out_series, EXP_SIN_SERIES[2])


def test_jet_and_derivative_of_mindspores_taylor_tests():
    """The values of MindSpore's tests/st Taylor-mode suite (several inputs; sin, cos, exp, log, tan)."""
    ones_series = T([[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    out, series = sg.jet(two_inputs_net, (T([1.0, 1.0]), T([1.0, 1.0])), (ones_series, ones_series))
    close(out, [7.47868] * 2)
    close(series, [[22.50614] * 2, [133.92517] * 2, [1237.959] * 2])
    close(sg.derivative(two_inputs_net, (T([1.0, 1.0]), T([1.0, 1.0])), 3)[1], [1237.959] * 2)

    def nested(x):
        s = ops.sin(x)
        c = ops.cos(s)
        return s + c - ops.exp(c)

    out, series = sg.jet(nested, T([1.0, 1.0]), ones_series)
    close(out, [-0.43931] * 2, rtol=1e-4)
    close(series, [[0.92187] * 2, [-1.56750] * 2, [-0.74808] * 2], rtol=1e-4)
    out, series = sg.jet(lambda x: (1 / ops.log(x) + 2) * 3, T([2.0, 2.0]), ones_series)
    close(out, [10.328085] * 2)
    close(series, [[-3.1220534] * 2, [6.0652323] * 2, [-18.06463] * 2])
    out, series = sg.jet(lambda x: ops.sin(ops.exp(x)) / ops.cos(ops.exp(x)), T([1.0, 1.0]), ones_series)  # tan
    close(out, [-0.450549] * 2)
    close(series, [[3.270079] * 2, [-4.739784] * 2, [56.995613] * 2], rtol=1e-4)
    close(sg.derivative(lambda x: ops.sin(ops.exp(x)), T([1, 1]), 2)[1], [-5.513626] * 2)
    close(sg.derivative(lambda x: ops.cos(ops.exp(x)), T([1, 1]), 2)[1], [5.620221] * 2)


def test_jet_series_are_derivatives_not_taylor_coefficients():
    """x(t) = x + s₁t + s₂t²/2! + s₃t³/3!; out_series[k−1] = k!·(the tᵏ coefficient of p(x(t))), the
    composition done exactly with NumPy's polynomials (p(x) = x³ − 2x² + x)."""
    rng = np.random.default_rng(0)
    x, s = rng.standard_normal(3), rng.standard_normal((3, 3))
    p = np.polynomial.Polynomial([0.0, 1.0, -2.0, 1.0])
    out, series = sg.jet(lambda v: v ** 3 - 2 * v ** 2 + v, x, s)
    assert out.dtype == np.float64 and series.dtype == np.float64
    for i in range(3):
        curve = np.polynomial.Polynomial([x[i], s[0, i], s[1, i] / 2, s[2, i] / 6])
        coefficients = p(curve).coef
        np.testing.assert_allclose(series.numpy()[:, i], [coefficients[k] * np.prod(range(1, k + 1))
                                                          for k in (1, 2, 3)], rtol=1e-12)
        np.testing.assert_allclose(out.numpy()[i], p(x[i]), rtol=1e-12)


def test_jet_closed_forms_of_exp_and_a_one_order_series():
    x, v = np.array([0.0, 0.5, -1.0]), np.array([1.0, 2.0, -0.5])
    out, series = sg.jet(ops.exp, x, np.stack([v, np.zeros(3), np.zeros(3), np.zeros(3)]))
    np.testing.assert_allclose(series.numpy(), [v ** k * np.exp(x) for k in (1, 2, 3, 4)], rtol=1e-12)
    _, one = sg.jet(ops.sin, x, v)  # the primal's shape: one order
    assert one.shape == (1, 3)
    np.testing.assert_allclose(one.numpy()[0], v * np.cos(x), rtol=1e-12)
    _, scalar = sg.jet(ops.sin, np.array(1.0), np.array(2.0))  # a 0-d primal, one order
    np.testing.assert_allclose(scalar.numpy(), [2 * np.cos(1.0)], rtol=1e-12)
    _, second = sg.derivative(lambda x: x * x * x * x, np.array(2.0), 2)
    np.testing.assert_allclose(second.numpy(), 48.0)


def test_jet_with_several_inputs_and_outputs_returns_lists():
    x, y = T([1.0, 1.0]), T([1.0, 1.0])
    out_primals, out_series = sg.derivative(lambda x, y: (ops.sin(x), ops.cos(y)), (x, y), 3)
    assert isinstance(out_primals, list) and isinstance(out_series, list)
    close(out_primals[0], [0.841470957] * 2)
    close(out_primals[1], [0.540302277] * 2)
    close(out_series[0], [-0.540302277] * 2)
    close(out_series[1], [0.841470957] * 2)
    a, b = np.array([0.3, -0.2]), np.array([1.5, 0.7])
    sa, sb = np.array([[1.0, 2.0], [0.5, -1.0]]), np.array([[-1.0, 0.5], [2.0, 1.0]])
    outs, series = sg.jet(lambda a, b: (a * b, ops.exp(a)), (a, b), (sa, sb))
    # (a·b)' = a′b + ab′, (a·b)'' = a″b + 2a′b′ + ab″
    np.testing.assert_allclose(series[0].numpy(), [sa[0] * b + a * sb[0],
                                                   sa[1] * b + 2 * sa[0] * sb[0] + a * sb[1]], rtol=1e-12)
    np.testing.assert_allclose(series[1].numpy(), [sa[0] * np.exp(a), (sa[1] + sa[0] ** 2) * np.exp(a)], rtol=1e-12)
    np.testing.assert_allclose(outs[0].numpy(), a * b)


def test_jet_of_integer_inputs_is_float32():
    x = sg.Tensor(np.array([1, 1], np.int64))
    out, series = sg.jet(lambda x, y: x + y, (x, x), (sg.Tensor(np.array([[1, 1], [0, 0]], np.int64)),) * 2)
    assert out.dtype == F32 and series.dtype == F32
    close(out, [2, 2])
    close(series, [[2, 2], [0, 0]])
    out, second = sg.derivative(lambda x, y: x + y, (x, x), 2)
    close(out, [2, 2])
    close(second, [0, 0])


def test_grad_through_jet_and_derivative():
    """MindSpore's tests: grad of everything jet / derivative return (sin x, then cos x, −sin x)."""
    series = T([[1.0, 1.0], [0.0, 0.0]])
    close(sg.grad(lambda x: sg.jet(ops.sin, x, series))(T([1.0, 1.0])), [-0.841470957] * 2)
    close(sg.grad(lambda x: sg.derivative(ops.sin, x, 2))(T([1.0, 1.0])), [0.0, 0.0])
    sg.check_grad(lambda x: sg.derivative(lambda v: ops.tanh(v) * v, x, 3)[1], np.array([0.3, -0.8]))


def test_derivative_of_a_cell_with_parameters():
    """MindSpore raises RuntimeError for a Cell with Parameters; softgrad takes them as constants."""
    class Scaled(nn.Cell):
        def __init__(self):
            super().__init__()
            self.p = sg.Parameter(T([1.0, 2.0]), name="p")

        def construct(self, x):
            return self.p * x * x

    close(sg.derivative(Scaled(), T([1.0, 1.0]), 2)[1], [2.0, 4.0])
