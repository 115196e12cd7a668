"""The kernels Numba compiles (softgrad.ops.compiled): in use exactly where Numba is installed and not switched off;
Winograd's transforms apply their matrices; max pooling over windows that tile the input gives the NumPy path's
bits, forward and backward, for every layout of x, g and the pooled maxima, ties, NaN, padding, rows past the last
window, several chunks and any number of threads. (The Winograd convolutions and the pooling ops' own tests run
both ways through the ``kernels`` fixture.)"""

import importlib.util
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softgrad import _parallel as parallel
from softgrad import hessian, ops, value_and_grad
from softgrad.ops import compiled, elementwise, nn_kernels, winograd

RNG = np.random.default_rng(17)


def test_the_compiled_kernels_are_in_use_exactly_where_numba_is_installed_and_not_switched_off():
    wanted = importlib.util.find_spec("numba") is not None and os.environ.get("SOFTGRAD_NUMBA", "1") != "0"
    assert compiled.available() == wanted
    assert all((compiled.kernel(name) is not None) == wanted for name in compiled.KERNELS)


def test_the_switch_takes_0_or_1_and_names_itself_otherwise(monkeypatch):
    monkeypatch.setenv("SOFTGRAD_NUMBA", "off")
    compiled._numba.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"SOFTGRAD_NUMBA must be 0 \(off\) or 1 .*got 'off'"):
            compiled.available()
        monkeypatch.setenv("SOFTGRAD_NUMBA", "0")
        compiled._numba.cache_clear()
        assert not compiled.available()
    finally:
        monkeypatch.undo()
        compiled._numba.cache_clear()


def needs_numba(name):
    kernel = compiled.kernel(name)
    if kernel is None:
        pytest.skip("Numba is not installed (pip install softgrad[fast])")
    return kernel


@pytest.mark.parametrize("name", sorted(winograd._MATRICES))
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-15), (np.float32, 1e-6)])
def test_each_winograd_kernel_applies_its_matrix(name, dtype, rtol):
    kernel = needs_numba(name)
    matrix = winograd._MATRICES[name]
    src = RNG.standard_normal((matrix.shape[1], 37)).astype(dtype)
    out = np.full((matrix.shape[0], 37), np.nan, dtype)
    kernel(src, out)
    want = matrix @ src.astype(np.float64)
    assert out.dtype == dtype and np.max(np.abs(out - want)) <= rtol * 8 * np.max(np.abs(want))


# ----- max pooling over windows that tile the input -----

# (x shape, kernel, padding): exact tiles; rows and columns past the last window; 3×3 padded; a non-square kernel
POOLS = [((3, 8, 6, 8), (2, 2), ((0, 0), (0, 0))), ((2, 5, 7, 9), (2, 2), ((0, 0), (0, 0))),
         ((2, 3, 7, 7), (3, 3), ((1, 1), (1, 1))), ((4, 6, 6, 9), (2, 3), ((0, 1), (0, 0)))]


def pool_input(shape, dtype, layout):
    """ReLU'd normals (ties at 0) with a NaN, in channels-last memory (the convolutions' output) or NCHW."""
    x = np.maximum(RNG.standard_normal(shape), 0).astype(dtype)
    x[0, 1, 2, 3] = np.nan
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2) if layout == "nhwc" else x


def numpy_path(monkeypatch, name, *args):
    with monkeypatch.context() as m:
        m.setattr(compiled, "available", lambda: False)
        return getattr(nn_kernels, name)(*args)


