"""The Winograd F(4×4, 3×3) and F(3×3, 5×5) convolutions (softgrad.ops.winograd), their transforms compiled and
as BLAS calls, agree with im2col + GEMM (the path every other geometry takes) to rounding, in float64 and float32,
in all three primitives, for output sizes the tile does and does not divide, padding, several chunks of images and
any number of threads — and give the same bits whatever the threads, and whichever arrays their kept tiles are
written into."""

import numpy as np
import pytest

from softgrad import _blas
from softgrad import _parallel as parallel
from softgrad.ops import compiled, nn_kernels, winograd

RNG = np.random.default_rng(15)
STRIDE = (1, 1)


def im2col(monkeypatch, name, *args):
    """The im2col + GEMM result of the kernel ``name`` (Winograd switched off)."""
    with monkeypatch.context() as m:
        m.setattr(winograd, "applies", lambda *a: False)
        m.setattr(winograd, "applies5", lambda *a: False)
        return getattr(nn_kernels, name)(*args)


def im2col_three(monkeypatch, x, w, g, padding, dilation=(1, 1), groups=1):
    """``three``, by im2col + GEMM."""
    return [im2col(monkeypatch, "_conv2d_impl", x, w, STRIDE, padding, dilation, groups),
            im2col(monkeypatch, "_conv2d_input_impl", g, w, x.shape, STRIDE, padding, dilation, groups),
            im2col(monkeypatch, "_conv2d_weight_impl", x, g, w.shape, STRIDE, padding, dilation, groups)]


def assert_three_match_im2col(monkeypatch, x, w, padding, dilation, groups, rtol):
    """All three primitives are im2col's to rounding, the weight gradient made by the input transpose from the
    forward's tiles and afresh; returns g and im2col's three."""
    y = im2col(monkeypatch, "_conv2d_impl", x, w, STRIDE, padding, dilation, groups)
    g = RNG.standard_normal(y.shape).astype(x.dtype)
    expected = im2col_three(monkeypatch, x, w, g, padding, dilation, groups)
    winograd._kept.clear()
    got = three(x, w, g, padding, dilation, groups)
    assert not winograd._kept  # (the weight gradient came from the input transpose)
    got.append(nn_kernels._conv2d_weight_impl(x, g, w.shape, STRIDE, padding, dilation, groups))  # (afresh)
    for a, want in zip(got, expected + expected[2:]):
        assert a.shape == want.shape and a.dtype == x.dtype
        assert np.max(np.abs(a - want)) <= rtol * np.max(np.abs(want))
    return g, expected


def three(x, w, g, padding, dilation=(1, 1), groups=1):
    """conv2d, its input transpose and its weight gradient, as the primitives compute them."""
    return [nn_kernels._conv2d_impl(x, w, STRIDE, padding, dilation, groups),
            nn_kernels._conv2d_input_impl(g, w, x.shape, STRIDE, padding, dilation, groups),
            nn_kernels._conv2d_weight_impl(x, g, w.shape, STRIDE, padding, dilation, groups)]


@pytest.mark.parametrize("x_shape, out_channels, padding", [
    ((3, 4, 6, 6), 5, ((0, 0), (0, 0))),  # even output
    ((2, 5, 7, 6), 4, ((1, 1), (0, 2))),  # odd output height, asymmetric padding
    ((9, 6, 5, 8), 7, ((2, 0), (1, 1))),  # several chunks (below)
])
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-14), (np.float32, 1e-5)])
def test_winograd_matches_im2col(monkeypatch, kernels, x_shape, out_channels, padding, dtype, rtol):
    monkeypatch.setattr(winograd, "_CHUNK_BYTES", 1)  # one image per chunk: chunks, and threads, are exercised
    x = RNG.standard_normal(x_shape).astype(dtype)
    w = RNG.standard_normal((out_channels, x_shape[1], 3, 3)).astype(dtype)
    assert winograd.applies(x.shape, w.shape, nn_kernels._Geometry((3, 3), STRIDE, padding, (1, 1), 1), dtype)
    y = im2col(monkeypatch, "_conv2d_impl", x, w, STRIDE, padding)
    g = RNG.standard_normal(y.shape).astype(dtype)
    expected = im2col_three(monkeypatch, x, w, g, padding)
    for got, want in zip(three(x, w, g, padding), expected):
        assert got.shape == want.shape and got.dtype == dtype
        assert np.max(np.abs(got - want)) <= rtol * np.max(np.abs(want))


