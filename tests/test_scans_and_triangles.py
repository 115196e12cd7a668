"""cumsum, cumprod, tril, triu, diag, trace, norm, einsum, scatter_add, index_add, inv, solve, det, slogdet, sort, argsort, topk (#16): values and gradients against PyTorch 2.13 (golden file
tests/golden/ops_more.npz, written by scripts/golden/ops_more.py), finite differences to second order in float64
(cumprod where a lane holds zeros: its rule switches there), and agreement with NumPy's definitions."""

import numpy as np
import pytest

import softgrad as sg
import test_losses_golden as golden
from softgrad import ops

CASES, ARRAYS = golden.load("ops_more.npz")


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_matches_pytorch(case):
    golden.check(case, ARRAYS)
    if case["fn"].endswith("[0]"):  # sort, topk: the indices too
        indices = golden.function(case["fn"][:-3] + "[1]")(*[ARRAYS[k] for k in case["args"].values()],
                                                          **case["kwargs"])
        np.testing.assert_array_equal(indices.numpy(), ARRAYS[f"{case['id']}/indices"])


def test_the_golden_file_covers_every_op_in_both_dtypes():
    ids = [c["id"] for c in CASES]
    for fn in ("cumsum", "cumprod", "cumprod/{}/zeros", "tril", "triu", "diag/{}/matrix", "diag/{}/vector",
               "trace", "norm", "einsum", "scatter_add", "index_add",
               "inv", "solve", "det", "slogdet", "sort", "topk"):
        for dtype in ("float32", "float64"):
            prefix = fn.format(dtype) if "{}" in fn else f"{fn}/{dtype}"
            assert any(i.startswith(prefix) for i in ids), prefix


LANES_WITH_ZEROS = np.array([[2.0, 0.0, 3.0, -1.5, 0.5], [0.0, 1.5, -2.0, 0.7, 1.1],
                             [1.2, 0.0, 0.0, 2.0, -0.5], [1.1, -0.9, 1.3, 0.8, 1.2]])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_cumprod_with_zeros_first_and_second_order(axis):
    weights = np.sin(np.arange(20.0)).reshape(4, 5)
    sg.check_grad(lambda x: ops.cumprod(x, axis), LANES_WITH_ZEROS)
    sg.check_grad(lambda x: sg.grad(lambda x: (ops.cumprod(x, axis) * weights).sum())(x) * weights,
                  LANES_WITH_ZEROS)


def test_cumprod_jacobian_at_zeros_is_the_product_of_the_others():
    x = np.array([2.0, 0.0, 3.0, 0.0])
    expected = np.array([[1, 0, 0, 0], [0, 2, 0, 0], [0, 6, 0, 0], [0, 0, 0, 0]], dtype=float)
    np.testing.assert_array_equal(sg.jacobian(lambda x: ops.cumprod(x, 0))(x).numpy(), expected)


@pytest.mark.parametrize("k", [-4, -1, 0, 1, 3, 6])
def test_triangles_and_diagonals_are_numpys(k):
    m, v = np.arange(12.0).reshape(3, 4), np.arange(1.0, 4.0)
    np.testing.assert_array_equal(ops.tril(m, k).numpy(), np.tril(m, k))
    np.testing.assert_array_equal(ops.triu(m, k).numpy(), np.triu(m, k))
    np.testing.assert_array_equal(ops.diag(m, k).numpy(), np.diag(m, k))
    np.testing.assert_array_equal(ops.diag(v, k).numpy(), np.diag(v, k))
    batch = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(ops.tril(batch, k).numpy(), np.tril(batch, k))


def test_composed_ops_second_order():
    x = np.random.default_rng(0).standard_normal((4, 4))
    sg.check_grad(lambda x: ops.trace(ops.tril(x, 1) @ ops.triu(x)) * ops.diag(ops.diag(x, -1), 1), x)
    sg.check_grad(lambda x: sg.grad(lambda x: (ops.trace(x @ ops.tril(x)) ** 2))(x), x)
    sg.check_grad(lambda x: sg.grad(lambda x: (ops.cumsum(x, 1) ** 3).sum())(x), x)