@pytest.mark.parametrize("shape, kernel, padding", POOLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["nhwc", "nchw"])
def test_compiled_pooling_gives_the_numpy_bits(monkeypatch, shape, kernel, padding, dtype, layout):
    needs_numba("pool_max")
    monkeypatch.setattr(nn_kernels, "_CHUNK_BYTES", 1)  # one image per chunk: chunks, and threads, exercised
    x = pool_input(shape, dtype, layout)
    geometry = (kernel, kernel, padding, (1, 1))
    y = nn_kernels._max_pool2d_impl(x, *geometry)
    want = numpy_path(monkeypatch, "_max_pool2d_impl", x, *geometry)
    np.testing.assert_array_equal(y, want)  # (NaN where NumPy has NaN)
    assert y.flags.c_contiguous and y.dtype == dtype  # (N, C, Ho, Wo): a flatten after it is a view
    g = RNG.standard_normal(y.shape).astype(dtype)
    for g_layout in (g, np.ascontiguousarray(g.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)):
        for pooled in (y, want):  # the maxima in either path's layout
            got = nn_kernels._pool_scatter_impl(g_layout, x, pooled, *geometry)
            np.testing.assert_array_equal(got, numpy_path(monkeypatch, "_pool_scatter_impl", g_layout, x, want,
                                                          *geometry))
    assert np.count_nonzero(got) == np.count_nonzero(~np.isnan(want))  # one cell a window, none for a NaN one


def test_compiled_pooling_gives_the_same_bits_on_one_thread_and_on_several(monkeypatch):
    needs_numba("pool_scatter")
    monkeypatch.setattr(nn_kernels, "_CHUNK_BYTES", 1)
    x = pool_input((7, 4, 8, 8), np.float32, "nhwc")
    g = RNG.standard_normal((7, 4, 4, 4)).astype(np.float32)
    results = []
    for threads in (1, 3):
        monkeypatch.setattr(parallel, "threads", lambda: threads)
        y = nn_kernels._max_pool2d_impl(x, (2, 2), (2, 2), ((0, 0), (0, 0)), (1, 1))
        results.append((y, nn_kernels._pool_scatter_impl(g, x, y, (2, 2), (2, 2), ((0, 0), (0, 0)), (1, 1))))
    for one, several in zip(*results):
        np.testing.assert_array_equal(one, several)


def test_the_compiled_scatter_leaves_zeros_past_the_last_window_whatever_memory_held(kernels):
    """7 rows in windows of 2: row 6 is in no window; its gradient is 0 (not what fresh memory held)."""
    x = pool_input((2, 3, 7, 7), np.float64, "nhwc")
    y = ops.max_pool2d(x, 2)
    for _ in range(2):
        np.full((64, 64, 64, 8), 7.0)
        got = nn_kernels._pool_scatter_impl(np.ones(y.shape), x, y.numpy(), (2, 2), (2, 2), ((0, 0), (0, 0)),
                                            (1, 1))
        assert (got[:, :, 6] == 0).all() and (got[:, :, :, 6] == 0).all() and got.sum() > 0


@pytest.mark.parametrize("shape, kernel", [((2, 8, 8, 6), (2, 2)), ((3, 5, 9, 7), (2, 2)), ((2, 6, 11, 10), (3, 3))])
@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_pooled_gradient_tiles_are_those_of_the_scatter_written_out(shape, kernel, relu, dtype):
    """``A_pooled`` (the max-pool's backward read inside Winograd's gather of g's tiles) gives ``A_image`` of the
    scatter written out, bit for bit: ties at positive values (only the first maximum takes g), zeros, cells
    past the last window and past the output, NaN."""
    a_pooled, a_image = needs_numba("A_pooled"), needs_numba("A_image")
    n, c, h, w = shape
    y = np.maximum(np.round(RNG.standard_normal(shape) * 2) / 2, 0).astype(dtype)  # many ties
    y[0, 1, 2, 3] = np.nan
    y = np.ascontiguousarray(y.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)  # channels-last, as a convolution's
    geometry = (kernel, kernel, ((0, 0), (0, 0)), (1, 1))
    pooled = nn_kernels._max_pool2d_impl(y, *geometry)
    gp = RNG.standard_normal(pooled.shape).astype(dtype)
    scattered = nn_kernels._pool_scatter_impl(gp, y, pooled, *geometry)
    th, tw = winograd._geometry((h, w))
    want = np.full((6, 4, 1, n * th * tw, c), np.nan, dtype)  # (one group)
    a_image(winograd._grad_rows(scattered, th, tw, True), winograd._grad_rows(y, th, tw, True), relu, th, tw, want)
    extended = np.full(want.shape, np.nan, dtype)  # (g and y zero-extended to whole tiles: the same tiles)
    a_image(winograd._grad_rows(scattered, th, tw, False), winograd._grad_rows(y, th, tw, False), relu, th, tw,
            extended)
    np.testing.assert_array_equal(extended, want)
    want = want[:, :, 0]
    tiles = nn_kernels._tiles(y.transpose(0, 2, 3, 1), kernel, kernel, (1, 1), pooled.shape[2:])
    first = nn_kernels.first_maxima(tiles, pooled)  # (what the forward kept)
    np.testing.assert_array_equal(nn_kernels.first_maxima(tiles, pooled.copy()), first)  # (found again)
    got = np.full(want.shape, np.nan, dtype)
    a_pooled(gp, pooled, first, *kernel, relu, th, tw, got)
    np.testing.assert_array_equal(got, want)