@pytest.mark.parametrize("x_shape, out_channels, padding, dilation", [
    ((2, 4, 13, 11), 5, ((1, 1), (2, 0)), (2, 3)),  # phases of unequal sizes, asymmetric padding
    ((3, 5, 9, 9), 4, ((0, 0), (0, 0)), (3, 2)),  # the smallest phases (3 rows): one output row each
    ((9, 6, 10, 12), 7, ((2, 1), (0, 3)), (1, 3)),  # dilated along one axis; several chunks (below)
    ((2, 4, 26, 26), 4, ((2, 2), (2, 2)), (2, 2)),  # 'same' padding
])
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 5e-14), (np.float32, 1e-5)])  # (26 × 26: 1.1e-14)
def test_dilated_convolutions_by_phases_match_im2col(monkeypatch, kernels, x_shape, out_channels, padding,
                                                     dilation, dtype, rtol):
    """A dilated 3×3 convolution is the undilated one of its input's phases laid side by side (``winograd``'s
    dilated convolutions): all three primitives are im2col's to rounding, with the weight gradient made by the
    input transpose from the forward's tiles (kept for x, under its dilation) and afresh."""
    monkeypatch.setattr(winograd, "_CHUNK_BYTES", 1)
    x = RNG.standard_normal(x_shape).astype(dtype)
    w = RNG.standard_normal((out_channels, x_shape[1], 3, 3)).astype(dtype)
    geometry = nn_kernels._Geometry((3, 3), STRIDE, padding, dilation, 1)
    assert winograd.applies(x.shape, w.shape, geometry, dtype)
    assert_three_match_im2col(monkeypatch, x, w, padding, dilation, 1, rtol)


