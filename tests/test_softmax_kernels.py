"""The softmax family's kernels and cross_entropy's fast paths give NumPy's own bits: many short rows worked on
transposed, blocks shared out between threads, gathers and scatters on x flattened, for any layout of x."""

import numpy as np
import pytest

import softgrad as sg
from softgrad import ops
from softgrad import _parallel as parallel
from softgrad.ops import compiled
from softgrad.ops import softmax_kernels as activations  # (the kernels moved out of ops.activations)

RNG = np.random.default_rng(3)


def reference_parts(x):
    """m, e^{x−m} and Σ e^{x−m} along axis 1 by NumPy's reductions (m = 0 where the row max is not finite)."""
    m = np.maximum.reduce(x, axis=1, keepdims=True)
    m[~np.isfinite(m)] = 0
    e = np.exp(x - m)
    return m, e, np.add.reduce(e, axis=1, keepdims=True)


def logits(shape, dtype=np.float32):
    """Normal logits with a row of −inf, one with +inf, one with NaN and one of 1e4."""
    x = (3 * RNG.standard_normal(shape)).astype(dtype)
    x[1] = -np.inf
    x[2, 0] = np.inf
    x[3, -1] = np.nan
    x[4] = 1e4
    return x


@pytest.mark.parametrize("classes", [1, 2, 7, 8, 9, 10, 15, 16])
@pytest.mark.parametrize("rows", [8, 600, 40000])  # few rows; many: one block, several shared out between threads
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_parts_of_many_short_rows_give_numpys_bits(classes, rows, dtype):
    x = logits((rows, classes), dtype)
    m_ref, e_ref, total_ref = reference_parts(x)
    with np.errstate(invalid="ignore"):
        m, total = activations.softmax_parts(x, 1)
        e = np.empty_like(x)
        m_kept, total_kept = activations.softmax_parts(x, 1, exps=e)
    for value, expected in [(m, m_ref), (total, total_ref), (m_kept, m_ref), (total_kept, total_ref), (e, e_ref)]:
        np.testing.assert_array_equal(value, expected, strict=True)


@pytest.mark.skipif(not compiled.available(), reason="no compiled path to compare: Numba is not installed "
                    "(pip install softgrad[fast]) or SOFTGRAD_NUMBA=0")
@pytest.mark.parametrize("classes", [1, 2, 7, 8, 9, 10, 15])
@pytest.mark.parametrize("rows", [300, 1000])  # (NumPy's path: rows and columns as they are, then transposed)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_few_short_rows_give_the_same_bits_compiled_and_in_numpy(monkeypatch, classes, rows, dtype):
    x = logits((rows, classes), dtype)  # fewer than _FEW_ROWS: the compiled row_shift and row_sums
    y = RNG.integers(0, classes, len(x))
    weight = RNG.uniform(0.5, 2.0, classes).astype(dtype)
    asked = []

    def run():
        e = np.empty_like(x)
        with np.errstate(invalid="ignore", divide="ignore"):  # (the row of −inf)
            parts = activations.softmax_parts(x, 1)
            kept = activations.softmax_parts(x, 1, exps=e, scale=dtype(1 / len(x)))
            value, g = sg.value_and_grad(lambda v: ops.cross_entropy(v, y))(sg.Tensor(x))
            weighted = sg.value_and_grad(lambda v: ops.cross_entropy(v, y, weight=weight, label_smoothing=0.1))
            value_w, g_w = weighted(sg.Tensor(x))  # (the exponentials kept, not scaled in the forward)
            return (*parts, *kept, e, value.numpy(), g.numpy(), value_w.numpy(), g_w.numpy(), ops.softmax(x).numpy(),
                    ops.log_softmax(x).numpy(), ops.logsumexp(x, axis=1).numpy())

    def spy(name, kernel=compiled.kernel):
        asked.append(name)
        return kernel(name)

    monkeypatch.setattr(compiled, "kernel", spy)
    compiled_results = run()
    assert {"row_shift", "row_sums"} <= set(asked)
    monkeypatch.setattr(compiled, "kernel", lambda name: None)
    for got, expected in zip(compiled_results, run(), strict=True):
        np.testing.assert_array_equal(got, expected, strict=True)