def test_importing_softgrad_does_not_load_numba():
    """Numba costs a process ~0.3 s and ~110 MB when loaded: only the first kernel that needs it loads it (an
    MLP never does)."""
    import subprocess
    import sys

    code = ("import sys, numpy as np, softgrad as sg\n"
            "sg.grad(lambda x: sg.ops.sum(sg.nn.Dense(3, 2)(x)))(np.ones((4, 3)))\n"
            "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_threads_asking_for_the_kernels_at_once_get_one_dispatcher_each():
    """A process's first convolution asks for its kernels from every thread of the pool at once."""
    import subprocess
    import sys

    code = ("import threading\n"
            "from softgrad.ops import compiled\n"
            "if compiled.available():\n"
            "    barrier, got = threading.Barrier(4), []\n"
            "    def ask():\n"
            "        barrier.wait()\n"
            "        got.append([compiled.kernel(name) for name in sorted(compiled.KERNELS)])\n"
            "    threads = [threading.Thread(target=ask) for _ in range(4)]\n"
            "    [t.start() for t in threads]\n"
            "    [t.join() for t in threads]\n"
            "    assert len(got) == 4 and all(g == got[0] for g in got) and None not in got[0], got\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_the_first_maxima_the_pool_found_are_kept_while_its_output_lives():
    """The compiled forward keeps each window's first maximum for the backward, by the pooled output it belongs
    to: found once however often asked, and forgotten with that output (no growth over many steps)."""
    needs_numba("pool_max")
    x = pool_input((2, 3, 8, 8), np.float32, "nhwc")
    tiles = nn_kernels._tiles(x.transpose(0, 2, 3, 1), (2, 2), (2, 2), (1, 1), (4, 4))
    y = nn_kernels._max_pool2d_impl(x, (2, 2), (2, 2), ((0, 0), (0, 0)), (1, 1))
    assert nn_kernels.first_maxima(tiles, y) is nn_kernels.first_maxima(tiles, y)
    assert nn_kernels.first_maxima(tiles, y.copy()) is not nn_kernels.first_maxima(tiles, y)
    for _ in range(50):
        nn_kernels._max_pool2d_impl(x, (2, 2), (2, 2), ((0, 0), (0, 0)), (1, 1))
    assert len(nn_kernels._first_maxima) <= 3  # (y, and at most the latest outputs not yet collected)


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-13), (np.float32, 1e-6)])
def test_a_first_layers_weight_and_bias_gradients_in_one_pass(relu, dtype, rtol):
    """``window_sums``: Σ windowsᵀ ĝ and Σ ĝ, ĝ = g·(y > 0) or g, summed blockwise then in float64, against float64
    products (150 rows: two blocks and a partial one); a NaN in g where y ≤ 0 stays NaN (NaN·0, as NumPy's rule)."""
    kernel = needs_numba("window_sums")
    cols, g = RNG.standard_normal((150, 5)).astype(dtype), RNG.standard_normal((150, 7)).astype(dtype)
    y = np.maximum(RNG.standard_normal((150, 7)), 0).astype(dtype)
    dw, total = np.full((5, 7), 2.0), np.full(7, 3.0)  # (added to)
    kernel(cols, g, y, relu, dw, total)
    grad = g.astype(np.float64) * (y > 0) if relu else g.astype(np.float64)
    want_dw, want_total = 2.0 + cols.astype(np.float64).T @ grad, 3.0 + grad.sum(axis=0)
    assert np.max(np.abs(dw - want_dw)) <= rtol * np.max(np.abs(want_dw))
    assert np.max(np.abs(total - want_total)) <= rtol * np.max(np.abs(want_total))
    g[3, 2], y[3, 2] = np.nan, 0.0
    kernel(cols, g, y, relu, dw, total)
    assert np.isnan(dw[:, 2]).all() and np.isnan(total[2]) and not np.isnan(np.delete(dw, 2, axis=1)).any()


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_bias_and_relu_epilogue_gives_numpys_bits(relu, dtype):
    """``bias_relu``: out + bias, then max(·, 0), in place, bit for bit NumPy's two passes (NaN stays NaN)."""
    kernel = needs_numba("bias_relu")
    out, bias = RNG.standard_normal((37, 9)).astype(dtype), RNG.standard_normal(9).astype(dtype)
    out[4, 5] = np.nan
    want = out + bias
    if relu:
        want = np.maximum(want, 0)
    kernel(out, bias, relu)
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("out_hw", [(8, 8), (5, 7), (6, 9)])
@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_pool_made_inside_the_output_transform_is_the_pool_of_the_output(out_hw, relu, dtype):
    """``AT_image_pooled``: the 2×2 max-pool (maxima and first offsets) of what ``AT_image`` writes, bit for bit:
    ties (whole tiles of zeros after the ReLU), a NaN, rows and columns past the last window left out."""
    pooled_kernel, image_kernel = needs_numba("AT_image_pooled"), needs_numba("AT_image")
    th, tw = winograd._geometry(out_hw)
    n, o = 2, 5
    rows = RNG.standard_normal((4, 6, n * th * tw, o)).astype(dtype)
    rows[:, :, 1] = 0.0  # (a tile of zeros: every window's cells tie)
    rows[2, 3, 0, 1] = np.nan  # (tile 0: inside a window at every size)
    y = np.full((n, 4 * th, 4 * tw, o), np.nan, dtype)
    image_kernel(rows[:, :, None], relu, th, tw, y)  # (one group)
    y = y[:, :out_hw[0], :out_hw[1]].transpose(0, 3, 1, 2)
    want = nn_kernels._max_pool2d_impl(y, (2, 2), (2, 2), ((0, 0), (0, 0)), (1, 1))
    tiles = nn_kernels._tiles(y.transpose(0, 2, 3, 1), (2, 2), (2, 2), (1, 1), want.shape[2:])
    hp, wp = out_hw[0] // 2, out_hw[1] // 2
    maxima, first = np.full((n, hp, wp, o), 7, dtype), np.full((n, hp, wp, o), 9, np.uint8)
    pooled_kernel(rows, relu, th, tw, maxima, first)
    np.testing.assert_array_equal(maxima.transpose(0, 3, 1, 2), want)
    np.testing.assert_array_equal(first, nn_kernels.first_maxima(tiles, want))
    assert (first == 4).any() and np.isnan(want).any()  # (the NaN window: no first maximum)


