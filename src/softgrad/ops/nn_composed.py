"""Neural-network ops composed from primitives, so their gradients follow from those rules: average and
adaptive average pooling, layer and batch normalisation, embedding lookup, dropout and scaled dot-product
attention (PyTorch's semantics). The ``nn`` layers and ``softgrad.nn.functional`` are built on these.

>>> import numpy as np
>>> avg_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2)
Tensor(shape=[1, 1, 2, 2], dtype=Float64, value=
[[[[ 2.5,  4.5],
   [10.5, 12.5]]]])
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from softgrad._checks import check_bool
from softgrad.ops._primitive import number, op, shape_of
from softgrad.ops.activations import softmax
from softgrad.ops.elementwise import sqrt, where
from softgrad.ops.linalg import matmul
from softgrad.ops.nn_kernels import ceil_mode_padding, conv2d, int_pair, normalize_padding, output_size
from softgrad.ops.reductions import mean
from softgrad.ops.shape import reshape, stop_gradient, swapaxes, take
from softgrad.random import Generator, default_generator
from softgrad.tensor import Parameter, Tensor, concrete
from softgrad.trace import batch_axes, constant_like


def _dtype(x) -> np.dtype:
    return np.asarray(concrete(x)).dtype


# ----- pooling -----


def _window(fn: str, x_shape, kernel_size, stride, padding, ceil_mode):
    """(kernel, stride, padding, the padding the windows reach: grown by ``ceil_mode``) of a pooling call, checked
    against an NCHW input of ``x_shape``."""
    if len(x_shape) != 4:
        raise ValueError(f"{fn}: expected x of shape (N, C, H, W), got {x_shape}")
    kernel = int_pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else int_pair(stride, "stride")
    padding = normalize_padding(padding)
    if min(kernel + stride) < 1:
        raise ValueError(f"{fn}: kernel_size and stride must be >= 1, got kernel_size={kernel_size!r}, "
                         f"stride={stride!r}")
    for k, pad in zip(kernel, padding):
        if max(pad) * 2 > k:
            raise ValueError(f"{fn}: padding {padding} must be at most half the kernel size {kernel}")
    windows = ceil_mode_padding(x_shape, kernel, stride, padding) if check_bool(fn, "ceil_mode", ceil_mode) \
        else padding
    for size, k, s, pad in zip(x_shape[2:], kernel, stride, windows):
        if output_size(size, k, s, pad) < 1:
            raise ValueError(f"{fn}: kernel {kernel} with stride {stride} and padding {padding} does not fit an "
                             f"input of spatial size {x_shape[2:]}")
    return kernel, stride, padding, windows


@op(data=1)
def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """The mean of every ``kernel_size`` window, NCHW, as PyTorch's ``avg_pool2d``: ``stride`` defaults to
    ``kernel_size``; zero padding counts in the mean unless ``count_include_pad=False``; ``divisor_override``
    replaces the divisor; ``ceil_mode`` rounds the number of windows up as ``max_pool2d``'s, and the part of a
    last window past the padding counts in no divisor. out[n, c, i, j] = Σ_{p,q} x̃[n, c, s·i + p, s·j + q] / d,
    computed as a convolution of each channel with the constant kernel 1.  ∂/∂x = g/d spread back over each window

    >>> avg_pool2d(np.ones((1, 1, 3, 3)), 2, stride=1, padding=1, count_include_pad=False).shape
    (1, 1, 4, 4)
    >>> avg_pool2d(np.arange(9.0).reshape(1, 1, 3, 3), 2, ceil_mode=True).numpy()[0, 0]   # last windows: 2, 1 cells
    array([[2. , 3.5],
           [6.5, 8. ]])
    """
    x_shape = shape_of(x)
    kernel, stride, padding, windows = _window("avg_pool2d", x_shape, kernel_size, stride, padding, ceil_mode)
    n, c, h, w = x_shape
    dtype = _dtype(x)
    ones = np.ones((1, 1) + kernel, dtype=dtype)
    sums = conv2d(reshape(x, (n * c, 1, h, w)), ones, stride=stride, padding=windows)
    sums = reshape(sums, (n, c) + shape_of(sums)[2:])
    if divisor_override is not None:
        if isinstance(divisor_override, bool) or not isinstance(divisor_override, numbers.Integral) \
                or divisor_override < 1:
            raise ValueError(f"avg_pool2d: divisor_override must be None or an int >= 1, got {divisor_override!r}")
        return sums / dtype.type(divisor_override)
    if count_include_pad and windows == padding:
        return sums / dtype.type(kernel[0] * kernel[1])
    if count_include_pad:  # the cells of the padded input each window covers
        (top, bottom), (left, right) = padding
        cells = np.ones((1, 1, h + top + bottom, w + left + right), dtype)
        counts = conv2d(cells, ones, stride=stride, padding=((0, windows[0][1] - bottom), (0, windows[1][1] - right)))
    else:
        counts = conv2d(np.ones((1, 1, h, w), dtype), ones, stride=stride, padding=windows)
    return sums / concrete(counts)


def _adaptive_matrix(size: int, out: int, dtype) -> np.ndarray:
    """(out, size): row i averages x[⌊i·size/out⌋ : ⌈(i+1)·size/out⌉], PyTorch's adaptive windows."""
    matrix = np.zeros((out, size), dtype)
    for i in range(out):
        start, end = (i * size) // out, -(-(i + 1) * size // out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def output_pair(output_size) -> tuple:
    """An adaptive pooling's ``output_size`` (an int ≥ 1, or a pair of ints ≥ 1 or None) as a pair."""
    sizes = (output_size, output_size) if output_size is None or isinstance(output_size, numbers.Integral) \
        else output_size
    if not isinstance(sizes, (tuple, list)) or len(sizes) != 2 or not all(
            s is None or (isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1) for s in sizes):
        raise ValueError(f"adaptive_avg_pool2d: output_size must be an int >= 1 or a pair of them (None keeps "
                         f"an axis), got {output_size!r}")
    return tuple(sizes)