@pytest.mark.parametrize("x_shape, out_channels, padding, dilation, groups", [
    ((3, 8, 9, 11), 8, ((1, 1), (1, 1)), (1, 1), 2),  # 4 channels a group, odd sizes
    ((2, 16, 7, 6), 32, ((0, 0), (2, 1)), (1, 1), 4),  # more outputs than inputs a group
    ((9, 12, 10, 12), 15, ((2, 1), (0, 3)), (1, 3), 3),  # dilated (by phases); several chunks (below)
])
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 5e-14), (np.float32, 1e-5)])
def test_grouped_convolutions_match_im2col(monkeypatch, x_shape, out_channels, padding, dilation, groups, dtype,
                                           rtol):
    """A grouped 3×3 convolution with at least 4 channels a group takes Winograd's path, compiled, its tiles laid
    out group-major and its products G GEMMs a position: all three primitives are im2col's (group by group) to
    rounding, the weight gradient made by the input transpose from the forward's tiles and afresh."""
    if not compiled.available():
        pytest.skip("Numba is not installed (pip install softgrad[fast]): grouped convolutions take im2col's path")
    monkeypatch.setattr(winograd, "_CHUNK_BYTES", 1)
    x = RNG.standard_normal(x_shape).astype(dtype)
    w = RNG.standard_normal((out_channels, x_shape[1] // groups, 3, 3)).astype(dtype)
    assert winograd.applies(x.shape, w.shape, nn_kernels._Geometry((3, 3), STRIDE, padding, dilation, groups), dtype)
    assert_three_match_im2col(monkeypatch, x, w, padding, dilation, groups, rtol)


def test_a_grouped_convolutions_kept_tiles_are_not_an_ungrouped_ones():
    """A grouped forward keeps x's tiles group-major, under its groups: a dense convolution of the same x (the
    same shapes throughout) never reads them for its weight gradient, nor the grouped one a dense forward's."""
    if not compiled.available():
        pytest.skip("Numba is not installed (pip install softgrad[fast]): grouped convolutions take im2col's path")
    x, g = RNG.standard_normal((2, 8, 10, 10)), RNG.standard_normal((2, 8, 8, 8))
    dense, grouped = RNG.standard_normal((8, 8, 3, 3)), RNG.standard_normal((8, 4, 3, 3))
    padding = ((0, 0), (0, 0))
    for forward, backward, groups in ((grouped, dense, 1), (dense, grouped, 2)):
        fresh = winograd.conv3x3_weight(x, g, padding, groups=groups)
        winograd.conv3x3(x, forward, padding, (8, 8), groups=3 - groups)
        winograd.conv3x3_input(g, backward, x.shape, padding, groups=groups)
        np.testing.assert_allclose(winograd.conv3x3_weight(x, g, padding, groups=groups), fresh, rtol=1e-13)


def test_a_dilated_convolutions_kept_tiles_are_not_an_undilated_ones():
    """Unpadded, the phases of x have x's own shape and their convolution's output the undilated one's: what the
    dilated forward keeps of x is kept under its dilation, so an undilated convolution of the same x never reads it."""
    x = RNG.standard_normal((2, 4, 10, 10))
    w = RNG.standard_normal((4, 4, 3, 3))
    g = RNG.standard_normal((2, 4, 8, 8))
    padding = ((0, 0), (0, 0))
    fresh = winograd.conv3x3_weight(x, g, padding)
    winograd.conv3x3(x, w, padding, (6, 6), dilation=(2, 2))
    winograd.conv3x3_input(g, w, x.shape, padding)  # (undilated: its g is 8 × 8)
    np.testing.assert_allclose(winograd.conv3x3_weight(x, g, padding), fresh, rtol=1e-13)


def test_the_same_bits_on_one_thread_and_on_several(monkeypatch, kernels):
    monkeypatch.setattr(winograd, "_CHUNK_BYTES", 1)
    x = RNG.standard_normal((6, 4, 6, 5)).astype(np.float32)
    w = RNG.standard_normal((4, 4, 3, 3)).astype(np.float32)
    g = RNG.standard_normal((6, 4, 6, 5)).astype(np.float32)
    padding = ((1, 1), (1, 1))
    monkeypatch.setattr(parallel, "_cpus", lambda: 4)
    threaded = three(x, w, g, padding)
    monkeypatch.setattr(parallel, "_cpus", lambda: 1)
    for a, b in zip(threaded, three(x, w, g, padding)):
        assert np.array_equal(a, b)


def test_the_blas_thread_count_is_what_it_was_after_a_threaded_convolution(monkeypatch):
    # Helpers restoring a count the caller had changed used to leave BLAS on one thread for good.
    thread_control = _blas._thread_control()
    if thread_control is None:
        pytest.skip("NumPy's BLAS is not the bundled OpenBLAS: its thread count is not softgrad's to set")
    get_threads = _blas._openblas().scipy_openblas_get_num_threads64_
    monkeypatch.setattr(winograd, "_CHUNK_BYTES", 1)
    monkeypatch.setattr(parallel, "_cpus", lambda: 4)
    x = RNG.standard_normal((16, 4, 6, 5)).astype(np.float32)
    w = RNG.standard_normal((4, 4, 3, 3)).astype(np.float32)
    previous = thread_control(3)
    try:
        for _ in range(20):
            three(x, w, x, ((1, 1), (1, 1)))
            assert get_threads() == 3
    finally:
        thread_control(previous)


def test_only_3x3_stride_1_float_convolutions_with_channels_go_through_winograd():
    def geometry(stride=(1, 1), dilation=(1, 1), groups=1):
        return nn_kernels._Geometry((3, 3), stride, ((0, 0), (0, 0)), dilation, groups)

    assert winograd.applies((1, 8, 9, 9), (8, 8, 3, 3), geometry(), np.float32)
    assert not winograd.applies((1, 8, 9, 9), (8, 8, 3, 2), geometry(), np.float32)
    assert not winograd.applies((1, 8, 9, 9), (8, 8, 3, 3), geometry(stride=(2, 1)), np.float32)
    assert winograd.applies((1, 8, 9, 9), (8, 8, 3, 3), geometry(dilation=(3, 2)), np.float32)  # (phases of 3)
    assert not winograd.applies((1, 8, 9, 9), (8, 8, 3, 3), geometry(dilation=(4, 1)), np.float32)  # (phases of 2)
    assert winograd.applies((1, 8, 9, 9), (8, 4, 3, 3), geometry(groups=2), np.float32) == compiled.available()
    assert not winograd.applies((1, 8, 9, 9), (8, 2, 3, 3), geometry(groups=4), np.float32)  # (2 inputs a group)
    assert not winograd.applies((1, 8, 9, 9), (4, 4, 3, 3), geometry(groups=2), np.float32)  # (2 outputs a group)
    assert not winograd.applies((1, 1, 9, 9), (8, 1, 3, 3), geometry(), np.float32)  # the first layer of a CNN
    assert not winograd.applies((1, 8, 9, 9), (8, 8, 3, 3), geometry(), np.float16)


def test_float32_error_at_the_example_nets_size():
    """The docstring's figures: F(4×4, 3×3) in float32 within 1e-5 of the float64 result (max |error| / max
    |result|) in all three primitives, at the MNIST example net's second convolution."""
    x, w = RNG.standard_normal((64, 32, 26, 26)), RNG.standard_normal((64, 32, 3, 3))
    g = RNG.standard_normal((64, 64, 24, 24))
    padding = ((0, 0), (0, 0))
    exact = three(x, w, g, padding)
    for got, want in zip(three(*(a.astype(np.float32) for a in (x, w, g)), padding), exact):
        assert np.max(np.abs(got - want)) <= 1e-5 * np.max(np.abs(want))


def test_the_input_transpose_makes_the_weight_gradient_of_exactly_its_arrays():
    """conv3x3 keeps V of its input; conv3x3_input then makes that convolution's weight gradient too, which
    conv3x3_weight, given those very arrays, returns (same bits as computing it afresh) and forgets; given other
    arrays, it computes theirs."""
    x = RNG.standard_normal((3, 4, 6, 6)).astype(np.float32)
    w = RNG.standard_normal((5, 4, 3, 3)).astype(np.float32)
    g = RNG.standard_normal((3, 5, 4, 4)).astype(np.float32)
    padding = ((0, 0), (0, 0))
    winograd._kept.clear()  # (what an earlier test's backward kept and nobody asked for)
    fresh = winograd.conv3x3_weight(x, g, padding)
    winograd.conv3x3(x, w, padding, (4, 4))
    winograd.conv3x3_input(g, w, x.shape, padding)
    assert set(winograd._kept) == {"weight"}
    assert np.array_equal(winograd.conv3x3_weight(x, g, padding), fresh)
    assert not winograd._kept
    winograd.conv3x3(x, w, padding, (4, 4))
    winograd.conv3x3_input(g, w, x.shape, padding)
    other_x, other_g = x.copy() * 2, g.copy() * 3  # equal shapes, other arrays: what was kept does not apply
    assert np.allclose(winograd.conv3x3_weight(other_x, other_g, padding), 6 * fresh, rtol=1e-5, atol=1e-4)
    winograd.conv3x3(x, w, padding, (4, 4))  # no input transpose in between: the weight gradient uses V
    assert np.array_equal(winograd.conv3x3_weight(x, g, padding), fresh)
    assert not winograd._kept


def test_conv2d_bias_takes_the_activation_and_the_bias_sum_from_the_input_transpose(monkeypatch):
    """conv2d_bias with a fused ReLU hands its rules ĝ = g·relu'(y) uncomputed (nn_kernels._Pending): the Winograd
    input transpose applies relu' to g's tiles as it copies them and keeps ĝ's weight gradient and Σ ĝ, so ĝ is
    never written out. Whichever arguments are differentiated, the gradients are those of the composed ops
    (conv2d + bias, then relu) bit for bit, and the bias gradient is Σ ĝ to rounding; what is asked for is
    forgotten (a weight gradient nobody asks for stays until the next input transpose, as ``_kept`` says)."""
    from softgrad import grad, ops

    x = RNG.standard_normal((3, 8, 10, 10)).astype(np.float32)
    w = (RNG.standard_normal((6, 8, 3, 3)) / 8).astype(np.float32)
    b = RNG.standard_normal(6).astype(np.float32)
    g = RNG.standard_normal((3, 6, 8, 8)).astype(np.float32)

    def fused(x, w, b):
        return (ops.conv2d(x, w, bias=b, activation="relu") * g).sum()

    def composed(x, w, b):
        return (ops.relu(ops.conv2d(x, w, bias=b)) * g).sum()

    computed, by_chunks = [], nn_kernels._activation_by_chunks  # ĝ written out: only without the input transpose
    monkeypatch.setattr(nn_kernels, "_activation_by_chunks", lambda *args: computed.append(1) or by_chunks(*args))
    y = ops.conv2d(x, w, bias=b).numpy()
    bias_gradient = (g * (y > 0)).astype(np.float64).sum(axis=(0, 2, 3))
    for positions in ((0, 1, 2), (1, 2), (2,), (0, 2)):
        computed.clear()
        got = grad(fused, positions)(x, w, b)
        assert bool(computed) == (0 not in positions)
        want = grad(composed, positions)(x, w, b)
        got, want = (got, want) if len(positions) > 1 else ((got,), (want,))
        for position, a, e in zip(positions, got, want):
            assert a.dtype == np.float32 and np.array_equal(a.numpy(), e.numpy()), position
        np.testing.assert_allclose(got[-1].numpy(), bias_gradient, rtol=1e-5, atol=1e-4)
        assert "bias" not in winograd._kept and ("weight" in winograd._kept) == (0 in positions and 1 not in positions)


@pytest.mark.parametrize("activation", [None, "relu", "tanh"])
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-13), (np.float32, 2e-5)])
def test_the_compiled_transforms_meet_the_image_as_the_numpy_passes_do(monkeypatch, activation, dtype, rtol):
    """Where the compiled kernels gather the tiles from the image, scatter (overlap-add) them back and apply ReLU or
    its derivative on the way (``compiled``'s ``*_image`` kernels; tanh takes the 2-D passes), conv2d_bias and its
    three gradients are the NumPy passes' to rounding: odd sizes (4 divides neither), padding, several chunks."""
    from softgrad import grad, ops

    if not compiled.available():
        pytest.skip("Numba is not installed (pip install softgrad[fast])")
    monkeypatch.setattr(winograd, "_CHUNK_BYTES", 1)
    x = RNG.standard_normal((3, 5, 9, 11)).astype(dtype)
    w = (RNG.standard_normal((6, 5, 3, 3)) / 5).astype(dtype)
    b = RNG.standard_normal(6).astype(dtype)
    g = RNG.standard_normal((3, 6, 9, 11)).astype(dtype)

    def loss(x, w, b):
        return (ops.conv2d(x, w, bias=b, padding=1, activation=activation) * g).sum()

    def run():
        y = ops.conv2d(x, w, bias=b, padding=1, activation=activation).numpy()
        return [y] + [t.numpy() for t in grad(loss, (0, 1, 2))(x, w, b)]
    got = run()
    with monkeypatch.context() as m:
        m.setattr(compiled, "kernel", lambda name: None)
        want = run()
    for a, e in zip(got, want):
        assert np.max(np.abs(a - e)) <= rtol * np.max(np.abs(e))


