"""Basic layers: ``Dense`` (``Linear``), ``Flatten``, ``Dropout``, ``Dropout2d``, ``BatchNorm1d``, ``BatchNorm2d``,
``LayerNorm``, ``Embedding`` and the ``SequentialCell`` container (activation cells are in ``nn.activations``). Each is a Cell whose ``construct`` composes differentiable ops, so its gradients
come from the ops' rules (and are checked against finite differences in tests/test_layers.py).

Randomness (initial weights, dropout masks) comes only from a ``softgrad.random.Generator`` passed as
``generator=``; without one, from ``softgrad.random.default_generator()`` (fixed by ``set_seed``, else unseeded).

>>> import softgrad as sg
>>> net = sg.nn.SequentialCell([sg.nn.Dense(4, 3, generator=sg.random.Generator(0)), sg.nn.Flatten()])
>>> net(sg.ops.ones((2, 4))).shape
(2, 3)
"""

from __future__ import annotations

import math
import numbers
from collections import OrderedDict
from typing import Any

import numpy as np

from softgrad import ops
from softgrad.nn.activations import activation_op, elementwise_op
from softgrad.nn.cell import Cell
from softgrad.nn.init import initialize
from softgrad.random import Generator, default_generator
from softgrad.tensor import Parameter


def _activation(activation):
    """None, a callable (an op, or a Cell: an elementwise activation cell as its op), or the name of an
    activation op (``nn.activations.ACTIVATION_OPS``: 'relu', 'tanh', 'gelu', ...)."""
    if activation is None or callable(activation):
        return elementwise_op(activation) or activation
    return activation_op(activation)


def check_count(owner: str, name: str, value) -> int:
    """``value`` as an int, after checking that it is an integer ≥ 1 (a width, a number of features)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be an integer >= 1, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{owner}: {name} must be an integer >= 1, got {value!r}")
    return int(value)


def check_fraction(owner: str, name: str, value, *, include_one: bool) -> float:
    """``value`` as a float, after checking that it is a real number in [0, 1] (or [0, 1)); NaN fails."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a number in [0, 1{']' if include_one else ')'}, got "
                        f"{type(value).__name__} {value!r}")
    if not (0.0 <= value <= 1.0 if include_one else 0.0 <= value < 1.0):
        raise ValueError(f"{owner}: {name} must lie in [0, 1{']' if include_one else ')'}, got {value!r}")
    return float(value)


# ----- Dense -----


