"""``softgrad.nn.functional``: PyTorch's ``torch.nn.functional`` names and signatures over ``softgrad.ops``, so
that a PyTorch model's ``forward`` ports by changing its imports (``import softgrad.nn.functional as F``).

The arguments PyTorch names ``dim`` are softgrad's ``axis``; ``inplace=True`` is accepted and computes out of
place (a differentiated value is never overwritten). What PyTorch offers and softgrad does not (a dilated max-pool,
embedding's ``max_norm``) raises ``NotImplementedError`` naming what to use instead or the issue that tracks it.

>>> import numpy as np
>>> import softgrad.nn.functional as F
>>> x = np.array([[1.0, 2.0, 3.0]])
>>> F.log_softmax(F.relu(x), dim=1).numpy().round(4)
array([[-2.4076, -1.4076, -0.4076]])
>>> F.nll_loss(F.log_softmax(x, dim=1), np.array([2])).item() == F.cross_entropy(x, np.array([2])).item()
True
"""

from __future__ import annotations

import numbers
from typing import Any, Sequence

import numpy as np

from softgrad import ops
from softgrad.ops import (  # noqa: F401  (the same functions under the same names)
    adaptive_avg_pool2d, binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, dropout2d, elu,
    embedding as _embedding, gelu, huber_loss, kl_div, l1_loss, layer_norm, logsigmoid, mse_loss, nll_loss,
    scaled_dot_product_attention, sigmoid, smooth_l1_loss, softplus, tanh,
)
from softgrad.ops.nn_kernels import int_pair
from softgrad.tensor import Axis, Operand, Tensor

def _shape(x) -> tuple:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def relu(input: Operand, inplace: bool = False) -> Tensor:
    """max(input, 0).  ∂ = 1 where input > 0"""
    return ops.relu(input)


def leaky_relu(input: Operand, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """input for input > 0, negative_slope · input otherwise (PyTorch's default slope 0.01)."""
    return ops.leaky_relu(input, negative_slope)


def _axis(fn: str, dim):
    if dim is None:
        raise TypeError(f"{fn}: pass dim (the axis to normalise over), e.g. {fn}(x, dim=1); PyTorch's implicit "
                        "choice of dim is deprecated and not copied")
    return dim


def softmax(input: Operand, dim: Axis = None, dtype: Any = None) -> Tensor:
    """exp(x − max) / Σ exp(x − max) along ``dim`` (``dtype``: cast the input first, as PyTorch)."""
    x = input if dtype is None else ops.astype(input, dtype)
    return ops.softmax(x, axis=_axis("softmax", dim))


def log_softmax(input: Operand, dim: Axis = None, dtype: Any = None) -> Tensor:
    """x − logsumexp(x) along ``dim``, stable."""
    x = input if dtype is None else ops.astype(input, dtype)
    return ops.log_softmax(x, axis=_axis("log_softmax", dim))


def linear(input: Operand, weight: Operand, bias: Operand | None = None) -> Tensor:
    """input Wᵀ + b over the last axis of input (any leading axes), W of shape (out, in)."""
    shape = _shape(input)
    if len(shape) == 2:
        return ops.dense(input, weight, bias)
    flat = ops.reshape(input, (-1, shape[-1])) if shape else input
    out = ops.dense(flat, weight, bias)
    return ops.reshape(out, shape[:-1] + (out.shape[-1],))


def _torch_padding(fn: str, padding, kernel, dilation=(1, 1)):
    """PyTorch's padding (an int, a pair, 'valid' or 'same' for stride 1) as softgrad's explicit padding ('same':
    d·(k − 1) in all, the odd one at the bottom / right, as PyTorch)."""
    if padding == "valid":
        return 0
    if padding == "same":
        pads = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            pads.append((total // 2, total - total // 2))
        return tuple(pads)
    if isinstance(padding, str):
        raise ValueError(f"{fn}: padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    return padding


def conv2d(input: Operand, weight: Operand, bias: Operand | None = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D cross-correlation, NCHW, weight (out, in / groups, kh, kw), then + bias per output channel (PyTorch's
    signature; ``padding`` an int, a pair, 'valid' or 'same'; ``dilation`` the spacing of the kernel's taps;
    ``groups`` splits the channels, groups = in_channels being depthwise).  ∂ as ``ops.conv2d``"""
    if padding == "same" and stride not in (1, (1, 1)):
        raise ValueError(f"conv2d: padding='same' needs stride=1 (as PyTorch), got stride={stride!r}")
    kernel = _shape(weight)[2:]
    padding = _torch_padding("conv2d", padding, kernel, int_pair(dilation, "dilation"))
    y = ops.conv2d(input, weight, stride=stride, padding=padding, dilation=dilation, groups=groups)
    if bias is None:
        return y
    return y + ops.reshape(bias, (1, -1, 1, 1))


def max_pool2d(input: Operand, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """The maximum of each window, NCHW; stride defaults to kernel_size; the window's taps ``dilation`` apart;
    ``ceil_mode`` rounds the number of windows up, ``return_indices`` also returns each maximum's flat index into
    its (H, W) plane (PyTorch's order of these two, which differs from ``nn.MaxPool2d``'s).  ∂ routed to each
    window's maximum"""
    return ops.max_pool2d(input, kernel_size, stride=stride, padding=padding, dilation=dilation,
                          return_indices=return_indices, ceil_mode=ceil_mode)


def avg_pool2d(input: Operand, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """The mean of each window, NCHW (PyTorch's options).  ∂ = g/d spread over each window"""
    return ops.avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def dropout(input: Operand, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero entries with probability p and scale the rest by 1/(1 − p) when training (the mask from the global
    stream, ``softgrad.random.set_seed``); PyTorch's default is training=True even in a model's eval mode:
    pass ``training=self.training``."""
    return ops.dropout(input, p, training=training)


def batch_norm(input: Operand, running_mean: Operand | None, running_var: Operand | None,
               weight: Operand | None = None, bias: Operand | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation over all axes but 1 (PyTorch's momentum: the weight of the new batch)."""
    return ops.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def embedding(input: Operand, weight: Operand, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` at the indices ``input``; ``padding_idx`` rows get no gradient."""
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not implemented; pass "
                                  "their defaults")
    return _embedding(input, weight, padding_idx)


def pad(input: Operand, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the trailing axes, ``pad = (left, right, top, bottom, ...)`` from the last axis back."""
    return ops.pad(input, pad, mode, value)


def one_hot(tensor: Operand, num_classes: int = -1) -> Tensor:
    """e_{tensor} along a new last axis of length ``num_classes`` (max + 1 when −1), int64 as PyTorch's."""
    labels = np.asarray(ops.stop_gradient(tensor).numpy())
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral):
        raise TypeError(f"one_hot: num_classes must be an int, got {type(num_classes).__name__} {num_classes!r}")
    depth = int(labels.max()) + 1 if num_classes == -1 and labels.size else num_classes
    return ops.one_hot(labels, depth, dtype=np.int64)


__all__ = [
    "relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softplus", "logsigmoid", "softmax", "log_softmax",
    "linear", "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "dropout", "dropout2d", "layer_norm",
    "batch_norm", "embedding", "pad", "one_hot", "scaled_dot_product_attention",
    "cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "mse_loss", "l1_loss",
    "smooth_l1_loss", "huber_loss", "kl_div",
]