@op(data=1)
def adaptive_avg_pool2d(x, output_size):
    """Average pooling to a fixed ``output_size`` (an int, or (oh, ow) with None keeping that axis), NCHW or CHW:
    output row i averages input rows ⌊i·H/oh⌋ … ⌈(i+1)·H/oh⌉ − 1 (and so for columns), as PyTorch. Computed as
    P_h · x · P_wᵀ with the averaging matrices P.  ∂/∂x = P_hᵀ · g · P_w

    >>> adaptive_avg_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 1)
    Tensor(shape=[1, 1, 1, 1], dtype=Float64, value=
    [[[[7.5]]]])
    """
    x_shape = shape_of(x)
    if len(x_shape) not in (3, 4):
        raise ValueError(f"adaptive_avg_pool2d: expected x of shape (N, C, H, W) or (C, H, W), got {x_shape}")
    sizes = output_pair(output_size)
    (h, w), dtype = x_shape[-2:], _dtype(x)
    oh, ow = (h if sizes[0] is None else int(sizes[0])), (w if sizes[1] is None else int(sizes[1]))
    return matmul(matmul(_adaptive_matrix(h, oh, dtype), x), _adaptive_matrix(w, ow, dtype).T)


# ----- normalisation -----


def _normalized(x, axes, eps):
    """(x − E[x]) / √(Var[x] + eps) over ``axes`` (biased variance)."""
    centred = x - mean(x, axis=axes, keepdims=True)
    return centred / sqrt(mean(centred * centred, axis=axes, keepdims=True) + eps)