class Dense(Cell):
    """Fully connected layer: y = x Wᵀ + b, W of shape (out_channels, in_channels) as in PyTorch and MindSpore,
    applied to the last axis of x (one fused ``ops.dense`` primitive); then ``activation`` if given ('relu',
    'tanh' and 'sigmoid' (or those ops) run inside the primitive, in place).

    Default initialisation is PyTorch's ``Linear``: W, b ~ U(−1/√in, 1/√in). ``weight_init`` / ``bias_init``
    take any initialiser of ``softgrad.nn.init`` ('he_uniform', 'xavier_normal', 'zeros', a number, an
    array, ...).

    >>> import softgrad as sg
    >>> layer = Dense(3, 2, weight_init='ones', bias_init='zeros')
    >>> layer(sg.Tensor([[1.0, 2.0, 3.0]]))
    Tensor(shape=[1, 2], dtype=Float32, value=
    [[6., 6.]])
    """

    def __init__(self, in_channels: int, out_channels: int, weight_init=None, bias_init=None,
                 has_bias: bool = True, activation=None, generator: Generator | None = None, dtype=np.float32):
        super().__init__()
        generator = generator if generator is not None else default_generator()
        name = type(self).__name__
        in_channels, out_channels = check_count(name, "in_channels", in_channels), check_count(name, "out_channels",
                                                                                               out_channels)
        self.in_channels, self.out_channels, self.has_bias = in_channels, out_channels, has_bias
        # Shape (out, in) as in PyTorch, stored column-major: x Wᵀ and its weight gradient (xᵀ g)ᵀ are then
        # the GEMM layouts BLAS runs fastest, and the SGD update meets the gradient in the same layout.
        weight = initialize("torch_default" if weight_init is None else weight_init, (out_channels, in_channels),
                            generator, dtype)
        self.weight = Parameter(np.asfortranarray(weight), name="weight")
        if has_bias:
            bound = 1.0 / math.sqrt(in_channels)
            default = lambda shape, rng: rng.uniform(-bound, bound, shape)  # noqa: E731
            self.bias = Parameter(initialize(default if bias_init is None else bias_init, (out_channels,),
                                             generator, dtype), name="bias")
        self.activation = _activation(activation)

    def __setattr__(self, name: str, value) -> None:
        if name in ("weight", "bias") and value is not None:  # construct relies on these shapes
            expected = (self.out_channels, self.in_channels) if name == "weight" else (self.out_channels,)
            if np.shape(value) != expected:
                raise ValueError(f"{type(self).__name__}.{name} must have shape {expected}, got {np.shape(value)}")
        super().__setattr__(name, value)

    def extra_repr(self) -> dict:
        activation = self.activation
        name = None if activation is None else getattr(activation, "__name__", type(activation).__name__)
        return {"in_channels": self.in_channels, "out_channels": self.out_channels, "has_bias": self.has_bias,
                "activation": name}

    def construct(self, x):
        return self.construct_with(x, self.activation)

    def construct_with(self, x, activation):
        """This layer with ``activation`` (None, or a callable such as an op or a Cell) in place of its own:
        ``ops.dense`` runs relu, tanh and sigmoid inside its primitive, and applies any other callable after."""
        shape = x.shape
        if not shape or shape[-1] != self.in_channels:
            raise ValueError(f"{type(self).__name__}: expected inputs whose last axis has {self.in_channels} "
                             f"features, got shape {shape}")
        bias = self.bias if self.has_bias else None
        if len(shape) == 2:
            return ops.dense(x, self.weight, bias, activation=activation)
        y = ops.dense(ops.reshape(x, (-1, self.in_channels)), self.weight, bias)
        y = ops.reshape(y, shape[:-1] + (self.out_channels,))
        return y if activation is None else activation(y)


class Linear(Dense):
    """PyTorch's spelling of ``Dense``: ``Linear(in_features, out_features, bias=True)``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, weight_init=None,
                 bias_init=None, generator: Generator | None = None, dtype=np.float32):
        super().__init__(in_features, out_features, weight_init=weight_init, bias_init=bias_init, has_bias=bias,
                         generator=generator, dtype=dtype)


    def extra_repr(self) -> dict:
        return {"in_features": self.in_channels, "out_features": self.out_channels, "bias": self.has_bias}

# ----- shape and regularisation -----


class Flatten(Cell):
    """Merge axes ``start_dim..end_dim`` (default: all but the batch axis), as ``x.reshape(N, -1)``.

    >>> import softgrad as sg
    >>> Flatten()(sg.ops.zeros((2, 3, 4))).shape
    (2, 12)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        for name, value in (("start_dim", start_dim), ("end_dim", end_dim)):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
                raise TypeError(f"Flatten: {name} must be an int (an axis), got {type(value).__name__} {value!r}")
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def extra_repr(self) -> dict:
        return {"start_dim": self.start_dim, "end_dim": self.end_dim}

    def construct(self, x):
        ndim = len(x.shape)
        start, end = (d + ndim if d < 0 else d for d in (self.start_dim, self.end_dim))
        if not (0 <= start <= end < ndim):
            raise ValueError(f"Flatten: start_dim={self.start_dim} and end_dim={self.end_dim} must be axes of the "
                             f"input, start_dim first, but the input has shape {x.shape} ({ndim} axes)")
        return ops.flatten(x, self.start_dim, self.end_dim)


