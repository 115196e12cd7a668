"""Forward mode (softgrad.autodiff.forward): jvp, jacfwd, linearize and hessian on a tape-less level carrying
tangents; its nesting with reverse mode in both orders; pytrees; custom_jvp. Every derivative is checked against
reverse mode or finite differences in float64. (The registry test checks every primitive's forward rule.)"""

import numpy as np
import pytest

import softgrad as sg
from softgrad import ops

RNG = np.random.default_rng(0)
X = RNG.standard_normal(4)
V = RNG.standard_normal(4)


def cubic(x):
    return (ops.sin(x) * x ** 3).sum()


def tall(x):
    """R² → R⁶."""
    return ops.concat([ops.tanh(x), x * x, ops.exp(x)])


def test_jvp_is_the_directional_derivative():
    out, jv = sg.jvp(lambda x: ops.tanh(x) * x, sg.Tensor(X), sg.Tensor(V))
    eps = 1e-6
    numeric = (np.tanh(X + eps * V) * (X + eps * V) - np.tanh(X - eps * V) * (X - eps * V)) / (2 * eps)
    np.testing.assert_allclose(jv.numpy(), numeric, rtol=1e-6)
    np.testing.assert_allclose(out.numpy(), np.tanh(X) * X)


def test_hessian_vector_products_nest_both_ways():
    hessian = sg.hessian(cubic)(X).numpy()
    forward_over_reverse = sg.jvp(sg.grad(cubic), X, V)[1].numpy()  # jvp of grad
    reverse_over_forward = sg.grad(lambda x: sg.jvp(cubic, x, V)[1])(X).numpy()  # grad of jvp
    reverse_over_reverse = sg.grad(lambda x: (sg.grad(cubic)(x) * V).sum())(X).numpy()
    for hv in (forward_over_reverse, reverse_over_forward):
        np.testing.assert_allclose(hv, hessian @ V, rtol=1e-10)
        np.testing.assert_allclose(hv, reverse_over_reverse, rtol=1e-10)


def test_jvp_of_jvp_is_the_second_directional_derivative():
    second = sg.jvp(lambda x: sg.jvp(cubic, x, V)[1], X, V)[1].numpy()
    np.testing.assert_allclose(second, V @ sg.hessian(cubic)(X).numpy() @ V, rtol=1e-10)


def test_no_perturbation_confusion():
    """d/dx [x · d/dy (x + y)] = 1: the inner tangent must not leak into the outer one (Siskind & Pearlmutter)."""
    def inner(x):
        return x * sg.jvp(lambda y: x + y, sg.Tensor(1.0), sg.Tensor(1.0))[1]

    assert float(sg.jvp(inner, sg.Tensor(1.0), sg.Tensor(1.0))[1]) == 1.0
    assert float(sg.grad(inner)(sg.Tensor(1.0))) == 1.0


@pytest.mark.parametrize("fn,x", [(tall, RNG.standard_normal(2)), (lambda x: ops.softmax(x) @ x, RNG.standard_normal(5)),
                                  (lambda x: ops.cumprod(x, 0), np.array([1.5, 0.0, 2.0, 0.0]))])  # zeros: the table
def test_jacfwd_equals_jacrev(fn, x):
    np.testing.assert_allclose(sg.jacfwd(fn)(x).numpy(), sg.jacrev(fn)(x).numpy(), rtol=1e-10, atol=1e-12)


def test_jacfwd_pushes_every_column_in_one_call():
    calls = []

    def counted(x):
        calls.append(1)
        return tall(x)

    sg.jacfwd(counted)(RNG.standard_normal(2))
    assert len(calls) == 1


def test_jacfwd_of_a_non_batchable_primitive_goes_row_by_row():
    A = RNG.standard_normal((3, 3)) + 3 * np.eye(3)
    np.testing.assert_allclose(sg.jacfwd(ops.linalg.inv)(A).numpy(), sg.jacrev(ops.linalg.inv)(A).numpy(),
                               rtol=1e-10, atol=1e-12)


def test_linearize_traces_once_and_sweeps_forward():
    calls = []

    def counted(x):
        calls.append(1)
        return ops.sin(x) * x

    out, jvp_fn = sg.linearize(counted, sg.Tensor(X))
    for v in (V, 2 * V):
        np.testing.assert_allclose(jvp_fn(sg.Tensor(v)).numpy(), sg.jvp(lambda x: ops.sin(x) * x, X, v)[1].numpy())
    assert len(calls) == 1


# ----- pytrees -----

TREE = {"w": RNG.standard_normal((2, 3)), "b": RNG.standard_normal(2)}
INPUT = RNG.standard_normal(3)


def layer(params, x):
    return ops.tanh(params["w"] @ x + params["b"])


def test_jvp_of_a_dict():
    tangent = {"w": np.ones((2, 3)), "b": np.zeros(2)}
    out, jv = sg.jvp(layer, (TREE, INPUT), (tangent, np.zeros(3)))
    h = TREE["w"] @ INPUT + TREE["b"]
    np.testing.assert_allclose(jv.numpy(), (1 - np.tanh(h) ** 2) * INPUT.sum())


