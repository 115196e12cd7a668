"""Neural-network kernels: the fused dense layer, 2-D convolution (im2col + one BLAS GEMM; 3×3 stride 1 by
Winograd F(4×4, 3×3), ``ops.winograd``) and max pooling (NCHW).

Each rule is a ``bind`` of a primitive, so derivatives of any order come for free. The convolution and
pooling families are small sets of linear primitives that are one another's transposes:

=====================================  ==========================  ===================================
primitive                              ∂ first argument            ∂ second argument
=====================================  ==========================  ===================================
``dense(x, w, b)`` (= x wᵀ + b)        ``g @ w``                   ``gᵀ @ x``   (∂b = Σ_rows g)
``conv2d(x, w)``                       ``conv2d_input(g, w)``      ``conv2d_weight(x, g)``
``conv2d_input(g, w)`` (= Aᵀ g)        ``conv2d(h, w)``            ``conv2d_weight(h, g)``
``conv2d_weight(x, g)``                ``conv2d_input(g, k)``      ``conv2d(x, k)``
``conv2d_bias(x, w, b)`` (act(· + b))  ``conv2d_input(ĝ, w)``      ``conv2d_weight(x, ĝ)``  (∂b = Σ_{n,i,j} ĝ)
``conv2d_bias_pool(x, w, b)``          ``conv2d_input(ĝ, w)``      ``conv2d_weight(x, ĝ)``  (ĝ = act'·S(g))
``max_pool2d(x)``                      ``pool_scatter(g, x, y)``   — (y = max_pool2d(x), the maxima)
``pool_scatter(g, x, y)``              ``pool_gather(h, x)``       — (piecewise constant in x)
``pool_gather(h, x)``                  ``pool_scatter(k, x, y)``   — (piecewise constant in x)
``max_pool2d_indices(x, y)``           — (integers)                —
=====================================  ==========================  ===================================

``padding`` is always explicit and possibly asymmetric: ``((top, bottom), (left, right))``. ``dense`` and
``conv2d_bias`` run their activation inside (ĝ = g·act'(y), the activation's own ``output_vjp``). A max-pool over
tiling windows right after a convolution hands it its backward uncomputed (``max_pool2d_p.lazy_vjp``, a
``_PooledCotangent``): the Winograd input transpose reads the pool's cotangent and maxima as it gathers g's tiles.
``conv2d_bias_pool`` is max_pool2d(conv2d_bias(x, w, b), 2) in one primitive (``SequentialCell``'s Conv2d, ReLU,
MaxPool2d(2)), S the pool's scatter: by compiled Winograd the convolution's output is never written.
"""

from __future__ import annotations

import weakref
from typing import Callable, NamedTuple

import numpy as np

from softgrad._checks import check_bool
from softgrad.ops import compiled, winograd
from softgrad._parallel import chunks as image_chunks, hand_back, held_arrays, matmul, on_threads, one_pool, scratch
from softgrad.ops._primitive import In, Sample, multilinear, op, shape_of, tangent_sum
from softgrad.ops.elementwise import relu, relu_p, sigmoid, sigmoid_p, tanh, tanh_p, where
from softgrad.ops.linalg import matmul_p
from softgrad.ops.reductions import sum_p
from softgrad.ops.shape import tile, transpose_p
from softgrad.tensor import concrete, is_column_major
from softgrad.trace import Primitive, StandIn

# ----- dense: matmul, bias and activation in one primitive -----


class FusedActivation(NamedTuple):
    """An activation ``dense`` and ``conv2d`` run inside their primitive: ``forward(y, out)`` writes act(y) into
    out, the fresh y = x Wᵀ + b itself or (Winograd) the output while the inverse transform writes it; its
    rule is the op's own ``output_vjp`` (``primitive``'s, which reads only ans), mapping g to the pre-activation
    cotangent once per backward step, in g's memory when the backward sweep owns g."""

    op: Callable
    primitive: Primitive
    forward: Callable


#: The one table of fusable activations, by name ('relu' is also ``ops.relu``: see ``fused_activation``).
DENSE_ACTIVATIONS = {
    "relu": FusedActivation(relu, relu_p, lambda y, out: np.maximum(y, 0, out=out)),
    "tanh": FusedActivation(tanh, tanh_p, lambda y, out: np.tanh(y, out=out)),
    "sigmoid": FusedActivation(sigmoid, sigmoid_p, lambda y, out: np.copyto(out, sigmoid_p.impl(y))),
}
_NAME_OF_OP = {fused.op: name for name, fused in DENSE_ACTIVATIONS.items()}


def fused_activation(activation) -> str | None:
    """The ``DENSE_ACTIVATIONS`` name of ``activation`` (a name, or its op such as ``ops.relu``), else None."""
    if isinstance(activation, str):
        return activation if activation in DENSE_ACTIVATIONS else None
    return _NAME_OF_OP.get(activation)


def _dense_impl(x, weight, bias, activation):
    def epilogue(y, columns):
        if bias is not None:
            y += bias[columns]
        if activation is not None:
            DENSE_ACTIVATIONS[activation].forward(y, y)
    return matmul(x, weight.T, epilogue=epilogue if bias is not None or activation is not None else None)


def _activation_vjp(g, ans, out, activation):
    return g if activation is None else DENSE_ACTIVATIONS[activation].primitive.output_vjp(g, ans, out)


def _dense_vjp_weight(g, ans, x, weight, bias, activation):
    """∂/∂W = gᵀ x, produced in W's own memory layout (for a column-major W as (xᵀ g)ᵀ), so that an in-place
    update W −= lr·∂W runs over both arrays in the same order."""
    if is_column_major(weight):
        return matmul_p.bind(x.swapaxes(0, 1), g).swapaxes(-1, -2)
    return matmul_p.bind(g.swapaxes(-1, -2), x)


def _dense_samples():
    x, w, b = In((5, 4)), In((3, 4)), In((3,))
    return ([Sample(x, w, b, activation=None), Sample(x, w, None, activation=None),
             Sample(x, np.asfortranarray(np.arange(12.0).reshape(3, 4) / 10 - 0.5), b, activation=None)]
            + [Sample(x, w, b, activation=name) for name in DENSE_ACTIVATIONS if name != "relu"]
            + [Sample(In((5, 4), "nonzero"), np.eye(3, 4), In((3,), "nonzero"), activation="relu")])


def _dense_jvp(tangents, ans, x, weight, bias, activation):
    """ḣ = ẋWᵀ + xẆᵀ + ḃ, times act'(y)."""
    h = tangent_sum(tangents, (x, weight, bias), ans, lambda t: matmul_p.bind(t, weight.swapaxes(0, 1)),
                    lambda t: matmul_p.bind(x, t.swapaxes(-1, -2)), lambda t: t)
    return _activation_vjp(h, ans, None, activation)


dense_p = Primitive("dense", _dense_impl, (
    lambda g, ans, x, weight, bias, activation: matmul_p.bind(g, weight),
    _dense_vjp_weight,
    lambda g, ans, x, weight, bias, activation: sum_p.bind(g, axis=(len(shape_of(g)) - 2,), keepdims=False),
), batchable=True, output_vjp=_activation_vjp, jvp=_dense_jvp, samples=_dense_samples())


@op
def dense(x, weight, bias=None, activation=None):
    """act(x Wᵀ + b) for x (N, in), W (out, in), b (out,) or None — a Dense layer in one primitive (MindSpore's
    ``ops.dense``, plus the activation), so a layer costs one tape entry and its weight gradient comes out in W's
    own layout. ``activation``: None, a name or op of ``DENSE_ACTIVATIONS`` ('relu' or ``ops.relu``, 'tanh',
    'sigmoid'), run inside the primitive; any other callable is applied to the result. With ĝ = g·act'(y):
    ∂/∂x = ĝ W, ∂/∂W = ĝᵀ x, ∂/∂b = Σ_rows ĝ

    >>> dense([[1.0, 2.0]], [[1.0, 0.0], [1.0, 1.0]], [0.5, 0.0])
    Tensor(shape=[1, 2], dtype=Float32, value=
    [[1.5, 3. ]])
    >>> dense([[1.0, -2.0]], [[1.0, 0.0], [1.0, 1.0]], activation='relu')
    Tensor(shape=[1, 2], dtype=Float32, value=
    [[1., 0.]])
    """
    x_shape, w_shape = shape_of(x), shape_of(weight)
    if len(x_shape) != 2 or len(w_shape) != 2 or x_shape[1] != w_shape[1]:
        raise ValueError(f"dense: expected x (N, in) and weight (out, in), got shapes {x_shape} and {w_shape}; "
                         "reshape x to 2-D first (x.reshape(-1, in))")
    if bias is not None and shape_of(bias) != w_shape[:1]:
        raise ValueError(f"dense: bias must have shape {w_shape[:1]} (one per output), got {shape_of(bias)}")
    fused = fused_activation(activation)
    if fused is None and activation is not None and not callable(activation):
        raise ValueError(f"dense: activation must be None or one of {sorted(DENSE_ACTIVATIONS)}, got {activation!r} "
                         "(or pass an op, e.g. ops.gelu, to apply it to the result)")
    y = dense_p.bind(x, weight, bias, activation=fused)
    return activation(y) if fused is None and activation is not None else y


# ----- shared geometry -----