# ----- depthwise convolution -----

# (x shape, output channels, geometry): 3×3 plain; of column stride 1 (``_depthwise_rows``) with rows strided,
# padded unevenly and columns dilated, with one output a channel and with three (the images widened); a 2×2 padded
# past its reach (windows wholly in the padding); strided, padded unevenly and dilated; two outputs a channel, a
# non-square kernel, padding wider than the dilated kernel reaches
DEPTHWISE = [((3, 8, 9, 7), 8, dict(kernel=(3, 3), stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1))),
             ((2, 6, 10, 9), 6, dict(kernel=(3, 3), stride=(2, 1), padding=((1, 2), (2, 1)), dilation=(1, 2))),
             ((2, 3, 10, 9), 9, dict(kernel=(3, 2), stride=(2, 1), padding=((1, 0), (2, 1)), dilation=(1, 2))),
             ((2, 4, 5, 6), 4, dict(kernel=(2, 2), stride=(1, 1), padding=((3, 0), (0, 4)), dilation=(1, 1))),
             ((2, 5, 11, 10), 5, dict(kernel=(3, 3), stride=(2, 3), padding=((2, 1), (0, 2)), dilation=(2, 1))),
             ((2, 3, 6, 8), 6, dict(kernel=(2, 3), stride=(1, 2), padding=((3, 3), (1, 0)), dilation=(1, 2)))]


