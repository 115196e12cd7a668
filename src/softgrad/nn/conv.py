"""Convolution and pooling layers, NCHW, on the im2col + GEMM kernels of ``softgrad.ops.nn_kernels``: ``Conv2d``,
``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d``.

``pad_mode`` follows MindSpore: ``'same'`` (output size ⌈H / stride⌉, the extra padding row/column at the
bottom/right, as TensorFlow), ``'valid'`` (no padding) or ``'pad'`` (the explicit ``padding``: an int,
(ph, pw) or MindSpore's (top, bottom, left, right)).

>>> import softgrad as sg
>>> net = sg.nn.SequentialCell(Conv2d(1, 4, 3, generator=sg.random.Generator(0)), MaxPool2d(2))
>>> net(sg.ops.zeros((2, 1, 8, 8))).shape
(2, 4, 4, 4)
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from softgrad import ops
from softgrad._checks import check_bool
from softgrad.nn.cell import Cell
from softgrad.nn.init import initialize
from softgrad.nn.layers import check_count
from softgrad.ops.nn_composed import output_pair
from softgrad.ops.nn_kernels import conv2d_relu_pool, fused_activation, normalize_padding, output_size
from softgrad.random import Generator, default_generator
from softgrad.tensor import Parameter

PAD_MODES = ("same", "valid", "pad")
PYTORCH_CONV2D = ("PyTorch's nn.Conv2d(c_in, c_out, k, padding=p) is Conv2d(c_in, c_out, k, pad_mode='pad', "
                  "padding=p, has_bias=True) here (MindSpore's defaults are pad_mode='same', has_bias=False)")


def resolve_padding(pad_mode: str, padding, size: tuple[int, int], kernel: tuple[int, int],
                    stride: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """The explicit ((top, bottom), (left, right)) padding of ``pad_mode`` for an input of spatial ``size``."""
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
    if pad_mode == "pad":
        return normalize_padding(padding)
    if pad_mode == "valid":
        return (0, 0), (0, 0)
    pads = []
    for n, k, s in zip(size, kernel, stride):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


def window_pair(owner: str, name: str, value) -> tuple[int, int]:
    """A kernel size or stride (an int or a pair) as a pair of ints ≥ 1."""
    pair = (value, value) if isinstance(value, numbers.Integral) else value
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2
            and all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) and v >= 1 for v in pair)):
        raise ValueError(f"{owner}: {name} must be an int >= 1 or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def checked_padding(owner: str, padding) -> tuple[tuple[int, int], tuple[int, int]]:
    """``padding`` (an int, (ph, pw), (top, bottom, left, right) or ((top, bottom), (left, right))) as the last
    form, every entry a non-negative int."""
    try:
        pads = normalize_padding(padding)
    except (TypeError, ValueError):
        pads = None
    if pads is None or min(sum(pads, ())) < 0 or isinstance(padding, bool):
        raise ValueError(f"{owner}: padding must be a non-negative int, (ph, pw), (top, bottom, left, right) or "
                         f"((top, bottom), (left, right)), got {padding!r}")
    return pads


class Conv2d(Cell):
    """2-D convolution (cross-correlation, as every framework computes it) over NCHW inputs, MindSpore's
    signature: weight (out_channels, in_channels / group, kh, kw); ``has_bias=False`` and ``pad_mode='same'`` by
    default, as in MindSpore. PyTorch's ``nn.Conv2d(c_in, c_out, k, stride, padding=p)`` (no padding and a bias
    by default) is ``Conv2d(c_in, c_out, k, stride, pad_mode='pad', padding=p, has_bias=True)`` here, or
    ``softgrad.nn.functional.conv2d`` with PyTorch's signature; PyTorch's ``bias=`` keyword is refused with
    that hint rather than ignored. ``dilation`` spaces the kernel's taps; ``group`` (PyTorch's ``groups``) splits
    the channels into that many independent convolutions, weight (out_channels, in_channels / group, kh, kw)
    (``group=in_channels``: depthwise). Default initialisation: PyTorch's (U(−1/√fan_in, 1/√fan_in) for weight
    and bias, fan_in = in_channels / group · kh · kw).

    >>> import softgrad as sg
    >>> torch_like = Conv2d(1, 2, 3, pad_mode='pad', padding=1, has_bias=True, generator=sg.random.Generator(0))
    >>> torch_like(sg.ops.zeros((1, 1, 5, 5))).shape, Conv2d(1, 2, 3, pad_mode='valid')(sg.ops.zeros((1, 1, 5, 5))).shape
    ((1, 2, 5, 5), (1, 2, 3, 3))
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, pad_mode: str = "same",
                 padding=0, dilation=1, group: int = 1, has_bias: bool = False, weight_init=None, bias_init=None,
                 data_format: str = "NCHW", generator: Generator | None = None, dtype=np.float32, *,
                 bias=None):
        super().__init__()
        if bias is not None:
            raise TypeError(f"Conv2d: bias={bias!r} is PyTorch's keyword; this is MindSpore's layer: "
                            f"{PYTORCH_CONV2D}")
        if data_format != "NCHW":
            raise NotImplementedError(f"Conv2d supports data_format='NCHW' only, got data_format={data_format!r}")
        if pad_mode not in PAD_MODES:
            raise ValueError(f"Conv2d: pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
        if checked_padding("Conv2d", padding) != ((0, 0), (0, 0)) and pad_mode != "pad":
            raise ValueError(f"Conv2d: padding={padding} needs pad_mode='pad' (got pad_mode={pad_mode!r}); "
                             f"{PYTORCH_CONV2D}")
        generator = generator if generator is not None else default_generator()
        self.in_channels = check_count("Conv2d", "in_channels", in_channels)
        self.out_channels = check_count("Conv2d", "out_channels", out_channels)
        self.kernel_size = window_pair("Conv2d", "kernel_size", kernel_size)
        self.stride = window_pair("Conv2d", "stride", stride)
        self.dilation = window_pair("Conv2d", "dilation", dilation)
        self.group = check_count("Conv2d", "group", group)
        if self.in_channels % self.group or self.out_channels % self.group:
            raise ValueError(f"Conv2d: group={group} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        self.pad_mode, self.padding, self.has_bias = pad_mode, padding, has_bias
        shape = (self.out_channels, self.in_channels // self.group) + self.kernel_size
        self.weight = Parameter(initialize("torch_default" if weight_init is None else weight_init, shape,
                                           generator, dtype), name="weight")
        if has_bias:
            bound = 1.0 / math.sqrt(self.in_channels // self.group * math.prod(self.kernel_size))
            default = lambda shape, rng: rng.uniform(-bound, bound, shape)  # noqa: E731
            self.bias = Parameter(initialize(default if bias_init is None else bias_init, (self.out_channels,),
                                             generator, dtype), name="bias")

    def extra_repr(self) -> dict:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels, "kernel_size": self.kernel_size,
                "stride": self.stride, "pad_mode": self.pad_mode, "padding": self.padding, "dilation": self.dilation,
                "group": self.group, "has_bias": self.has_bias}

    def construct(self, x):
        return self.construct_with(x, None)

    def construct_with(self, x, activation):
        """This layer followed by ``activation`` (None, or a callable such as an op or a Cell): ``ops.conv2d``
        adds the bias and runs relu, tanh and sigmoid inside its primitive, and applies any other callable after."""
        return ops.conv2d(x, self.weight, stride=self.stride, padding=self._padding(x.shape), dilation=self.dilation,
                          groups=self.group, bias=self.bias if self.has_bias else None, activation=activation)

    def construct_pooled(self, x, activation):
        """This layer followed by ``activation`` (None or ReLU's op) and a 2×2 max-pool of stride 2, in one
        primitive (``SequentialCell``): the pool made as the convolution's output is, which is never written."""
        return conv2d_relu_pool(x, self.weight, self.bias if self.has_bias else None, activation, stride=self.stride,
                                padding=self._padding(x.shape), dilation=self.dilation, groups=self.group)

    def pools_after(self, x_shape, activation, pool) -> bool:
        """Whether ``construct_pooled`` can stand for this layer, ``activation`` and ``pool``: a ``MaxPool2d`` of
        2×2 windows, stride 2, no padding, dilation, ceil_mode or indices, NCHW, with its class's own construct,
        after an output of at least 2×2."""
        if not (isinstance(pool, MaxPool2d) and type(pool).construct is MaxPool2d.construct
                and "construct" not in vars(pool)  # (a construct set on the instance, as summary's, is not skipped)
                and (activation is None or fused_activation(activation) == "relu")
                and pool.kernel_size == (2, 2) and pool.stride == (2, 2) and pool.dilation == (1, 1)
                and pool.pad_mode == "valid" and not pool.ceil_mode and not pool.return_indices
                and pool.data_format == "NCHW" and len(x_shape) == 4):
            return False
        return min(output_size(size, k, s, pad, d) for size, k, s, pad, d in
                   zip(x_shape[2:], self.kernel_size, self.stride, self._padding(x_shape), self.dilation)) >= 2

    def _padding(self, x_shape):
        """The padding ``pad_mode`` and ``padding`` give an input of ``x_shape``."""
        reach = tuple(d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation))  # the dilated kernel's extent
        return resolve_padding(self.pad_mode, self.padding, x_shape[2:], reach, self.stride)


POOL_DATA_FORMATS = ("NCHW", "NHWC")


def _check_pool_options(owner: str, ceil_mode, data_format) -> bool:
    """``ceil_mode`` as a bool; ``data_format`` 'NCHW' or 'NHWC' (MindSpore's ValueError otherwise)."""
    if data_format not in POOL_DATA_FORMATS:
        raise ValueError(f"{owner}: data_format must be 'NCHW' (N, C, H, W) or 'NHWC' (N, H, W, C, channels last), "
                         f"got {data_format!r}")
    return check_bool(owner, "ceil_mode", ceil_mode)


def _pooled(owner: str, pool, x, data_format: str):
    """``pool`` (an NCHW pooling of x) applied to x in ``data_format``: NHWC x is seen as NCHW through a transposed
    view, which the pooling kernels read as the channels-last array it is, and the result(s) transposed back."""
    if data_format == "NCHW":
        return pool(x)
    if len(x.shape) != 4:
        raise ValueError(f"{owner}: data_format='NHWC' expects x of shape (N, H, W, C), got {x.shape}")
    out = pool(ops.transpose(x, (0, 3, 1, 2)))
    if isinstance(out, tuple):
        return tuple(ops.transpose(o, (0, 2, 3, 1)) for o in out)
    return ops.transpose(out, (0, 2, 3, 1))


class MaxPool2d(Cell):
    """The maximum over each ``kernel_size`` window, MindSpore's signature. ``stride`` defaults to
    ``kernel_size`` (PyTorch's default; MindSpore's is 1); ``pad_mode`` as ``Conv2d`` ('valid' by default),
    padding counting as −∞ (at most half the kernel, 'same''s too, as PyTorch); the window's taps ``dilation``
    apart (its extent d·(k − 1) + 1, which 'same' pads for); ``ceil_mode`` rounds the number of windows up
    (⌈(H + pads − extent)/s⌉ + 1, a last window starting inside the input or its top/left padding);
    ``return_indices`` returns (out, indices), each maximum's flat index i·W + j into its (H, W) plane;
    ``data_format`` 'NCHW' or 'NHWC' (channels last: input, output and indices (N, H, W, C)).
    ∂ as ``ops.max_pool2d``

    >>> import softgrad as sg
    >>> out, indices = MaxPool2d(2, return_indices=True, ceil_mode=True)(sg.ops.ones((1, 1, 3, 3)))
    >>> indices.numpy()[0, 0]   # ties: the first maximum of each window
    array([[0, 2],
           [6, 8]])
    """

    def __init__(self, kernel_size, stride=None, pad_mode: str = "valid", padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False, data_format: str = "NCHW"):
        super().__init__()
        self.kernel_size = window_pair("MaxPool2d", "kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else window_pair("MaxPool2d", "stride", stride)
        if pad_mode not in PAD_MODES:
            raise ValueError(f"MaxPool2d: pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
        checked_padding("MaxPool2d", padding)
        self.dilation = window_pair("MaxPool2d", "dilation", dilation)
        self.ceil_mode = _check_pool_options("MaxPool2d", ceil_mode, data_format)
        self.return_indices = check_bool("MaxPool2d", "return_indices", return_indices)
        self.pad_mode, self.padding, self.data_format = pad_mode, padding, data_format

    def extra_repr(self) -> dict:
        return {"kernel_size": self.kernel_size, "stride": self.stride, "pad_mode": self.pad_mode,
                "padding": self.padding, "dilation": self.dilation, "return_indices": self.return_indices,
                "ceil_mode": self.ceil_mode, "data_format": self.data_format}

    def construct(self, x):
        return _pooled("MaxPool2d", self._pool, x, self.data_format)

    def _pool(self, x):
        reach = tuple(d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation))  # the window's extent
        padding = resolve_padding(self.pad_mode, self.padding, x.shape[2:], reach, self.stride)
        return ops.max_pool2d(x, self.kernel_size, stride=self.stride, padding=padding, dilation=self.dilation,
                              return_indices=self.return_indices, ceil_mode=self.ceil_mode)


class AvgPool2d(Cell):
    """The mean over each ``kernel_size`` window, MindSpore's signature (``pad_mode`` as ``Conv2d``,
    'valid' by default; zero padding counted in the mean unless ``count_include_pad=False``;
    ``divisor_override`` replaces the divisor; ``ceil_mode`` rounds the number of windows up, as ``MaxPool2d``;
    ``data_format`` 'NCHW' or 'NHWC', as ``MaxPool2d``).
    ``stride`` defaults to ``kernel_size``, as ``MaxPool2d`` here and PyTorch (MindSpore's default is 1).
    ∂ as ``ops.avg_pool2d``

    >>> import softgrad as sg
    >>> AvgPool2d(2)(sg.ops.ones((1, 3, 4, 4))).shape
    (1, 3, 2, 2)
    """

    def __init__(self, kernel_size=1, stride=None, pad_mode: str = "valid", padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None, data_format: str = "NCHW"):
        super().__init__()
        self.kernel_size = window_pair("AvgPool2d", "kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else window_pair("AvgPool2d", "stride", stride)
        if pad_mode not in PAD_MODES:
            raise ValueError(f"AvgPool2d: pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
        if checked_padding("AvgPool2d", padding) != ((0, 0), (0, 0)) and pad_mode != "pad":
            raise ValueError(f"AvgPool2d: padding={padding} needs pad_mode='pad' (got pad_mode={pad_mode!r})")
        self.ceil_mode = _check_pool_options("AvgPool2d", ceil_mode, data_format)
        self.pad_mode, self.padding, self.data_format = pad_mode, padding, data_format
        self.count_include_pad, self.divisor_override = bool(count_include_pad), divisor_override

    def extra_repr(self) -> dict:
        return {"kernel_size": self.kernel_size, "stride": self.stride, "pad_mode": self.pad_mode,
                "padding": self.padding, "ceil_mode": self.ceil_mode, "count_include_pad": self.count_include_pad,
                "data_format": self.data_format}

    def construct(self, x):
        return _pooled("AvgPool2d", self._pool, x, self.data_format)

    def _pool(self, x):
        padding = resolve_padding(self.pad_mode, self.padding, x.shape[2:], self.kernel_size, self.stride)
        return ops.avg_pool2d(x, self.kernel_size, stride=self.stride, padding=padding, ceil_mode=self.ceil_mode,
                              count_include_pad=self.count_include_pad, divisor_override=self.divisor_override)


class AdaptiveAvgPool2d(Cell):
    """Average pooling to a fixed ``output_size`` (an int or (oh, ow), None keeping an axis), whatever the input
    size (MindSpore's and PyTorch's windows: ⌊i·H/oh⌋ … ⌈(i+1)·H/oh⌉).  ∂ as ``ops.adaptive_avg_pool2d``

    >>> import softgrad as sg
    >>> AdaptiveAvgPool2d((1, 1))(sg.ops.ones((2, 3, 7, 5))).shape
    (2, 3, 1, 1)
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_pair(output_size)

    def extra_repr(self) -> dict:
        return {"output_size": self.output_size}

    def construct(self, x):
        return ops.adaptive_avg_pool2d(x, self.output_size)


__all__ = [
    "resolve_padding", "window_pair", "checked_padding", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
]
