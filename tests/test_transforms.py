"""grad / value_and_grad follow MindSpore's return structure cell by cell; vjp, jvp, jacobian, hessian;
nesting to any order without perturbation confusion."""

import numpy as np
import pytest

import softgrad as sg
from softgrad import ops
from softgrad.nn import Cell
from softgrad.tensor import Parameter, Tensor


def f3(x, y, z):
    """Gradients: ∂x = 2x·y·z... kept simple: f = Σ x²·y + 3z."""
    return (x * x * y).sum() + 3 * z.sum()


X, Y, Z = np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array([5.0])
GX, GY, GZ = 2 * X * Y, X * X, np.array([3.0])


def arr(t):
    return t.numpy()


# ----- positions -----

@pytest.mark.parametrize("position", [0, (0,), [0]])
def test_one_position_gives_one_gradient(position):
    g = sg.grad(f3, position)(X, Y, Z)
    assert isinstance(g, Tensor)
    np.testing.assert_array_equal(arr(g), GX)


def test_two_positions_give_a_tuple():
    g = sg.grad(f3, (0, 2))(X, Y, Z)
    assert isinstance(g, tuple) and len(g) == 2
    np.testing.assert_array_equal(arr(g[0]), GX)
    np.testing.assert_array_equal(arr(g[1]), GZ)


def test_three_positions_keep_order():
    g = sg.grad(f3, (2, 0, 1))(X, Y, Z)
    for got, want in zip(g, [GZ, GX, GY]):
        np.testing.assert_array_equal(arr(got), want)


# ----- weights -----

class Net(Cell):
    def __init__(self):
        super().__init__()
        self.w = Parameter(Tensor([1.0, 2.0]), name="w")
        self.b = Parameter(Tensor([0.5]), name="b")
        self.unused = Parameter(Tensor([[1.0, 1.0]]), name="unused")

    def construct(self, x):
        return (self.w * x).sum() + self.b.sum()


def test_single_parameter_gives_one_gradient():
    net = Net()
    g = sg.grad(net, None, weights=net.w)(Tensor([3.0, 4.0]))
    assert isinstance(g, Tensor)
    np.testing.assert_array_equal(arr(g), [3.0, 4.0])


def test_weight_list_gives_tuple_in_order_and_zeros_for_untouched():
    net = Net()
    params = net.trainable_params()
    assert [p.name for p in params] == ["w", "b", "unused"]
    g = sg.grad(net, None, weights=params)(Tensor([3.0, 4.0]))
    assert isinstance(g, tuple) and len(g) == 3
    np.testing.assert_array_equal(arr(g[0]), [3.0, 4.0])
    np.testing.assert_array_equal(arr(g[1]), [1.0])
    np.testing.assert_array_equal(arr(g[2]), np.zeros((1, 2)))
    assert g[2].dtype == np.float32


def test_one_element_list_gives_one_tuple_and_empty_gives_empty():
    net = Net()
    g = sg.grad(net, None, weights=[net.b])(Tensor([3.0, 4.0]))
    assert isinstance(g, tuple) and len(g) == 1
    assert sg.grad(net, None, weights=())(Tensor([3.0, 4.0])) == ()


def test_positions_and_weights_give_pair():
    net = Net()
    g = sg.grad(net, 0, weights=net.trainable_params())(Tensor([3.0, 4.0]))
    position_part, weight_part = g
    np.testing.assert_array_equal(arr(position_part), [1.0, 2.0])
    assert len(weight_part) == 3
    g = sg.grad(lambda x, y: (net(x) * y).sum(), (0, 1), weights=net.w)(Tensor([3.0, 4.0]), Tensor(2.0))
    assert len(g) == 2 and len(g[0]) == 2 and isinstance(g[1], Tensor)