def depthwise_numpy_path(monkeypatch, name, *args):
    with monkeypatch.context() as m:
        m.setattr(nn_kernels, "_depthwise_kernel", lambda *arrays: None)
        return getattr(nn_kernels, name)(*args)


@pytest.mark.parametrize("x_shape, o, geometry", DEPTHWISE)
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-13), (np.float32, 2e-6)])
@pytest.mark.parametrize("layout", ["nhwc", "nchw"])
def test_the_compiled_depthwise_convolution_and_its_rules_agree_with_the_numpy_path(
        monkeypatch, x_shape, o, geometry, dtype, rtol, layout):
    """``depthwise_forward``, ``depthwise_input`` and ``depthwise_weight`` against NumPy's offset-by-offset path,
    one image a chunk (chunks and threads exercised), x and g in channels-last memory or NCHW."""
    needs_numba("depthwise_forward")
    monkeypatch.setattr(nn_kernels, "_IM2COL_BYTES", 1)
    c = x_shape[1]
    kernel = geometry["kernel"]
    args = (geometry["stride"], geometry["padding"], geometry["dilation"], c)
    x = pool_input(x_shape, dtype, layout)
    x[0, 1, 2, 3] = 0.5  # (finite: the NaN is for pooling)
    w = RNG.standard_normal((o, 1, *kernel)).astype(dtype)

    def close(got, want):
        assert got.dtype == dtype and got.shape == want.shape
        assert np.max(np.abs(got - want)) <= rtol * 8 * np.max(np.abs(want))
    y = nn_kernels._conv2d_impl(x, w, *args)
    close(y, depthwise_numpy_path(monkeypatch, "_conv2d_impl", x, w, *args))
    g = RNG.standard_normal(y.shape).astype(dtype)
    if layout == "nhwc":
        g = np.ascontiguousarray(g.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    close(nn_kernels._conv2d_input_impl(g, w, x.shape, *args),
          depthwise_numpy_path(monkeypatch, "_conv2d_input_impl", g, w, x.shape, *args))
    close(nn_kernels._conv2d_weight_impl(x, g, w.shape, *args),
          depthwise_numpy_path(monkeypatch, "_conv2d_weight_impl", x, g, w.shape, *args))


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_a_depthwise_input_transpose_makes_the_weight_gradient_from_the_forwards_x_with_the_same_bits(
        monkeypatch, layout):
    """Off the planes' path (``_depthwise_by_planes``: here an NCHW x of row stride 2, or x in channels-last
    memory), the forward keeps x channels-last by chunk (an NCHW x copied into held arrays, reused by the next
    forward; channels-last memory as views); the input transpose makes the weight gradient from it and its own
    copy of g, returned for those very x and g only, bit for bit what the weight rule makes afresh."""
    needs_numba("depthwise_forward")
    monkeypatch.setattr(nn_kernels, "_IM2COL_BYTES", 1)  # (one image a chunk)
    x = pool_input((3, 6, 9, 8), np.float32, layout)
    x[0, 1, 2, 3] = 0.5
    w = RNG.standard_normal((6, 1, 3, 3)).astype(np.float32)
    stride = (2, 1) if layout == "nchw" else (1, 1)
    args = (stride, ((1, 1), (0, 1)), (1, 1), 6)
    g = RNG.standard_normal((3, 6, 5 if layout == "nchw" else 9, 7)).astype(np.float32)
    nn_kernels._kept_windows.clear()
    nn_kernels._kept_depthwise_weight.clear()
    parallel._held.clear()
    afresh, afresh_2g = (nn_kernels._conv2d_weight_impl(x, h, w.shape, *args) for h in (g, 2 * g))

    def step(h):
        y = nn_kernels._conv2d_impl(x, w, *args)
        kept = nn_kernels._kept_windows[0][3]
        dx = nn_kernels._conv2d_input_impl(h, w, x.shape, *args)
        assert not nn_kernels._kept_windows and nn_kernels._kept_depthwise_weight[0][:2] == (x, h)
        return y, dx, kept

    _, _, kept = step(g)
    np.testing.assert_array_equal(nn_kernels._conv2d_weight_impl(x, g, w.shape, *args), afresh, strict=True)
    assert not nn_kernels._kept_depthwise_weight
    step(g)
    np.testing.assert_array_equal(nn_kernels._conv2d_weight_impl(x, 2 * g, w.shape, *args), afresh_2g, strict=True)
    if layout == "nchw":  # (copied into held arrays, handed back when used up, written into by the next forward)
        assert len(parallel._held) == 1 and all(a is b for a, b in zip(parallel._held[0], kept.values()))
        assert all(a is b for a, b in zip(step(g)[2].values(), kept.values()))
    else:  # (views of x's own memory, never handed back)
        assert not parallel._held and all(np.shares_memory(a, x) for a in kept.values())
    nn_kernels._kept_depthwise_weight.clear()
    nn_kernels._conv2d_impl(x, w, *args)  # no input transpose (x needs no gradient): the weight rule reads the copy
    assert nn_kernels._kept_windows
    np.testing.assert_array_equal(nn_kernels._conv2d_weight_impl(x, g, w.shape, *args), afresh, strict=True)
    assert not nn_kernels._kept_windows


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_the_compiled_depthwise_convolution_agrees_with_the_numpy_path_at_any_geometry(data):
    """Random shapes, kernels, strides (column stride 1 mostly: ``_depthwise_rows``), dilations, uneven paddings
    and outputs a channel, x NCHW or in channels-last memory, float64: forward, input transpose (and the weight
    gradient it makes on the way) and the weight rule against the NumPy path."""
    needs_numba("depthwise_forward")
    draw = data.draw
    n, c, m = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 2)), draw(st.sampled_from([1, 1, 2])))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(2))
    size = [draw(st.integers(1, 8)), draw(st.integers(1, 8))]
    for axis in range(2):  # (at least one output cell)
        size[axis] = max(size[axis], dilation[axis] * (kernel[axis] - 1) + 1 - sum(padding[axis]))
    x = RNG.standard_normal((n, c, *size))
    if draw(st.booleans()):
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    w = RNG.standard_normal((c * m, 1, *kernel))
    args = (stride, padding, dilation, c)
    y = nn_kernels._conv2d_impl(x, w, *args)
    g = RNG.standard_normal(y.shape)
    got = [y, nn_kernels._conv2d_input_impl(g, w, x.shape, *args), nn_kernels._conv2d_weight_impl(x, g, w.shape, *args)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(nn_kernels, "_depthwise_kernel", lambda *arrays: None)
        want = [nn_kernels._conv2d_impl(x, w, *args), nn_kernels._conv2d_input_impl(g, w, x.shape, *args),
                nn_kernels._conv2d_weight_impl(x, g, w.shape, *args)]
    for a, b in zip(got, want, strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, padding, dilation", [(1, ((0, 0), (0, 0)), (1, 1)), (2, ((1, 2), (0, 1)), (2, 1)),
                                                  (3, ((2, 2), (2, 2)), (1, 2))])