@pytest.mark.parametrize("groups", [1, 2, 4])
@pytest.mark.parametrize("dilation", [(1, 1), (2, 3)])
@pytest.mark.parametrize("pooled", [False, True])
def test_a_convolution_with_relu_and_a_pool_by_hand_is_im2cols(monkeypatch, groups, dilation, pooled):
    """ops.max_pool2d(ops.conv2d(..., dilation, bias, activation='relu')) by hand: dilated, the ReLU's derivative
    laid out by phases with g, and the pool's stand-in for g computed before it is (``_phased_transpose``);
    grouped, with 4 channels a group, the tiles group-major (the stand-in computed: ``A_pooled``'s are not), with
    2, as the dense convolution by a block-diagonal weight. The gradients are im2col's to rounding."""
    from softgrad import grad, ops

    x = RNG.standard_normal((3, 8, 14, 13))
    w, b = RNG.standard_normal((8, 8 // groups, 3, 3)), RNG.standard_normal(8)

    def loss(x, w, b):
        y = ops.conv2d(x, w, padding=(2, 3), dilation=dilation, groups=groups, bias=b, activation="relu")
        return ((ops.max_pool2d(y, 2) if pooled else y) ** 2).sum()
    assert winograd.applies(x.shape, (8, 8, 3, 3), nn_kernels._Geometry((3, 3), STRIDE, ((2, 2), (3, 3)), dilation,
                                                                         1), np.float64)
    got = grad(loss, (0, 1, 2))(x, w, b)
    monkeypatch.setattr(winograd, "applies", lambda *a: False)
    for a, e in zip(got, grad(loss, (0, 1, 2))(x, w, b)):
        assert np.max(np.abs(a.numpy() - e.numpy())) <= 1e-13 * np.max(np.abs(e.numpy()))


@pytest.mark.parametrize("x_shape, out_channels, padding, groups", [
    ((3, 4, 8, 8), 5, ((0, 0), (0, 0)), 1),  # a 4 × 4 output: the 3 × 3 tiles overhang it
    ((2, 4, 10, 13), 4, ((0, 0), (0, 0)), 1),  # a 6 × 9 output, whole tiles: x and g read in place
    ((2, 5, 9, 8), 4, ((1, 1), (0, 2)), 1),  # asymmetric padding
    ((9, 6, 7, 10), 7, ((2, 2), (2, 2)), 1),  # 'same' padding; several chunks (below)
    ((3, 8, 9, 11), 8, ((1, 2), (2, 1)), 2),  # grouped, 4 channels a group
])
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 5e-14), (np.float32, 1e-5)])
def test_5x5_convolutions_by_f3x3_5x5_match_im2col(monkeypatch, x_shape, out_channels, padding, groups, dtype,
                                                   rtol):
    """A 5×5 stride-1 convolution goes through F(3×3, 5×5) (compiled): all three primitives are im2col's to
    rounding, the weight gradient made by the input transpose from the forward's tiles and afresh."""
    if not compiled.available():
        pytest.skip("Numba is not installed (pip install softgrad[fast]): 5×5 convolutions take im2col's path")
    monkeypatch.setattr(winograd, "_CHUNK_BYTES", 1)
    x = RNG.standard_normal(x_shape).astype(dtype)
    w = RNG.standard_normal((out_channels, x_shape[1] // groups, 5, 5)).astype(dtype)
    geometry = nn_kernels._Geometry((5, 5), STRIDE, padding, (1, 1), groups)
    assert winograd.applies5(x.shape, w.shape, geometry, dtype)
    assert not winograd.applies(x.shape, w.shape, geometry, dtype)
    g, expected = assert_three_match_im2col(monkeypatch, x, w, padding, (1, 1), groups, rtol)
    winograd.conv5x5(x, w, padding, g.shape[2:], groups=groups)  # (from the forward's kept tiles, no transpose)
    weight = nn_kernels._conv2d_weight_impl(x, g, w.shape, STRIDE, padding, (1, 1), groups)
    assert not winograd._kept
    assert np.max(np.abs(weight - expected[2])) <= rtol * np.max(np.abs(expected[2]))


def test_a_5x5_convolutions_kept_gradients_are_not_a_3x3_ones():
    """Kept under its padding and kernel size: after a 5×5 convolution's forward and input transpose of x and g,
    the weight gradient of a 3×3 convolution of the very same x and g (its output as large, so its padding 2
    smaller) is computed afresh, not read; and the reverse."""
    if not compiled.available():
        pytest.skip("Numba is not installed (pip install softgrad[fast]): 5×5 convolutions take im2col's path")
    x, g = RNG.standard_normal((2, 4, 12, 12)), RNG.standard_normal((2, 4, 10, 10))
    w3, w5 = RNG.standard_normal((4, 4, 3, 3)), RNG.standard_normal((4, 4, 5, 5))
    padding3, padding5 = ((0, 0), (0, 0)), ((1, 1), (1, 1))
    fresh3, fresh5 = winograd.conv3x3_weight(x, g, padding3), winograd.conv5x5_weight(x, g, padding5)
    winograd.conv5x5(x, w5, padding5, (10, 10))
    winograd.conv5x5_input(g, w5, x.shape, padding5)
    np.testing.assert_allclose(winograd.conv3x3_weight(x, g, padding3), fresh3, rtol=1e-13)
    winograd.conv3x3(x, w3, padding3, (10, 10))
    winograd.conv3x3_input(g, w3, x.shape, padding3)
    np.testing.assert_allclose(winograd.conv5x5_weight(x, g, padding5), fresh5, rtol=1e-13)
    winograd._kept.clear()


def test_the_5x5_overlap_add_is_numpys():
    """B3_image adds each 7×7 tile of dX (tiles 3 apart, so each cell in up to nine) into its place, as NumPy's
    slice-by-slice sum does, the second transform pass B₇ (rows, ·) with it."""
    if not compiled.available():
        pytest.skip("Numba is not installed (pip install softgrad[fast])")
    th, tw, groups, n, cg = 3, 4, 2, 2, 3
    rows = RNG.standard_normal((7, 7, groups, n * th * tw, cg))
    out = np.full((n, 3 * th + 4, 3 * tw + 4, groups * cg), np.nan)  # (written, not added to)
    compiled.kernel("B3_image")(rows, th, tw, out)
    full = np.einsum("sq,rqgtc->rsgtc", winograd._BT7.T, rows)  # B₇ along each tile's second axis
    full = full.reshape(7, 7, groups, n, th, tw, cg)
    want = np.zeros(out.shape)
    for i in range(th):
        for j in range(tw):
            tile = full[:, :, :, :, i, j].transpose(3, 0, 1, 2, 4).reshape(n, 7, 7, groups * cg)
            want[:, 3 * i:3 * i + 7, 3 * j:3 * j + 7] += tile
    np.testing.assert_allclose(out, want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("size", [3, 5])
def test_a_forward_writes_its_kept_tiles_into_a_used_up_sets_arrays_with_the_same_bits(size):
    """Kept tiles used up by the input transpose are held (``_parallel._held``, whole sets, at most
    ``_HELD_SETS``) and the next forward of the same shapes writes its tiles into those very arrays, its memory
    mapped in already: the three results are the first round's, bit for bit."""
    if size == 5 and not compiled.available():
        pytest.skip("Numba is not installed (pip install softgrad[fast]): 5×5 convolutions take im2col's path")
    forward, transpose, weight = ((winograd.conv3x3, winograd.conv3x3_input, winograd.conv3x3_weight) if size == 3
                                  else (winograd.conv5x5, winograd.conv5x5_input, winograd.conv5x5_weight))
    x = RNG.standard_normal((9, 6, 10, 12)).astype(np.float32)
    w = RNG.standard_normal((7, 6, size, size)).astype(np.float32)
    padding = ((1, 1), (1, 1))
    out_hw = (12 - size, 14 - size)
    g = RNG.standard_normal((9, 7) + out_hw).astype(np.float32)
    winograd._kept.clear()
    parallel._held.clear()

    def step():
        return [forward(x, w, padding, out_hw), transpose(g, w, x.shape, padding), weight(x, g, padding)]

    first = step()
    assert len(parallel._held) == 1
    held = parallel._held[0]
    y = forward(x, w, padding, out_hw)
    assert not parallel._held
    assert all(a is b for a, b in zip(winograd._kept["input"][2][1].values(), held))
    again = [y, transpose(g, w, x.shape, padding), weight(x, g, padding)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    for _ in range(3):
        parallel.hand_back({0: np.empty(3)})
    assert len(parallel._held) == parallel._HELD_SETS
    parallel._held.clear()
