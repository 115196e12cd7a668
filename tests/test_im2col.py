"""The im2col + GEMM convolutions (every geometry Winograd does not take) go chunk by chunk of images on the pool:
they agree with a direct sum over the kernel's taps for several chunks, strides, padding, dilation and groups, give
the same bits on any number of threads, a fused activation's derivative is applied chunk by chunk in the weight
gradient, Σ ĝ kept for the bias rule, and a first layer's windows are kept from its forward pass."""

import numpy as np
import pytest

from softgrad import _parallel as parallel
from softgrad import grad, ops
from softgrad.ops import nn_kernels

RNG = np.random.default_rng(25)


def direct(x, w, stride, padding, dilation, groups):
    """out[n, o, i, j] = Σ_{c,p,q} w[o, c, p, q] · x̃[n, group(o)·C/G + c, s·i + d·p, s·j + d·q], tap by tap."""
    (top, bottom), (left, right) = padding
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    o, cg, kh, kw = w.shape
    ho, wo = nn_kernels._out_hw(x.shape, (kh, kw), stride, padding, dilation)
    out = np.zeros((x.shape[0], o, ho, wo))
    og = o // groups
    for p in range(kh):
        for q in range(kw):
            rows = slice(p * dilation[0], p * dilation[0] + stride[0] * (ho - 1) + 1, stride[0])
            cols = slice(q * dilation[1], q * dilation[1] + stride[1] * (wo - 1) + 1, stride[1])
            for group in range(groups):
                window = xp[:, group * cg:(group + 1) * cg, rows, cols]
                out[:, group * og:(group + 1) * og] += np.einsum("ncij,oc->noij", window,
                                                                 w[group * og:(group + 1) * og, :, p, q])
    return out