def test_a_stride_1_depthwise_convolution_of_nchw_memory_goes_plane_by_plane(monkeypatch, dtype, m, padding,
                                                                             dilation):
    """x and g in NCHW memory, stride 1 (``_depthwise_by_planes``): results NCHW in memory, nothing kept for the
    weight rule, the NumPy path's values (the forward its bits), and the same bits on one thread with one chunk
    and on three threads with one image a chunk (the weight gradient's chunks added in chunk order)."""
    needs_numba("depthwise_planes")
    x = RNG.standard_normal((5, 3, 8, 7)).astype(dtype)
    x[1, 2, 3, 4] = np.nan
    w = RNG.standard_normal((3 * m, 1, 3, 3)).astype(dtype)
    args = ((1, 1), padding, dilation, 3)
    nn_kernels._kept_windows.clear()

    def three():
        y = nn_kernels._conv2d_impl(x, w, *args)
        assert y.flags.c_contiguous and not nn_kernels._kept_windows
        g = np.cos(np.nan_to_num(y))
        dx = nn_kernels._conv2d_input_impl(g, w, x.shape, *args)
        assert dx.flags.c_contiguous
        return y, dx, nn_kernels._conv2d_weight_impl(x, g, w.shape, *args)
    got = three()
    monkeypatch.setattr(nn_kernels, "_IM2COL_BYTES", 1)
    monkeypatch.setattr(parallel, "threads", lambda: 3)
    for a, b in zip(got, three()):
        np.testing.assert_array_equal(a, b)
    y = got[0]
    np.testing.assert_array_equal(y, depthwise_numpy_path(monkeypatch, "_conv2d_impl", x, w, *args))
    g = np.cos(np.nan_to_num(y))
    for a, name, operands in [(got[1], "_conv2d_input_impl", (g, w, x.shape)),
                              (got[2], "_conv2d_weight_impl", (x, g, w.shape))]:
        want = depthwise_numpy_path(monkeypatch, name, *operands, *args)
        assert np.array_equal(np.isnan(a), np.isnan(want))
        scale = np.nanmax(np.abs(want))
        assert np.nanmax(np.abs(a - want)) <= (1e-6 if dtype == np.float32 else 1e-13) * scale