def test_results_do_not_depend_on_the_number_of_threads(monkeypatch):
    x = (3 * RNG.standard_normal((70000, 10))).astype(np.float32)
    y = RNG.integers(0, 10, 70000)

    def run():
        value, g = sg.value_and_grad(lambda v: ops.cross_entropy(v, y))(sg.Tensor(x))
        return value.numpy(), g.numpy(), ops.log_softmax(x).numpy(), ops.logsumexp(x, axis=1).numpy()

    threaded = run()
    monkeypatch.setattr(parallel, "_cpus", lambda: 1)
    for a, b in zip(threaded, run()):
        np.testing.assert_array_equal(a, b, strict=True)


@pytest.mark.parametrize("shape", [(700, 10), (5, 4), (3, 4, 5, 2), (6,)], ids=["many_short", "2d", "spatial", "1d"])
@pytest.mark.parametrize("labels_dtype", [np.int64, np.int32, np.uint8, np.uint64])
def test_cross_entropy_of_any_layout_and_label_dtype_gives_the_same_bits(shape, labels_dtype):
    x = (3 * RNG.standard_normal(shape)).astype(np.float32)
    axis = 1 if len(shape) > 1 else 0
    y = RNG.integers(0, shape[axis], shape[:1] + shape[2:] if len(shape) > 1 else ()).astype(labels_dtype)
    strided = np.repeat(x, 2, axis=-1)[..., ::2]  # the same values, not contiguous
    transposed = np.asfortranarray(x)
    for kwargs in [{}, {"weight": np.linspace(0.5, 2, shape[axis], dtype=np.float32), "ignore_index": 1}]:
        expected = ops.cross_entropy(x, y.astype(np.int64), reduction="none", **kwargs).numpy()
        expected_grad = sg.grad(lambda v: ops.cross_entropy(v, y.astype(np.int64), **kwargs))(x).numpy()
        for layout in (x, strided, transposed):
            np.testing.assert_array_equal(ops.cross_entropy(layout, y, reduction="none", **kwargs).numpy(), expected,
                                          strict=True)
            np.testing.assert_array_equal(ops.nll_loss(layout, y, reduction="none").numpy(),
                                          ops.nll_loss(x, y.astype(np.int64), reduction="none").numpy(), strict=True)
            grad = sg.grad(lambda v: ops.cross_entropy(v, y, **kwargs))(sg.Tensor(layout)).numpy()
            np.testing.assert_array_equal(grad, expected_grad, strict=True)


@pytest.mark.parametrize("shape", [(65536, 10), (3000, 3), (40, 1000)])
def test_cross_entropy_of_large_inputs_against_float64(shape):
    n, c = shape
    x = (2 * RNG.standard_normal(shape)).astype(np.float32)
    y = RNG.integers(0, c, n)
    z = x.astype(np.float64)
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    total = e.sum(axis=1, keepdims=True)
    expected_grad = e / total
    expected_grad[np.arange(n), y] -= 1
    value, g = sg.value_and_grad(lambda v: ops.cross_entropy(v, y))(sg.Tensor(x))
    assert value.item() == pytest.approx(np.mean(np.log(total[:, 0]) + m[:, 0] - z[np.arange(n), y]), rel=1e-6)
    np.testing.assert_allclose(g.numpy(), expected_grad / n, rtol=1e-5, atol=1e-6 / n)
    layout = g.numpy().flags  # many short rows: column-major, as the kernel keeps e^{x−m}; else C order
    transposed = c < 16 and (n >= activations._FEW_ROWS or not compiled.available())
    assert layout.f_contiguous if transposed else layout.c_contiguous


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_of_many_short_rows_equals_nll_of_log_softmax_bitwise(dtype):
    x = logits((40000, 10), dtype)[5:]  # blocks shared out between threads; no non-finite rows (NaN ≠ NaN)
    y = RNG.integers(0, 10, len(x))
    y_ignored = np.where(RNG.random(y.shape) < 0.3, 2, y)
    weight = RNG.uniform(0.5, 2.0, 10).astype(dtype)
    for kwargs, target in [({}, y), ({"weight": weight, "ignore_index": 2}, y_ignored)]:
        for reduction in ["mean", "none"]:
            fused = ops.cross_entropy(x, target, reduction=reduction, **kwargs).numpy()
            composed = ops.nll_loss(ops.log_softmax(x), target, reduction=reduction, **kwargs).numpy()
            np.testing.assert_array_equal(fused, composed, strict=True)
            traced = sg.value_and_grad(lambda v: ops.cross_entropy(v, target, reduction=reduction, **kwargs).sum())
            assert traced(x)[0].numpy() == fused.sum()