@pytest.mark.parametrize("transform", [sg.jacfwd, sg.jacrev, sg.jacobian])
def test_jacobians_of_a_dict_come_back_as_a_dict(transform):
    jacobians = transform(layer)(TREE, INPUT)
    assert sorted(jacobians) == ["b", "w"]
    assert jacobians["w"].shape == (2, 2, 3) and jacobians["b"].shape == (2, 2)
    h = TREE["w"] @ INPUT + TREE["b"]
    np.testing.assert_allclose(jacobians["b"].numpy(), np.diag(1 - np.tanh(h) ** 2), rtol=1e-12)


def test_hessian_of_a_dict_is_a_dict_of_dicts():
    def loss(params):
        return (layer(params, INPUT) ** 2).sum()

    blocks = sg.hessian(loss)(TREE)
    assert sorted(blocks) == ["b", "w"] and sorted(blocks["w"]) == ["b", "w"]
    assert blocks["w"]["b"].shape == (2, 3, 2)
    flat = sg.hessian(lambda b: loss({"w": TREE["w"], "b": b}))(TREE["b"])
    np.testing.assert_allclose(blocks["b"]["b"].numpy(), flat.numpy(), rtol=1e-12)


def test_linearize_of_a_list():
    out, jvp_fn = sg.linearize(lambda xs: xs[0] * xs[1], ([X, V],))
    np.testing.assert_allclose(jvp_fn(([np.ones(4), np.zeros(4)],)).numpy(), V)


# ----- custom_jvp -----


@sg.custom_jvp
def clipped_square(x):
    return x * x


@clipped_square.defjvp
def _clipped_square_jvp(primals, tangents):
    """A deliberately different derivative: 2x clipped to [−1, 1]."""
    (x,), (t,) = primals, tangents
    return clipped_square(x), ops.clip(2 * x, -1.0, 1.0) * t


def test_custom_jvp_rule_is_used_forward_and_transposed_backward():
    x = np.array([0.2, 3.0, -2.0])
    expected = np.clip(2 * x, -1, 1)
    np.testing.assert_allclose(sg.jvp(clipped_square, x, np.ones(3))[1].numpy(), expected)
    np.testing.assert_allclose(sg.grad(lambda x: clipped_square(x).sum())(x).numpy(), expected)
    np.testing.assert_allclose(sg.jacfwd(clipped_square)(x).numpy(), np.diag(expected))
    np.testing.assert_allclose(clipped_square(x).numpy(), x * x)


def test_custom_jvp_of_two_inputs_to_second_order():
    @sg.custom_jvp
    def f(x, y):
        return ops.sin(x) * y

    @f.defjvp
    def f_jvp(primals, tangents):
        (x, y), (tx, ty) = primals, tangents
        return f(x, y), ops.cos(x) * y * tx + ops.sin(x) * ty

    x, y = RNG.standard_normal(3), RNG.standard_normal(3)
    sg.check_grad(f, x, y)
    gradient = sg.grad(lambda x, y: f(x, y).sum(), (0, 1))
    sg.check_grad(lambda x, y: gradient(x, y)[0] * gradient(x, y)[1], x, y, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(sg.hessian(lambda x: f(x, y).sum())(x).numpy(), np.diag(-np.sin(x) * y), atol=1e-12)


def test_forward_over_reverse_through_cross_entropy_with_probability_targets():
    """The Hessian of the fused cross-entropy (its gradient is the cross_entropy_grad primitive) in x and p."""
    x, p = RNG.standard_normal((3, 4)), RNG.dirichlet(np.ones(4), 3)
    gradient = sg.grad(lambda x, p: ops.cross_entropy(x, p, label_smoothing=0.1, weight=np.array([1, 2, .5, 1])),
                       (0, 1))

    def flat(x, p):
        return ops.concat([ops.reshape(g, (-1,)) for g in gradient(x, p)])

    for forward, reverse in zip(sg.jacfwd(flat, (0, 1))(x, p), sg.jacrev(flat, (0, 1))(x, p)):
        np.testing.assert_allclose(forward.numpy(), reverse.numpy(), atol=1e-12)


def test_forward_mode_through_a_custom_vjp_transposes_its_rule():
    @sg.custom_vjp
    def scaled(x):
        return x * 1.0

    scaled.defbwd(lambda x, out, dout: (3.0 * dout,))
    np.testing.assert_allclose(sg.jvp(scaled, X, V)[1].numpy(), 3.0 * V)


def test_forward_rule_nan_is_caught():
    with sg.debug_nans(), np.errstate(invalid="ignore", divide="ignore"):
        with pytest.raises(FloatingPointError, match="forward rule of 'sqrt'"):
            sg.jvp(ops.sqrt, np.array([0.0, 1.0]), np.array([0.0, 1.0]))  # 0/(2·√0)