class Dropout(Cell):
    """In training mode, zero each entry with probability ``p`` and scale the rest by 1/(1 − p) (so the
    expectation is unchanged); the identity in evaluation mode (``set_train(False)``). ``p`` is the drop
    probability, as in PyTorch and MindSpore 2.x. ∂/∂x = the same mask and scale.

    >>> import softgrad as sg
    >>> layer = Dropout(p=0.5, generator=sg.random.Generator(0)).set_train(False)
    >>> layer(sg.ops.ones(3))
    Tensor(shape=[3], dtype=Float32, value=
    [1., 1., 1.])
    """

    def __init__(self, p: float = 0.5, generator: Generator | None = None):
        super().__init__()
        self.p = check_fraction("Dropout", "p (the probability of dropping an entry)", p, include_one=False)
        self.generator = generator

    def extra_repr(self) -> dict:
        return {"p": self.p}

    def construct(self, x):
        if not self.training or self.p == 0.0:
            return x
        return ops.dropout(x, self.p, training=True, generator=self.generator)


class Dropout2d(Dropout):
    """In training mode, zero whole channels (each x[n, c] plane of an (N, C, H, W) input) with probability
    ``p`` and scale the rest by 1/(1 − p); the identity in evaluation mode (MindSpore's and PyTorch's
    ``Dropout2d(p=0.5)``).  ∂/∂x = the same mask and scale

    >>> import softgrad as sg
    >>> Dropout2d(0.5, generator=sg.random.Generator(0))(sg.ops.ones((1, 4, 1, 1))).reshape(-1)
    Tensor(shape=[4], dtype=Float32, value=
    [2., 2., 2., 0.])
    """

    def construct(self, x):
        if not self.training or self.p == 0.0:
            return x
        return ops.dropout2d(x, self.p, training=True, generator=self.generator)


# ----- normalisation -----


