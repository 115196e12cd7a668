"""softgrad.ops: the primitives (each with its derivative rule beside it) and the ops composed from them.

Files by kind: ``elementwise`` (unary, binary with broadcasting, comparisons, xlogy), ``reductions``, ``shape``,
``linalg``, ``creation``, ``activations`` (the softmax family and non-linearities), ``losses`` (and the argument
checks losses share), ``cross_entropy`` (cross-entropy and NLL), ``nn_kernels`` (dense, conv2d, max_pool2d),
``nn_composed`` (average pooling, layer/batch norm, embedding, dropout, attention, composed from the others).
``_primitive`` is how an op is declared; ``softmax_kernels`` holds the blocked, threaded kernels of the softmax
family, ``winograd`` the chunked, threaded Winograd F(4×4, 3×3) kernels of 3×3 stride-1 convolutions,
``softgrad._parallel`` is the one pool of threads they all share (large matrix products cut between threads, BLAS
single-threaded; chunks of images; per-thread scratch buffers).
Tensor operators and methods are these same ops (attached in ``_tensor_methods``).
"""

from softgrad.ops.creation import arange, eye, full, full_like, linspace, ones, ones_like, zeros, zeros_like
from softgrad.ops.elementwise import (
    abs, add, clamp, clip, cos, div, equal, exp, expm1, floordiv, greater, greater_equal, isfinite, isnan, less,
    less_equal, log, log1p, logical_and, logical_not, logical_or, logical_xor, masked_fill, maximum, minimum, mod,
    mul, neg,
    not_equal, pow, relu, sigmoid, sign, softplus, sin, sqrt, square, sub, tanh, where, xlogy,
)
from softgrad.ops.linalg import (
    cholesky, det, diag, dot, einsum, inv, matmul, norm, outer, qr, slogdet, solve, trace, tril, triu,
)
from softgrad.ops.nn_kernels import conv2d, dense, max_pool2d
from softgrad.ops.nn_composed import (
    adaptive_avg_pool2d, avg_pool2d, batch_norm, dropout, dropout2d, embedding, layer_norm,
    scaled_dot_product_attention,
)
from softgrad.ops.activations import elu, gelu, leaky_relu, log_softmax, logsigmoid, logsumexp, normalize, softmax
from softgrad.ops.losses import (
    binary_cross_entropy, binary_cross_entropy_with_logits, huber_loss, kl_div, l1_loss, mse_loss, smooth_l1_loss,
)
from softgrad.ops.cross_entropy import cross_entropy, nll_loss
from softgrad.ops.reductions import (
    argmax, argmin, argsort, broadcast_to, cumprod, cumsum, max, mean, min, prod, sort, std, sum, topk,
    var,
)
from softgrad.ops.shape import (
    astype, cat, concat, copy, expand_dims, flatten, flip, gather, getitem, index_add, one_hot, pad, repeat,
    repeat_interleave, reshape, roll, scatter_add, split, squeeze, stack, stop_gradient, swapaxes, take,
    take_along_axis, tile, transpose,
)
from softgrad.ops import _tensor_methods  # noqa: F401  (attaches operators and methods to Tensor)


def __getattr__(name: str):
    """``ops.GradOperation``, where MindSpore code looks for it: a lazy attribute, so that ops (a layer below
    autodiff) does not import the transforms."""
    if name == "GradOperation":
        from softgrad.autodiff.mindspore import GradOperation

        return GradOperation
    raise AttributeError(f"module 'softgrad.ops' has no attribute {name!r}")


__all__ = [
    "arange", "eye", "full", "full_like", "linspace", "ones", "ones_like", "zeros", "zeros_like", "abs", "add",
    "clamp", "clip", "cos", "div", "equal", "exp", "expm1", "floordiv", "greater", "greater_equal", "isfinite",
    "isnan", "less", "less_equal", "log", "log1p", "logical_and", "logical_not", "logical_or", "logical_xor",
    "masked_fill", "maximum", "minimum", "mod", "mul", "neg", "not_equal", "pow", "relu", "sigmoid", "sign",
    "softplus", "sin", "sqrt", "square", "sub", "tanh", "where", "xlogy", "cholesky", "det", "diag", "dot", "einsum", "inv",
    "slogdet", "solve", "matmul", "norm", "outer", "qr", "trace", "tril", "triu", "conv2d", "dense", "max_pool2d",
    "adaptive_avg_pool2d", "avg_pool2d", "batch_norm", "dropout", "dropout2d", "embedding", "layer_norm",
    "scaled_dot_product_attention", "elu", "gelu", "leaky_relu", "log_softmax", "logsigmoid", "logsumexp",
    "normalize", "softmax", "binary_cross_entropy", "binary_cross_entropy_with_logits", "huber_loss", "kl_div",
    "l1_loss", "mse_loss", "smooth_l1_loss", "cross_entropy", "nll_loss", "argmax", "argmin", "argsort",
    "broadcast_to", "cumprod", "cumsum", "max", "mean", "min", "prod", "sort", "std", "sum", "topk", "var", "astype",
    "cat", "concat", "copy", "expand_dims", "flatten", "flip", "gather", "getitem", "index_add", "one_hot", "pad",
    "repeat", "repeat_interleave", "reshape", "roll", "scatter_add", "split", "squeeze", "stack", "stop_gradient",
    "swapaxes", "take", "take_along_axis", "tile", "transpose",
]