@op(data=1)
def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalisation over the trailing axes ``normalized_shape`` (PyTorch's ``layer_norm``):
    y = (x − μ) / √(σ² + eps) · weight + bias, μ and σ² (biased) over those axes of each sample.
    ∂/∂x = (ĝ − mean(ĝ) − x̂ · mean(ĝ · x̂)) / √(σ² + eps) with ĝ = g · weight, x̂ the normalised x

    >>> layer_norm(np.array([[1.0, 3.0]]), (2,))
    Tensor(shape=[1, 2], dtype=Float64, value=
    [[-0.999995,  0.999995]])
    """
    shape = shape_of(x)
    normalized = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else tuple(normalized_shape)
    if not normalized or tuple(shape[len(shape) - len(normalized):]) != normalized or len(normalized) > len(shape):
        raise ValueError(f"layer_norm: normalized_shape {normalized} must be the trailing axes of the input, got "
                         f"input shape {shape}")
    eps = number("layer_norm", "eps", eps)
    y = _normalized(x, tuple(range(len(shape) - len(normalized), len(shape))), eps)
    for name, value in (("weight", weight), ("bias", bias)):
        if value is not None and shape_of(value) != normalized:
            raise ValueError(f"layer_norm: {name} must have shape {normalized} (normalized_shape), got "
                             f"{shape_of(value)}")
    y = y if weight is None else y * weight
    return y if bias is None else y + bias


def _update_running(buffer, batch_value) -> None:
    """Write ``batch_value`` into a running-statistics buffer in place (a Parameter, Tensor or ndarray)."""
    if isinstance(buffer, Parameter):
        buffer.set_data(batch_value.astype(buffer.dtype))
    else:
        np.copyto(np.asarray(concrete(buffer)), batch_value, casting="same_kind")


@op(data=1)
def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalisation over every axis but the channel axis 1 (PyTorch's ``batch_norm``):
    y = (x − μ) / √(σ² + eps) · weight + bias. ``training``: μ, σ² are the batch's (biased variance), and
    the running buffers (if given) are updated in place, ``r ← (1 − momentum)·r + momentum·batch`` (the
    variance unbiased); otherwise μ, σ² are the running buffers. ∂/∂x as ``layer_norm``'s over the batch axes
    in training, g·weight/√(σ² + eps) in evaluation

    >>> mean, var = np.zeros(2), np.ones(2)
    >>> batch_norm(np.array([[1.0, 10.0], [3.0, 30.0]]), mean, var, training=True).numpy().round(3)
    array([[-1., -1.],
           [ 1.,  1.]])
    >>> mean, var
    (array([0.2, 2. ]), array([ 1.1, 20.9]))
    """
    shape = shape_of(x)
    if len(shape) < 2:
        raise ValueError(f"batch_norm: expected x of shape (N, C, ...), got {shape}")
    channels, view = shape[1], (1, shape[1]) + (1,) * (len(shape) - 2)
    for name, value in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                        ("bias", bias)):
        if value is not None and shape_of(value) != (channels,):
            raise ValueError(f"batch_norm: {name} must have shape ({channels},) (one per channel), got "
                             f"{shape_of(value)}")
    eps, momentum = number("batch_norm", "eps", eps), number("batch_norm", "momentum", momentum)
    if training:
        axes = (0,) + tuple(range(2, len(shape)))
        batch_mean = mean(x, axis=axes, keepdims=True)
        centred = x - batch_mean
        batch_var = mean(centred * centred, axis=axes, keepdims=True)
        count = math.prod(shape) // channels
        if running_mean is not None:
            _update_running(running_mean, (1 - momentum) * concrete(running_mean)
                            + momentum * concrete(batch_mean).reshape(-1))
        if running_var is not None:
            _update_running(running_var, (1 - momentum) * concrete(running_var)
                            + momentum * concrete(batch_var).reshape(-1) * (count / max(count - 1, 1)))
    elif running_mean is None or running_var is None:
        raise ValueError("batch_norm: running_mean and running_var are needed when training=False (or pass "
                         "training=True to normalise with the batch's statistics)")
    else:
        centred, batch_var = x - reshape(running_mean, view), reshape(running_var, view)
    y = centred / sqrt(batch_var + eps)
    y = y if weight is None else y * reshape(weight, view)
    return y if bias is None else y + reshape(bias, view)


# ----- embedding -----


@op(data=0)
def embedding(input, weight, padding_idx=None):
    """Rows of ``weight`` (num_embeddings, dim) at the integer ``input`` indices: out[..., :] = weight[input[...], :]
    (PyTorch's ``embedding``). Entries equal to ``padding_idx`` read their row but send it no gradient.
    ∂/∂weight[k] = Σ_{input[i] = k} g[i] (0 for k = padding_idx)

    >>> embedding(np.array([[2, 0]]), np.arange(6.0).reshape(3, 2))
    Tensor(shape=[1, 2, 2], dtype=Float64, value=
    [[[4., 5.],
      [0., 1.]]])
    """
    indices = np.asarray(concrete(input))  # (inside vmap: every example's; take gathers them per example)
    rows = shape_of(weight)
    if not np.issubdtype(indices.dtype, np.integer):
        raise TypeError(f"embedding: input must hold integer indices, got dtype {indices.dtype}")
    if len(rows) != 2:
        raise ValueError(f"embedding: weight must be (num_embeddings, embedding_dim), got shape {rows}")
    if indices.size and (indices.min() < 0 or indices.max() >= rows[0]):
        bad = indices[(indices < 0) | (indices >= rows[0])][0]
        raise IndexError(f"embedding: indices must lie in [0, {rows[0]}) (num_embeddings), got {bad}")
    gathered = input if batch_axes(input) else indices
    out = take(weight, gathered, axis=0)
    if padding_idx is None:
        return out
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral) \
            or not -rows[0] <= padding_idx < rows[0]:
        raise ValueError(f"embedding: padding_idx must be None or an int in [-{rows[0]}, {rows[0]}), got "
                         f"{padding_idx!r}")
    padded = constant_like((indices == padding_idx % rows[0])[..., None], input)
    return where(padded, take(stop_gradient(weight), gathered, axis=0), out)


# ----- dropout -----