class BatchNorm1d(Cell):
    """Batch normalisation over the batch axis of (N, C) or (N, C, L) inputs (MindSpore's names and momentum):

        y = γ · (x − μ) / √(σ² + eps) + β,

    with μ, σ² the batch mean and (biased) variance per channel in training mode, and the moving averages
    ``moving ← momentum · moving + (1 − momentum) · batch`` (unbiased variance, as PyTorch) in evaluation
    mode. ``gamma``/``beta`` are trainable; ``moving_mean``/``moving_variance`` are Parameters with
    ``requires_grad=False`` (saved with the model, never differentiated).

    >>> import softgrad as sg
    >>> bn = BatchNorm1d(2)
    >>> bn(sg.Tensor([[1.0, 10.0], [3.0, 30.0]])).numpy().round(3)
    array([[-1., -1.],
           [ 1.,  1.]], dtype=float32)
    >>> bn.moving_mean.numpy(), bn.moving_variance.numpy()
    (array([0.2, 2. ], dtype=float32), array([ 1.1, 20.9], dtype=float32))
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.9, affine: bool = True,
                 gamma_init="ones", beta_init="zeros", moving_mean_init="zeros", moving_var_init="ones",
                 use_batch_statistics: bool | None = None, dtype=np.float32):
        super().__init__()
        name = type(self).__name__
        self.momentum = check_fraction(name, "momentum (MindSpore's: the weight of the old moving average; "
                                       "PyTorch's 0.1 is 0.9 here)", momentum, include_one=True)
        self.num_features, self.eps = check_count(name, "num_features", num_features), check_eps(name, eps)
        self.use_batch_statistics = use_batch_statistics
        shape = (self.num_features,)
        self.gamma = Parameter(initialize(gamma_init, shape, dtype=dtype), name="gamma", requires_grad=affine)
        self.beta = Parameter(initialize(beta_init, shape, dtype=dtype), name="beta", requires_grad=affine)
        self.moving_mean = Parameter(initialize(moving_mean_init, shape, dtype=dtype), name="moving_mean",
                                     requires_grad=False)
        self.moving_variance = Parameter(initialize(moving_var_init, shape, dtype=dtype), name="moving_variance",
                                         requires_grad=False)

    def extra_repr(self) -> dict:
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum,
                "affine": self.gamma.requires_grad}

    #: the input ranks this layer takes, and how its error message shows them
    ranks, shapes = (2, 3), "(N, {c}) or (N, {c}, L)"

    def construct(self, x):
        shape = x.shape
        if len(shape) not in self.ranks or shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}): expected input "
                             f"{self.shapes.format(c=self.num_features)}, got shape {shape}")
        batch_stats = self.training if self.use_batch_statistics is None else self.use_batch_statistics
        update = batch_stats and self.training  # the moving averages move only while training on batch statistics
        running = (self.moving_mean, self.moving_variance) if update or not batch_stats else (None, None)
        return ops.batch_norm(x, *running, self.gamma, self.beta, training=batch_stats,
                              momentum=1.0 - self.momentum, eps=self.eps)


class BatchNorm2d(BatchNorm1d):
    """Batch normalisation of (N, C, H, W) inputs over N, H and W per channel; otherwise ``BatchNorm1d``
    (MindSpore's signature, momentum = 1 − PyTorch's).

    >>> import softgrad as sg
    >>> BatchNorm2d(3)(sg.ops.ones((2, 3, 4, 4))).shape
    (2, 3, 4, 4)
    """

    ranks, shapes = (4,), "(N, {c}, H, W)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.9, affine: bool = True,
                 gamma_init="ones", beta_init="zeros", moving_mean_init="zeros", moving_var_init="ones",
                 use_batch_statistics: bool | None = None, data_format: str = "NCHW", dtype=np.float32):
        if data_format != "NCHW":
            raise NotImplementedError(f"BatchNorm2d: only data_format='NCHW' is supported, got {data_format!r}")
        super().__init__(num_features, eps, momentum, affine, gamma_init, beta_init, moving_mean_init,
                         moving_var_init, use_batch_statistics, dtype)


def check_eps(owner: str, eps) -> float:
    """``eps`` as a float, after checking that it is a finite number > 0."""
    if isinstance(eps, (bool, np.bool_)) or not isinstance(eps, numbers.Real) or not 0 < eps < math.inf:
        raise ValueError(f"{owner}: eps must be a finite number > 0 (e.g. 1e-5), got {eps!r}")
    return float(eps)


class LayerNorm(Cell):
    """Layer normalisation over the trailing axes ``normalized_shape`` of each sample, with MindSpore's
    signature: y = (x − μ) / √(σ² + epsilon) · gamma + beta, μ, σ² (biased) over those axes; gamma and beta
    of shape ``normalized_shape`` are trainable. ``begin_norm_axis`` (default −1: the trailing
    ``len(normalized_shape)`` axes) must agree with ``normalized_shape``. MindSpore's epsilon default is 1e-7;
    PyTorch's keywords ``eps`` (1e-5 in PyTorch), ``elementwise_affine`` and ``bias`` are accepted:
    ``LayerNorm(d, eps=1e-5)`` is PyTorch's ``nn.LayerNorm(d)``.  ∂ as ``ops.layer_norm``

    >>> import softgrad as sg
    >>> LayerNorm((2,), eps=1e-5)(sg.Tensor([[1.0, 3.0]]))
    Tensor(shape=[1, 2], dtype=Float32, value=
    [[-0.999995,  0.999995]])
    """

    def __init__(self, normalized_shape, begin_norm_axis: int = -1, begin_params_axis: int = -1,
                 gamma_init="ones", beta_init="zeros", epsilon: float = 1e-7, dtype=np.float32, *,
                 eps: float | None = None, elementwise_affine: bool = True, bias: bool = True):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else normalized_shape
        if not isinstance(shape, (tuple, list)) or not shape:
            raise TypeError(f"LayerNorm: normalized_shape must be an int or a non-empty tuple/list of ints, got "
                            f"{normalized_shape!r}")
        self.normalized_shape = tuple(check_count("LayerNorm", "normalized_shape", n) for n in shape)
        for name, axis in (("begin_norm_axis", begin_norm_axis), ("begin_params_axis", begin_params_axis)):
            if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
                raise TypeError(f"LayerNorm: {name} must be an int, got {type(axis).__name__} {axis!r}")
        self.begin_norm_axis, self.begin_params_axis = int(begin_norm_axis), int(begin_params_axis)
        self.eps = check_eps("LayerNorm", epsilon if eps is None else eps)
        self.gamma = Parameter(initialize(gamma_init, self.normalized_shape, dtype=dtype), name="gamma",
                               requires_grad=bool(elementwise_affine))
        self.beta = Parameter(initialize(beta_init, self.normalized_shape, dtype=dtype), name="beta",
                              requires_grad=bool(elementwise_affine and bias))

    def construct(self, x):
        ndim, count = len(x.shape), len(self.normalized_shape)
        begin = self.begin_norm_axis % ndim if ndim else 0
        if self.begin_norm_axis != -1 and begin != ndim - count:
            raise ValueError(f"LayerNorm: begin_norm_axis={self.begin_norm_axis} normalises {ndim - begin} axes of "
                             f"an input of shape {x.shape}, but normalized_shape {self.normalized_shape} has {count}")
        return ops.layer_norm(x, self.normalized_shape, self.gamma, self.beta, eps=self.eps)

    def extra_repr(self) -> dict:
        return {"normalized_shape": self.normalized_shape, "eps": self.eps}


# ----- embedding -----


class Embedding(Cell):
    """A lookup table: out[..., :] = embedding_table[x[...], :] for integer x, MindSpore's signature
    ``Embedding(vocab_size, embedding_size, use_one_hot=False, embedding_table='normal', dtype, padding_idx)``
    (MindSpore's 'normal' is N(0, 0.01²); PyTorch's ``nn.Embedding(n, d)`` draws N(0, 1):
    ``embedding_table=sg.nn.init.Normal(1.0)``-style callables or any initialiser of ``nn.init`` work).
    ``padding_idx``: that row starts at zero and gets no gradient (PyTorch's). ``weight`` is the table
    (PyTorch's name).  ∂/∂table[k] = Σ_{x[i] = k} g[i]

    >>> import softgrad as sg
    >>> table = Embedding(3, 2, embedding_table=[[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    >>> table(sg.Tensor([2, 0]))
    Tensor(shape=[2, 2], dtype=Float32, value=
    [[4., 5.],
     [0., 1.]])
    """

    def __init__(self, vocab_size: int, embedding_size: int, use_one_hot: bool = False,
                 embedding_table="normal", dtype=np.float32, padding_idx: int | None = None,
                 generator: Generator | None = None):
        super().__init__()
        self.vocab_size = check_count("Embedding", "vocab_size", vocab_size)
        self.embedding_size = check_count("Embedding", "embedding_size", embedding_size)
        if not isinstance(use_one_hot, (bool, np.bool_)):
            raise TypeError(f"Embedding: use_one_hot must be a bool, got {type(use_one_hot).__name__} {use_one_hot!r}")
        if padding_idx is not None and (isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral)
                                        or not -self.vocab_size <= padding_idx < self.vocab_size):
            raise ValueError(f"Embedding: padding_idx must be None or an int in [-{self.vocab_size}, "
                             f"{self.vocab_size}), got {padding_idx!r}")
        self.use_one_hot, self.padding_idx = bool(use_one_hot), padding_idx
        init = np.asarray(embedding_table, dtype=dtype) if isinstance(embedding_table, list) else embedding_table
        table = initialize(init, (self.vocab_size, self.embedding_size), generator, dtype)
        if padding_idx is not None:
            table[padding_idx] = 0
        self.embedding_table = Parameter(table, name="embedding_table")

    @property
    def weight(self) -> Parameter:
        """The table, under PyTorch's name."""
        return self.embedding_table

    def construct(self, x):
        if self.use_one_hot:  # the same values and gradient, as a matrix product (MindSpore's option)
            if self.padding_idx is not None:
                raise NotImplementedError("Embedding: use_one_hot=True with padding_idx is not supported")
            return ops.matmul(ops.one_hot(x, self.vocab_size, dtype=self.embedding_table.dtype), self.embedding_table)
        return ops.embedding(x, self.embedding_table, padding_idx=self.padding_idx)

    def extra_repr(self) -> dict:
        return {"vocab_size": self.vocab_size, "embedding_size": self.embedding_size, "padding_idx": self.padding_idx}


# ----- containers -----


class SequentialCell(Cell):
    """Cells applied in order: ``SequentialCell([a, b, c])(x) = c(b(a(x)))``. Also takes cells as separate
    arguments or an OrderedDict of name → cell; sub-cells are named '0', '1', ... (or by the dict's keys).

    >>> import softgrad as sg
    >>> net = SequentialCell(Flatten(), Dense(4, 2, generator=sg.random.Generator(0)))
    >>> len(net), [name for name, _ in net.parameters_and_names()]
    (2, ['1.weight', '1.bias'])
    """

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], (list, tuple)):
            args = tuple(args[0])
        if len(args) == 1 and isinstance(args[0], (dict, OrderedDict)):
            items = list(args[0].items())
        else:
            items = [(str(i), cell) for i, cell in enumerate(args)]
        for name, cell in items:
            self._add(name, cell)

    def _add(self, name: str, cell) -> None:
        if not isinstance(cell, Cell):
            raise TypeError(f"SequentialCell takes Cells, got {type(cell).__name__} at position {len(self)}; "
                            "wrap plain functions in a Cell")
        setattr(self, name, cell)

    def append(self, cell: Cell) -> "SequentialCell":
        self._add(str(len(self)), cell)
        return self

    def __len__(self) -> int:
        return len(self._cells)

    def __iter__(self):
        return iter(self._cells.values())

    def __getitem__(self, index):
        cells = list(self._cells.values())
        if isinstance(index, slice):
            return SequentialCell(cells[index])
        return cells[index]

    def construct(self, x):
        """The cells in turn; a ``Dense`` without an activation, or a ``Conv2d``, followed by an elementwise
        activation cell (``ReLU``, ``Tanh``, ``Sigmoid``) runs as that layer with the cell's op as its activation:
        for those three one fused primitive, one tape entry (same values and gradients). A ``Conv2d`` (and a
        ``ReLU``) followed by a ``MaxPool2d(2)`` runs as one primitive too, the pool made as the convolution's
        output is (``Conv2d.pools_after``; the same values and gradients)."""
        cells = tuple(self._cells.values())
        i = 0
        while i < len(cells):
            cell = cells[i]
            activation = _fusable_activation(cell, cells[i + 1]) if i + 1 < len(cells) else None
            after = i + (1 if activation is None else 2)  # (the cell after the layer and its activation)
            if (after < len(cells) and hasattr(cell, "pools_after") and type(x) is not tuple
                    and cell.pools_after(x.shape, activation, cells[after])):
                x = cell.construct_pooled(x, activation)
                i = after + 1
            elif activation is None:
                x = cell(x)
                i += 1
            else:
                x = cell.construct_with(x, activation)
                i += 2
        return x


def _fusable_activation(cell, following):
    """The op of ``following`` if ``cell`` followed by it can run as one layer with that activation: ``cell`` a
    Dense without an activation or a Conv2d (either with its class's own construct), ``following`` an
    elementwise activation cell."""
    from softgrad.nn.conv import Conv2d  # (conv imports this module)

    if isinstance(cell, Dense):
        if cell.activation is not None or type(cell).construct is not Dense.construct:
            return None
    elif not isinstance(cell, Conv2d) or type(cell).construct is not Conv2d.construct:
        return None
    return elementwise_op(following)


Sequential = SequentialCell

__all__ = ["Dense", "Linear", "Flatten", "Dropout", "Dropout2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm",
           "Embedding", "SequentialCell", "Sequential"]