def test_parameters_restored_after_transform_and_on_error():
    net = Net()
    sg.grad(net, None, weights=net.trainable_params())(Tensor([3.0, 4.0]))
    assert not net.w.is_traced and isinstance(net.w.numpy(), np.ndarray)

    def boom(x):
        net(x)
        raise RuntimeError("inside")

    with pytest.raises(RuntimeError):
        sg.grad(boom, None, weights=net.trainable_params())(Tensor([3.0, 4.0]))
    assert not net.w.is_traced
    np.testing.assert_array_equal(net.w.numpy(), [1.0, 2.0])


# ----- has_aux, several outputs, value_and_grad, return_ids -----

def test_has_aux_differentiates_first_output_only():
    def fn(x):
        return (x * x).sum(), x * 10, "label"

    g, aux = sg.grad(fn, has_aux=True)(X)
    np.testing.assert_array_equal(arr(g), 2 * X)
    assert isinstance(aux, tuple) and len(aux) == 2
    np.testing.assert_array_equal(arr(aux[0]), X * 10)
    assert not aux[0].is_traced and aux[1] == "label"


@pytest.mark.parametrize("returned", [lambda x: x.sum(), lambda x: (x.sum(),)])
def test_has_aux_requires_tuple_of_two(returned):
    with pytest.raises(ValueError, match="at least two"):
        sg.grad(returned, has_aux=True)(X)


def test_several_outputs_sum_their_gradients():
    g = sg.grad(lambda x: ((x * x).sum(), 3 * x))(X)
    np.testing.assert_array_equal(arr(g), 2 * X + 3)


def test_non_scalar_output_uses_all_ones_sensitivity():
    g = sg.grad(lambda x: x * x)(X)
    np.testing.assert_array_equal(arr(g), 2 * X)


def test_value_and_grad_returns_everything_fn_returned():
    value, g = sg.value_and_grad(lambda x: ((x * x).sum(), x + 1))(X)
    assert isinstance(value, tuple) and len(value) == 2
    np.testing.assert_array_equal(arr(value[1]), X + 1)
    np.testing.assert_array_equal(arr(g), 2 * X + 1)
    (loss, aux), g = sg.value_and_grad(lambda x: ((x * x).sum(), x + 1), has_aux=True)(X)  # MindSpore's form
    np.testing.assert_array_equal(arr(g), 2 * X)
    np.testing.assert_array_equal(arr(aux), X + 1)
    assert float(loss) == 5.0
    net = Net()
    value, g = sg.value_and_grad(net, None, weights=net.trainable_params())(Tensor([3.0, 4.0]))
    assert float(value) == 11.5 and len(g) == 3


def test_return_ids():
    g = sg.grad(f3, (0, 2), return_ids=True)(X, Y, Z)
    assert [i for i, _ in g] == [0, 2]
    g = sg.grad(f3, 1, return_ids=True)(X, Y, Z)
    assert g[0] == 1 and isinstance(g[1], Tensor)
    net = Net()
    (pos, weights) = sg.grad(net, 0, weights=net.trainable_params(), return_ids=True)(Tensor([3.0, 4.0]))
    assert pos[0] == 0 and [name for name, _ in weights] == ["w", "b", "unused"]
    single = sg.grad(net, None, weights=net.b, return_ids=True)(Tensor([3.0, 4.0]))
    assert single[0] == "b"


# ----- errors that say what to pass -----

def test_errors():
    with pytest.raises(ValueError, match="both None"):
        sg.grad(f3, None)
    with pytest.raises(RuntimeError, match="should not be empty"):  # MindSpore's type
        sg.grad(f3, ())
    with pytest.raises(ValueError, match="non-negative"):
        sg.grad(f3, -1)
    with pytest.raises(ValueError, match="repeats"):
        sg.grad(f3, (0, 0))
    with pytest.raises(IndexError, match="out of range.*3 argument"):
        sg.grad(f3, 3)(X, Y, Z)
    with pytest.raises(TypeError, match="bool.*floating-point"):
        sg.grad(lambda n: n * 2.0)(np.array([True, False]))
    with pytest.raises(TypeError, match="int or a tuple"):
        sg.grad(f3, "0")


# ----- input kinds and dtypes -----

