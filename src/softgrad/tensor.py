"""Tensor and trace: an ndarray, and — inside a transform — its place on that transform's tape.

A *value* is what primitives compute on: a NumPy array (or scalar), or a traced ``Tensor``.

* An untraced Tensor has ``trace == 0`` and holds an ndarray.
* Inside the transform of level ``k`` (``grad``, ``vjp``, ...) a traced Tensor has ``trace == k``; it holds the
  value at the levels below ``k`` (an ndarray, or a Tensor of a lower level) and the index of its entry on
  level ``k``'s tape. Nested transforms therefore nest boxes, and an op is recorded on the highest level among
  its inputs only — lower-level inputs are constants there (no perturbation confusion, as in HIPS autograd).

``bind`` is the single entry point of every primitive: plain NumPy in gives plain NumPy out (so derivative
rules evaluated outside any outer transform run at NumPy speed), any Tensor in gives a Tensor out.
"""

from __future__ import annotations

import itertools
from typing import Callable

import numpy as np

# ----- dtypes -----

float16, float32, float64 = np.float16, np.float32, np.float64
int32, int64, bool_ = np.int32, np.int64, np.bool_
DTYPES = (float16, float32, float64, int32, int64, bool_)
ARRAY_TYPES = (np.ndarray, np.generic)  # what NumPy computes on: arrays and NumPy scalars

_MINDSPORE_DTYPE_NAMES = {
    "float16": "Float16", "float32": "Float32", "float64": "Float64", "int8": "Int8", "int16": "Int16",
    "int32": "Int32", "int64": "Int64", "uint8": "UInt8", "bool": "Bool",
}


def is_float_dtype(dtype) -> bool:
    """Floating point (or complex): the dtypes that can be differentiated."""
    return (dtype if isinstance(dtype, np.dtype) else np.dtype(dtype)).kind in "fc"


def as_array(data, dtype=None) -> np.ndarray:
    """Convert user data to an ndarray. Python floats become float32 (the deep-learning default, as in
    PyTorch, JAX and MindSpore); NumPy arrays keep their dtype unless ``dtype`` says otherwise."""
    if isinstance(data, Tensor):
        data = data.numpy()
    from_python = not isinstance(data, ARRAY_TYPES)
    array = np.asarray(data, dtype=dtype)
    if dtype is None and from_python and array.dtype == np.float64:
        array = array.astype(np.float32)
    return array


# ----- Tensor -----


class Tensor:
    """An n-dimensional array that softgrad can differentiate.

    >>> import softgrad as sg
    >>> sg.Tensor([[1.0, 2.0], [3.0, 4.0]]).sum()
    Tensor(shape=[], dtype=Float32, value= 10.)
    """

    __slots__ = ("_data", "_trace", "_node", "__weakref__")
    __array_priority__ = 100  # NumPy defers binary operators to Tensor

    def __init__(self, data, dtype=None):
        self._data = as_array(data, dtype)
        self._trace = 0
        self._node = -1

    # -- what it holds --
    def numpy(self) -> np.ndarray:
        """The concrete ndarray (shared, not copied); works inside transforms too."""
        data = self._data
        while isinstance(data, Tensor):
            data = data._data
        return np.asarray(data)

    asnumpy = numpy

    def __array__(self, dtype=None, copy=None):
        array = self.numpy()
        if dtype is not None and array.dtype != dtype:
            return array.astype(dtype)
        return array.copy() if copy else array

    def item(self):
        return self.numpy().item()

    def tolist(self):
        return self.numpy().tolist()

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.numpy().dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def is_traced(self) -> bool:
        return self._trace > 0

    def __len__(self) -> int:
        shape = self.shape
        if not shape:
            raise TypeError("len() of a 0-d Tensor")
        return shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        return bool(self.numpy())

    def __float__(self) -> float:
        return float(self.numpy())

    def __int__(self) -> int:
        return int(self.numpy())

    def __index__(self) -> int:
        return self.numpy().__index__()

    __hash__ = object.__hash__  # == is elementwise, so hashing is by identity (as in PyTorch)

    def __repr__(self) -> str:
        array = self.numpy()
        name = _MINDSPORE_DTYPE_NAMES.get(array.dtype.name, array.dtype.name)
        body = np.array2string(array, separator=", ")
        sep = "\n" if array.ndim else " "
        return f"Tensor(shape={list(array.shape)}, dtype={name}, value={sep}{body})"

    def __setitem__(self, index, value):
        if self._trace:
            raise TypeError(
                "cannot assign into a Tensor that is being differentiated (index assignment is not traced); "
                "build the new value functionally instead, e.g. ops.where(mask, new, x) or "
                "x + ops.one_hot(...) * delta")
        if isinstance(value, Tensor):
            value = value.numpy()
        self._data[unwrap_index(index)] = value