def int_pair(value, name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or any(int(v) != v or v < 0 for v in pair):
        raise ValueError(f"{name} must be a non-negative int or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def normalize_padding(padding) -> tuple[tuple[int, int], tuple[int, int]]:
    """``p``, ``(ph, pw)`` or ``((top, bottom), (left, right))`` as the last form."""
    if isinstance(padding, (int, np.integer)):
        return (int(padding),) * 2, (int(padding),) * 2
    padding = tuple(padding)
    if len(padding) == 2 and all(isinstance(p, (int, np.integer)) for p in padding):
        return (int(padding[0]),) * 2, (int(padding[1]),) * 2
    if len(padding) == 4:  # MindSpore's (top, bottom, left, right)
        return (int(padding[0]), int(padding[1])), (int(padding[2]), int(padding[3]))
    (top, bottom), (left, right) = padding
    return (int(top), int(bottom)), (int(left), int(right))


def output_size(size: int, kernel: int, stride: int, pad: tuple[int, int], dilation: int = 1) -> int:
    """⌊(size + pad₀ + pad₁ − d·(kernel − 1) − 1) / stride⌋ + 1: how many windows fit along one axis (the kernel's
    taps d apart)."""
    return (size + pad[0] + pad[1] - dilation * (kernel - 1) - 1) // stride + 1


def _channels_last(x, padding, value=0.0, scratch_name=None):
    """x (N, C, H, W) as an (N, H + pads, W + pads, C) array: a view when x is channels-last in memory and
    unpadded, else one copy into a buffer filled with ``value`` (this thread's scratch ``scratch_name`` if given)."""
    nhwc = x.transpose(0, 2, 3, 1)
    if padding == ((0, 0), (0, 0)):
        return nhwc
    (top, bottom), (left, right) = padding
    n, h, w, c = nhwc.shape
    shape = (n, h + top + bottom, w + left + right, c)
    out = np.empty(shape, x.dtype) if scratch_name is None else scratch(scratch_name, shape, x.dtype)
    out[...] = value
    out[:, top:top + h, left:left + w] = nhwc
    return out


_CHUNK_BYTES = 1 << 20  # elementwise and pooling passes work on chunks of images of about this much (x and out)


def _chunks_of(x_shape, itemsize):
    """Chunks of the batch of an (N, C, H, W) array for the passes over it (``softgrad._parallel``): each chunk in
    cache through its passes, the chunks on threads."""
    n, c, h, w = x_shape
    return image_chunks(n, 2 * c * h * w * itemsize, _CHUNK_BYTES)


def _offsets(kernel, stride, out_hw, dilation=(1, 1)):
    """For each kernel offset (i, j), in row-major order, the (rows, cols) slices it reads of the padded input."""
    (kh, kw), (sh, sw), (ho, wo), (dh, dw) = kernel, stride, out_hw, dilation
    return [(slice(i * dh, i * dh + sh * (ho - 1) + 1, sh), slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))
            for i in range(kh) for j in range(kw)]


def _out_hw(x_shape, kernel, stride, padding, dilation=(1, 1)) -> tuple[int, int]:
    return tuple(output_size(x_shape[2 + a], kernel[a], stride[a], padding[a], dilation[a]) for a in range(2))


class _Geometry(NamedTuple):
    """A convolution's kernel (kh, kw), stride, padding ((top, bottom), (left, right)), dilation and groups."""

    kernel: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    groups: int

    def out_hw(self, x_shape):
        return _out_hw(x_shape, self.kernel, self.stride, self.padding, self.dilation)

    def offsets(self, out_hw):
        return _offsets(self.kernel, self.stride, out_hw, self.dilation)


def _pointwise(geo) -> bool:
    """A 1×1 kernel of stride 1, unpadded: each window is one cell, the windows x's channels-last rows."""
    return geo.kernel == (1, 1) and geo.stride == (1, 1) and geo.padding == ((0, 0), (0, 0))


# A pointwise convolution of an operand in NCHW memory (``_by_planes``: x C-contiguous in the forward and the weight
# gradient, g in the input transpose) is one product per image and group, of its (C, H·W) planes: y[n] = W x[n],
# dx[n] = Wᵀ g[n], dW = Σ_n g[n] x[n]ᵀ, the result NCHW in memory too; the rows path (channels-last cells) would
# copy the operand transposed first and return a channels-last result. 64 × 32 × 26 × 26 by 64 × 32 × 1 × 1, one
# core: forward 3.8 → 1.9 ms, input transpose 4.1 → 2.1, weight gradient 6.0 → 2.4.


def _by_planes(a, geo, x_shape) -> bool:
    """Whether a pointwise convolution of an x of ``x_shape`` (not depthwise) takes ``a`` (x or g) by its NCHW
    planes: ``a`` C-contiguous."""
    return _pointwise(geo) and not _depthwise(x_shape, geo) and a.flags.c_contiguous


def _planes(a, group, groups):
    """Group ``group``'s channels of a C-contiguous (n, C, H, W) as (n, C/groups, H·W): a view."""
    width = a.shape[1] // groups
    return a[:, group * width:(group + 1) * width].reshape(len(a), width, a.shape[2] * a.shape[3])


def _im2col(x, geo, keep=False):
    """Windows as rows, per group: (groups, N·Ho·Wo, kh·kw·C/groups), columns ordered (i, j, c) (into this thread's
    scratch; a fresh array to ``keep``): compiled, each window's cells copied straight from x (``compiled``'s
    ``im2col``); else one strided copy per kernel offset of a padded copy, each moving contiguous runs of channels.
    Pointwise (``_pointwise``), x's channels-last rows themselves: a view when x is channels-last in memory (as a
    convolution returns it), else one transposing copy."""
    (n, c), g = x.shape[:2], geo.groups
    if _pointwise(geo):
        return np.reshape(x.transpose(0, 2, 3, 1), (-1, g, c // g)).transpose(1, 0, 2)
    ho, wo = geo.out_hw(x.shape)
    shape = (g, n, ho, wo, geo.kernel[0] * geo.kernel[1], c // g)
    cols = np.empty(shape, x.dtype) if keep else scratch("im2col", shape, x.dtype)
    gather = compiled.kernel("im2col")
    if gather is not None:  # (each window's cells copied straight from x, group by group)
        width, nhwc = c // g, x.transpose(0, 2, 3, 1)
        for group in range(g):
            gather(nhwc[..., group * width:(group + 1) * width], geo.kernel[1], *_compiled_geometry(geo), cols[group])
        return cols.reshape(g, n * ho * wo, shape[4] * shape[5])
    xp = _channels_last(x, geo.padding, scratch_name="im2col padded")
    for k, (rows, columns) in enumerate(geo.offsets((ho, wo))):
        window = xp[:, rows, columns]
        cols[:, :, :, :, k] = window[None] if g == 1 else np.moveaxis(window.reshape(n, ho, wo, g, -1), 3, 0)
    return cols.reshape(g, n * ho * wo, shape[4] * shape[5])


def _col2im(cols, x_shape, geo, out):
    """The transpose of ``_im2col``: (groups, N·Ho·Wo, kh·kw·C/groups) summed back into out (N, H, W, C), an
    (N, C, H, W) array channels-last: window by window where compiled (``compiled``'s ``col2im``), else offset by
    offset."""
    n, c = x_shape[:2]
    g = geo.groups
    ho, wo = geo.out_hw(x_shape)
    cols = cols.reshape(g, n, ho, wo, geo.kernel[0] * geo.kernel[1], c // g)
    add_back = compiled.kernel("col2im") if cols.dtype == out.dtype else None
    if add_back is not None:  # (every window added back in one compiled pass, group by group)
        width = c // g
        for group in range(g):
            add_back(cols[group], geo.kernel[1], *_compiled_geometry(geo), out[..., group * width:(group + 1) * width])
        return

    def offset(k, target):
        target += cols[0, :, :, :, k] if g == 1 else np.moveaxis(cols[:, :, :, :, k], 0, 3).reshape(target.shape)
    _overlap_add(offset, geo, (ho, wo), out)


def _overlap_add(add_offset, geo, out_hw, out):
    """out (N, H, W, C) channels-last = Σ over the kernel's offsets k of what ``add_offset(k, target)`` adds into
    ``target``, the windows' cells of offset k in the zero-padded input (a scratch when padded, cropped into out)."""
    n, h, w, c = out.shape
    (top, bottom), (left, right) = geo.padding
    padded = geo.padding != ((0, 0), (0, 0))
    acc = scratch("col2im", (n, h + top + bottom, w + left + right, c), out.dtype) if padded else out
    acc[...] = 0
    for k, (rows, columns) in enumerate(geo.offsets(out_hw)):
        add_offset(k, acc[:, rows, columns])
    if padded:
        out[...] = acc[:, top:top + h, left:left + w]


# The im2col path goes chunk by chunk of images on the pool: a chunk's windows, its GEMM's output and, backward,
# its cotangent stay in cache from one pass to the next, and the chunks are shared out between threads (a first
# layer's K = 9 GEMM is too narrow for BLAS to split well). Weight gradients are sums of per-chunk products,
# added in chunk order; the chunks depend on N alone, so the bits do not depend on the number of threads.
_IM2COL_BYTES = 2 << 20  # a chunk's windows and its output rows take about this much
# ``compiled``'s window_sums for windows of at most this many columns (a grey first layer's 3×3); wider, BLAS's
# product is faster (fwd+bwd at two threads, 64 images: 27 columns → 32 channels 5.9 → 4.9 ms, a 1×1 32 → 64
# 10.2 → 5.9)
_WINDOW_SUMS_COLUMNS = 9


# A convolution whose windows are narrower than its output (a first layer's 9 columns against 32 channels out)
# keeps them from its forward pass for its weight gradient (``_kept_windows``: the latest such convolution's
# input, geometry, chunks, windows by chunk and whether they are ``held_arrays``; one layer's at a time, taken
# once), instead of making them again. A compiled depthwise convolution keeps x channels-last by chunk instead
# (the copy it made of an NCHW x, in held arrays, else views of x): its input transpose, given g, makes the
# weight gradient too, from the same copy of g in cache (``_kept_depthwise_weight``: x, g, geometry, gradient;
# the weight rule returns it for those very objects). fwd+bwd of 64 × 32 × 26 × 26 NCHW, two threads: 2.2-2.5 →
# 2.1-2.2 ms (a copy of x and one of g fewer; the copy of x into fresh memory instead of held arrays: 4-9 ms).
_kept_windows: list = []
_kept_depthwise_weight: list = []


def _keeps_windows(x_shape, geo, channels_out) -> bool:
    return (geo.kernel[0] * geo.kernel[1] * x_shape[1] // geo.groups < channels_out // geo.groups
            and not _depthwise(x_shape, geo))


def _im2col_chunks(x_shape, geo, channels_out, itemsize):
    n, c = x_shape[:2]
    ho, wo = geo.out_hw(x_shape)
    windows = c if _depthwise(x_shape, geo) else geo.kernel[0] * geo.kernel[1] * c  # (depthwise: read in place)
    per_image = ho * wo * (windows + channels_out) * itemsize
    return image_chunks(n, per_image, _IM2COL_BYTES)


def _weight_matrix(w, groups):
    """(O, C/groups, kh, kw) as (groups, O/groups, kh·kw·C/groups), the column order of ``_im2col``."""
    return w.transpose(0, 2, 3, 1).reshape(groups, w.shape[0] // groups, -1)


def _rows(g, groups):
    """(N, O, Ho, Wo) as (groups, N·Ho·Wo, O/groups): a view when g is channels-last in memory (as conv2d returns
    it) and groups is 1."""
    rows = g.transpose(0, 2, 3, 1).reshape(-1, groups, g.shape[1] // groups)
    return rows.transpose(1, 0, 2)


# A depthwise convolution (one input channel per group, M = O/C outputs of each) is kh·kw multiply-adds of
# whole channels-last windows by per-channel taps, chunk by chunk of images: as an im2col GEMM it was C
# products of K = kh·kw by M = 1 (MNIST-sized 32 channels, 64 images, two threads: 51 ms fwd+bwd, NumPy's offset
# by offset 15, compiled, ``compiled._depthwise_forward`` and its two rules, 4.75; PyTorch 2.6). Of stride 1 on
# NCHW memory, plane by plane instead (``_depthwise_by_planes``), its results NCHW.
# (Without Numba, ops.conv2d runs one of few channels as a dense convolution instead: ``_as_dense``.)


def _depthwise(x_shape, geo) -> bool:
    return geo.groups > 1 and geo.groups == x_shape[1]


def _taps(w, channels, width):
    """(C·M, 1, kh, kw) as (kh·kw, C, M), each kernel offset's weights by input channel and multiplier; with M = 1
    as (kh·kw, width, C), repeated along an output row, so that NumPy's loops run along whole rows (Wo·C) of
    channels-last windows (0.74× the time of a (C,) operand's)."""
    taps = w.reshape(channels, w.shape[0] // channels, -1).transpose(2, 0, 1)
    if taps.shape[2] != 1:
        return taps
    return np.ascontiguousarray(np.broadcast_to(taps[:, None, :, 0], (taps.shape[0], width, channels)))


def _depthwise_kernel(name, *arrays):
    """The compiled ``name`` (``compiled._depthwise_*``) when its operands share one dtype, else None."""
    return compiled.kernel(name) if len({a.dtype for a in arrays}) == 1 else None


def _compiled_taps(w):
    """(C·M, 1, kh, kw) as (kh, kw, C·M), the compiled kernels' taps."""
    return np.ascontiguousarray(w[:, 0].transpose(1, 2, 0))


def _compiled_geometry(geo):
    """The compiled kernels' (sh, sw, dh, dw, top, left): they skip the padding's cells instead of reading a copy."""
    return (*geo.stride, *geo.dilation, geo.padding[0][0], geo.padding[1][0])


def _channels_innermost(a, name, contiguous=False, into=None):
    """a (n, h, w, c) with contiguous channel runs: itself if so (or broadcast along them, unless ``contiguous``),
    else copied into ``into`` or this thread's scratch ``name`` (an NCHW array's channels-last view reads every
    channel H·W elements apart; the compiled kernels' loops, vectorised for contiguous operands, ran 3× slower
    over a broadcast g)."""
    if a.flags.c_contiguous or (not contiguous and a.strides[3] in (0, a.itemsize)):
        return a
    out = scratch(name, a.shape, a.dtype) if into is None else into
    np.copyto(out, a)
    return out


def _depthwise_by_planes(a, w, geo, x_shape) -> bool:
    """Whether a depthwise convolution of an x of ``x_shape`` takes ``a`` (x, or g in the input transpose) plane by
    plane (``compiled._depthwise_planes``): stride 1, compiled for a's and w's dtype, and ``a`` in NCHW memory (its
    channels-last view not contiguous: copying it channels-last first took 0.34 ms of the forward's 2.6 on one
    core, and the kernel then met the copy in cold cache)."""
    return (_depthwise(x_shape, geo) and geo.stride == (1, 1) and not a.transpose(0, 2, 3, 1).flags.c_contiguous
            and _depthwise_kernel("depthwise_planes", a, w) is not None)


def _depthwise_forward(x, w, geo, out, held=None):
    """out (n, Ho, Wo, C·M) channels-last = Σ_k window_k(x)[..., c, None] · taps[k, c, :]; compiled, x read
    channels-last (copied into ``held`` if it is not: see ``_kept_windows``)."""
    kernel = _depthwise_kernel("depthwise_forward", x, w, out)
    if kernel is not None:
        cells = x.transpose(0, 2, 3, 1)
        sh, sw, dh, dw, top, left = _compiled_geometry(geo)
        if held is not None and not cells.flags.c_contiguous and x.flags.c_contiguous and sw == 1:
            compiled.kernel("depthwise_forward_planes")(x, _compiled_taps(w), sh, dh, dw, top, left, out, held)
            return  # (NCHW x: each image copied into held and convolved while in cache)
        kernel(_channels_innermost(cells, "depthwise x", contiguous=True, into=held), _compiled_taps(w), sh, sw, dh,
               dw, top, left, out)
        return
    xp = _channels_innermost(_channels_last(x, geo.padding, scratch_name="im2col padded"), "depthwise x")
    n, ho, wo, o = out.shape
    c = x.shape[1]
    taps = _taps(w, c, wo)
    by_channel = out if o == c else out.reshape(n, ho, wo, c, o // c)
    product = scratch("depthwise", by_channel.shape, out.dtype)
    for k, (rows, columns) in enumerate(geo.offsets((ho, wo))):
        window = xp[:, rows, columns] if o == c else xp[:, rows, columns, :, None]
        np.multiply(window, taps[k], out=by_channel if k == 0 else product)
        if k:
            by_channel += product


def _depthwise_input(g, w, geo, out):
    """The transpose: out (n, H, W, C) channels-last = Σ_k window_kᵀ(Σ_m g[..., c, m] · taps[k, c, m]); returns g
    as it read it, channels-last."""
    n, c = out.shape[0], out.shape[3]
    kernel = _depthwise_kernel("depthwise_input", g, w, out)
    rows_g = _channels_innermost(g.transpose(0, 2, 3, 1), "depthwise g", contiguous=kernel is not None)
    if kernel is not None:
        kernel(rows_g, _compiled_taps(w), *_compiled_geometry(geo), out)
        return rows_g
    ho, wo, o = rows_g.shape[1:]
    taps = _taps(w, c, wo)
    product = scratch("depthwise", (n, ho, wo, c), out.dtype)

    def offset(k, target):
        if o == c:
            np.multiply(rows_g, taps[k], out=product)
        else:
            np.einsum("nijcm,cm->nijc", rows_g.reshape(n, ho, wo, c, o // c), taps[k], out=product)
        target += product
    _overlap_add(offset, geo, (ho, wo), out)
    return rows_g


def _depthwise_weight(x, g, geo, out):
    """out (C, M, kh·kw) = Σ_{n,i,j} g[n, c·M + m, i, j] · window_k(x)[n, i, j, c], offset by offset (for M = 1
    the sum over windows of their product as a GEMV)."""
    kernel = _depthwise_kernel("depthwise_weight", x, g)
    if kernel is not None:
        rows_g = _channels_innermost(g.transpose(0, 2, 3, 1), "depthwise g", contiguous=True)
        total = np.zeros((*geo.kernel, rows_g.shape[3]))
        kernel(_channels_innermost(x.transpose(0, 2, 3, 1), "depthwise x", contiguous=True), rows_g,
               *_compiled_geometry(geo), total)
        out[...] = total.reshape(-1, *out.shape[:2]).transpose(1, 2, 0)
        return
    xp = _channels_innermost(_channels_last(x, geo.padding, scratch_name="im2col padded"), "depthwise x")
    rows_g = _channels_innermost(g.transpose(0, 2, 3, 1), "depthwise g")
    n, ho, wo, o = rows_g.shape
    c = xp.shape[3]
    product = scratch("depthwise", (n, ho, wo, c), out.dtype) if o == c else None
    ones = np.ones(n * ho * wo, out.dtype) if o == c else None
    for k, (rows, columns) in enumerate(geo.offsets((ho, wo))):
        if o == c:
            np.multiply(xp[:, rows, columns], rows_g, out=product)
            np.matmul(ones, product.reshape(-1, c), out=out[:, 0, k])
        else:
            out[:, :, k] = np.einsum("nijc,nijcm->cm", xp[:, rows, columns], rows_g.reshape(n, ho, wo, c, o // c))


# ----- convolution: conv2d, its input transpose and its weight gradient -----
# Activations are returned as NCHW views of channels-last memory: the GEMM produces that layout, and the
# next im2col, pooling and these rules all read it with contiguous channel runs. They run on softgrad's pool
# (``one_pool``: their GEMMs, and every later product, keep BLAS's threads asleep).


def _convolved(x, w, bias, activation, stride, padding, dilation=(1, 1), groups=1):
    """im2col(x) @ w_matᵀ per group (3×3 stride 1: Winograd, ``winograd.conv3x3``), plus ``bias`` (None or (O,)),
    then ``activation`` (None or a ``FusedActivation``): in place here, inside the transforms there."""
    one_pool()
    geo = _Geometry(w.shape[2:], stride, padding, dilation, groups)
    out_hw = geo.out_hw(x.shape)
    if winograd.applies(x.shape, w.shape, geo, x.dtype):
        return winograd.conv3x3(x, w, padding, out_hw, bias, activation, dilation=dilation, groups=groups)
    if winograd.applies5(x.shape, w.shape, geo, x.dtype):
        return winograd.conv5x5(x, w, padding, out_hw, bias, activation, groups=groups)
    o = w.shape[0]
    if _by_planes(x, geo, x.shape) or _depthwise_by_planes(x, w, geo, x.shape):
        return _by_image_planes(x, w, bias, activation, geo)
    w_mat = _weight_matrix(w, groups).swapaxes(1, 2)  # (groups, kh·kw·C/groups, O/groups)
    rows = np.empty((x.shape[0], *out_hw, o), np.result_type(x, w))  # channels-last

    keep = _keeps_windows(x.shape, geo, o)
    windows = {}
    bias_relu = compiled.kernel("bias_relu") if (bias is not None and rows.dtype == bias.dtype
                                                 and (activation is None or activation.primitive is relu_p)) else None

    depthwise = _depthwise(x.shape, geo)
    chunks = _im2col_chunks(x.shape, geo, o, rows.itemsize)
    held, owned = None, False  # a compiled depthwise convolution's x channels-last by chunk, kept
    if depthwise and _depthwise_kernel("depthwise_forward", x, w, rows) is not None:
        cells = x.transpose(0, 2, 3, 1)
        owned = not cells.flags.c_contiguous
        held = (held_arrays(chunks, lambda count: (count,) + cells.shape[1:], x.dtype) if owned
                else {chunk.start: cells[chunk] for chunk in chunks})

    def task(chunk):
        out = rows[chunk].reshape(-1, o)
        if depthwise:
            _depthwise_forward(x[chunk], w, geo, rows[chunk], None if held is None else held[chunk.start])
        else:
            cols = windows[chunk.start] = _im2col(x[chunk], geo, keep)
            _grouped_matmul(cols, w_mat, out)
        if bias_relu is not None:  # (the bias and ReLU in one compiled pass)
            bias_relu(out, bias, activation is not None)
            return
        if bias is not None:
            out += bias
        if activation is not None:
            activation.forward(out, out)
    on_threads(task, chunks)
    if _kept_windows:
        _used_up(_kept_windows.pop())
    if keep or held is not None:
        _kept_windows.append((x, geo, chunks, windows, False) if keep else (x, geo, chunks, held, owned))
    return rows.transpose(0, 3, 1, 2)


def _by_image_planes(x, w, bias, activation, geo):
    """A pointwise convolution's y[n] = W x[n] per group, or a depthwise one plane by plane (``_depthwise_by_planes``),
    + bias, through ``activation``, image by image, for x NCHW in memory: (N, O, Ho, Wo) C-contiguous."""
    groups, o = geo.groups, w.shape[0]
    depthwise = _depthwise(x.shape, geo)
    w_mat = None if depthwise else _weight_matrix(w, groups)  # (groups, O/groups, C/groups)
    taps = _compiled_taps(w) if depthwise else None
    y = np.empty((x.shape[0], o, *geo.out_hw(x.shape)), np.result_type(x, w))
    _, _, dh, dw, top, left = _compiled_geometry(geo)

    def task(chunk):
        if depthwise:
            compiled.kernel("depthwise_planes")(0, x[chunk], y[chunk], taps, dh, dw, top, left, y[chunk])
        for group in range(0 if depthwise else groups):
            np.matmul(w_mat[group], _planes(x[chunk], group, groups), out=_planes(y[chunk], group, groups))
        if bias is not None:
            y[chunk] += bias.reshape(-1, 1, 1)
        if activation is not None:
            activation.forward(y[chunk], y[chunk])
    on_threads(task, _im2col_chunks(x.shape, geo, o, y.itemsize))
    if _kept_windows:
        _used_up(_kept_windows.pop())
    return y


def _used_up(kept):
    """Done with an entry of ``_kept_windows``: its arrays handed back if they are ``held_arrays``."""
    if kept[4]:
        hand_back(kept[3])


def _grouped_matmul(a, b, out):
    """a (groups, m, k) @ b (groups, k, n) into out (m, groups·n), group by group."""
    if len(a) == 1:
        np.matmul(a[0], b[0], out=out)
        return
    n = b.shape[2]
    for group in range(len(a)):
        out[:, group * n:(group + 1) * n] = a[group] @ b[group]


def _conv2d_impl(x, w, stride, padding, dilation=(1, 1), groups=1):
    return _convolved(x, w, None, None, stride, padding, dilation, groups)


def _conv2d_input_impl(g, w, x_shape, stride, padding, dilation=(1, 1), groups=1):
    """Aᵀg = col2im(g_rows @ w_mat) per group (3×3 stride 1: Winograd)."""
    one_pool()
    geo = _Geometry(w.shape[2:], stride, padding, dilation, groups)
    if winograd.applies(x_shape, w.shape, geo, g.dtype):
        return winograd.conv3x3_input(g, w, x_shape, padding, dilation=dilation, groups=groups)
    if winograd.applies5(x_shape, w.shape, geo, g.dtype):
        return winograd.conv5x5_input(g, w, x_shape, padding, groups=groups)
    n, c, h, w_ = x_shape
    w_mat = _weight_matrix(w, groups)  # (groups, O/groups, kh·kw·C/groups)
    dtype = np.result_type(g, w)
    depthwise = _depthwise(x_shape, geo)
    chunks = _im2col_chunks(x_shape, geo, w.shape[0], dtype.itemsize)
    kept_x = (depthwise and _kept_windows and _kept_windows[0][0].shape == x_shape  # (the forward's x channels-last)
              and _kept_windows[0][1:3] == (geo, chunks))
    if _by_planes(g, geo, x_shape) or not kept_x and _depthwise_by_planes(g, w, geo, x_shape):
        out = np.empty(x_shape, dtype)  # (NCHW: dx[n] = Wᵀ g[n], or plane by plane)
        taps, (_, _, dh, dw, top, left) = _compiled_taps(w) if depthwise else None, _compiled_geometry(geo)

        def planes(chunk):
            if depthwise:
                compiled.kernel("depthwise_planes")(1, out[chunk], g[chunk], taps, dh, dw, top, left, out[chunk])
            for group in range(0 if depthwise else groups):
                np.matmul(w_mat[group].T, _planes(g[chunk], group, groups), out=_planes(out[chunk], group, groups))
        on_threads(planes, chunks)
        return out
    out = np.empty((n, h, w_, c), dtype)  # channels-last

    kept = None  # (x, geo, chunks, x channels-last) of the forward, for the weight gradient on the way
    if kept_x:
        kept = _kept_windows.pop()
        partial = _weight_partials(len(chunks), w.shape, geo, np.result_type(kept[0], g), narrow=False)
        index_of = {chunk.start: index for index, chunk in enumerate(chunks)}

    def task(chunk):
        if depthwise:
            rows_g = _depthwise_input(g[chunk], w, geo, out[chunk])
            if kept is not None:
                _depthwise_weight(kept[3][chunk.start].transpose(0, 3, 1, 2), rows_g.transpose(0, 3, 1, 2), geo,
                                  partial[index_of[chunk.start]])
            return
        rows = _rows(g[chunk], groups)
        if _pointwise(geo):  # (each window one cell: the product is the input gradient's rows)
            _grouped_matmul(rows, w_mat, out[chunk].reshape(-1, c))
            return
        cols = scratch("columns", (groups, rows.shape[1], w_mat.shape[2]), out.dtype)
        np.matmul(rows, w_mat, out=cols)
        _col2im(cols, (chunk.stop - chunk.start, c, h, w_), geo, out[chunk])
    on_threads(task, chunks)
    if kept is not None:
        _used_up(kept)
        _kept_depthwise_weight[:] = [(kept[0], g, geo, _weight_sum(partial, w.shape, narrow=False))]
    return out.transpose(0, 3, 1, 2)


def _conv2d_weight_impl(x, g, w_shape, stride, padding, dilation=(1, 1), groups=1):
    """Σ over windows of g ⊗ window = g_rowsᵀ @ im2col(x) per group (3×3 stride 1: Winograd)."""
    one_pool()
    geo = _Geometry(w_shape[2:], stride, padding, dilation, groups)
    if _kept_depthwise_weight:
        kept_x, kept_g, kept_geo, gradient = _kept_depthwise_weight.pop()
        if kept_x is x and kept_g is g and kept_geo == geo:
            return gradient
    if winograd.applies(x.shape, w_shape, geo, x.dtype):
        return winograd.conv3x3_weight(x, g, padding, dilation, groups=groups)
    if winograd.applies5(x.shape, w_shape, geo, x.dtype):
        return winograd.conv5x5_weight(x, g, padding, groups=groups)
    if _depthwise_by_planes(x, g, geo, x.shape):
        return _depthwise_weight_by_planes(x, g, w_shape, geo)
    return _im2col_weight(x, g, w_shape, geo)


def _depthwise_weight_by_planes(x, g, w_shape, geo):
    """Σ over images of g·x̃ per offset and output channel (``compiled._depthwise_planes``, which 2), by chunks of
    images added in chunk order: (C·M, 1, kh, kw)."""
    _, _, dh, dw, top, left = _compiled_geometry(geo)
    chunks = _im2col_chunks(x.shape, geo, w_shape[0], x.itemsize)
    partial = np.zeros((len(chunks), 1, *geo.kernel, w_shape[0]))
    placeholder = np.empty((1, 1, 1), x.dtype)  # (the kernel's taps: unused, of the data's dtype)
    index_of = {chunk.start: index for index, chunk in enumerate(chunks)}
    on_threads(lambda chunk: compiled.kernel("depthwise_planes")(2, x[chunk], g[chunk], placeholder, dh, dw, top,
                                                                 left, partial[index_of[chunk.start]]), chunks)
    return np.ascontiguousarray(partial.sum(axis=0).transpose(3, 0, 1, 2), dtype=np.result_type(x, g))


def _im2col_weight(x, g, w_shape, geo, pending=None):
    """Σ over chunks of images of g_rowsᵀ @ im2col(x), per group, as (O, C/groups, kh, kw). For a ``_Pending`` ĝ
    (g is then ``pending.g``), ĝ = g·act'(y) is made chunk by chunk in scratch, never written out, and Σ ĝ is kept
    in ``pending.bias_sum`` for the bias rule."""
    o, c, kh, kw = w_shape
    groups = geo.groups
    k = kh * kw * c  # (c: the input channels of a group)
    dtype = np.result_type(x, g)
    parts = _im2col_chunks(x.shape, geo, o, dtype.itemsize)
    kept = taken = None
    if _kept_windows and _kept_windows[0][0] is x and _kept_windows[0][1:3] == (geo, parts):
        taken = _kept_windows.pop()
        kept = taken[3]
    depthwise = _depthwise(x.shape, geo)
    # the narrower operand transposed first: 1.7× faster for a first layer's 9 columns, 1.1× slower with 288
    narrow = k < o // groups and not depthwise
    relu = pending is not None and pending.activation == "relu"
    window_sums = compiled.kernel("window_sums") if (
        narrow and k <= _WINDOW_SUMS_COLUMNS and groups == 1 and (pending is None or relu)
        and x.dtype == g.dtype == dtype and (pending is None or pending.ans.dtype == dtype)) else None
    partial = _weight_partials(len(parts), w_shape, geo, dtype if window_sums is None else np.float64, narrow)
    bias_partial = None if pending is None else np.empty((len(parts), o), dtype)
    index_of = {part.start: index for index, part in enumerate(parts)}
    rule = None if pending is None else DENSE_ACTIVATIONS[pending.activation].primitive.output_vjp
    relu_rule_sum = compiled.kernel("relu_rule_sum") if relu else None

    planes = pending is None and _by_planes(x, geo, x.shape) and _by_planes(g, geo, x.shape)  # (Σ_n g[n] x[n]ᵀ)

    def task(chunk):
        index, g_chunk = index_of[chunk.start], g[chunk]
        if planes:
            for group in range(groups):
                xs, gs = _planes(x[chunk], group, groups), _planes(g_chunk, group, groups)
                products = np.matmul(xs, gs.transpose(0, 2, 1)) if narrow else np.matmul(gs, xs.transpose(0, 2, 1))
                np.sum(products, axis=0, out=partial[index, group])
            return
        if window_sums is not None:  # (ĝ, Σ ĝ and Σ windowsᵀ ĝ in one compiled pass: ĝ never written out)
            cols = _im2col(x[chunk], geo) if kept is None else kept[chunk.start]
            partial[index, 0] = 0.0
            total = np.zeros(o)
            g_rows = g_chunk.transpose(0, 2, 3, 1).reshape(-1, o)
            window_sums(cols[0], g_rows, pending.ans[chunk].transpose(0, 2, 3, 1).reshape(-1, o) if relu else g_rows,
                        relu, partial[index, 0], total)
            if pending is not None:
                bias_partial[index] = total
            return
        if rule is not None:
            n, _, h, w = g_chunk.shape
            own = scratch("ĝ", (n, h, w, o), dtype)  # (ĝ, channels-last, made where the rule owns it)
            if relu_rule_sum is not None and g_chunk.dtype == dtype == pending.ans.dtype:
                total = np.zeros(o)
                relu_rule_sum(g_chunk.transpose(0, 2, 3, 1), pending.ans[chunk].transpose(0, 2, 3, 1), own, total)
                bias_partial[index] = total
                g_chunk = own.transpose(0, 3, 1, 2)
            else:
                own = own.transpose(0, 3, 1, 2)
                np.copyto(own, g_chunk)
                g_chunk = rule(own, pending.ans[chunk], own)
                cells = g_chunk.transpose(0, 2, 3, 1).reshape(-1, o)
                np.matmul(np.ones(len(cells), dtype), cells, out=bias_partial[index])  # (1ᵀĝ by BLAS: 4× add.reduce)
        if depthwise:
            _depthwise_weight(x[chunk] if kept is None else kept[chunk.start].transpose(0, 3, 1, 2), g_chunk, geo,
                              partial[index])
            return
        rows = _rows(g_chunk, groups)
        cols = _im2col(x[chunk], geo) if kept is None else kept[chunk.start]
        if narrow:
            np.matmul(cols.swapaxes(1, 2), rows, out=partial[index])
        else:
            np.matmul(rows.swapaxes(1, 2), cols, out=partial[index])
    on_threads(task, parts)
    if taken is not None:
        _used_up(taken)
    if pending is not None:
        pending.bias_sum = bias_partial.sum(axis=0)
    return _weight_sum(partial, w_shape, narrow, dtype)


def _weight_partials(count, w_shape, geo, dtype, narrow):
    """An empty array for ``count`` chunks' weight gradients, by group: (count, groups, K, O/groups) for windows
    ``narrow``er than the output (colsᵀ @ g), else (count, groups, O/groups, K), K = kh·kw·C/groups."""
    o, c, kh, kw = w_shape
    k = kh * kw * c
    return np.empty((count, geo.groups) + ((k, o // geo.groups) if narrow else (o // geo.groups, k)), dtype)


def _weight_sum(partial, w_shape, narrow, dtype=None):
    """The chunks' ``_weight_partials`` added in chunk order, as (O, C/groups, kh, kw) (in ``dtype``)."""
    o, c, kh, kw = w_shape
    total = partial.sum(axis=0)
    if narrow:
        total = total.swapaxes(1, 2)
    return np.ascontiguousarray(total.reshape(o, kh, kw, c).transpose(0, 3, 1, 2), dtype=dtype)


_CONV_GEOMETRY = dict(stride=(2, 1), padding=((1, 0), (1, 2)))
_CONV_X, _CONV_W, _CONV_G = (2, 3, 5, 4), (4, 3, 3, 2), (2, 4, 2, 6)  # x, weight, and output shapes of that geometry
# 3×3 stride 1 with 4 channels in and out: Winograd (an odd output width: the padded tile)
_WINO_GEOMETRY = dict(stride=(1, 1), padding=((1, 0), (0, 1)))
_WINO_X, _WINO_W, _WINO_G = (2, 4, 5, 4), (4, 4, 3, 3), (2, 4, 4, 3)
_DILATED_WINO = dict(stride=(1, 1), padding=((0, 1), (1, 0)), dilation=(2, 2), groups=1)  # (Winograd, by phases)
# dilated and grouped, on one input: (weight shape, output shape, geometry)
_GROUP_X = (2, 4, 6, 5)
_GROUPED = [((3, 4, 2, 2), (2, 3, 4, 3), dict(stride=(1, 2), padding=((0, 0), (1, 0)), dilation=(2, 1), groups=1)),
            ((6, 2, 3, 2), (2, 6, 6, 4), dict(stride=(1, 1), padding=((1, 1), (0, 0)), dilation=(1, 1), groups=2)),
            ((8, 1, 3, 3), (2, 8, 2, 3), dict(stride=(2, 1), padding=((1, 0), (1, 1)), dilation=(2, 2), groups=4)),
            ((8, 1, 3, 2), (2, 8, 5, 4), dict(stride=(1, 1), padding=((1, 0), (0, 1)), dilation=(1, 2), groups=4)),
            ((4, 4, 3, 3), (2, 4, 3, 2), _DILATED_WINO)]
# grouped on Winograd's path (4 channels a group: its tiles group-major): (x, weight, output shapes, geometry)
_GROUPED_WINO = ((2, 8, 6, 5), (8, 4, 3, 3), (2, 8, 5, 4), dict(stride=(1, 1), padding=((1, 0), (0, 1)), groups=2))
# 5×5 on F(3×3, 5×5)'s path (compiled), dense and in 2 groups: (x, weight, output shapes, geometry)
_WINO5 = [((2, 4, 6, 5), (4, 4, 5, 5), (2, 4, 5, 4), dict(stride=(1, 1), padding=((1, 2), (2, 1)), groups=1)),
          ((2, 8, 6, 7), (8, 4, 5, 5), (2, 8, 6, 3), dict(stride=(1, 1), padding=((2, 2), (0, 0)), groups=2))]
# 1×1 in 2 groups, its NCHW operands by their planes (``_by_planes``): (x, weight, output shapes, geometry)
_PLANES = ((2, 4, 3, 5), (6, 2, 1, 1), (2, 6, 3, 5), dict(stride=(1, 1), padding=((0, 0), (0, 0)), groups=2))

# (``geo``: the keyword parameters stride, padding, dilation, groups, passed on unchanged)
conv2d_p = Primitive("conv2d", _conv2d_impl, (
    lambda g, ans, x, w, **geo: conv2d_input_p.bind(g, w, x_shape=shape_of(x), **geo),
    lambda g, ans, x, w, **geo: conv2d_weight_p.bind(x, g, w_shape=shape_of(w), **geo),
), jvp=multilinear(lambda: conv2d_p), samples=[
    Sample(In(_CONV_X), In(_CONV_W), **_CONV_GEOMETRY),
    Sample(In((1, 2, 4, 4)), In((3, 2, 2, 2)), stride=(1, 1), padding=((0, 0), (0, 0))),
    Sample(In(_WINO_X), In(_WINO_W), **_WINO_GEOMETRY),
    *(Sample(In(_GROUP_X), In(w), **geometry) for w, _, geometry in _GROUPED),
    Sample(In(_GROUPED_WINO[0]), In(_GROUPED_WINO[1]), **_GROUPED_WINO[3]),
    *(Sample(In(x), In(w), **geometry) for x, w, _, geometry in _WINO5),
    Sample(In(_PLANES[0]), In(_PLANES[1]), **_PLANES[3])])

conv2d_input_p = Primitive("conv2d_input", _conv2d_input_impl, (
    lambda h, ans, g, w, x_shape, **geo: conv2d_p.bind(h, w, **geo),
    lambda h, ans, g, w, x_shape, **geo: conv2d_weight_p.bind(h, g, w_shape=shape_of(w), **geo),
), jvp=multilinear(lambda: conv2d_input_p),
    samples=[Sample(In(_CONV_G), In(_CONV_W), x_shape=_CONV_X, **_CONV_GEOMETRY),
             Sample(In(_WINO_G), In(_WINO_W), x_shape=_WINO_X, **_WINO_GEOMETRY),
             *(Sample(In(g), In(w), x_shape=_GROUP_X, **geometry) for w, g, geometry in _GROUPED),
             Sample(In(_GROUPED_WINO[2]), In(_GROUPED_WINO[1]), x_shape=_GROUPED_WINO[0], **_GROUPED_WINO[3]),
             *(Sample(In(g), In(w), x_shape=x, **geometry) for x, w, g, geometry in _WINO5),
             Sample(In(_PLANES[2]), In(_PLANES[1]), x_shape=_PLANES[0], **_PLANES[3])])

conv2d_weight_p = Primitive("conv2d_weight", _conv2d_weight_impl, (
    lambda k, ans, x, g, w_shape, **geo: conv2d_input_p.bind(g, k, x_shape=shape_of(x), **geo),
    lambda k, ans, x, g, w_shape, **geo: conv2d_p.bind(x, k, **geo),
), jvp=multilinear(lambda: conv2d_weight_p),
    samples=[Sample(In(_CONV_X), In(_CONV_G), w_shape=_CONV_W, **_CONV_GEOMETRY),
             Sample(In((2, 1, 5, 4)), In((2, 8, 4, 3)), w_shape=(8, 1, 2, 2), stride=(1, 1),
                    padding=((0, 0), (0, 0))),  # fewer window columns (4) than outputs (8): im2col first
             Sample(In(_WINO_X), In(_WINO_G), w_shape=_WINO_W, **_WINO_GEOMETRY),
             *(Sample(In(_GROUP_X), In(g), w_shape=w, **geometry) for w, g, geometry in _GROUPED),
             Sample(In(_GROUPED_WINO[0]), In(_GROUPED_WINO[2]), w_shape=_GROUPED_WINO[1], **_GROUPED_WINO[3]),
             *(Sample(In(x), In(g), w_shape=w, **geometry) for x, w, g, geometry in _WINO5),
             Sample(In(_PLANES[0]), In(_PLANES[2]), w_shape=_PLANES[1], **_PLANES[3])])


# ----- convolution, bias and activation in one primitive (as ``dense``) -----


def _conv2d_bias_impl(x, w, b, activation, **geo):
    """act(conv2d(x, w) + b), the bias and activation inside the kernel (``_convolved``)."""
    return _convolved(x, w, b, None if activation is None else DENSE_ACTIVATIONS[activation], **geo)


def _conv2d_bias_jvp(tangents, ans, x, w, b, activation, **geo):
    """ḣ = conv2d(ẋ, w) + conv2d(x, ẇ) + ḃ (on the channel axis), times act'(y)."""
    terms = [conv2d_p.bind(t, w, **geo) if i == 0 else conv2d_p.bind(x, t, **geo) if i == 1 else t.reshape(-1, 1, 1)
             for i, t in enumerate(tangents) if t is not None]
    h = terms[0]
    for term in terms[1:]:
        h = h + term
    return _activation_vjp(h, ans, None, activation)


def _activation_by_chunks(g, ans, out, activation):
    """g·act'(y), chunk by chunk of images on threads when written into the g the sweep owns (``out``)."""
    if out is None or type(ans) is not np.ndarray:
        return _activation_vjp(g, ans, out, activation)
    rule = DENSE_ACTIVATIONS[activation].primitive.output_vjp
    on_threads(lambda chunk: rule(g[chunk], ans[chunk], out[chunk]), _chunks_of(ans.shape, ans.dtype.itemsize))
    return out


class _Pending:
    """ĝ = g·act'(y) of one conv2d_bias backward step, not computed yet: what its ``output_vjp`` hands its own
    three rules (and no one else) for plain arrays. The input transpose by Winograd applies act' as it copies g's
    tiles and makes ĝ's weight and bias gradients on the way (``winograd.conv3x3_input``), so that ĝ is never
    written out (a pass over g, y and ĝ saved); a rule that needs ĝ itself calls ``value()``, computed once."""

    __slots__ = ("g", "ans", "out", "activation", "computed", "bias_sum")

    def __init__(self, g, ans, out, activation):
        self.g, self.ans, self.out, self.activation, self.computed = g, ans, out, activation, None
        self.bias_sum = None  # Σ ĝ, if a rule made it on the way (``_im2col_weight``)

    def value(self):
        if self.computed is None:
            g = self.g.value() if isinstance(self.g, StandIn) else self.g
            self.computed = _activation_by_chunks(g, self.ans, self.out, self.activation)
        return self.computed


def _conv2d_bias_output_vjp(g, ans, out, activation, **geo):
    """ĝ = g·act'(y): a ``_Pending`` for plain arrays (and for a max-pool's ``_PooledCotangent``, with or without
    an activation), computed by the rules that need it."""
    pooled = isinstance(g, _PooledCotangent) and type(ans) is np.ndarray and g.shape == ans.shape
    if isinstance(g, StandIn) and not pooled:
        g = g.value()
    if not pooled and (activation is None or type(g) is not np.ndarray or type(ans) is not np.ndarray
                       or g.shape != ans.shape):
        return _activation_vjp(g, ans, out, activation)
    return _Pending(g, ans, out, activation)


def _geometry(w_shape, geo) -> _Geometry:
    """The ``_Geometry`` of a convolution by a (O, C/groups, kh, kw) weight and the keyword parameters ``geo``."""
    return _Geometry(w_shape[2:], geo["stride"], geo["padding"], geo.get("dilation", (1, 1)), geo.get("groups", 1))


def _by_winograd(g, x, w, geo) -> bool:
    """Whether the input transpose of this convolution, on plain arrays, goes through Winograd."""
    return ((type(g) is np.ndarray or type(g) is _PooledCotangent) and type(w) is np.ndarray
            and winograd.applies(shape_of(x), w.shape, _geometry(w.shape, geo), g.dtype))


def _conv2d_bias_vjp_x(g, ans, x, w, b, activation, **geo):
    """conv2d_input(ĝ, w). By Winograd, from g itself (act' applied to its tiles), keeping ĝ's weight gradient and
    Σ ĝ for the other two rules."""
    source = g.g if type(g) is _Pending else g
    if _by_winograd(source, x, w, geo):
        one_pool()
        rule = None if type(g) is not _Pending or g.activation is None else (g.ans, DENSE_ACTIVATIONS[g.activation])
        pooled = None if type(source) is not _PooledCotangent else source.read_by_windows()
        return winograd.conv3x3_input(source, w, shape_of(x), geo["padding"], derivative=rule, key=g, bias=True,
                                      pooled=pooled, dilation=geo.get("dilation", (1, 1)), groups=geo.get("groups", 1))
    if type(g) is _Pending:
        g = g.value()
    return conv2d_input_p.bind(g, w, x_shape=shape_of(x), **geo)


def _conv2d_bias_vjp_w(g, ans, x, w, b, activation, **geo):
    """conv2d_weight(x, ĝ) (what the input transpose kept, if it did; by im2col, ĝ made chunk by chunk and Σ ĝ
    kept for the bias rule)."""
    if type(g) is _Pending:
        kept = winograd.kept_weight_gradient(x, g, geo["padding"], geo.get("dilation", (1, 1)), geo.get("groups", 1))
        if kept is not None:
            return kept
        geometry = _geometry(w.shape, geo)
        if isinstance(g.g, StandIn) and not winograd.applies(shape_of(x), w.shape, geometry, g.g.dtype):
            g.g = g.g.value()  # (a max-pool's scatter, for im2col's chunks below)
        if (g.computed is None and type(g.g) is np.ndarray and type(x) is np.ndarray and type(w) is np.ndarray
                and not winograd.applies(x.shape, w.shape, geometry, x.dtype)
                and not winograd.applies5(x.shape, w.shape, geometry, x.dtype)):
            one_pool()
            return _im2col_weight(x, g.g, w.shape, geometry, pending=g)
        g = g.value()
    return conv2d_weight_p.bind(x, g, w_shape=shape_of(w), **geo)


def _conv2d_bias_vjp_b(g, ans, x, w, b, activation, **geo):
    """Σ_{n,i,j} ĝ (what the input transpose kept, if it did)."""
    if type(g) is _Pending and g.bias_sum is not None:
        return g.bias_sum
    if type(g) is _Pending or type(g) is np.ndarray:
        kept = winograd.kept_bias_gradient(g)
        if kept is not None:
            return kept
    if type(g) is _Pending:
        g = g.value()
    return sum_p.bind(transpose_p.bind(g, axes=(0, 2, 3, 1)), axis=(0, 1, 2), keepdims=False)  # (channels-last)


_BIAS = In((4,))
conv2d_bias_p = Primitive("conv2d_bias", _conv2d_bias_impl, (_conv2d_bias_vjp_x, _conv2d_bias_vjp_w,
                                                            _conv2d_bias_vjp_b), output_vjp=_conv2d_bias_output_vjp,
    jvp=_conv2d_bias_jvp, samples=[
        Sample(In(_WINO_X), In(_WINO_W), _BIAS, activation=None, **_WINO_GEOMETRY),
        Sample(In(_WINO_X), In(_WINO_W), _BIAS, activation="relu", **_WINO_GEOMETRY),
        Sample(In(_WINO_X), In(_WINO_W), None, activation="sigmoid", **_WINO_GEOMETRY),
        Sample(In(_GROUP_X), In((4, 4, 3, 3)), _BIAS, activation="relu", **_DILATED_WINO),
        Sample(In(_GROUPED_WINO[0]), In(_GROUPED_WINO[1]), In((8,)), activation="relu", **_GROUPED_WINO[3]),
        *(Sample(In(x), In(w), In((w[0],)), activation="relu", **geometry) for x, w, _, geometry in _WINO5),
        Sample(In(_PLANES[0]), In(_PLANES[1]), In((6,)), activation="tanh", **_PLANES[3]),
        Sample(In(_CONV_X), In(_CONV_W), _BIAS, activation="tanh", **_CONV_GEOMETRY)])


for _name, _fused in DENSE_ACTIVATIONS.items():  # relu(conv2d(x, w, bias=b)) by hand: the fused backward
    _fused.primitive.folds_into = {conv2d_bias_p: _name}
conv2d_bias_p.takes_stand_ins = True  # (a max-pool's scatter read inside the Winograd input transpose)


@op
def conv2d(x, weight, stride=1, padding=0, dilation=1, groups=1, bias=None, activation=None):
    """2-D cross-correlation, NCHW: out[n, o, i, j] = Σ_{c,p,q} w[o, c, p, q] · x̃[n, G·⌊o/(O/G)⌋ + c, s·i + d·p,
    s·j + d·q] with x̃ the zero-padded input, d the dilation and G the groups (each group's O/G outputs see its
    C/G inputs; G = C is depthwise).  ∂/∂x = conv2d_input(g, w) (the transpose), ∂/∂w = conv2d_weight(x, g)

    ``weight`` is (out_channels, in_channels / groups, kh, kw); ``padding`` an int, ``(ph, pw)`` or
    ``((top, bottom), (left, right))``; ``stride`` and ``dilation`` an int or a pair. ``bias`` (out_channels,)
    is added on the channel axis and ``activation`` ('relu', 'tanh', 'sigmoid' or those ops, as ``dense``'s)
    applied inside one primitive, in place on the fresh result (any other callable is applied after it); with
    ĝ = g·act'(y): ∂/∂x = conv2d_input(ĝ, w), ∂/∂w = conv2d_weight(x, ĝ), ∂/∂b = Σ_{n,i,j} ĝ.

    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> conv2d(x, np.ones((1, 1, 2, 2)), stride=2)
    Tensor(shape=[1, 1, 2, 2], dtype=Float64, value=
    [[[[10., 18.],
       [42., 50.]]]])
    >>> conv2d(x, np.ones((1, 1, 2, 2)), dilation=3)
    Tensor(shape=[1, 1, 1, 1], dtype=Float64, value=
    [[[[30.]]]])
    """
    fused, weight, geometry = _conv2d_arguments(x, weight, stride, padding, dilation, groups, bias, activation)
    if bias is None and fused is None:
        y = conv2d_p.bind(x, weight, **geometry)
    else:
        y = conv2d_bias_p.bind(x, weight, bias, activation=fused, **geometry)
    return activation(y) if fused is None and activation is not None else y


_DENSE_GROUPED = 64 * 64  # a grouped convolution of at most this many (input, output) channel pairs runs dense


def _as_dense(x, weight, geometry):
    """A grouped convolution of few channels (C·O ≤ ``_DENSE_GROUPED``) as the same convolution without groups,
    by the block-diagonal weight W̃[o, c] = W[o, c mod C/G] where c is in o's group, else 0 (``where``: exact
    zeros, and the gradient of W is W̃'s diagonal blocks): G× the multiply-adds, on Winograd's and the dense
    im2col's fast paths and fusions (MNIST-sized 32 → 64 in 4 groups, fwd+bwd at 2 threads 38.5 → 14.3 ms;
    depthwise 32 channels 17 → 7.5, but 4.75 compiled, which keeps it: ``_depthwise``; bench/conv_variants.py). An x
    with a non-finite value keeps the groups (its NaN would reach the other groups through the zeros). Returns
    (weight, geometry). Not where Winograd takes the grouped convolution itself (``winograd.applies``: at least 4
    channels a group, compiled), its products G smaller GEMMs (MNIST-sized 4 groups: 0.45× the block-diagonal
    products' time)."""
    groups = geometry["groups"]
    o, per_group = shape_of(weight)[:2]
    channels = per_group * groups
    if (groups == 1 or channels * o > _DENSE_GROUPED or (per_group == 1 and compiled.available())
            or any(applies(shape_of(x), shape_of(weight), _geometry(shape_of(weight), geometry),
                           np.result_type(concrete(x), concrete(weight))) for applies in (winograd.applies,
                                                                                           winograd.applies5))
            or not np.isfinite(np.sum(concrete(x)))):
        return weight, geometry
    in_group = np.arange(o)[:, None] // (o // groups) == np.arange(channels)[None, :] // per_group
    dense = where(in_group[:, :, None, None], tile(weight, (1, groups, 1, 1)), 0.0)
    return dense, dict(geometry, groups=1)


def _conv2d_arguments(x, weight, stride, padding, dilation, groups, bias, activation):
    """``conv2d``'s arguments checked: (the fused activation's name or None, the weight to convolve by and the
    geometry keywords: a grouped convolution of few channels as the dense one, ``_as_dense``)."""
    x_shape, w_shape = shape_of(x), shape_of(weight)
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ValueError(f"conv2d: expected x (N, C, H, W) and weight (O, C / groups, kh, kw), got shapes {x_shape} "
                         f"and {w_shape}; add a channel axis with x.reshape(N, 1, H, W) for grey images")
    if isinstance(groups, (bool, np.bool_)) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"conv2d: groups must be an int >= 1, got {groups!r}")
    groups = int(groups)
    if x_shape[1] % groups or w_shape[0] % groups:
        raise ValueError(f"conv2d: groups={groups} must divide the input channels ({x_shape[1]}) and the output "
                         f"channels ({w_shape[0]})")
    if x_shape[1] != w_shape[1] * groups:
        raise ValueError(f"conv2d: x has {x_shape[1]} channels but weight expects {w_shape[1]} × groups={groups} "
                         f"(x shape {x_shape}, weight shape {w_shape})")
    stride, padding = int_pair(stride, "stride"), normalize_padding(padding)
    dilation = int_pair(dilation, "dilation")
    if min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"conv2d: stride and dilation must be >= 1, got stride={stride}, dilation={dilation}")
    for size, k, s, pad, d in zip(x_shape[2:], w_shape[2:], stride, padding, dilation):
        if output_size(size, k, s, pad, d) < 1:
            raise ValueError(f"conv2d: kernel {w_shape[2:]} with stride {stride}, padding {padding} and dilation "
                             f"{dilation} does not fit an input of spatial size {x_shape[2:]}")
    if bias is not None and shape_of(bias) != w_shape[:1]:
        raise ValueError(f"conv2d: bias must have shape {w_shape[:1]} (one per output channel), got {shape_of(bias)}")
    fused = fused_activation(activation)
    if fused is None and activation is not None and not callable(activation):
        raise ValueError(f"conv2d: activation must be None or one of {sorted(DENSE_ACTIVATIONS)}, got "
                         f"{activation!r} (or pass an op, e.g. ops.gelu, to apply it to the result)")
    return (fused, *_as_dense(x, weight, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)))


# ----- max pooling: the pool, the scatter of g to the winners, and its transpose the gather -----


def _winners(x, kernel, stride, padding, dilation):
    """The offset k = i·kw + j of each window's first maximum: (N, Ho, Wo, C)."""
    xp = _channels_last(x, padding, value=-np.inf)
    offsets = _offsets(kernel, stride, _out_hw(x.shape, kernel, stride, padding, dilation), dilation)
    best = xp[:, offsets[0][0], offsets[0][1]].copy()
    winner = np.zeros(best.shape, dtype=np.uint8 if len(offsets) < 256 else np.int64)
    for k, (rows, columns) in enumerate(offsets[1:], start=1):
        candidate = xp[:, rows, columns]
        better = candidate > best
        np.copyto(best, candidate, where=better)
        np.copyto(winner, k, where=better)
    return winner


def _window_max(xp, offsets, out):
    """The max over the kernel's offsets of xp (n, H', W', C) padded, written into out (n, Ho, Wo, C)."""
    np.copyto(out, xp[:, offsets[0][0], offsets[0][1]])
    for rows, columns in offsets[1:]:
        np.maximum(out, xp[:, rows, columns], out=out)
    return out


def _tiles(xp, kernel, stride, dilation, out_hw):
    """xp (n, H, W, C) as its windows (n, Ho, kh, Wo, kw, C), a view, where the windows tile it (stride = kernel,
    undilated; rows and columns past the last window left out) and the compiled pooling kernels can run on it
    (``compiled``: Numba installed, floating-point data); else None."""
    if tuple(stride) != tuple(kernel) or tuple(dilation) != (1, 1) or xp.dtype not in (np.float32, np.float64):
        return None
    if not compiled.available():
        return None
    (n, c), (ho, wo), (kh, kw) = (xp.shape[0], xp.shape[3]), out_hw, kernel
    return np.reshape(xp[:, :ho * kh, :wo * kw], (n, ho, kh, wo, kw, c), copy=False)


def _max_pool2d_impl(x, kernel, stride, padding, dilation, compiled_kernels=True):
    """The max of every window, chunk by chunk of images (``_chunks_of``): over windows that tile the input one
    compiled pass writing (N, C, Ho, Wo) C-contiguous and each window's first maximum (``compiled``, kept for the
    backward: ``first_maxima``), else (or without ``compiled_kernels``: the registry's samples, made at import,
    never load Numba) offset by offset in NumPy, returning an NCHW view of channels-last memory."""
    xp = _channels_last(x, padding, value=-np.inf)
    out_hw = _out_hw(x.shape, kernel, stride, padding, dilation)
    tiles = _tiles(xp, kernel, stride, dilation, out_hw) if compiled_kernels else None
    if tiles is not None:
        out = np.empty(x.shape[:2] + out_hw, dtype=x.dtype)
        _keep_by(_first_maxima, out, _pool_tiles(tiles, out))
        return out
    offsets = _offsets(kernel, stride, out_hw, dilation)
    out = np.empty((x.shape[0],) + out_hw + (x.shape[1],), dtype=x.dtype)
    on_threads(lambda chunk: _window_max(xp[chunk], offsets, out[chunk]), _chunks_of(x.shape, x.dtype.itemsize))
    return out.transpose(0, 3, 1, 2)


def _pool_tiles(tiles, out):
    """The compiled pool over ``tiles`` (n, Ho, kh, Wo, kw, C) into out (n, C, Ho, Wo), chunk by chunk of images
    on threads; returns each window's first maximum, its offset (n, Ho, Wo, C) (kh·kw for a NaN maximum)."""
    n, ho, kh, wo, kw, c = tiles.shape
    first = np.empty((n, ho, wo, c), np.uint8 if kh * kw < 255 else np.int32)
    pool_max = compiled.kernel("pool_max")
    on_threads(lambda chunk: pool_max(tiles[chunk], out[chunk], first[chunk]),
               _chunks_of((n, c, ho * kh, wo * kw), tiles.dtype.itemsize))
    return first


# The compiled pool's forward finds each window's first maximum with its maximum (the cells are in cache); the
# backward, to whichever kernel scatters g, reads it by the pooled output it belongs to (``first_maxima``), kept as
# long as that output lives (a weak reference: as many pools as a model has, none past its tape).
_first_maxima: dict = {}  # id(pooled) → (weak reference to pooled, first maxima)


def _keep_by(table, pooled, value):
    """``value`` kept in ``table`` for as long as the array ``pooled`` lives (``_kept_by``)."""
    for key, (ref, _) in list(table.items()):  # (list(): one step under the GIL, whatever other threads do)
        if ref() is None:
            table.pop(key, None)
    table[id(pooled)] = (weakref.ref(pooled), value)


def _kept_by(table, pooled):
    """What ``_keep_by`` kept in ``table`` for exactly ``pooled`` (the same object), else None."""
    entry = table.get(id(pooled))
    return entry[1] if entry is not None and entry[0]() is pooled else None


def first_maxima(tiles, pooled):
    """The offset of each window's first maximum, (n, Ho, Wo, C), for the windows ``tiles`` (n, Ho, kh, Wo, kw, C)
    of a pool whose maxima are ``pooled``: what the compiled forward found, else found again."""
    kept = _kept_by(_first_maxima, pooled)
    if kept is not None:
        return kept
    n, ho, _, wo, _, c = tiles.shape
    return _pool_tiles(tiles, np.empty((n, c, ho, wo), tiles.dtype))


def _pool_scatter_impl(g, x, pooled, kernel, stride, padding, dilation):
    """g added at each window's first maximum, in an array of x's shape, ``pooled`` the windows' maxima (the
    forward's result), chunk by chunk of images: offset by offset, the cells equal to their window's max that no
    earlier offset claimed (boolean masks: 2× faster than ``_winners``' offsets). Windows that tile the padded
    input (stride = kernel, undilated) write every cell once: in one compiled pass (``compiled``), else
    ``_tiled_scatter`` where they cover it exactly; others accumulate into zeros."""
    xp = _channels_last(x, padding, value=-np.inf)
    n, c, h, w = x.shape
    (top, bottom), (left, right) = padding
    tiles = _tiles(xp, kernel, stride, dilation, g.shape[2:])
    if tiles is not None:
        first = first_maxima(tiles, pooled)
        out = np.empty(xp.shape, dtype=g.dtype)
        covered = tiles.shape[1] * kernel[0], tiles.shape[3] * kernel[1]
        out[:, covered[0]:] = 0  # (rows and columns no window reads)
        out[:, :, covered[1]:] = 0
        out_tiles = np.reshape(out[:, :covered[0], :covered[1]], tiles.shape, copy=False)
        scatter = compiled.kernel("pool_scatter")
        on_threads(lambda chunk: scatter(first[chunk], g[chunk], out_tiles[chunk]),
                   _chunks_of(x.shape, x.dtype.itemsize))
        return out[:, top:top + h, left:left + w].transpose(0, 3, 1, 2)
    g, pooled = g.transpose(0, 2, 3, 1), pooled.transpose(0, 2, 3, 1)
    if dilation == (1, 1) and tuple(stride) == tuple(kernel) and all(
            windows * s == size + sum(pad) for windows, s, size, pad in zip(g.shape[1:3], stride, (h, w), padding)):
        out = _tiled_scatter(g, xp, pooled, kernel)
        return out[:, top:top + h, left:left + w].transpose(0, 3, 1, 2)
    offsets = _offsets(kernel, stride, g.shape[1:3], dilation)
    overlapping = any(s < d * (k - 1) + 1 for s, k, d in zip(stride, kernel, dilation))
    out = np.zeros((n, h + top + bottom, w + left + right, c), dtype=g.dtype)

    def task(chunk):
        xs, outs, best = xp[chunk], out[chunk], pooled[chunk]
        gs = scratch("g", g[chunk].shape, g.dtype)
        np.copyto(gs, g[chunk])  # (g comes NCHW: copied channels-last once, read in order below)
        claimed, hit = scratch("claimed", gs.shape, bool), scratch("hit", gs.shape, bool)
        for k, (rows, columns) in enumerate(offsets):
            np.equal(xs[:, rows, columns], best, out=hit if k else claimed)
            if k:
                np.greater(hit, claimed, out=hit)  # a max no earlier offset claimed
                if k < len(offsets) - 1:
                    claimed |= hit
            if overlapping:
                outs[:, rows, columns] += gs * (hit if k else claimed)
            else:
                np.multiply(gs, hit if k else claimed, out=outs[:, rows, columns])
    on_threads(task, _chunks_of(x.shape, x.dtype.itemsize))
    return out[:, top:top + h, left:left + w].transpose(0, 3, 1, 2)


def _tiled_scatter(g, xp, pooled, kernel):
    """The scatter for windows that tile xp (n, Ho·kh, Wo·kw, C): xp seen as (n, Ho, kh, Wo, kw, C), every window's
    cells compared with its max in one pass, the first maxima kept (offset by offset, on booleans), and g spread
    over the cells in one contiguous pass: 1.1-1.2× faster than offset by offset over strided views."""
    n, ho, wo, c = g.shape
    kh, kw = kernel
    tiles = xp.reshape(n, ho, kh, wo, kw, c)
    out = np.empty(xp.shape, dtype=g.dtype)
    out_tiles = out.reshape(tiles.shape)

    def task(chunk):
        xs = tiles[chunk]
        count = xs.shape[0]
        best = scratch("best", (count, ho, 1, wo, 1, c), xp.dtype)
        np.copyto(best[:, :, 0, :, 0], pooled[chunk])
        gs = scratch("g", best.shape, g.dtype)
        np.copyto(gs[:, :, 0, :, 0], g[chunk])  # (g comes NCHW: copied channels-last once)
        hit = scratch("hit", xs.shape, bool)
        np.equal(xs, best, out=hit)
        cells = [hit[:, :, i, :, j] for i in range(kh) for j in range(kw)]
        claimed = scratch("claimed", cells[0].shape, bool)
        np.copyto(claimed, cells[0])
        for k, cell in enumerate(cells[1:], start=1):
            np.greater(cell, claimed, out=cell)  # a max no earlier offset claimed
            if k < len(cells) - 1:
                claimed |= cell
        np.multiply(gs, hit, out=out_tiles[chunk])
    on_threads(task, _chunks_of((n, c, xp.shape[1], xp.shape[2]), xp.dtype.itemsize))
    return out


def _pool_gather_impl(h, x, kernel, stride, padding, dilation):
    """h read at each window's winner (the transpose of the scatter)."""
    winner = _winners(x, kernel, stride, padding, dilation)
    hp = _channels_last(h, padding)
    out = np.zeros(winner.shape, dtype=h.dtype)
    for k, (rows, columns) in enumerate(_offsets(kernel, stride, winner.shape[1:3], dilation)):
        np.copyto(out, hp[:, rows, columns], where=winner == k)
    return out.transpose(0, 3, 1, 2)


def _max_pool2d_indices_impl(x, pooled, kernel, stride, padding, dilation):
    """Each window's first maximum as a flat index row·W + column into its unpadded (H, W) plane: (N, C, Ho, Wo)
    int64, PyTorch's ``return_indices``, ``pooled`` the pool's result. Windows that tile x (padded): the first
    maxima the compiled pool found (``first_maxima``), unless a maximum is NaN (``_winners`` then, which skips
    NaNs)."""
    out_hw = _out_hw(x.shape, kernel, stride, padding, dilation)
    winner = _kept_by(_first_maxima, pooled)  # (else x's windows are looked at again: a copy of x first)
    if winner is None:
        tiles = _tiles(_channels_last(x, padding, value=-np.inf), kernel, stride, dilation, out_hw)
        winner = None if tiles is None else first_maxima(tiles, pooled)
    if winner is None or np.any(winner == kernel[0] * kernel[1]):
        winner = _winners(x, kernel, stride, padding, dilation)
    ho, wo = out_hw  # winner (N, Ho, Wo, C): offset k = p·kw + q, at (p·d₀)·W + q·d₁ from its window's corner
    width, k = x.shape[3], np.arange(kernel[0] * kernel[1])
    step = (k // kernel[1] * dilation[0]) * width + k % kernel[1] * dilation[1]
    corner = (((np.arange(ho) * stride[0] - padding[0][0]) * width)[:, None]
              + np.arange(wo) * stride[1] - padding[1][0])
    return (np.take(step, winner) + corner[:, :, None]).transpose(0, 3, 1, 2)


_POOL_X = np.random.default_rng(0).permutation(2 * 3 * 5 * 4).reshape(2, 3, 5, 4) / 10.0  # no ties
# (geometry, output shape): windows apart; overlapping and padded; dilated, apart along W and overlapping along H
_POOL_GEOMETRIES = [(dict(kernel=(2, 2), stride=(2, 2), padding=((0, 0), (0, 0)), dilation=(1, 1)), (2, 3, 2, 2)),
                    (dict(kernel=(3, 2), stride=(1, 2), padding=((1, 1), (0, 1)), dilation=(1, 1)), (2, 3, 5, 2)),
                    (dict(kernel=(2, 2), stride=(1, 3), padding=((1, 0), (0, 0)), dilation=(2, 2)), (2, 3, 4, 1))]


class _PooledCotangent(StandIn):
    """The max-pool's backward, pool_scatter(g, x, pooled), not computed: ``max_pool2d_p.lazy_vjp`` where the
    windows tile x (compiled kernels), for the convolution before the pool to read inside its Winograd input
    transpose (``winograd.conv3x3_input``'s ``pooled``), which skips writing this x-sized array and reading it
    back; anything else computes it."""

    __slots__ = ("operands", "geometry")

    def __init__(self, g, x, pooled, geometry):
        super().__init__(x.shape, x.dtype)
        self.operands, self.geometry = (g, x, pooled, geometry["kernel"]), geometry

    def compute(self):
        g, x, pooled, _ = self.operands
        return _pool_scatter_impl(g, x, pooled, **self.geometry)

    def read_by_windows(self):
        """(g, the first maxima (N, Ho, Wo, C), the pooled maxima, the kernel): what a kernel that reads the
        scatter inside its own pass needs (``winograd.conv3x3_input``)."""
        g, x, pooled, kernel = self.operands
        tiles = _tiles(x.transpose(0, 2, 3, 1), kernel, kernel, (1, 1), pooled.shape[2:])
        return g, first_maxima(tiles, pooled), pooled, kernel


def _max_pool2d_lazy_vjp(g, ans, x, **geometry):
    """A ``_PooledCotangent`` where the windows tile x unpadded and the compiled kernels can read it, else None."""
    if (type(g) is np.ndarray and type(x) is np.ndarray and g.dtype == x.dtype
            and geometry["padding"] == ((0, 0), (0, 0)) and _tiles(x.transpose(0, 2, 3, 1), geometry["kernel"],
                                                               geometry["stride"], geometry["dilation"],
                                                               g.shape[2:]) is not None):
        return _PooledCotangent(g, x, ans, geometry)
    return None


max_pool2d_p = Primitive("max_pool2d", _max_pool2d_impl, (
    lambda g, ans, x, **geometry: pool_scatter_p.bind(g, x, ans, **geometry),
), jvp=lambda ts, ans, x, **params: pool_gather_p.bind(ts[0], x, **params),
    samples=[Sample(In(_POOL_X.shape), **geometry) for geometry, _ in _POOL_GEOMETRIES])

max_pool2d_p.lazy_vjp = _max_pool2d_lazy_vjp

pool_scatter_p = Primitive("max_pool2d_scatter", _pool_scatter_impl, (
    lambda h, ans, g, x, pooled, **geometry: pool_gather_p.bind(h, x, **geometry),
    None, None,
), jvp=multilinear(lambda: pool_scatter_p),
    samples=[Sample(In(out_shape), _POOL_X, _max_pool2d_impl(_POOL_X, **geometry, compiled_kernels=False),
                    **geometry) for geometry, out_shape in _POOL_GEOMETRIES])

pool_gather_p = Primitive("max_pool2d_gather", _pool_gather_impl, (
    lambda k, ans, h, x, **geometry: pool_scatter_p.bind(k, x, max_pool2d_p.bind(x, **geometry), **geometry),
    None,
), jvp=multilinear(lambda: pool_gather_p),
    samples=[Sample(In(_POOL_X.shape), _POOL_X, **geometry) for geometry, _ in _POOL_GEOMETRIES])

max_pool2d_indices_p = Primitive("max_pool2d_indices", _max_pool2d_indices_impl)  # integers: not differentiable


# ----- a convolution, its ReLU and a 2×2 max-pool in one primitive (``SequentialCell``: Conv2d, ReLU, MaxPool2d) ---
# By Winograd with the compiled kernels (``winograd.pools``), the pool is made from the output tiles' values as the
# inverse transform makes them, the convolution's output never written (the MNIST net's 32→64 layer, forward at 2
# threads 5.9 → 4.4 ms); the backward reads the pool's cotangent and first maxima inside the input transpose, as
# after a separate pool. Otherwise (and for traced rules, forward mode) it is conv2d_bias then max_pool2d, the
# convolution's output y kept by the pooled output (``_pool_inputs``) or made again.

_POOL = dict(kernel=(2, 2), stride=(2, 2), padding=((0, 0), (0, 0)), dilation=(1, 1))
_pool_inputs: dict = {}  # id(pooled) → (weak reference to pooled, the convolution's output y)


def _conv2d_pool_impl(x, w, b, activation, **geo):
    fused = None if activation is None else DENSE_ACTIVATIONS[activation]
    geometry = _geometry(w.shape, geo)
    if winograd.pools(x.shape, w.shape, geometry, np.result_type(x, w), fused):
        one_pool()
        pooled, first = winograd.conv3x3(x, w, geo["padding"], geometry.out_hw(x.shape), b, fused, pooled=True)
        _keep_by(_first_maxima, pooled, first)
        return pooled
    y = _conv2d_bias_impl(x, w, b, activation, **geo)
    pooled = _max_pool2d_impl(y, **_POOL)
    _keep_by(_pool_inputs, pooled, y)
    return pooled


def _pooled_by_winograd(g, ans, x, w):
    """Whether the forward pool was made inside the Winograd convolution (its first maxima kept), plain arrays."""
    return (type(g) is np.ndarray and type(ans) is np.ndarray and type(x) is np.ndarray and type(w) is np.ndarray
            and _kept_by(_pool_inputs, ans) is None and _kept_by(_first_maxima, ans) is not None)


class _UnpooledCotangent(StandIn):
    """S(g), the pool's cotangent g at its windows' first maxima in an array of the convolution's output shape
    (zeros elsewhere), from the first maxima the fused forward kept: what a rule that needs it computes."""

    __slots__ = ("g", "first")

    def __init__(self, g, first, shape):
        super().__init__(shape, g.dtype)
        self.g, self.first = g, first

    def compute(self):
        n, o, h, w = self.shape
        hp, wp = self.first.shape[1:3]
        out = np.zeros((n, h, w, o), self.dtype)
        tiles = np.reshape(out[:, :2 * hp, :2 * wp], (n, hp, 2, wp, 2, o), copy=False)
        compiled.kernel("pool_scatter")(self.first, self.g, tiles)
        return out.transpose(0, 3, 1, 2)


def _pre_activation_cotangent(g, ans, x, w, b, activation, geo):
    """ĝ = act'(y)·S(g) from the first maxima a fused forward kept (ReLU's derivative at a window's first maximum
    is max > 0), as an array of the convolution's output shape."""
    scaled = g if activation is None else g * (ans > 0)  # (a product, as the rule's: NaN·0 stays NaN)
    return _UnpooledCotangent(scaled, _kept_by(_first_maxima, ans), _conv_output_shape(x, w, geo)).value()


def _conv_output_shape(x, w, geo):
    return shape_of(x)[:1] + shape_of(w)[:1] + _geometry(shape_of(w), geo).out_hw(shape_of(x))


def _pool_input(ans, x, w, b, activation, geo):
    """y = act(conv2d(x, w) + b), the pool's input: kept by the forward (made as conv2d_bias then max_pool2d),
    else made again (traced in higher order)."""
    y = _kept_by(_pool_inputs, ans) if type(ans) is np.ndarray else None
    return conv2d_bias_p.bind(x, w, b, activation=activation, **geo) if y is None else y


_unfused: list = []  # [(g, y, the convolution's cotangent)]: the latest, for the entry's other rules


def _unfused_cotangent(g, ans, x, w, b, activation, geo):
    """(y, its cotangent as conv2d_bias's rules take it) for a forward made as conv2d_bias then max_pool2d: y kept
    (or made again: traced in higher order), the pool's backward as after a separate pool (its stand-in where it
    has one: ``max_pool2d_p.lazy_vjp``), through conv2d_bias's ``output_vjp``; the same for the entry's three rules
    (one sweep step: kept for the g it was made for)."""
    if _unfused and _unfused[0][0] is g:
        return _unfused[0][1:]
    y = _pool_input(ans, x, w, b, activation, geo)
    pooled = _max_pool2d_lazy_vjp(g, ans, y, **_POOL) if type(y) is np.ndarray else None
    if pooled is None:
        pooled = pool_scatter_p.bind(g, y, ans, **_POOL)
    cotangent = _conv2d_bias_output_vjp(pooled, y, None, activation, **geo)
    _unfused[:] = [(g, y, cotangent)]
    return y, cotangent


def _conv2d_pool_vjp_x(g, ans, x, w, b, activation, **geo):
    """conv2d_input(ĝ, w); after a fused forward, the Winograd input transpose reading g and the first maxima as
    it gathers its tiles (and keeping ĝ's weight and bias gradients for the other two rules); else conv2d_bias's
    rule after the pool's."""
    if _pooled_by_winograd(g, ans, x, w):
        one_pool()
        unpooled = _UnpooledCotangent(g, _kept_by(_first_maxima, ans), _conv_output_shape(x, w, geo))
        rule = None if activation is None else (None, DENSE_ACTIVATIONS[activation])
        return winograd.conv3x3_input(unpooled, w, x.shape, geo["padding"], derivative=rule, key=g, bias=True,
                                      pooled=(g, unpooled.first, ans, _POOL["kernel"]))
    y, cotangent = _unfused_cotangent(g, ans, x, w, b, activation, geo)
    return _conv2d_bias_vjp_x(cotangent, y, x, w, b, activation, **geo)


def _conv2d_pool_vjp_w(g, ans, x, w, b, activation, **geo):
    """conv2d_weight(x, ĝ) (what the input transpose kept, if it did)."""
    if _pooled_by_winograd(g, ans, x, w):
        kept = winograd.kept_weight_gradient(x, g, geo["padding"])
        if kept is not None:
            return kept
        return conv2d_weight_p.bind(x, _pre_activation_cotangent(g, ans, x, w, b, activation, geo),
                                    w_shape=w.shape, **geo)
    y, cotangent = _unfused_cotangent(g, ans, x, w, b, activation, geo)
    return _conv2d_bias_vjp_w(cotangent, y, x, w, b, activation, **geo)


def _conv2d_pool_vjp_b(g, ans, x, w, b, activation, **geo):
    """Σ_{n,i,j} ĝ (what the input transpose kept, if it did)."""
    if _pooled_by_winograd(g, ans, x, w):
        kept = winograd.kept_bias_gradient(g)
        if kept is not None:
            return kept
        h = _pre_activation_cotangent(g, ans, x, w, b, activation, geo)
        return sum_p.bind(transpose_p.bind(h, axes=(0, 2, 3, 1)), axis=(0, 1, 2), keepdims=False)
    y, cotangent = _unfused_cotangent(g, ans, x, w, b, activation, geo)
    _unfused.clear()  # (the entry's last rule)
    return _conv2d_bias_vjp_b(cotangent, y, x, w, b, activation, **geo)


def _conv2d_pool_jvp(tangents, ans, x, w, b, activation, **geo):
    """The pool's gather of the convolution's tangent at the first maxima of y (kept, or made again)."""
    y = _pool_input(ans, x, w, b, activation, geo)
    return pool_gather_p.bind(_conv2d_bias_jvp(tangents, y, x, w, b, activation, **geo), y, **_POOL)


_POOLED_GEOMETRY = dict(stride=(1, 1), padding=((1, 0), (0, 1)), dilation=(1, 1), groups=1)  # (5×5 out: row 4 left)
conv2d_pool_p = Primitive("conv2d_bias_pool", _conv2d_pool_impl, (_conv2d_pool_vjp_x, _conv2d_pool_vjp_w,
                                                                  _conv2d_pool_vjp_b), jvp=_conv2d_pool_jvp, samples=[
    Sample(In((2, 4, 6, 6)), In((4, 4, 3, 3)), _BIAS, activation="relu", stride=(1, 1), padding=((0, 0), (0, 0)),
           dilation=(1, 1), groups=1),
    Sample(In((2, 4, 6, 6)), In((4, 4, 3, 3)), None, activation=None, **_POOLED_GEOMETRY),
    Sample(In((2, 2, 5, 6)), In((4, 2, 3, 3)), _BIAS, activation="relu", **_POOLED_GEOMETRY)])  # (im2col: 2 < 4)


@op(data=3)
def conv2d_relu_pool(x, weight, bias=None, activation=None, stride=1, padding=0, dilation=1, groups=1):
    """max_pool2d(act(conv2d(x, weight, stride, padding, dilation, groups, bias)), 2) in one primitive (the
    arguments as ``conv2d``'s; ``activation`` None or 'relu'): ``SequentialCell``'s Conv2d, ReLU, MaxPool2d(2)."""
    fused, weight, geometry = _conv2d_arguments(x, weight, stride, padding, dilation, groups, bias, activation)
    if fused not in (None, "relu") or (fused is None and activation is not None):
        raise ValueError(f"conv2d_relu_pool: activation must be None or 'relu', got {activation!r}")
    out_hw = _geometry(shape_of(weight), geometry).out_hw(shape_of(x))
    if min(out_hw) < 2:
        raise ValueError(f"conv2d_relu_pool: the convolution's output {out_hw} is smaller than the pool's 2×2 window")
    return conv2d_pool_p.bind(x, weight, bias, activation=fused, **geometry)


def ceil_mode_padding(x_shape, kernel, stride, padding, dilation=(1, 1)):
    """``padding`` with the bottom and right padding grown to PyTorch's ``ceil_mode`` windows: ⌈(H + pads − e)/s⌉ + 1
    of them along an axis (e = d·(k − 1) + 1, the kernel's extent), one fewer if the last would start past the
    input and its top (left) padding; the last window may then reach past the bottom (right) edge."""
    grown = []
    for size, k, s, (before, after), d in zip(x_shape[2:], kernel, stride, padding, dilation):
        extent = d * (k - 1) + 1
        count = -(-(size + before + after - extent) // s) + 1
        if (count - 1) * s >= size + before:
            count -= 1
        grown.append((before, max(after, (count - 1) * s + extent - size - before)))
    return tuple(grown)


@op(data=1)
def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
    """The maximum of every kernel_size window, NCHW (stride defaults to kernel_size; padding counts as −∞; the
    window's taps ``dilation`` apart, as PyTorch's: out[n, c, i, j] = max_{p,q} x̃[n, c, s·i + d·p, s·j + d·q]), in
    MindSpore's ``ops.max_pool2d`` signature. ``ceil_mode``: ⌈(H + pads − k)/s⌉ + 1 windows (``ceil_mode_padding``);
    ``return_indices``: also each maximum's flat index i·W + j into its (H, W) plane, (out, indices).
    ∂/∂x: g routed to each window's first maximum (summed where windows overlap)

    >>> max_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2)
    Tensor(shape=[1, 1, 2, 2], dtype=Float64, value=
    [[[[ 5.,  7.],
       [13., 15.]]]])
    >>> max_pool2d(np.arange(9.0).reshape(1, 1, 3, 3), 2, return_indices=True, ceil_mode=True)[1]
    Tensor(shape=[1, 1, 2, 2], dtype=Int64, value=
    [[[[4, 5],
       [7, 8]]]])
    """
    x_shape = shape_of(x)
    if len(x_shape) != 4:
        raise ValueError(f"max_pool2d: expected x of shape (N, C, H, W), got {x_shape}")
    kernel = int_pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else int_pair(stride, "stride")
    padding = normalize_padding(padding)
    return_indices = check_bool("max_pool2d", "return_indices", return_indices)
    ceil_mode = check_bool("max_pool2d", "ceil_mode", ceil_mode)
    dilation = int_pair(dilation, "dilation")
    for k, pad in zip(kernel, padding):
        if max(pad) * 2 > k:
            raise ValueError(f"max_pool2d: padding {padding} must be at most half the kernel size {kernel}")
    if min(stride) < 1:
        raise ValueError(f"max_pool2d: stride must be >= 1, got {stride}")
    if min(dilation) < 1:
        raise ValueError(f"max_pool2d: dilation must be >= 1, got {dilation}")
    if ceil_mode:
        padding = ceil_mode_padding(x_shape, kernel, stride, padding, dilation)
    for size, k, s, pad, d in zip(x_shape[2:], kernel, stride, padding, dilation):
        if output_size(size, k, s, pad, d) < 1:
            raise ValueError(f"max_pool2d: kernel {kernel} with stride {stride}, padding {padding} and dilation "
                             f"{dilation} does not fit an input of spatial size {x_shape[2:]}")
    geometry = dict(kernel=kernel, stride=stride, padding=padding, dilation=dilation)
    out = max_pool2d_p.bind(x, **geometry)
    if not return_indices:
        return out
    return out, max_pool2d_indices_p.bind(x, out, **geometry)


__all__ = [
    "FusedActivation", "fused_activation", "dense", "int_pair", "normalize_padding", "output_size", "conv2d",
    "ceil_mode_padding", "max_pool2d",
]
