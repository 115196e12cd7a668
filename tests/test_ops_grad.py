"""Every primitive: forward against NumPy, gradient against central finite differences in float64,
over shapes that exercise broadcasting."""

import numpy as np
import pytest

import softgrad as sg
from softgrad import ops

RNG = np.random.default_rng(0)


def positive(shape):
    return RNG.uniform(0.5, 2.0, shape)


def normal(shape):
    return RNG.standard_normal(shape)


def away_from_zero(shape):
    """Values with |x| ≥ 0.3, for ops with a kink or pole at 0."""
    return RNG.choice([-1, 1], shape) * RNG.uniform(0.3, 2.0, shape)


# name, softgrad op, numpy reference, input generator
UNARY = [
    ("neg", ops.neg, np.negative, normal),
    ("exp", ops.exp, np.exp, normal),
    ("log", ops.log, np.log, positive),
    ("log1p", ops.log1p, np.log1p, positive),
    ("expm1", ops.expm1, np.expm1, normal),
    ("sqrt", ops.sqrt, np.sqrt, positive),
    ("square", ops.square, np.square, normal),
    ("abs", ops.abs, np.abs, away_from_zero),
    ("sin", ops.sin, np.sin, normal),
    ("cos", ops.cos, np.cos, normal),
    ("tanh", ops.tanh, np.tanh, normal),
    ("sigmoid", ops.sigmoid, lambda x: 1 / (1 + np.exp(-x)), normal),
    ("softplus", ops.softplus, lambda x: np.log1p(np.exp(x)), normal),
    ("relu", ops.relu, lambda x: np.maximum(x, 0), away_from_zero),
]

# broadcasting pairs: same shape, scalar-like, added leading axes, stretched axes
SHAPE_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((1, 4), (3, 1))]

BINARY = [
    ("add", ops.add, np.add, normal, normal),
    ("sub", ops.sub, np.subtract, normal, normal),
    ("mul", ops.mul, np.multiply, normal, normal),
    ("div", ops.div, np.true_divide, normal, away_from_zero),
    ("pow", ops.pow, np.power, positive, normal),
    ("mod", ops.mod, np.mod, lambda s: RNG.uniform(0.1, 0.9, s) + RNG.integers(0, 3, s), lambda s: np.full(s, 1.0)),
    ("maximum", ops.maximum, np.maximum, normal, normal),
    ("minimum", ops.minimum, np.minimum, normal, normal),
]


@pytest.mark.parametrize("name,op,ref,gen", UNARY, ids=[u[0] for u in UNARY])
@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4)])
def test_unary(name, op, ref, gen, shape):
    x = gen(shape)
    np.testing.assert_allclose(op(x).numpy(), ref(x), rtol=1e-12, atol=1e-15)
    sg.check_grad(op, x)