def unwrap_index(index):
    """Tensor indices become their ndarrays (indices are never differentiated)."""
    if isinstance(index, Tensor):
        return index.numpy()
    if isinstance(index, tuple):
        return tuple(i.numpy() if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray([i.numpy() if isinstance(i, Tensor) else i for i in index])
    return index


def wrap(value) -> Tensor:
    """A value as a Tensor: a traced Tensor as it is, an ndarray or scalar in an untraced Tensor (no copy)."""
    if isinstance(value, Tensor):
        return value
    tensor = _new_tensor(Tensor)
    tensor._data = value if isinstance(value, ARRAY_TYPES) else np.asarray(value)
    tensor._trace, tensor._node = 0, -1
    return tensor


_new_tensor = object.__new__


def _traced(value, level: int, node: int) -> Tensor:
    tensor = _new_tensor(Tensor)
    tensor._data = value
    tensor._trace = level
    tensor._node = node
    return tensor


def concrete(value):
    """The innermost ndarray/scalar of a value: every level of tracing removed."""
    while isinstance(value, Tensor):
        value = value._data
    return value


# ----- Parameter -----


class Parameter(Tensor):
    """A named, updatable Tensor: the weights of a Cell.

    >>> import softgrad as sg
    >>> sg.Parameter(sg.Tensor([1.0, 2.0]), name='w')
    Parameter (name=w, shape=(2,), dtype=Float32, requires_grad=True)
    """

    __slots__ = ("name", "requires_grad")

    def __init__(self, default_input, name: str | None = None, requires_grad: bool = True):
        data = as_array(default_input).copy(order="K")  # updated in place: never alias the caller's array
        super().__init__(data)
        self.name = name
        self.requires_grad = requires_grad

    def __repr__(self) -> str:
        name = _MINDSPORE_DTYPE_NAMES.get(self.dtype.name, self.dtype.name)
        return (f"Parameter (name={self.name}, shape={self.shape}, dtype={name}, "
                f"requires_grad={self.requires_grad})")

    def set_data(self, data) -> "Parameter":
        """Replace the value (shape and dtype must match): ``p.set_data(new)``."""
        new = np.array(as_array(data, self.dtype), order="F" if is_column_major(self._data) else "C")
        if new.shape != self.shape:
            raise ValueError(f"Parameter '{self.name}'.set_data: expected shape {self.shape}, got {new.shape}")
        if self._trace:
            raise TypeError(f"Parameter '{self.name}' is being differentiated; update it after the transform")
        self._data = new
        return self

    def assign_value(self, data) -> "Parameter":
        return self.set_data(data)


def is_column_major(array) -> bool:
    """Column-major and not also row-major (a Dense weight keeps this layout; see nn.Dense); of the innermost
    array for a Tensor."""
    flags = (array if isinstance(array, np.ndarray) else np.asarray(concrete(array))).flags
    return flags.f_contiguous and not flags.c_contiguous


# ----- primitives and tapes -----

_LEAF = None  # tape entries of transform inputs have no primitive


class Primitive:
    """One primitive: ``impl`` computes it on NumPy values; ``vjps[i](g, ans, *args, **params)`` is the
    cotangent of positional argument ``i`` (``None``: not differentiable in that argument). ``vjps=None``
    marks a non-differentiable primitive (its output is never traced).

    ``output_vjp(g, ans, out, **params)``: for a primitive ``f(h(args))`` that ends in an elementwise function
    ``f`` (a fused activation), ``g·f'`` computed from ``ans`` once per backward step; the ``vjps`` are then those
    of ``h`` and receive that cotangent as ``g``. ``out`` is ``g`` itself when the backward sweep holds the only
    reference to it (the rule may write its result there), else ``None``.

    ``batchable``: the rules also accept a ``g`` with extra leading (batch) axes, ``g.shape = batch + ans.shape``,
    and return ``batch + broadcast shape``; ``jacobian`` then sweeps the tape once for all its rows."""

    __slots__ = ("name", "impl", "vjps", "output_vjp", "batchable")

    def __init__(self, name: str, impl: Callable, vjps: tuple[Callable | None, ...] | None = None,
                 batchable: bool = False, output_vjp: Callable | None = None):
        self.name = name
        self.impl = impl
        self.vjps = vjps
        self.output_vjp = output_vjp
        self.batchable = batchable

    def __repr__(self) -> str:
        return f"Primitive({self.name})"


# level -> tape (list of entries (primitive, ans, args, params, parent_nodes)); only active levels are here.
_TAPES: dict[int, list] = {}
_levels = itertools.count(1)


def new_level() -> tuple[int, list]:
    level = next(_levels)
    tape: list = []
    _TAPES[level] = tape
    return level, tape


def close_level(level: int) -> None:
    _TAPES.pop(level, None)


def bind(prim: Primitive, *args, **params):
    """Apply ``prim``: NumPy in → NumPy out; any Tensor in → Tensor out, recorded on the highest active trace."""
    top = -1  # -1: no Tensor among args
    for a in args:
        if isinstance(a, Tensor) and a._trace > top:
            top = a._trace
    if top < 0:
        return prim.impl(*args, **params)
    if top == 0:
        return wrap(prim.impl(*[a._data if isinstance(a, Tensor) else a for a in args], **params))
    tape = _TAPES.get(top)
    if prim.vjps is None:
        return wrap(prim.impl(*[concrete(a) for a in args], **params))
    if tape is None:  # a Tensor that outlived its transform: a constant from now on
        return bind(prim, *[_drop_level(a, top) for a in args], **params)
    inner = []
    parents = []
    nested = False  # does any value below this level still carry a (lower) trace?
    for a in args:
        if isinstance(a, Tensor):
            level = a._trace
            if level == top:
                value = a._data
                if isinstance(value, Tensor):
                    nested = True
                inner.append(value)
                parents.append(a._node)
                continue
            if level:
                nested = True
            else:
                a = a._data
        inner.append(a)
        parents.append(-1)
    ans = bind(prim, *inner, **params) if nested else prim.impl(*inner, **params)
    tape.append((prim, ans, inner, params, parents))
    out = _new_tensor(Tensor)
    out._data, out._trace, out._node = ans, top, len(tape) - 1
    return out


Primitive.bind = bind  # prim.bind(*args, **params): how derivative rules call other primitives


def _drop_level(value, level: int):
    return value._data if isinstance(value, Tensor) and value._trace == level else value


def add_leaf(tape: list, value) -> int:
    tape.append((_LEAF, value, (), {}, ()))
    return len(tape) - 1


def lift(value, level: int, tape: list) -> Tensor:
    """Box ``value`` as an input of the transform at ``level``."""
    return _traced(value, level, add_leaf(tape, value))


def value_of(x):
    """What a transform boxes for input ``x``: a lower-level traced Tensor as it is, else its ndarray."""
    if isinstance(x, Tensor):
        if x._trace == 0:
            return x._data
        if x._trace in _TAPES:
            return _traced(x._data, x._trace, x._node)
        return value_of(x._data)
    return x if isinstance(x, ARRAY_TYPES) else np.asarray(x)