def test_numpy_and_python_inputs_are_differentiated():
    assert float(sg.grad(lambda x: x * x)(3.0)) == 6.0
    np.testing.assert_array_equal(arr(sg.grad(lambda x: (x * x).sum())(np.array([1.0, 2.0]))), [2.0, 4.0])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_gradient_keeps_input_dtype(dtype):
    x = Tensor(np.array([1.0, 2.0], dtype=dtype))
    g = sg.grad(lambda x: (x * np.float64(2.0)).sum())(x)  # float64 constant promotes inside
    assert g.dtype == dtype


def test_python_scalars_do_not_upcast_float32():
    x = Tensor(np.ones(3, np.float32))
    assert (x * 2.5 + 1).dtype == np.float32
    assert sg.grad(lambda x: (x * 2.5).sum())(x).dtype == np.float32


# ----- nesting -----

def test_no_perturbation_confusion():
    # d/dx [x · d/dy (x + y)] = 1
    inner = lambda x: sg.grad(lambda y: x + y)(Tensor(1.0))
    assert float(sg.grad(lambda x: x * inner(x))(Tensor(3.0))) == 1.0


def test_grad_of_grad_of_grad():
    d3 = sg.grad(sg.grad(sg.grad(lambda x: x ** 4)))
    assert float(d3(Tensor(2.0, sg.float64))) == 48.0


def test_grad_inside_differentiated_function():
    # f(x) = x · g'(x) with g(y) = y³ → f = 3x³, f' = 9x²
    f = lambda x: x * sg.grad(lambda y: y ** 3)(x)
    assert float(sg.grad(f)(Tensor(2.0, sg.float64))) == 36.0


def test_nested_grads_with_weights():
    net = Net()
    x = Tensor([3.0, 4.0])

    def inner_norm(x):
        g = sg.grad(net, None, weights=net.w)(x)
        return (g * g).sum()

    # ∂/∂x Σ (∂net/∂w)² = ∂/∂x Σ x² = 2x
    np.testing.assert_array_equal(arr(sg.grad(inner_norm)(x)), [6.0, 8.0])


def test_escaped_tracer_is_a_constant_afterwards():
    leaked = []
    sg.grad(lambda x: (leaked.append(x * 2) or x).sum())(X)
    np.testing.assert_array_equal(arr(sg.grad(lambda y: (y * leaked[0]).sum())(np.ones(2))), 2 * X)


def _chain_with_constants(x, seen):
    """The overhead benchmark's chain plus a Parameter, an untraced Tensor and a broadcast constant; records
    bind's fast-path level (trace._only_level) as the function runs."""
    from softgrad import trace

    seen.append(trace._only_level)
    y = ops.exp(ops.sin(x) * 1.01 + 0.1) * 0.3
    return (y * x + Tensor(np.array([[2.0], [0.5]])) * y - W).sum()


W = Parameter(np.array([0.25, -1.0, 0.5, 2.0, 0.125]), name="w")


def test_bind_fast_path_matches_the_general_path_bit_for_bit():
    """With one tape level active, bind records in one pass (trace._only_level); with another level open it
    takes the general path. Values and gradients (positions and weights) are the same bits."""
    from softgrad import trace

    x = np.linspace(-1.0, 1.0, 5)
    seen = []
    vg = sg.value_and_grad(lambda x: _chain_with_constants(x, seen), 0, weights=[W])
    fast_value, (fast_gx, (fast_gw,)) = vg(x)
    assert seen[-1] != 0
    level, _ = trace.new_level()  # an unrelated open tape: two levels active, so no fast path
    try:
        value, (gx, (gw,)) = vg(x)
    finally:
        trace.close_level(level)
    assert seen[-1] == 0 and trace._only_level == 0
    np.testing.assert_array_equal(arr(value), arr(fast_value))
    np.testing.assert_array_equal(arr(gx), arr(fast_gx))
    np.testing.assert_array_equal(arr(gw), arr(fast_gw))