def test_tensor_methods_and_float32():
    x = sg.Tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.cumsum(1).dtype == sg.float32 and x.cumprod(0).numpy().tolist() == [[1, 2], [3, 8]]
    assert x.tril().numpy().tolist() == [[1, 0], [3, 4]] and x.triu(1).numpy().tolist() == [[0, 2], [0, 0]]
    assert float(x.trace()) == 5.0 and x.diag().numpy().tolist() == [1, 4]
    assert ops.cumsum([1.0, 2.0], 0).dtype == sg.float32


def test_sorting_is_stable_with_ties_and_nan_is_largest():
    x = np.array([[3.0, 1.0, 3.0, np.nan, 2.0, 1.0]])
    np.testing.assert_array_equal(ops.argsort(x).numpy(), [[1, 5, 4, 0, 2, 3]])
    np.testing.assert_array_equal(ops.argsort(x, descending=True).numpy(), [[3, 0, 2, 4, 1, 5]])
    values, indices = ops.topk(np.array([1.0, 2.0, 2.0, 1.0]), 3, largest=False)
    assert values.numpy().tolist() == [1, 1, 2] and indices.numpy().tolist() == [0, 3, 1]
    np.testing.assert_array_equal(ops.argsort(np.array([[8, 2, 1], [5, 9, 3], [4, 6, 7]])).numpy(),
                                  [[2, 1, 0], [2, 0, 1], [0, 1, 2]])  # MindSpore's example


def test_sort_and_topk_gradients_to_second_order():
    x = np.random.default_rng(1).standard_normal((3, 5))
    weights = np.arange(15.0).reshape(3, 5)
    sg.check_grad(lambda x: ops.sort(x, 0, descending=True)[0] * weights, x)
    sg.check_grad(lambda x: sg.grad(lambda x: (ops.topk(x, 2, dim=1)[0] ** 3).sum())(x), x)
    y = sg.Tensor(x)
    assert y.sort()[0].shape == (3, 5) and y.topk(1)[1].shape == (3, 1) and y.argsort().dtype == sg.int64


NORMS = [(None, None), (None, 1), (1, 0), (np.inf, 1), (-np.inf, 1), (0, 1), (3, 1), (0.5, 1), ("fro", (0, 1)),
         (1, (0, 1)), (-1, (0, 1)), (np.inf, (0, 1)), (-np.inf, (1, 0)), (None, (0, 1)), (1, None)]


@pytest.mark.parametrize("ord, dim", NORMS)
def test_norm_is_numpys(ord, dim):
    x = np.random.default_rng(2).standard_normal((3, 4))
    expected = np.linalg.norm(x.ravel()) if ord is dim is None else np.linalg.norm(x, ord, dim)
    np.testing.assert_allclose(ops.norm(x, ord, dim).numpy(), expected, rtol=1e-12)


def test_norm_neither_overflows_nor_divides_by_zero():
    big = np.array([3e30, 4e30], dtype=np.float32)  # (3e30)² overflows float32
    assert float(ops.norm(big)) == pytest.approx(5e30, rel=1e-6)
    assert float(ops.norm(np.array([3e-30, 4e-30], dtype=np.float32))) == pytest.approx(5e-30, rel=1e-6)
    np.testing.assert_array_equal(sg.grad(lambda x: ops.norm(x))(np.zeros(3)).numpy(), 0.0)
    np.testing.assert_array_equal(sg.grad(lambda x: ops.norm(x, 0, 0))(np.array([1.0, 0.0])).numpy(), 0.0)
    assert float(ops.norm(np.zeros((0, 3)))) == 0.0


def test_norm_second_order():
    x = np.random.default_rng(3).standard_normal((3, 4))
    for ord, dim in [(None, None), (3, 1), (1.5, 0), ("fro", (0, 1)), (np.inf, (0, 1))]:
        sg.check_grad(lambda x: sg.grad(lambda x: ops.norm(x, ord, dim).sum() ** 2)(x), x)


