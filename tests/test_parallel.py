"""softgrad's one pool of threads (``softgrad._parallel``): matrix products and axpy shared out between threads have the
same bits whatever the thread count, and BLAS's own threads stay asleep while softgrad's work."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from softgrad import _blas
from softgrad import _parallel as parallel

RNG = np.random.default_rng(20261202)
# (m, k, n): the MNIST example CNN's dense layer and its two gradients, an MLP layer, shapes off the alignments
SHAPES = [(64, 9216, 128), (128, 64, 9216), (64, 128, 9216), (1024, 784, 256), (200, 300, 191), (1000, 97, 333)]


@pytest.fixture(autouse=True)
def one_pool(monkeypatch):
    """Every test here in the second regime (products on the pool), except where it says otherwise."""
    monkeypatch.setattr(parallel, "_one_pool", True)


def _operands(m, k, n, dtype, transposed_a, transposed_b):
    a = RNG.standard_normal((k, m) if transposed_a else (m, k)).astype(dtype)
    b = RNG.standard_normal((n, k) if transposed_b else (k, n)).astype(dtype)
    return a.T if transposed_a else a, b.T if transposed_b else b


def _one_call(a, b):  # (BLAS's bits depend on the threads it has)
    with _blas.blas_threads_local(1):
        return np.matmul(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_a_product_has_the_same_bits_on_any_number_of_threads(monkeypatch, m, k, n, dtype):
    monkeypatch.setattr(parallel, "_SPLIT", m * k * n // 4)  # cut in four blocks
    tolerance = 1e-5 if dtype == np.float32 else 1e-13
    for layout in itertools.product((False, True), repeat=2):
        a, b = _operands(m, k, n, dtype, *layout)
        monkeypatch.setattr(parallel, "_cpus", lambda: 1)
        expected = parallel.matmul(a, b)
        assert expected.dtype == dtype and expected.flags.c_contiguous
        reference = _one_call(a, b)
        assert np.max(np.abs(expected - reference)) <= tolerance * np.max(np.abs(reference))
        for cpus in (2, 3, 4):
            monkeypatch.setattr(parallel, "_cpus", lambda cpus=cpus: cpus)
            np.testing.assert_array_equal(parallel.matmul(a, b), expected, strict=True,
                                          err_msg=f"{cpus} threads, layout {layout}")


def test_a_stack_of_products_is_cut_along_the_stack(monkeypatch):
    monkeypatch.setattr(parallel, "_SPLIT", 1)
    monkeypatch.setattr(parallel, "_cpus", lambda: 3)
    a, b = RNG.standard_normal((5, 40, 30)), RNG.standard_normal((5, 30, 20))
    np.testing.assert_array_equal(parallel.matmul(a, b), _one_call(a, b), strict=True)
    # broadcasting and vectors are not cut, and still give NumPy's answer
    for x, y in [(a, b[0]), (a[0, 0], b), (a, b[0, :, 0]), (a[0], b[0, :, 0])]:
        np.testing.assert_array_equal(parallel.matmul(x, y), _one_call(x, y), strict=True)


def test_the_epilogue_sees_each_block_with_its_columns(monkeypatch):
    monkeypatch.setattr(parallel, "_SPLIT", 1)
    a, b = RNG.standard_normal((16, 8)), RNG.standard_normal((8, 300))
    bias = RNG.standard_normal(300)

    def epilogue(block, columns):
        block += bias[columns]
        np.maximum(block, 0, out=block)
    for cpus in (1, 2, 4):
        monkeypatch.setattr(parallel, "_cpus", lambda cpus=cpus: cpus)
        np.testing.assert_array_equal(parallel.matmul(a, b, epilogue=epilogue), np.maximum(_one_call(a, b) + bias, 0))


def test_out_is_written_and_returned(monkeypatch):
    monkeypatch.setattr(parallel, "_SPLIT", 1)
    monkeypatch.setattr(parallel, "_cpus", lambda: 2)
    a, b = RNG.standard_normal((64, 32)).astype(np.float32), RNG.standard_normal((32, 16)).astype(np.float32)
    out = np.full((64, 16), np.nan, np.float32)
    assert parallel.matmul(a, b, out=out) is out
    np.testing.assert_array_equal(out, parallel.matmul(a, b))  # (the blocks' bits: the same blocks)
    reference = _one_call(a, b)  # (one call's bits can differ: OpenBLAS's Haswell kernels on 32 rows and on 64)
    assert np.max(np.abs(out - reference)) <= 1e-5 * np.max(np.abs(reference))


def test_axpy_runs_blas_single_threaded_and_has_the_bits_of_one_pass():
    x = RNG.standard_normal((300, 70)).astype(np.float32)
    y = RNG.standard_normal((300, 70)).astype(np.float32)
    if _blas.axpy_operands(x, y) is None:
        pytest.skip("NumPy's BLAS is not the bundled OpenBLAS: axpy falls back to NumPy")
    got = y.copy()
    assert parallel.axpy(-0.01, x, got)
    np.testing.assert_allclose(got, y - 0.01 * x, rtol=1e-6, atol=1e-6)  # (fused multiply-adds: not NumPy's bits)


def test_blas_threads_stay_asleep_once_the_pool_is_in_use(monkeypatch):
    # OpenBLAS's threads spin after a product of theirs, on the cores softgrad's threads need.
    thread_control = _blas._thread_control()
    if thread_control is None:
        pytest.skip("NumPy's BLAS is not the bundled OpenBLAS: its thread count is not softgrad's to set")
    get_threads = _blas._openblas().scipy_openblas_get_num_threads64_
    monkeypatch.setattr(parallel, "_cpus", lambda: 2)
    previous = thread_control(2)
    seen = []
    blas_matmul, blas_axpy = np.matmul, parallel.blas_axpy

    def recorded(kernel):
        return lambda *args, **kw: (seen.append(get_threads()), kernel(*args, **kw))[1]
    monkeypatch.setattr(parallel, "blas_axpy", recorded(blas_axpy))
    a, b = RNG.standard_normal((96, 500)), RNG.standard_normal((500, 200))
    try:
        def product(y=b):
            with monkeypatch.context() as patch:
                patch.setattr(np, "matmul", recorded(blas_matmul))
                parallel.matmul(a, y)
            assert get_threads() == 2  # restored
            counts = seen[:]
            seen.clear()
            return counts
        monkeypatch.setattr(parallel, "_one_pool", False)
        assert product() == [2] and product(b[:, 0]) == [2]  # before the pool is used: BLAS's threads
        parallel.axpy(0.5, np.ones(200_000), np.ones(200_000))
        assert seen == [2]
        seen.clear()
        parallel.one_pool()  # (what a kernel on the pool calls)
        assert parallel._one_pool
        assert product() == [1]  # 96·500·200 multiply-adds: under 2·_SPLIT, whole
        monkeypatch.setattr(parallel, "_SPLIT", 1 << 20)
        assert product() == [1] * 4  # cut in four blocks on the pool
        assert product(b[:, 0]) == [1]
        parallel.axpy(0.5, np.ones(200_000), np.ones(200_000))
        assert seen == [1] and get_threads() == 2
    finally:
        thread_control(previous)


def test_a_convolution_brings_the_one_pool(monkeypatch):
    from softgrad import ops
    monkeypatch.setattr(parallel, "_one_pool", False)
    monkeypatch.setattr(parallel, "_cpus", lambda: 1)
    ops.conv2d(np.ones((2, 1, 5, 5), np.float32), np.ones((3, 1, 3, 3), np.float32))
    assert not parallel._one_pool  # one thread: nothing to share
    monkeypatch.setattr(parallel, "_cpus", lambda: 2)
    ops.conv2d(np.ones((2, 1, 5, 5), np.float32), np.ones((3, 1, 3, 3), np.float32))
    assert parallel._one_pool


def test_a_large_elementwise_pass_is_shared_out_once_the_pool_is_in_use_with_the_bits_and_layout_of_one(monkeypatch):
    """``elementwise`` (a ReLU by hand): over runs of the leading axis on the pool, the same bits and memory
    layout as one call (an NCHW view of channels-last memory stays one), any number of threads; below the size,
    or before the pool is in use (BLAS's threads own the cores), one call."""
    from softgrad import ops

    x = RNG.standard_normal((13, 24, 48, 96)).astype(np.float32)  # 5.8 MB
    x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    x[3, 2, 1, 0] = np.nan
    want = np.maximum(x, 0)
    calls = []
    share_out = parallel.share_out
    monkeypatch.setattr(parallel, "share_out", lambda task, parts: calls.append(len(parts)) or share_out(task, parts))
    for threads in (1, 3):
        monkeypatch.setattr(parallel, "threads", lambda: threads)
        got = ops.relu(x).numpy()
        np.testing.assert_array_equal(got, want)
        assert got.strides == want.strides
    assert calls == [7, 7]  # (runs of 2 of the 13: they depend on the shape alone)
    calls.clear()
    assert np.array_equal(ops.relu(x[:1]).numpy(), want[:1]) and not calls  # (below 4 MB)
    monkeypatch.setattr(parallel, "_one_pool", False)
    assert np.array_equal(ops.relu(x).numpy(), want, equal_nan=True) and not calls