def test_bind_takes_the_general_path_under_vmap_jvp_and_nesting():
    x = np.linspace(-1.0, 1.0, 5)
    seen = []
    f = lambda x: _chain_with_constants(x, seen)  # noqa: E731
    g = sg.grad(f)(x)
    rows = np.stack([x, 2 * x])
    batched = sg.vmap(sg.grad(f))(rows)
    assert seen[-1] == 0
    np.testing.assert_allclose(arr(batched)[0], arr(g), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(arr(batched)[1], arr(sg.grad(f)(2 * x)), rtol=1e-14, atol=1e-15)
    t = np.linspace(0.5, 1.5, 5)
    _, tangent = sg.jvp(f, (x,), (t,))
    assert seen[-1] == 0
    np.testing.assert_allclose(float(arr(tangent)), arr(g) @ t, rtol=1e-13)
    hv = sg.jvp(sg.grad(f), (x,), (t,))[1]  # forward over reverse: two levels
    assert seen[-1] == 0
    eps = 1e-6
    np.testing.assert_allclose(arr(hv), (arr(sg.grad(f)(x + eps * t)) - arr(sg.grad(f)(x - eps * t))) / (2 * eps),
                               rtol=1e-6, atol=1e-8)
    sg.grad(lambda x: sg.grad(f)(x).sum())(x)  # grad of grad: the inner level's ops run with two levels open
    assert seen[-1] == 0
    assert sg.trace._only_level == 0  # every level closed again


# ----- vjp, jvp, jacobian, hessian -----

def test_vjp_and_jvp():
    A = np.arange(6.0).reshape(2, 3)
    fn = lambda x: ops.tanh(A @ x)
    x = np.array([0.1, -0.2, 0.3])
    J = (1 - np.tanh(A @ x) ** 2)[:, None] * A
    out, vjp_fn = sg.vjp(fn, x)
    np.testing.assert_allclose(arr(out), np.tanh(A @ x))
    np.testing.assert_allclose(arr(vjp_fn(np.array([1.0, -2.0]))[0]), np.array([1.0, -2.0]) @ J)
    out, jv = sg.jvp(fn, (x,), (np.array([1.0, 0.5, -1.0]),))
    np.testing.assert_allclose(arr(jv), J @ np.array([1.0, 0.5, -1.0]))
    out, vjp_fn = sg.vjp(lambda a, b: a * b, X, Y)
    ga, gb = vjp_fn(np.ones(2))
    np.testing.assert_array_equal(arr(ga), Y)
    with pytest.raises(ValueError, match="shape"):
        vjp_fn(np.ones(3))


def test_jacobian_of_softmax_is_diag_minus_outer():
    def softmax(x):
        e = ops.exp(x - ops.max(x))
        return e / e.sum()

    x = np.array([0.2, -1.0, 3.0, 0.5])
    p = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
    np.testing.assert_allclose(arr(sg.jacobian(softmax)(x)), np.diag(p) - np.outer(p, p), atol=1e-15)


def test_hessian_of_quadratic_form():
    A = np.random.default_rng(1).standard_normal((4, 4))
    H = sg.hessian(lambda x: 0.5 * (x @ (A @ x)))(np.ones(4))
    np.testing.assert_allclose(arr(H), (A + A.T) / 2, atol=1e-14)


def test_jacobian_multiple_positions_and_matrix_input():
    W = np.arange(6.0).reshape(2, 3)
    jw, jx = sg.jacobian(lambda w, x: w @ x, (0, 1))(W, np.array([1.0, 2.0, 3.0]))
    assert jw.shape == (2, 2, 3) and jx.shape == (2, 3)
    np.testing.assert_array_equal(arr(jx), W)
    np.testing.assert_array_equal(arr(jw)[1, 1], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(arr(jw)[0, 1], 0)


def test_check_grad_catches_a_wrong_rule():
    from softgrad.ops._primitive import op
    from softgrad.trace import Primitive

    wrong_square_p = Primitive("wrong_square", np.square, (lambda g, ans, x: g * x,))

    @op
    def wrong(x):
        """x², with a wrong rule"""
        return wrong_square_p.bind(x)

    with pytest.raises(AssertionError, match="central differences"):
        sg.check_grad(wrong, np.array([1.0, 2.0]))


# ----- jacobian: one batched sweep equals one VJP per row -----

B = np.random.default_rng(2).standard_normal((3, 4))
BATCHED_CASES = {
    "elementwise+broadcast": lambda x: ops.tanh(x[:, None] * B[:, :3].T + 1.0) ** 2 / (1 + ops.exp(x[None, :].T)),
    "reductions": lambda x: ops.stack([ops.sum(x * x), ops.mean(ops.sin(x)), ops.max(x), ops.prod(x), ops.min(x)]),
    "reshape+transpose": lambda x: (ops.reshape(ops.outer(x, x), (9,)) * 2).reshape(3, 3).T[0] + x.sum(keepdims=True),
    "matmul 2-D": lambda x: (ops.reshape(ops.outer(x, x), (3, 3)) @ B[:, :3]).sum(axis=0),
    "matmul vector cases": lambda x: ops.stack([x @ x, (B[:, :3] @ x).sum(), (x @ B[:3]).sum()]),
    "batched matmul": lambda x: (ops.broadcast_to(ops.outer(x, x), (2, 3, 3)) @ x).sum(axis=0),
}


@pytest.mark.parametrize("name", list(BATCHED_CASES))
def test_batched_jacobian_matches_row_by_row(name):
    from softgrad.autodiff import _vjp_all

    fn = BATCHED_CASES[name]
    x = np.array([0.3, -1.2, 0.7])
    _, _, trace = _vjp_all(fn, [x])
    assert trace.batchable(), [e[0].name for e in trace.tape if e[0] is not None and not e[0].batchable]
    out, vjp_fn = sg.vjp(fn, x)
    eye = np.eye(out.size).reshape((out.size,) + out.shape)
    rows = np.stack([vjp_fn(e)[0].numpy() for e in eye]).reshape(out.shape + x.shape)
    np.testing.assert_allclose(arr(sg.jacobian(fn)(x)), rows, rtol=1e-13, atol=1e-14)


def test_hessian_through_batched_sweep_is_differentiable():
    # d/dx trace(H(x)) for f = Σ x⁴/12: H = diag(x²), trace = Σ x², gradient 2x
    f = lambda x: (x ** 4).sum() / 12
    g = sg.grad(lambda x: ops.sum(sg.hessian(f)(x) * np.eye(3)))(np.array([1.0, 2.0, -3.0]))
    np.testing.assert_allclose(arr(g), [2.0, 4.0, -6.0])


@pytest.mark.parametrize("index", [
    (np.array([0, 1, 1]), slice(None), np.array([2, 0, 2])),  # advanced indices apart: NumPy moves them first
    (0, slice(None), np.array([1, 2])),  # an int with an array: also apart
    (slice(None), np.array([0, 2]), np.array([1, 1])),  # adjacent: they stay in place
    (Ellipsis, np.array([True, False, True])),
], ids=["apart", "int-and-array", "adjacent", "mask"])
def test_batched_jacobian_through_every_kind_of_index(index):
    x = np.arange(1.0, 19.0).reshape(2, 3, 3) / 10
    fn = lambda x: ops.sin(x[index]) * 2
    out, vjp_fn = sg.vjp(fn, x)
    eye = np.eye(out.size).reshape((out.size,) + out.shape)
    rows = np.stack([vjp_fn(e)[0].numpy() for e in eye]).reshape(out.shape + x.shape)
    np.testing.assert_allclose(arr(sg.jacobian(fn)(x)), rows, rtol=1e-13)


@pytest.mark.parametrize("fn", [
    lambda x: ops.softmax(x.reshape(2, 3), axis=0),
    lambda x: ops.log_softmax(x.reshape(2, 3), axis=1),
    lambda x: ops.logsumexp(x.reshape(2, 3), axis=1),
    lambda x: sg.grad(lambda y: ops.logsumexp(y * y))(x),
], ids=["softmax axis 0", "log_softmax axis 1", "logsumexp", "grad of logsumexp (Hessian)"])
def test_batched_jacobian_of_the_softmax_family(fn):
    from softgrad.autodiff import _vjp_all

    x = np.array([0.3, -1.2, 0.7, 2.0, 0.1, -0.4])
    assert _vjp_all(fn, [x])[2].batchable()
    out, vjp_fn = sg.vjp(fn, x)
    eye = np.eye(out.size).reshape((out.size,) + out.shape)
    rows = np.stack([vjp_fn(e)[0].numpy() for e in eye]).reshape(out.shape + x.shape)
    np.testing.assert_allclose(arr(sg.jacobian(fn)(x)), rows, rtol=1e-12, atol=1e-15)


def test_output_vjp_may_write_only_into_a_cotangent_the_sweep_owns():
    """``output_vjp`` gets ``out=g`` only for a cotangent nothing else references: never a caller's seed,
    never an array a rule handed to two parents (add passes the same g to both) while the other still needs it."""
    from softgrad.trace import Primitive, bind

    seen = []

    def doubling_rule(g, ans, out):  # f(x) = 2x; writes 2g into out when allowed
        seen.append(out is not None)
        return np.multiply(g, 2.0, out=out) if out is not None else g * 2.0

    double_p = Primitive("double", lambda x: 2.0 * x, (lambda g, ans, x: g,), output_vjp=doubling_rule)
    x = np.arange(3.0)
    seed = np.array([1.0, -1.0, 0.5])
    _, vjp_fn = sg.vjp(lambda x: bind(double_p, x), x)
    np.testing.assert_array_equal(vjp_fn(seed)[0].numpy(), [2.0, -2.0, 1.0])
    np.testing.assert_array_equal(seed, [1.0, -1.0, 0.5])  # the caller's array is untouched
    assert seen == [False]

    m = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [1.0, 0.0, 1.0]])
    seen.clear()
    rows = np.stack([x, x + 1.0])
    g = sg.grad(lambda x: ((bind(double_p, x) + bind(double_p, x * 3.0)) @ m).sum())(rows)
    np.testing.assert_array_equal(g.numpy(), np.tile(8.0 * m.sum(1), (2, 1)))
    assert seen == [False, True]  # the first holder of the shared g must leave it intact; the last may write