GEOMETRIES = [  # x shape, w shape, stride, padding, dilation, groups
    ((5, 3, 9, 8), (4, 3, 3, 2), (2, 1), ((1, 0), (1, 2)), (1, 1), 1),
    ((4, 1, 7, 7), (6, 1, 3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),  # one channel in: a first layer
    ((3, 4, 8, 7), (6, 2, 3, 3), (1, 2), ((1, 1), (0, 1)), (2, 1), 2),
    ((6, 4, 6, 6), (8, 1, 2, 2), (1, 1), ((0, 1), (1, 0)), (1, 1), 4),  # depthwise, two outputs a channel
    ((3, 5, 9, 8), (5, 1, 3, 3), (2, 1), ((1, 1), (2, 0)), (1, 2), 5),  # depthwise, strided, padded, dilated
    ((2, 6, 7, 7), (6, 1, 3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1), 6),  # depthwise, an NCHW input read directly
    ((2, 3, 9, 8), (4, 3, 5, 5), (1, 1), ((2, 2), (2, 1)), (1, 1), 1),  # 5×5, 'same'-like padding
    ((3, 6, 5, 7), (8, 6, 1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),  # pointwise: x's rows themselves
    ((3, 6, 5, 4), (4, 3, 1, 1), (1, 1), ((0, 0), (0, 0)), (2, 1), 2),  # pointwise, grouped
    ((2, 3, 8, 8), (32, 3, 3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),  # a colour first layer: 27 columns, BLAS
]


def test_a_depthwise_convolution_with_bias_and_relu_matches_the_ops_apart():
    """conv2d(x, w, groups=C, bias, 'relu'): the fused bias and activation and their rules (ĝ made chunk by chunk
    in the weight gradient, Σ ĝ for the bias) give what relu(conv2d(x, w, groups=C) + b) gives."""
    x, w, b = RNG.standard_normal((3, 4, 7, 6)), RNG.standard_normal((4, 1, 3, 3)), RNG.standard_normal(4)
    g = RNG.standard_normal((3, 4, 5, 4))

    def fused(x, w, b):
        return (ops.conv2d(x, w, groups=4, bias=b, activation="relu") * g).sum()

    def apart(x, w, b):
        return (ops.relu(ops.conv2d(x, w, groups=4) + b.reshape(1, 4, 1, 1)) * g).sum()
    for got, expected in zip(grad(fused, (0, 1, 2))(x, w, b), grad(apart, (0, 1, 2))(x, w, b)):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups", GEOMETRIES)
def test_im2col_by_chunks_matches_a_direct_sum_over_taps(monkeypatch, kernels, x_shape, w_shape, stride, padding,
                                                         dilation, groups):
    """Both ways (``kernels``): the input transpose's col2im compiled (a gather) and NumPy's pass per offset."""
    monkeypatch.setattr(nn_kernels, "_IM2COL_BYTES", 1)  # one image per chunk: chunks, and threads, exercised
    x, w = RNG.standard_normal(x_shape), RNG.standard_normal(w_shape)
    geo = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    y = nn_kernels._conv2d_impl(x, w, **geo)
    np.testing.assert_allclose(y, direct(x, w, stride, padding, dilation, groups), rtol=1e-13, atol=1e-13)
    g = RNG.standard_normal(y.shape)
    # the transposes, by the adjoint identity <conv(x, w), g> = <x, conv_input(g, w)> = <w, conv_weight(x, g)>
    dx = nn_kernels._conv2d_input_impl(g, w, x.shape, **geo)
    dw = nn_kernels._conv2d_weight_impl(x, g, w.shape, **geo)
    assert dx.shape == x.shape and dw.shape == w.shape
    inner = np.sum(y * g)
    assert np.isclose(np.sum(x * dx), inner, rtol=1e-12) and np.isclose(np.sum(w * dw), inner, rtol=1e-12)
    # and entry by entry: the input transpose's column j of the Jacobian, the weight gradient's
    for index in [(0,) * 4, tuple(s - 1 for s in x_shape)]:
        e = np.zeros(x_shape)
        e[index] = 1
        assert np.isclose(dx[index], np.sum(direct(e, w, stride, padding, dilation, groups) * g), rtol=1e-12)
    e = np.zeros(w_shape)
    e[-1, -1, -1, -1] = 1
    assert np.isclose(dw[-1, -1, -1, -1], np.sum(direct(x, e, stride, padding, dilation, groups) * g), rtol=1e-12)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups",
                         GEOMETRIES + [((2, 8, 6, 6), (8, 8, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),  # 3×3, 5×5:
                                       ((2, 8, 7, 7), (8, 8, 5, 5), (1, 1), ((2, 2), (2, 2)), (1, 1), 1),  # Winograd's
                                       ((2, 8, 9, 9), (8, 8, 3, 3), (1, 1), ((0, 0), (0, 0)), (2, 2), 1)])  # shapes
def test_an_empty_batch_convolves_to_an_empty_output_and_a_zero_weight_gradient(x_shape, w_shape, stride, padding,
                                                                                dilation, groups):
    """No images (every path: im2col, depthwise, pointwise by rows or planes; Winograd's shapes take im2col's): an
    output with no images, an input gradient of x's shape, a weight gradient of zeros, and for the layers too."""
    x = np.zeros((0,) + x_shape[1:])
    w, b = RNG.standard_normal(w_shape), RNG.standard_normal(w_shape[0])

    def loss(x, w, b):
        geometry = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        y, fused = ops.conv2d(x, w, **geometry), ops.conv2d(x, w, **geometry, bias=b, activation="relu")
        assert y.shape[:2] == fused.shape[:2] == (0, w_shape[0])
        return (y * y).sum() + (fused * fused).sum()
    dx, dw, db = grad(loss, (0, 1, 2))(x, w, b)
    assert dx.shape == x.shape and dw.shape == w.shape and not np.any(dw.numpy()) and not np.any(db.numpy())


@pytest.mark.parametrize("groups", [1, 2])
def test_a_pointwise_convolution_reads_either_layout_in_place(monkeypatch, groups):
    """A 1×1 convolution of stride 1 (``_pointwise``): of a channels-last x (as a convolution returns it) its
    windows are x's rows, a view, and its input transpose is the product itself, results channels-last; of an NCHW
    x (and g) one product per image of its planes (``_by_planes``), results NCHW in memory, nothing copied. The
    three primitives give im2col's general path's values either way, the same bits on one thread and on several."""
    x = RNG.standard_normal((3, 8, 5, 6)).astype(np.float32)
    channels_last = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    w = RNG.standard_normal((6, 8 // groups, 1, 1)).astype(np.float32)
    g = RNG.standard_normal((3, 6, 5, 6)).astype(np.float32)
    g_last = np.ascontiguousarray(g.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    geo = dict(stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups=groups)
    geometry = nn_kernels._Geometry((1, 1), **geo)
    assert np.shares_memory(nn_kernels._im2col(channels_last, geometry), channels_last)

    def three(x, g):
        return [nn_kernels._conv2d_impl(x, w, **geo), nn_kernels._conv2d_input_impl(g, w, x.shape, **geo),
                nn_kernels._conv2d_weight_impl(x, g, w.shape, **geo)]
    by_planes, by_rows = three(x, g), three(channels_last, g_last)
    assert by_planes[0].flags.c_contiguous and by_planes[1].flags.c_contiguous
    assert not by_rows[0].flags.c_contiguous and by_rows[0].transpose(0, 2, 3, 1).flags.c_contiguous
    monkeypatch.setattr(nn_kernels, "_IM2COL_BYTES", 1)  # (one image a chunk)
    monkeypatch.setattr(parallel, "threads", lambda: 3)
    for a, b in zip(by_planes, three(x, g)):
        np.testing.assert_array_equal(a, b)
    monkeypatch.setattr(nn_kernels, "_pointwise", lambda geo: False)
    for planes, rows, general in zip(by_planes, by_rows, three(x, g)):
        scale = np.max(np.abs(general))  # (float32 sums in different orders)
        assert np.max(np.abs(planes - general)) <= 1e-6 * scale and np.max(np.abs(rows - general)) <= 1e-6 * scale


def test_the_same_bits_on_one_thread_and_on_several(monkeypatch):
    monkeypatch.setattr(nn_kernels, "_IM2COL_BYTES", 1)
    x_shape, w_shape, stride, padding, dilation, groups = GEOMETRIES[0]
    x = RNG.standard_normal(x_shape).astype(np.float32)
    w = RNG.standard_normal(w_shape).astype(np.float32)
    geo = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)

    def three():
        y = nn_kernels._conv2d_impl(x, w, **geo)
        g = np.cos(y)
        return [y, nn_kernels._conv2d_input_impl(g, w, x.shape, **geo),
                nn_kernels._conv2d_weight_impl(x, g, w.shape, **geo)]
    monkeypatch.setattr(parallel, "_cpus", lambda: 4)
    threaded = three()
    monkeypatch.setattr(parallel, "_cpus", lambda: 1)
    for a, b in zip(threaded, three()):
        assert a.dtype == np.float32 and np.array_equal(a, b)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_conv2d_bias_makes_the_activation_derivative_and_the_bias_sum_chunk_by_chunk(monkeypatch, kernels, activation):
    """A first layer (one channel in, im2col) with a fused activation: its weight gradient makes ĝ = g·act'(y)
    chunk by chunk (ReLU's and its sum in one compiled pass) and keeps Σ ĝ for the bias rule, so ĝ is never
    written out when x is not differentiated; the gradients are those of the composed ops (conv2d + bias, then
    the activation) to rounding."""
    monkeypatch.setattr(nn_kernels, "_IM2COL_BYTES", 1)
    x = RNG.standard_normal((5, 1, 9, 9))
    w, b = RNG.standard_normal((4, 1, 3, 3)), RNG.standard_normal(4)
    g = RNG.standard_normal((5, 4, 7, 7))
    act = getattr(ops, activation)

    def fused(w, b, x):
        return (ops.conv2d(x, w, bias=b, activation=activation) * g).sum()

    def composed(w, b, x):
        return (act(ops.conv2d(x, w, bias=b)) * g).sum()

    computed, by_chunks = [], nn_kernels._activation_by_chunks
    monkeypatch.setattr(nn_kernels, "_activation_by_chunks", lambda *args: computed.append(1) or by_chunks(*args))
    for positions in ((0, 1), (0, 1, 2), (1,)):
        computed.clear()
        got, want = grad(fused, positions)(w, b, x), grad(composed, positions)(w, b, x)
        assert bool(computed) == (positions != (0, 1))  # (x differentiated, or no weight rule: ĝ made whole)
        got, want = (got, want) if len(positions) > 1 else ((got,), (want,))
        for a, e in zip(got, want):
            np.testing.assert_allclose(a.numpy(), e.numpy(), rtol=1e-12, atol=1e-12)


def test_a_first_layer_keeps_its_windows_from_the_forward_pass_for_its_weight_gradient(monkeypatch):
    """Windows narrower than the output (9 columns, 16 channels out) are kept by the forward pass and taken, once,
    by the weight gradient of exactly that input (the same bits as making them again); another input, or a
    second weight gradient, makes its own."""
    monkeypatch.setattr(nn_kernels, "_IM2COL_BYTES", 1)  # several chunks
    x, w = RNG.standard_normal((4, 1, 7, 7)), RNG.standard_normal((16, 1, 3, 3))
    g = RNG.standard_normal((4, 16, 5, 5))
    geometry = ((1, 1), ((0, 0), (0, 0)))
    made, im2col = [], nn_kernels._im2col
    monkeypatch.setattr(nn_kernels, "_im2col", lambda x, geo, keep=False: made.append(keep) or im2col(x, geo, keep))
    fresh = nn_kernels._conv2d_weight_impl(x, g, w.shape, *geometry)
    assert made and not any(made)
    made.clear()
    nn_kernels._conv2d_impl(x, w, *geometry)
    assert made and all(made)  # (the forward's windows, kept)
    made.clear()
    np.testing.assert_array_equal(nn_kernels._conv2d_weight_impl(x, g, w.shape, *geometry), fresh)
    assert not made and not nn_kernels._kept_windows
    np.testing.assert_array_equal(nn_kernels._conv2d_weight_impl(x, g, w.shape, *geometry), fresh)
    assert made  # (taken once: made again)
    nn_kernels._conv2d_impl(x, w, *geometry)
    made.clear()
    nn_kernels._conv2d_weight_impl(x.copy(), g, w.shape, *geometry)
    assert made  # (another input: its own windows)


@pytest.mark.parametrize("groups, channels_out", [(4, 8), (4, 4), (2, 6)])
def test_a_grouped_convolution_of_few_channels_runs_dense_with_the_grouped_values(monkeypatch, groups, channels_out):
    """ops.conv2d with groups, C·O small: the block-diagonal dense convolution (Winograd here: 3×3, stride 1) gives
    the grouped convolution's values and gradients (weights, input, bias through the fused ReLU) to rounding,
    and to second order; an input holding a NaN keeps the groups, so the NaN stays in its group."""
    x, w = RNG.standard_normal((3, 4, 7, 6)), RNG.standard_normal((channels_out, 4 // groups, 3, 3))
    b, g = RNG.standard_normal(channels_out), RNG.standard_normal((3, channels_out, 5, 4))

    def loss(x, w, b):
        return (ops.conv2d(x, w, groups=groups, bias=b, activation="relu") * g).sum()
    dense = [loss(x, w, b).item()] + [t.numpy() for t in grad(loss, (0, 1, 2))(x, w, b)]
    monkeypatch.setattr(nn_kernels, "_DENSE_GROUPED", 0)  # the grouped path
    grouped = [loss(x, w, b).item()] + [t.numpy() for t in grad(loss, (0, 1, 2))(x, w, b)]
    for got, expected in zip(dense, grouped):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    monkeypatch.undo()
    second = grad(lambda w: (grad(loss, 1)(x, w, b) ** 2).sum())(w).numpy()
    monkeypatch.setattr(nn_kernels, "_DENSE_GROUPED", 0)
    np.testing.assert_allclose(second, grad(lambda w: (grad(loss, 1)(x, w, b) ** 2).sum())(w).numpy(), rtol=1e-10)
    monkeypatch.undo()
    x[0, 0, 3, 3] = np.nan
    y = ops.conv2d(x, w, groups=groups).numpy()
    per_group = channels_out // groups
    assert np.isnan(y[0, :per_group]).any() and not np.isnan(y[0, per_group:]).any() and not np.isnan(y[1:]).any()