EINSUMS = [("ij,jk->ik", (2, 3), (3, 4)), ("ij,ij->", (1, 3), (2, 3)), ("...j,j->...", (5, 2, 3), (3,)),
           ("ij", (2, 3)), ("ji", (2, 3)), ("i,i", (3,), (3,)), ("ij,jk,kl->il", (2, 3), (3, 4), (4, 2)),
           ("ij,k->ijk", (2, 3), (3,)), ("b i j, b j k -> b i k", (2, 2, 3), (2, 3, 2))]


@pytest.mark.parametrize("case", EINSUMS, ids=[c[0] for c in EINSUMS])
def test_einsum_is_numpys_and_its_rules_are_exact_to_second_order(case):
    equation, *shapes = case
    rng = np.random.default_rng(4)
    xs = [rng.standard_normal(shape) for shape in shapes]
    np.testing.assert_allclose(ops.einsum(equation, *xs).numpy(), np.einsum(equation.replace(" ", ""), *xs),
                               rtol=1e-12)
    sg.check_grad(lambda *xs: ops.einsum(equation, *xs), *xs)
    sg.check_grad(lambda *xs: sg.grad(lambda *ys: (ops.einsum(equation, *ys) ** 2).sum())(*xs), *xs)
    np.testing.assert_allclose(ops.einsum(equation, list(xs)).numpy(), ops.einsum(equation, *xs).numpy())


def test_einsum_repeated_subscripts_run_forward_and_refuse_to_differentiate():
    x = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(ops.einsum("ii->i", x).numpy(), np.diag(x))
    with pytest.raises(NotImplementedError, match="repeated subscript.*'ii'"):
        sg.grad(lambda x: ops.einsum("ii->", x))(x)


def test_scatter_add_and_index_add_accumulate_repeated_indices_to_second_order():
    rng = np.random.default_rng(5)
    x, src, y = rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal((3, 2))
    index = np.array([[0, 1, 2, 0], [2, 2, 1, 1]])
    expected = x.copy()
    np.add.at(expected, (index, np.arange(4)[None, :]), src[:2, :4])
    np.testing.assert_allclose(ops.scatter_add(x, 0, index, src).numpy(), expected)
    expected = x.copy()
    np.add.at(expected, (slice(None), [3, 3]), y)
    np.testing.assert_allclose(ops.index_add(x, [3, 3], y, 1).numpy(), expected)
    sg.check_grad(lambda a, b: sg.grad(lambda a, b: (ops.scatter_add(a, 0, index, b) ** 3).sum(),
                                       grad_position=(0, 1))(a, b), x, src)
    sg.check_grad(lambda a, b: sg.grad(lambda a, b: (ops.index_add(a, [3, 3], b, 1) ** 3).sum(),
                                       grad_position=(0, 1))(a, b), x, y)


def test_inverse_solve_and_determinants_to_second_order_and_singular_matrices_raise():
    rng = np.random.default_rng(6)
    A, B, b = rng.standard_normal((3, 3)) + 3 * np.eye(3), rng.standard_normal((3, 2)), rng.standard_normal(3)
    for f in (ops.inv, ops.det, lambda A: ops.slogdet(A)[1], lambda A: ops.solve(A, B), lambda A: ops.solve(A, b)):
        sg.check_grad(f, A)
        sg.check_grad(lambda A: sg.grad(lambda A: (f(A) ** 2).sum())(A), A)
    sg.check_grad(lambda B: ops.solve(A, B), B)
    sign, logabs = ops.slogdet(np.diag([1e200, -1e200, 1e200]))  # det overflows float64; its logarithm does not
    assert float(sign) == -1.0 and float(logabs) == pytest.approx(600 * np.log(10))
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    with pytest.raises(np.linalg.LinAlgError, match="inv: Singular matrix"):
        ops.inv(singular)
    with pytest.raises(np.linalg.LinAlgError, match="inv: Singular matrix"):
        sg.grad(ops.det)(singular)  # det is 0 there, but its gradient needs A⁻¹
