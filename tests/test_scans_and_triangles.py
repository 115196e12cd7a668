"""cumsum, cumprod, tril, triu, diag, trace, norm, einsum, scatter_add, index_add, inv, solve, det, slogdet,
cholesky, qr, svd, svdvals, matrix_norm, sort, argsort, topk (#16): values and gradients against PyTorch 2.13 (golden file
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
    if f"{case['id']}/indices" in ARRAYS:  # sort, topk: the indices too
        indices = golden.function(case["fn"][:-3] + "[1]")(*[ARRAYS[k] for k in case["args"].values()],
                                                          **case["kwargs"])
        np.testing.assert_array_equal(indices.numpy(), ARRAYS[f"{case['id']}/indices"])


def test_the_golden_file_covers_every_op_in_both_dtypes():
    ids = [c["id"] for c in CASES]
    for fn in ("cumsum", "cumprod", "cumprod/{}/zeros", "tril", "triu", "diag/{}/matrix", "diag/{}/vector",
               "trace", "norm", "einsum", "scatter_add", "index_add",
               "inv", "solve", "det", "slogdet", "sort", "topk", "cholesky", "qr", "linalg.svd", "linalg.svdvals",
               "norm/{}/matrix2", "norm/{}/matrix-2", "norm/{}/matrixnuc", "linalg.matrix_norm", "einsum/{}/ii"):
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


DIAGONAL_EINSUMS = [("ii->i", (3, 3)), ("ii", (3, 3)), ("iij->j", (2, 2, 3)), ("iji->ij", (3, 2, 3)),
                    ("ii,ij->j", (3, 3), (3, 2)), ("ij,jj->ij", (2, 3), (3, 3)), ("ii,i->i", (1, 1), (3,))]


@pytest.mark.parametrize("case", DIAGONAL_EINSUMS, ids=[c[0] for c in DIAGONAL_EINSUMS])
def test_einsum_through_repeated_subscripts_is_numpys_to_second_order(case):
    equation, *shapes = case
    rng = np.random.default_rng(7)
    xs = [rng.standard_normal(shape) for shape in shapes]
    np.testing.assert_allclose(ops.einsum(equation, *xs).numpy(), np.einsum(equation, *xs), rtol=1e-12)
    positions = tuple(range(len(xs)))
    sg.check_grad(lambda *xs: ops.einsum(equation, *xs), *xs)
    sg.check_grad(lambda *xs: sg.grad(lambda *ys: (ops.einsum(equation, *ys) ** 3).sum(), positions)(*xs), *xs)


def test_einsum_trace_gradient_is_the_identity_placed_on_the_diagonal():
    np.testing.assert_array_equal(sg.grad(lambda x: ops.einsum("ii", x))(np.ones((3, 3))).numpy(), np.eye(3))
    expected = np.zeros((2, 2, 3))
    expected[[0, 1], [0, 1]] = 1
    np.testing.assert_array_equal(sg.grad(lambda x: ops.einsum("iij->", x))(np.ones((2, 2, 3))).numpy(), expected)


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


def _spd(rng, *shape):
    X = rng.standard_normal(shape)
    return X @ np.swapaxes(X, -1, -2) + np.eye(shape[-1])


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_factorizes_and_differentiates_symmetrically_to_second_order(upper):
    rng = np.random.default_rng(8)
    A, X = _spd(rng, 2, 3, 3), rng.standard_normal((3, 3))
    L = ops.cholesky(A, upper=upper).numpy()
    np.testing.assert_allclose(L, np.linalg.cholesky(A, upper=upper), rtol=1e-12)
    assert np.all((np.triu if upper else np.tril)(L) == L)
    grad = sg.grad(lambda A: (ops.cholesky(A, upper) ** 3).sum())(A).numpy()
    np.testing.assert_allclose(grad, np.swapaxes(grad, -1, -2), rtol=1e-12)  # symmetric, as PyTorch's

    def through_spd(X):  # perturbations of A = X Xᵀ + I are symmetric
        return ops.cholesky(X @ X.T + np.eye(3), upper=upper)

    sg.check_grad(through_spd, X)
    sg.check_grad(lambda X: sg.grad(lambda X: (through_spd(X) ** 3).sum())(X), X)


@pytest.mark.parametrize("shape", [(3, 3), (5, 2), (2, 4), (2, 3, 5)])
def test_qr_is_numpys_and_differentiates_to_second_order(shape):
    rng = np.random.default_rng(9)
    A = rng.standard_normal(shape)
    Q, R = ops.qr(A)
    np.testing.assert_allclose(Q.numpy(), np.linalg.qr(A)[0], atol=1e-12)
    np.testing.assert_allclose(R.numpy(), np.linalg.qr(A)[1], atol=1e-12)
    weights = [np.sin(np.arange(t.size)).reshape(t.shape) + 1 for t in (Q, R)]

    def loss(A):
        Q, R = ops.qr(A)
        return ((Q * weights[0]) ** 2).sum() + (R * weights[1]).sum() ** 2

    sg.check_grad(lambda A: ops.qr(A)[0], A)
    sg.check_grad(lambda A: ops.qr(A)[1], A)
    sg.check_grad(sg.grad(loss), A)


def test_qr_modes():
    A = np.random.default_rng(10).standard_normal((4, 2))
    Q, R = ops.qr(A, mode="complete")
    assert Q.shape == (4, 4) and R.shape == (4, 2)
    np.testing.assert_allclose((Q @ R).numpy(), A, atol=1e-12)
    empty, R = ops.qr(A, mode="r")
    assert empty.shape == (0,)
    sg.check_grad(lambda A: ops.qr(A, mode="r")[1], A)  # differentiable (PyTorch refuses)
    wide = A.T
    np.testing.assert_array_equal(ops.qr(wide, mode="complete")[1].numpy(), ops.qr(wide)[1].numpy())


@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4), (2, 3, 2)])
def test_svd_is_numpys_and_sign_free_quantities_differentiate_to_second_order(shape):
    rng = np.random.default_rng(11)
    A = rng.standard_normal(shape)
    U, S, Vh = ops.linalg.svd(A, full_matrices=False)
    np.testing.assert_allclose(((U * S[..., None, :]) @ Vh).numpy(), A, atol=1e-12)
    np.testing.assert_allclose(S.numpy(), np.linalg.svd(A, compute_uv=False), rtol=1e-12)
    np.testing.assert_allclose(ops.linalg.svdvals(A).numpy(), S.numpy(), rtol=1e-12)
    weights = np.arange(1.0, S.shape[-1] + 1)

    def sign_free(A):  # Σᵢ wᵢ uᵢvᵢᵀ and uᵢ², vᵢ²
        U, S, Vh = ops.linalg.svd(A, full_matrices=False)
        return ((U * weights) @ Vh).sum() ** 2 + (U ** 4).sum() + (Vh ** 4 * S[..., :, None]).sum()

    sg.check_grad(sg.grad(sign_free), A)
    sg.check_grad(sg.grad(lambda A: (ops.linalg.svdvals(A) ** 3).sum()), A)


def test_svd_full_matrices_completes_the_bases_as_constants():
    A = np.random.default_rng(12).standard_normal((4, 2))
    for M in (A, A.T):
        U, S, Vh = ops.linalg.svd(M)
        m, n = M.shape
        assert U.shape == (m, m) and Vh.shape == (n, n)
        np.testing.assert_allclose((U.T @ U).numpy(), np.eye(m), atol=1e-12)
        np.testing.assert_allclose((Vh @ Vh.T).numpy(), np.eye(n), atol=1e-12)
        np.testing.assert_allclose(((U[:, :2] * S) @ Vh[:2]).numpy(), M, atol=1e-12)
    extra = sg.grad(lambda A: ops.linalg.svd(A)[0][:, 2:].sum())(A).numpy()
    np.testing.assert_array_equal(extra, np.zeros_like(A))  # as PyTorch: no gradient through them


@pytest.mark.parametrize("ord", [2, -2, "nuc"])
def test_spectral_and_nuclear_norms_are_numpys_to_second_order(ord):
    rng = np.random.default_rng(13)
    A, cube = rng.standard_normal((4, 3)), rng.standard_normal((2, 3, 4))
    np.testing.assert_allclose(ops.norm(A, ord).numpy(), np.linalg.norm(A, ord), rtol=1e-12)
    np.testing.assert_allclose(ops.linalg.matrix_norm(cube, ord).numpy(), np.linalg.norm(cube, ord, (-2, -1)),
                               rtol=1e-12)
    kept = ops.norm(cube, ord, (2, 0), keepdim=True)
    np.testing.assert_allclose(kept.numpy(), np.linalg.norm(cube, ord, (2, 0), keepdims=True), rtol=1e-12)
    sg.check_grad(lambda A: ops.norm(A, ord), A)
    sg.check_grad(lambda A: sg.grad(lambda A: ops.norm(A, ord, (0, 2)).sum() ** 2)(A), cube)
    assert float(sg.grad(lambda A: ops.norm(A, 2))(np.eye(3)).numpy().trace()) == pytest.approx(1.0)  # ties split