def test_a_fresh_cotangent_is_owned_by_the_next_node_too(monkeypatch):
    """A rule's fresh result is the sweep's alone: no local of the sweep may still hold it when its node comes
    (a max-pool's gradient reaching the ReLU fused into the convolution below it used to be copied for that)."""
    from softgrad.ops import nn_kernels

    seen = []
    rule = nn_kernels.conv2d_bias_p.output_vjp

    def spy(g, ans, out, **params):
        seen.append(out is not None)
        return rule(g, ans, out, **params)
    monkeypatch.setattr(nn_kernels.conv2d_bias_p, "output_vjp", spy)
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 4, 6, 6)), rng.standard_normal((4, 4, 3, 3)), rng.standard_normal(4)
    g = sg.grad(lambda x: ops.sum(ops.max_pool2d(ops.conv2d(x, w, bias=b, activation="relu"), 3, 1) ** 2))(x)
    assert seen == [True]  # (overlapping windows: the pool's rule runs; tiling windows send a StandIn, below)
    monkeypatch.setattr(nn_kernels.conv2d_bias_p, "output_vjp", rule)
    reference = sg.grad(lambda x: ops.sum(ops.max_pool2d(ops.relu(ops.conv2d(x, w) + b.reshape(4, 1, 1)), 3, 1)
                                          ** 2))(x)
    np.testing.assert_allclose(g.numpy(), reference.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("net", ["fused", "by hand", "no activation"])
def test_a_max_pool_hands_the_convolution_before_it_its_scatter_uncomputed(monkeypatch, net):
    """conv2d (+ ReLU) then a max-pool whose windows tile its input: the pool's backward is a StandIn
    (Primitive.lazy_vjp) that the Winograd input transpose reads inside its tiles' gather (compiled), so the
    scatter is never written out; the three gradients are the unfused path's bit for bit. Where the convolution's
    output has another consumer, the pool's rule runs."""
    from softgrad.ops import compiled, nn_kernels

    if not compiled.available():
        pytest.skip("Numba is not installed (pip install softgrad[fast]): the pool's rule always runs")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 5, 10, 9)).astype(np.float32)  # conv output 8×7: a row of cells past the windows
    w, b = (rng.standard_normal((6, 5, 3, 3)) / 5).astype(np.float32), rng.standard_normal(6).astype(np.float32)
    t = rng.standard_normal((3, 6, 4, 3)).astype(np.float32)
    layer = {"fused": lambda x, w, b: ops.conv2d(x, w, bias=b, activation="relu"),
             "by hand": lambda x, w, b: ops.relu(ops.conv2d(x, w, bias=b)),
             "no activation": lambda x, w, b: ops.conv2d(x, w, bias=b)}[net]

    def loss(x, w, b):
        return ops.sum(ops.max_pool2d(layer(x, w, b), 2) * t)

    def other_consumer(x, w, b):
        h = layer(x, w, b)
        return ops.sum(ops.max_pool2d(h, 2) * t) + ops.sum(h * 0.5)

    scattered = []
    scatter = nn_kernels._pool_scatter_impl
    spy = lambda *a, **k: scattered.append(1) or scatter(*a, **k)  # noqa: E731
    monkeypatch.setattr(nn_kernels, "_pool_scatter_impl", spy)  # (a StandIn's value)
    monkeypatch.setattr(nn_kernels.pool_scatter_p, "impl", spy)  # (the pool's rule)
    got = sg.grad(loss, (0, 1, 2))(x, w, b)
    assert not scattered
    sg.grad(other_consumer, (0, 1, 2))(x, w, b)
    assert scattered
    with monkeypatch.context() as m:
        m.setattr(nn_kernels.max_pool2d_p, "lazy_vjp", None)
        want = sg.grad(loss, (0, 1, 2))(x, w, b)
    for a, e in zip(got, want):
        assert np.array_equal(a.numpy(), e.numpy())