def test_the_compiled_depthwise_rules_read_a_broadcast_cotangent():
    """The gradient of a sum is a broadcast g (strides 0): copied for the compiled loops, the same numbers."""
    needs_numba("depthwise_input")
    x = RNG.standard_normal((2, 4, 6, 6))
    w = RNG.standard_normal((4, 1, 3, 3))
    args = ((1, 1), ((1, 1), (1, 1)), (1, 1), 4)
    g = np.broadcast_to(np.float64(1.0), (2, 4, 6, 6))
    dense = np.ones((2, 4, 6, 6))
    np.testing.assert_allclose(nn_kernels._conv2d_input_impl(g, w, x.shape, *args),
                               nn_kernels._conv2d_input_impl(dense, w, x.shape, *args), rtol=0, atol=0)
    np.testing.assert_allclose(nn_kernels._conv2d_weight_impl(x, g, w.shape, *args),
                               nn_kernels._conv2d_weight_impl(x, dense, w.shape, *args), rtol=0, atol=0)


# ----- cells rearranged (a dilated convolution's phases) -----


@pytest.mark.parametrize("layout", ["channels-last", "NCHW"])
def test_gather_cells_copies_the_cells_it_is_given_and_zeroes_the_rest(layout):
    """out[n, i, j] = src[n, rows[i], columns[j]], 0 where an index is −1, for a channels-last src and for an
    NCHW array's channels-last view (channels strided), in every cell of out (NaN-filled first)."""
    kernel = needs_numba("gather_cells")
    src = RNG.standard_normal((3, 6, 5, 4)).astype(np.float32)
    if layout == "NCHW":
        src = np.ascontiguousarray(src.transpose(0, 3, 1, 2)).transpose(0, 2, 3, 1)
    rows, columns = np.array([4, -1, 0, 2, 5, -1, 1]), np.array([3, 3, -1, 0, 4])
    out = np.full((3, 7, 5, 4), np.nan, np.float32)
    kernel(src, rows, columns, out)
    want = src[:, np.maximum(rows, 0)[:, None], np.maximum(columns, 0)]
    want[:, rows < 0] = 0
    want[:, :, columns < 0] = 0
    assert np.array_equal(out, want)