@pytest.mark.parametrize("name,op,ref,gen_x,gen_y", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
def test_binary_broadcasting(name, op, ref, gen_x, gen_y, shapes):
    x, y = gen_x(shapes[0]), gen_y(shapes[1])
    out = op(x, y)
    np.testing.assert_allclose(out.numpy(), ref(x, y), rtol=1e-12)
    assert out.shape == np.broadcast_shapes(shapes[0], shapes[1])
    sg.check_grad(op, x, y)


def test_operators_match_ops():
    x, y = normal((3, 4)), away_from_zero((4,))
    tx, ty = sg.Tensor(x), sg.Tensor(y)
    for expr, ref in [(tx + ty, x + y), (tx - ty, x - y), (tx * ty, x * y), (tx / ty, x / y),
                      (tx ** 2, x ** 2), (2.0 ** tx, 2.0 ** x), (-tx, -x), (1 - tx, 1 - x), (3 / ty, 3 / y),
                      (tx // ty, x // y), (tx % ty, x % y), (tx @ normal((4, 2)).T.T, None)]:
        if ref is not None:
            np.testing.assert_allclose(expr.numpy(), ref)


def test_ties_split_evenly():
    g = sg.grad(lambda x, y: ops.maximum(x, y).sum(), (0, 1))(np.array([1.0, 2.0]), np.array([1.0, 3.0]))
    np.testing.assert_array_equal(g[0].numpy(), [0.5, 0.0])
    np.testing.assert_array_equal(g[1].numpy(), [0.5, 1.0])
    g = sg.grad(lambda x: x.max())(np.array([3.0, 1.0, 3.0]))
    np.testing.assert_array_equal(g.numpy(), [0.5, 0.0, 0.5])


def test_where_and_clip():
    c = RNG.random((3, 4)) > 0.5
    x, y = normal((3, 4)), normal((4,))
    np.testing.assert_allclose(ops.where(c, x, y).numpy(), np.where(c, x, y))
    sg.check_grad(lambda x, y: ops.where(c, x, y), x, y)
    x = away_from_zero((10,))
    np.testing.assert_allclose(ops.clip(x, -0.5, 0.5).numpy(), np.clip(x, -0.5, 0.5))
    sg.check_grad(lambda x: ops.clip(x, -0.5, 0.5), x + np.where(np.abs(np.abs(x) - 0.5) < 1e-3, 0.01, 0))
    # the boundary belongs to the inside, like PyTorch's clamp
    assert sg.grad(lambda x: ops.clip(x, 0.0, 1.0).sum())(np.array([0.0, 1.0])).numpy().tolist() == [1.0, 1.0]


def test_comparisons_are_bool_and_not_traced():
    x, y = normal((5,)), normal((5,))
    for op, ref in [(ops.equal, np.equal), (ops.less, np.less), (ops.greater_equal, np.greater_equal)]:
        out = op(x, y)
        assert out.dtype == np.bool_
        np.testing.assert_array_equal(out.numpy(), ref(x, y))
    assert sg.grad(lambda x: (x > 0).astype(np.float64).sum() + x.sum())(x).numpy().tolist() == [1.0] * 5


REDUCTIONS = [
    ("sum", ops.sum, np.sum), ("mean", ops.mean, np.mean), ("prod", ops.prod, np.prod),
    ("max", ops.max, np.max), ("min", ops.min, np.min),
    ("logsumexp", ops.logsumexp, lambda x, axis, keepdims: np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))),
    ("var", ops.var, np.var), ("std", ops.std, np.std),
]


@pytest.mark.parametrize("name,op,ref", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(name, op, ref, axis, keepdims):
    x = positive((2, 3, 4)) if name == "prod" else normal((2, 3, 4))
    np.testing.assert_allclose(op(x, axis=axis, keepdims=keepdims).numpy(), ref(x, axis=axis, keepdims=keepdims),
                               rtol=1e-12)
    sg.check_grad(lambda x: op(x, axis=axis, keepdims=keepdims), x)


def test_sums_over_leading_axes_of_a_large_array():
    """Σ over the leading axes of a C-contiguous float array of ≥ 4096 entries runs as a GEMV (1ᵀX): NumPy's
    shapes for every keepdims, within float32 rounding of the float64 sum; other axes as NumPy sums them."""
    for dtype in (np.float32, np.float64):
        x = RNG.standard_normal((64, 8, 16)).astype(dtype)
        exact = x.astype(np.float64)
        for axis in [0, (0, 1), 1, (0, 2), None]:
            for keepdims in (False, True):
                out = ops.sum(x, axis=axis, keepdims=keepdims).numpy()
                expected = exact.sum(axis=axis, keepdims=keepdims)
                assert out.shape == expected.shape and out.dtype == dtype
                scale = np.abs(exact).sum(axis=axis, keepdims=keepdims)
                assert np.all(np.abs(out - expected) <= 4 * np.finfo(dtype).eps * scale)
    g = sg.grad(lambda b: (ops.add(np.ones((512, 16)), b) * 0.5).sum())(np.zeros(16))  # a bias gradient
    np.testing.assert_allclose(g.numpy(), np.full(16, 256.0), rtol=1e-15)


def test_prod_gradient_with_zeros():
    for x in [np.array([2.0, 0.0, 3.0]), np.array([0.0, 0.0, 3.0]), np.array([1.5, 2.0, 3.0])]:
        expected = [np.prod(np.delete(x, i)) for i in range(3)]
        np.testing.assert_allclose(sg.grad(ops.prod)(x).numpy(), expected)


def test_logsumexp_extremes():
    x = np.array([[1e4, 1e4], [-1e4, -1e4], [-np.inf, -np.inf]], dtype=np.float32)
    out = ops.logsumexp(x, axis=1).numpy()
    np.testing.assert_allclose(out[:2], [1e4 + np.log(2), -1e4 + np.log(2)], rtol=1e-6)
    assert out[2] == -np.inf
    grad = sg.grad(lambda x: ops.logsumexp(x, axis=1).sum())(x[:2]).numpy()
    np.testing.assert_array_equal(grad, 0.5)  # softmax as e^{x−m}/Σ, not e^{x − lse} (lse is rounded)


def test_argmax_argmin():
    x = normal((3, 5))
    np.testing.assert_array_equal(ops.argmax(x, axis=1).numpy(), np.argmax(x, axis=1))
    np.testing.assert_array_equal(ops.argmin(x).numpy(), np.argmin(x))


SHAPE_OPS = [
    ("reshape", lambda x: ops.reshape(x, (4, 6)), lambda x: x.reshape(4, 6)),
    ("reshape_infer", lambda x: x.reshape(-1, 3), lambda x: x.reshape(-1, 3)),
    ("transpose", lambda x: ops.transpose(x, (2, 0, 1)), lambda x: x.transpose(2, 0, 1)),
    ("transpose_rev", lambda x: x.T, lambda x: x.T),
    ("swapaxes", lambda x: ops.swapaxes(x, 0, 2), lambda x: x.swapaxes(0, 2)),
    ("expand_dims", lambda x: ops.expand_dims(x, 1), lambda x: np.expand_dims(x, 1)),
    ("squeeze", lambda x: ops.squeeze(ops.expand_dims(x, 0), 0), lambda x: x),
    ("broadcast_to", lambda x: ops.broadcast_to(x[:, :1], (5, 2, 3, 4)), lambda x: np.broadcast_to(x[:, :1], (5, 2, 3, 4))),
    ("flatten", ops.flatten, lambda x: x.reshape(-1)),
    ("flatten_from_1", lambda x: ops.flatten(x, start_dim=1), lambda x: x.reshape(2, -1)),
    ("concat", lambda x: ops.concat([x, 2 * x[:, :1]], axis=1), lambda x: np.concatenate([x, 2 * x[:, :1]], axis=1)),
    ("stack", lambda x: ops.stack([x, x * x], axis=-1), lambda x: np.stack([x, x * x], axis=-1)),
    ("split", lambda x: ops.split(x, 2, axis=2)[1] * ops.split(x, [1], axis=2)[0],
     lambda x: np.split(x, 2, axis=2)[1] * np.split(x, [1], axis=2)[0]),
    ("getitem_basic", lambda x: x[1, :, ::2], lambda x: x[1, :, ::2]),
    ("getitem_ellipsis", lambda x: x[..., None, 1], lambda x: x[..., None, 1]),
    ("getitem_int_array", lambda x: x[np.array([0, 1, 1, 0])], lambda x: x[np.array([0, 1, 1, 0])]),
    ("getitem_bool_mask", lambda x: x[x > 0], lambda x: x[x > 0]),
    ("getitem_mixed", lambda x: x[:, np.array([2, 0, 2]), 1:], lambda x: x[:, np.array([2, 0, 2]), 1:]),
    ("take", lambda x: ops.take(x, np.array([3, 3, 7])), lambda x: np.take(x, [3, 3, 7])),
    ("take_axis", lambda x: ops.take(x, np.array([[0, 2], [1, 1]]), axis=1), lambda x: np.take(x, [[0, 2], [1, 1]], axis=1)),
    ("gather", lambda x: ops.gather(x, np.array([1, 0]), 0), lambda x: np.take(x, [1, 0], axis=0)),
    ("take_along_axis", lambda x: ops.take_along_axis(x, np.array([[[0], [3], [1]]] * 2), axis=2),
     lambda x: np.take_along_axis(x, np.array([[[0], [3], [1]]] * 2), axis=2)),
    ("astype", lambda x: x.astype(np.float32).astype(np.float64), lambda x: x.astype(np.float32).astype(np.float64)),
    ("copy", ops.copy, np.copy),
]


@pytest.mark.parametrize("name,op,ref", SHAPE_OPS, ids=[s[0] for s in SHAPE_OPS])
def test_shape_ops(name, op, ref):
    x = normal((2, 3, 4))
    np.testing.assert_array_equal(op(sg.Tensor(x)).numpy(), ref(x))
    if name != "astype":  # float32 round trip: not smooth at float64 resolution
        sg.check_grad(op, x)


def test_repeated_indices_accumulate():
    g = sg.grad(lambda x: x[np.array([0, 0, 2])].sum())(np.zeros(3))
    np.testing.assert_array_equal(g.numpy(), [2.0, 0.0, 1.0])


def test_one_hot():
    np.testing.assert_array_equal(ops.one_hot(np.array([1, 0]), 3).numpy(), [[0, 1, 0], [1, 0, 0]])
    with pytest.raises(ValueError, match=r"\[0, 3\), got 3"):
        ops.one_hot(np.array([3]), 3)
    with pytest.raises(TypeError, match="integer"):
        ops.one_hot(np.array([1.0]), 3)


MATMUL_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
                 ((2, 3), (5, 3, 4)), ((5, 1, 2, 3), (4, 3, 2)), ((3,), (5, 3, 2)), ((5, 2, 3), (3,))]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(shapes):
    x, y = normal(shapes[0]), normal(shapes[1])
    np.testing.assert_allclose(ops.matmul(x, y).numpy(), np.matmul(x, y), rtol=1e-12)
    sg.check_grad(ops.matmul, x, y)


@pytest.mark.parametrize("shapes", [((3,), (3,)), ((2, 3), (3, 4)), ((), (3,)), ((2, 3), (4, 3, 5))], ids=str)
def test_dot_and_outer(shapes):
    x, y = normal(shapes[0]), normal(shapes[1])
    np.testing.assert_allclose(ops.dot(x, y).numpy(), np.dot(x, y), rtol=1e-12)
    sg.check_grad(ops.dot, x, y)
    np.testing.assert_allclose(ops.outer(x, y).numpy(), np.outer(x, y))
    sg.check_grad(ops.outer, x, y)


def test_matmul_shape_error_names_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        ops.matmul(np.ones((2, 3)), np.ones((4, 5)))


@pytest.mark.parametrize("fn", [ops.exp, ops.sigmoid, ops.tanh, lambda x: ops.logsumexp(x * x, axis=0),
                                lambda x: (x[:, None] @ x[None, :]).sum(0), lambda x: ops.prod(x) * ops.max(x)])
def test_second_order(fn):
    x = positive((3,))
    sg.check_grad(lambda x: sg.grad(lambda y: fn(y).sum())(x), x)


def test_creation():
    assert ops.ones((2, 3)).dtype == np.float32 and ops.zeros(4, sg.float64).dtype == np.float64
    np.testing.assert_array_equal(ops.full((2,), 7.0).numpy(), [7, 7])
    np.testing.assert_array_equal(ops.arange(5).numpy(), np.arange(5))
    assert ops.arange(0.0, 1.0, 0.25).dtype == np.float32
    np.testing.assert_allclose(ops.linspace(0, 1, 5).numpy(), np.linspace(0, 1, 5))
    np.testing.assert_array_equal(ops.eye(3).numpy(), np.eye(3))
    x = sg.Tensor(np.ones((2, 2), np.float64))
    assert ops.ones_like(x).dtype == np.float64 and ops.zeros_like(x).shape == (2, 2)
    assert ops.full_like(x, 3.0).numpy().sum() == 12


def test_random_is_explicit_and_seeded():
    a, b = sg.random.Generator(3), sg.random.Generator(3)
    np.testing.assert_array_equal(a.normal((4,)).numpy(), b.normal((4,)).numpy())
    assert a.uniform((100,), -1, 1).numpy().min() >= -1
    assert sorted(a.permutation(6).numpy().tolist()) == list(range(6))
    ints = a.integers(0, 10, (50,)).numpy()
    assert ints.dtype == np.int64 and ints.min() >= 0 and ints.max() < 10
    state = a.state_dict()
    first = a.normal((3,)).numpy()
    a.load_state_dict(state)
    np.testing.assert_array_equal(a.normal((3,)).numpy(), first)
    c1, c2 = a.spawn(2)
    assert not np.array_equal(c1.normal((3,)).numpy(), c2.normal((3,)).numpy())


def test_stop_gradient():
    g = sg.grad(lambda x: (x * sg.stop_gradient(x)).sum())(np.array([2.0, 3.0]))
    np.testing.assert_array_equal(g.numpy(), [2.0, 3.0])


def test_numpy_ufuncs_on_tensors_stay_traced():
    g = sg.grad(lambda x: np.sum(np.exp(x) * np.ones(2)))(np.array([0.0, 1.0]))
    g2 = sg.grad(lambda x: (np.exp(x) * np.ones(2)).sum())(np.array([0.0, 1.0]))
    np.testing.assert_allclose(g.numpy(), np.exp([0.0, 1.0]))
    np.testing.assert_allclose(g2.numpy(), np.exp([0.0, 1.0]))
    assert isinstance(np.exp(sg.Tensor([1.0])), sg.Tensor)