@pytest.mark.parametrize("positions", [(1, 2), (0, 1, 2)])
@pytest.mark.parametrize("kernel, activation", [(5, "relu"), (3, "tanh")], ids=["im2col-relu", "winograd-tanh"])
def test_a_max_pools_stand_in_that_cannot_be_read_as_it_is_is_computed_once(monkeypatch, positions, kernel,
                                                                            activation):
    """A 5×5 convolution (im2col) with a fused ReLU, or a 3×3 one (Winograd) with tanh (whose derivative the
    compiled gather does not apply), then a tiling max-pool: the StandIn the pool hands back is computed once
    (the first layer's ĝ still made chunk by chunk when x is not differentiated), and the gradients are those
    of the pool's own rule, bit for bit."""
    from softgrad.ops import compiled, nn_kernels

    if not compiled.available():
        pytest.skip("Numba is not installed (pip install softgrad[fast]): the pool's rule always runs")
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 4, 9, 9))
    w, b = rng.standard_normal((4, 4, kernel, kernel)), rng.standard_normal(4)
    t = rng.standard_normal((2, 4, (10 - kernel) // 2, (10 - kernel) // 2))

    def loss(x, w, b):
        return ops.sum(ops.max_pool2d(ops.conv2d(x, w, bias=b, activation=activation), 2) * t)
    computed, scatter = [], nn_kernels._pool_scatter_impl
    with monkeypatch.context() as m:
        m.setattr(nn_kernels, "_pool_scatter_impl", lambda *a, **k: computed.append(1) or scatter(*a, **k))
        got = sg.grad(loss, positions)(x, w, b)
    assert len(computed) == 1
    with monkeypatch.context() as m:
        m.setattr(nn_kernels.max_pool2d_p, "lazy_vjp", None)
        want = sg.grad(loss, positions)(x, w, b)
    for a, e in zip(got, want):
        assert np.array_equal(a.numpy(), e.numpy())


def test_an_activation_by_hand_folds_into_the_convolution_before_it_only_when_it_is_its_sole_consumer(monkeypatch):
    """relu(conv2d(x, w, bias=b)) written by hand: the backward sweep runs the convolution's rules as if the ReLU
    were fused (Primitive.folds_into; relu's own rule never runs), the same bits as the fused op. Where the
    convolution's output has another consumer (before or after the ReLU on the tape), or something else comes
    between them, nothing folds and the gradients are still those of the composition."""
    from softgrad.ops import elementwise

    calls = []
    rule = elementwise.relu_p.output_vjp
    monkeypatch.setattr(elementwise.relu_p, "output_vjp", lambda g, *args: calls.append(g.shape) or rule(g, *args))
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((4, 4, 3, 3)), rng.standard_normal(4)
    t = rng.standard_normal((2, 4, 5, 4))
    fused = sg.grad(lambda x, w, b: ops.sum(ops.conv2d(x, w, bias=b, activation="relu") * t), (0, 1, 2))(x, w, b)
    assert t.shape not in calls  # (the fused op's rules apply relu' to Winograd's tiles, compiled or by the rule)
    calls.clear()
    by_hand = sg.grad(lambda x, w, b: ops.sum(ops.relu(ops.conv2d(x, w, bias=b)) * t), (0, 1, 2))(x, w, b)
    assert t.shape not in calls  # (relu's own rule, on the whole cotangent, never ran)
    for a, e in zip(by_hand, fused):
        assert np.array_equal(a.numpy(), e.numpy())
    composed = [  # the convolution's output read again after the ReLU, before it, or something in between
        lambda x, w, b: (lambda h: ops.sum(ops.relu(h) * t) + ops.sum(h * h))(ops.conv2d(x, w, bias=b)),
        lambda x, w, b: (lambda h: ops.sum(ops.exp(h) * 0.1) + ops.sum(ops.relu(h) * t))(ops.conv2d(x, w, bias=b)),
        lambda x, w, b: (lambda h: ops.sum(ops.relu(h) * t) + ops.sum(t * 0.0))(ops.conv2d(x, w, bias=b)),
    ]
    calls.clear()
    for f in composed:
        got = sg.grad(f, (0, 1, 2))(x, w, b)
        for position, argument in enumerate((x, w, b)):
            e = np.zeros_like(argument)
            e.flat[3] = 1e-6
            plus = [a + e if k == position else a for k, a in enumerate((x, w, b))]
            minus = [a - e if k == position else a for k, a in enumerate((x, w, b))]
            slope = (f(*plus).item() - f(*minus).item()) / 2e-6
            np.testing.assert_allclose(got[position].numpy().flat[3], slope, rtol=1e-6, atol=1e-8)
    assert calls.count(t.shape) == 2  # (the first two: relu's own rule ran)


def test_fan_out_cotangents_are_summed_in_place_only_into_arrays_the_sweep_owns():
    """y = eˣ feeds two ops; its two cotangents are added. The first is the caller's seed itself (add passes g
    on unchanged): it must stay untouched, and the sum must be exact."""
    x = np.array([0.5, -1.0, 2.0])
    seed = np.array([1.0, 2.0, 3.0])
    _, vjp_fn = sg.vjp(lambda x: (lambda y: y + y * 2.0)(ops.exp(x)), x)
    np.testing.assert_array_equal(vjp_fn(seed)[0].numpy(), 3.0 * seed * np.exp(x))
    np.testing.assert_array_equal(seed, [1.0, 2.0, 3.0])
    # x feeds dense, the add and the product: three cotangents, summed in place once the sweep owns the sum
    w = np.array([[0.5, -0.25], [0.75, 0.5]])
    f = lambda x: ops.tanh(ops.dense(x, w) + x) * x  # noqa: E731
    sg.check_grad(f, np.array([[0.3, -0.2], [1.1, 0.4]]))