# ----- an activation's forward -----


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["C", "transposed", "strided"])
def test_a_large_sigmoid_in_place_gives_the_formulas_bits(dtype, layout):
    """σ of an array of at least ``_LARGE`` cells (e^{−|x|} and 1/(1 + e) in place, the choice by x's sign
    compiled: ``sigmoid_select``) is NumPy's formula bit for bit, NaN, ±inf, ±0 and huge values included, whatever
    x's layout; the result is C-contiguous, x untouched."""
    needs_numba("sigmoid_select")
    x = (RNG.standard_normal((8, 6, 40, 20)) * 30).astype(dtype)
    x.flat[:7] = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e30, -1e30]
    x = {"C": x, "transposed": x.transpose(0, 2, 3, 1), "strided": x[:, ::2]}[layout]
    assert x.size >= elementwise._LARGE
    before = x.copy()
    got = elementwise._stable_sigmoid(x)
    e = np.exp(-np.abs(x))
    r = 1.0 / (1.0 + e)
    np.testing.assert_array_equal(got, np.where(x >= 0, r, e * r))
    assert got.dtype == dtype and got.flags.c_contiguous and np.array_equal(x, before, equal_nan=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_a_large_where_by_the_compiled_select_gives_numpys_where(dtype):
    """``elementwise.select`` (where's forward): a large boolean condition with x and y of its shape or single
    numbers (or one number broadcast; cast as np.where casts them) takes the compiled select, others np.where;
    dtype, values, NaN, ±0 and ±inf as np.where's, for every mix of arrays, Python numbers, NumPy scalars and
    layouts."""
    needs_numba("select")
    shape = (8, 6, 40, 20)
    condition = RNG.random(shape) > 0.5
    x, y = ((RNG.standard_normal(shape) * 5).astype(dtype) for _ in range(2))
    if dtype != np.int64:
        x.flat[:4] = [np.nan, np.inf, -0.0, 0.0]
    assert condition.size >= elementwise._LARGE
    for a, b in [(x, y), (x, 0), (0.5, y), (x, np.float32(2.5)), (3, 4), (x, np.asfortranarray(y)), (x, y[0]),
                 (x.astype(np.float32), y.astype(np.float64)), (np.broadcast_to(dtype(3), shape), x),
                 (x.astype(np.float32), np.broadcast_to(np.float64(2), shape)),  # (a sum's gradient, broadcast)
                 (np.broadcast_to(dtype(1), (2,) + shape), 0), (x, y[None])]:  # (x and y broadcasting the condition)
        got, want = elementwise.select(condition, a, b), np.where(condition, a, b)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
        assert np.array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", ["smooth_l1_loss", "huber_loss"])
def test_a_large_smooth_l1_or_huber_loss_in_one_compiled_pass_gives_the_numpy_paths_bits(monkeypatch, dtype,
                                                                                       reduction, name):
    """smooth_l1_loss and huber_loss of large arrays (``compiled``'s huber: the value, then g·slope, each one pass):
    value and gradient bit for bit the NumPy path's, NaN, ±inf and ±0 included; the value the composed formula's
    (where(|d| < β, ½d²/β, |d| − ½β), where(|d| < δ, ½d², δ·(|d| − ½δ))); the second derivative 1/β (1) inside,
    0 outside."""
    needs_numba("huber")
    x = (RNG.standard_normal((40, 30, 20)) * 2).astype(dtype)
    y = RNG.standard_normal((40, 30, 20)).astype(dtype)
    x.flat[:5] = [np.nan, np.inf, -np.inf, 0.0, -0.0]
    y.flat[3] = 0.0
    width = {"beta": 0.7} if name == "smooth_l1_loss" else {"delta": 0.7}
    fn = getattr(ops, name)

    def loss(x):
        value = fn(x, y, reduction=reduction, **width)
        return value.sum() if reduction == "none" else value
    compiled_value, compiled_grad = value_and_grad(loss)(x)
    elementwise_loss = fn(x, y, reduction="none", **width).numpy()
    with monkeypatch.context() as m:
        m.setattr(compiled, "kernel", lambda name: None)
        numpy_value, numpy_grad = value_and_grad(loss)(x)
    np.testing.assert_array_equal(compiled_value.numpy(), numpy_value.numpy())
    np.testing.assert_array_equal(compiled_grad.numpy(), numpy_grad.numpy())
    d = x - y
    size = np.abs(d)
    with np.errstate(invalid="ignore"):
        formula = (np.where(size < 0.7, (0.5 / 0.7) * (d * d), size - 0.5 * 0.7) if name == "smooth_l1_loss"
                   else np.where(size < 0.7, 0.5 * (d * d), 0.7 * (size - 0.5 * 0.7)))
    np.testing.assert_array_equal(elementwise_loss, formula)
    small = RNG.standard_normal(6)
    curvature = np.diag(hessian(lambda x: fn(x, small * 0, reduction="sum", **width))(small).numpy())
    np.testing.assert_allclose(curvature, np.where(np.abs(small) < 0.7, 1 / 0.7 if name == "smooth_l1_loss" else 1,
                                                   0.0))