def _keep_scale(fn: str, p, shape, dtype, generator):
    """The dropout factor: 1/(1 − p) where an entry is kept (probability 1 − p), 0 elsewhere, of ``shape``."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{fn}: p (the probability of dropping an entry) must lie in [0, 1], got {p!r}")
    if p == 1.0:
        return np.zeros(shape, dtype)
    keep = (generator or default_generator()).numpy_generator.random(shape, dtype=np.float32) >= p
    return keep.astype(dtype) * dtype.type(1.0 / (1.0 - p))


@op(data=1)
def dropout(x, p=0.5, training=True, generator: Generator | None = None):
    """Zero each entry with probability ``p`` and scale the rest by 1/(1 − p) when ``training``; x itself
    otherwise. The mask comes from ``generator`` or the global stream (``softgrad.random.set_seed``).
    ∂/∂x = the same mask and scale

    >>> dropout(np.ones(3), 0.5, training=False)
    Tensor(shape=[3], dtype=Float64, value=
    [1., 1., 1.])
    """
    if not training or p == 0:
        _keep_scale("dropout", p, (), _dtype(x), None)  # (checks p)
        return x if isinstance(x, Tensor) else Tensor(x)
    return x * _keep_scale("dropout", p, shape_of(x), _dtype(x), generator)


@op(data=1)
def dropout2d(x, p=0.5, training=True, generator: Generator | None = None):
    """Zero whole channels (an (N, C, H, W) input's x[n, c] planes, or a (C, H, W) input's) with probability
    ``p`` and scale the rest by 1/(1 − p) when ``training``.  ∂/∂x = the same mask and scale

    >>> dropout2d(np.ones((1, 2, 2, 2)), 0.5, training=False).shape
    (1, 2, 2, 2)
    """
    shape = shape_of(x)
    if len(shape) not in (3, 4):
        raise ValueError(f"dropout2d: expected x of shape (N, C, H, W) or (C, H, W), got {shape}")
    if not training or p == 0:
        _keep_scale("dropout2d", p, (), _dtype(x), None)
        return x if isinstance(x, Tensor) else Tensor(x)
    return x * _keep_scale("dropout2d", p, shape[:-2] + (1, 1), _dtype(x), generator)


# ----- attention -----


@op(data=3)
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 generator: Generator | None = None):
    """softmax(Q Kᵀ · scale + M) V over the last two axes (PyTorch's ``scaled_dot_product_attention``): scale
    defaults to 1/√d (d = query's last axis); ``attn_mask`` a bool mask (True = attend) or a float bias M;
    ``is_causal`` masks keys after each query; ``dropout_p`` drops attention weights (from ``generator`` or the
    global stream). ∂ through matmul and softmax: ∂/∂V = Pᵀ g, ∂/∂S = P ⊙ (g Vᵀ − rowsum(P ⊙ g Vᵀ))

    >>> q = np.eye(2)[None]
    >>> scaled_dot_product_attention(q, q, np.array([[[1.0], [3.0]]]), scale=0.0)
    Tensor(shape=[1, 2, 1], dtype=Float64, value=
    [[[2.],
      [2.]]])
    """
    q_shape, k_shape, v_shape = shape_of(query), shape_of(key), shape_of(value)
    if min(len(q_shape), len(k_shape), len(v_shape)) < 2 or q_shape[-1] != k_shape[-1] \
            or k_shape[-2] != v_shape[-2]:
        raise ValueError(f"scaled_dot_product_attention: expected query (..., L, E), key (..., S, E) and value "
                         f"(..., S, Ev), got shapes {q_shape}, {k_shape} and {v_shape}")
    scale = 1.0 / math.sqrt(q_shape[-1]) if scale is None else number("scaled_dot_product_attention", "scale", scale)
    scores = matmul(query, swapaxes(key, -1, -2)) * _dtype(query).type(scale)
    if is_causal:
        if attn_mask is not None:
            raise ValueError("scaled_dot_product_attention: pass attn_mask or is_causal=True, not both")
        attn_mask = np.tril(np.ones((q_shape[-2], k_shape[-2]), dtype=bool))
    if attn_mask is not None:
        mask = concrete(attn_mask) if not isinstance(attn_mask, Tensor) or attn_mask.dtype == np.bool_ else attn_mask
        if getattr(mask, "dtype", None) == np.bool_:
            scores = where(mask, scores, -np.inf)
        else:
            scores = scores + mask
    weights = softmax(scores, axis=-1)
    if dropout_p:
        weights = dropout(weights, dropout_p, training=True, generator=generator)
    return matmul(weights, value)


__all__ = [
    "avg_pool2d", "output_pair", "adaptive_avg_pool2d", "layer_norm", "batch_norm", "embedding", "dropout",
    "dropout2d", "scaled_dot_product_attention",
]
