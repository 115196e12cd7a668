"""``Tensor`` (an ndarray and, inside a transform, its place on that transform's tape), ``Parameter``, dtypes.

A Tensor holds ``_data`` (an ndarray, or inside a transform the value one level below), ``_trace`` (0, or the
level of the transform tracing it) and ``_node`` (its entry on that level's tape); ``softgrad.trace`` makes and
reads the traced ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence, Union

import numpy as np
import numpy.typing as npt

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


def as_shape(shape) -> tuple[int, ...]:
    """An int or a sequence of ints as a shape tuple."""
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(n) for n in shape)


def as_array(data, dtype=None, name: str = "data") -> np.ndarray:
    """Convert user data to an ndarray. Python floats become float32 (the deep-learning default, as in
    PyTorch, JAX and MindSpore); NumPy arrays keep their dtype unless ``dtype`` says otherwise. Only numbers
    (bool, integers, floats, complex) are data: strings, None and other objects raise a TypeError naming
    ``name``, ragged nested lists a ValueError."""
    if isinstance(data, Tensor):
        data = data.numpy()
    from_python = not isinstance(data, ARRAY_TYPES)
    try:
        array = np.asarray(data, dtype=dtype)
    except ValueError as error:  # ragged lists, strings that are not numbers
        raise ValueError(f"{name}: cannot make a numeric array of {data!r:.80} ({error}); pass numbers in a "
                         "rectangular nested list, or an ndarray") from None
    if array.dtype.kind not in "biufc":
        raise TypeError(f"{name} must hold numbers (bool, int, float or complex), got {type(data).__name__} "
                        f"{data!r:.80} (NumPy dtype {array.dtype}); pass numeric data, e.g. Tensor([1.0, 2.0])")
    if dtype is None and from_python and array.dtype == np.float64:
        array = array.astype(np.float32)
    return array


_NO_BACKWARD = ("{what}: a softgrad Tensor has no .backward() and no .grad; gradients are returned, not stored on "
                "tensors (MindSpore's functional autodiff). Instead of loss.backward() and reading w.grad, write\n"
                "    grad_fn = softgrad.value_and_grad(forward_fn, None, weights=model.trainable_params())\n"
                "    loss, grads = grad_fn(x, y)   # grads[i]: the gradient of trainable_params()[i]\n"
                "    optimizer(grads)              # or optimizer.step(grads)")

# ----- Tensor -----

_NUMPY_OF_TRACED = ("{what} on a Tensor that is being differentiated would return its value and silently cut the "
                    "gradient path; use softgrad.stop_gradient(x).numpy() for the value as a constant, .item() or "
                    "float(x) for a scalar, or keep computing with softgrad.ops")


class Tensor:
    """An n-dimensional array that softgrad can differentiate.

    >>> import softgrad as sg
    >>> sg.Tensor([[1.0, 2.0], [3.0, 4.0]]).sum()
    Tensor(shape=[], dtype=Float32, value= 10.)
    """

    __slots__ = ("_data", "_trace", "_node", "__weakref__")
    __array_priority__ = 100  # NumPy defers binary operators to Tensor

    def __init__(self, data: Any, dtype: Any = None) -> None:
        self._data = as_array(data, dtype, name="Tensor: data")
        self._trace = 0
        self._node = -1

    # -- what it holds --
    def numpy(self) -> np.ndarray:
        """The concrete ndarray (shared, not copied). Refused while the Tensor is being differentiated: its
        value as an ndarray would silently cut the gradient path (as PyTorch refuses); ``stop_gradient(x).numpy()``
        says that on purpose, and ``.item()`` / ``float(x)`` read a scalar."""
        if self._trace:
            raise TypeError(_NUMPY_OF_TRACED.format(what="numpy()"))
        return self._value()

    asnumpy = numpy

    def _value(self) -> np.ndarray:
        """The concrete ndarray at any trace level (for reading shapes, dtypes and scalars on purpose)."""
        data = self._data
        while isinstance(data, Tensor):
            data = data._data
        return np.asarray(data)

    def __array__(self, dtype=None, copy=None):
        if self._trace:
            raise TypeError(_NUMPY_OF_TRACED.format(what="np.asarray(x)"))
        array = self._value()
        if dtype is not None and array.dtype != dtype:
            return array.astype(dtype)
        return array.copy() if copy else array

    def item(self):
        return self._value().item()

    def tolist(self):
        return self._value().tolist()

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._value().dtype

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
        return bool(self._value())

    def __float__(self) -> float:
        return float(self._value())

    def __int__(self) -> int:
        return int(self._value())

    def __index__(self) -> int:
        return self._value().__index__()

    __hash__ = object.__hash__  # == is elementwise, so hashing is by identity (as in PyTorch)

    def __repr__(self) -> str:
        array = self._value()
        name = _MINDSPORE_DTYPE_NAMES.get(array.dtype.name, array.dtype.name)
        body = np.array2string(array, separator=", ")
        sep = "\n" if array.ndim else " "
        return f"Tensor(shape={list(array.shape)}, dtype={name}, value={sep}{body})"

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"``: a 0-d Tensor formats as its number (as PyTorch); an empty spec is ``str(x)``.

        >>> import softgrad as sg
        >>> f"{sg.Tensor(2.0) / 3:.4f}"
        '0.6667'
        """
        if not spec:
            return str(self)
        if self.shape:
            raise TypeError(f"format spec {spec!r} needs a 0-d Tensor (a scalar), got shape {self.shape}; format "
                            "x.item() for a one-element Tensor, or each entry of x.tolist()")
        return format(self.item(), spec)

    # -- DLPack: zero-copy exchange with NumPy, PyTorch, JAX, CuPy --
    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """The value as a DLPack capsule, sharing its memory: ``np.from_dlpack(x)``, ``torch.from_dlpack(x)``
        and ``torch.as_tensor(x)`` see (and write) the Tensor's own array. Refused while the Tensor is being
        differentiated, as ``numpy()`` is."""
        return self.numpy().__dlpack__(stream=stream, max_version=max_version, dl_device=dl_device, copy=copy)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._value().__dlpack_device__()

    # -- PyTorch's mutable gradients, which softgrad does not have --
    def backward(self, *args, **kwargs):
        """Raises: softgrad returns gradients (``value_and_grad``) instead; the message shows the form."""
        raise TypeError(_NO_BACKWARD.format(what="backward()"))

    @property
    def grad(self):
        """Raises AttributeError showing the ``value_and_grad`` form (there is no ``.grad`` to read)."""
        raise AttributeError(_NO_BACKWARD.format(what=".grad"))

    @grad.setter
    def grad(self, value):
        raise AttributeError(_NO_BACKWARD.format(what=".grad = ..."))

    def __setitem__(self, index, value):
        if self._trace:
            raise TypeError(
                "cannot assign into a Tensor that is being differentiated (index assignment is not traced); "
                "build the new value functionally instead, e.g. ops.where(mask, new, x) or "
                "x + ops.one_hot(...) * delta")
        if isinstance(value, Tensor):
            value = value.numpy()
        self._data[unwrap_index(index)] = value

    if TYPE_CHECKING:  # attached by softgrad.ops._tensor_methods (each is an op), declared here for type checkers
        def __add__(self, other: Operand) -> Tensor: ...
        def __radd__(self, other: Operand) -> Tensor: ...
        def __sub__(self, other: Operand) -> Tensor: ...
        def __rsub__(self, other: Operand) -> Tensor: ...
        def __mul__(self, other: Operand) -> Tensor: ...
        def __rmul__(self, other: Operand) -> Tensor: ...
        def __truediv__(self, other: Operand) -> Tensor: ...
        def __rtruediv__(self, other: Operand) -> Tensor: ...
        def __floordiv__(self, other: Operand) -> Tensor: ...
        def __rfloordiv__(self, other: Operand) -> Tensor: ...
        def __mod__(self, other: Operand) -> Tensor: ...
        def __rmod__(self, other: Operand) -> Tensor: ...
        def __pow__(self, other: Operand) -> Tensor: ...
        def __rpow__(self, other: Operand) -> Tensor: ...
        def __matmul__(self, other: Operand) -> Tensor: ...
        def __rmatmul__(self, other: Operand) -> Tensor: ...
        def __neg__(self) -> Tensor: ...
        def __pos__(self) -> Tensor: ...
        def __abs__(self) -> Tensor: ...
        def __eq__(self, other: Operand) -> Tensor: ...  # type: ignore[override]  # elementwise, as NumPy's
        def __ne__(self, other: Operand) -> Tensor: ...  # type: ignore[override]
        def __lt__(self, other: Operand) -> Tensor: ...
        def __le__(self, other: Operand) -> Tensor: ...
        def __gt__(self, other: Operand) -> Tensor: ...
        def __ge__(self, other: Operand) -> Tensor: ...
        def __and__(self, other: Operand) -> Tensor: ...
        def __or__(self, other: Operand) -> Tensor: ...
        def __xor__(self, other: Operand) -> Tensor: ...
        def __invert__(self) -> Tensor: ...
        def __getitem__(self, index: Any) -> Tensor: ...
        def sum(self, axis: Axis = None, keepdims: bool = False) -> Tensor: ...
        def mean(self, axis: Axis = None, keepdims: bool = False) -> Tensor: ...
        def max(self, axis: Axis = None, keepdims: bool = False) -> Tensor: ...
        def min(self, axis: Axis = None, keepdims: bool = False) -> Tensor: ...
        def prod(self, axis: Axis = None, keepdims: bool = False) -> Tensor: ...
        def argmax(self, axis: int | None = None, keepdims: bool = False) -> Tensor: ...
        def argmin(self, axis: int | None = None, keepdims: bool = False) -> Tensor: ...
        def var(self, axis: Axis = None, keepdims: bool = False, ddof: int = 0) -> Tensor: ...
        def std(self, axis: Axis = None, keepdims: bool = False, ddof: int = 0) -> Tensor: ...
        def logsumexp(self, axis: Axis = None, keepdims: bool = False) -> Tensor: ...
        def reshape(self, *shape: Any) -> Tensor: ...
        def transpose(self, *axes: Any) -> Tensor: ...
        def swapaxes(self, axis1: int, axis2: int) -> Tensor: ...
        def expand_dims(self, axis: Axis) -> Tensor: ...
        def squeeze(self, axis: Axis = None) -> Tensor: ...
        def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor: ...
        def broadcast_to(self, shape: Sequence[int]) -> Tensor: ...
        def astype(self, dtype: Any) -> Tensor: ...
        def copy(self) -> Tensor: ...
        def exp(self) -> Tensor: ...
        def log(self) -> Tensor: ...
        def log1p(self) -> Tensor: ...
        def expm1(self) -> Tensor: ...
        def sqrt(self) -> Tensor: ...
        def square(self) -> Tensor: ...
        def abs(self) -> Tensor: ...
        def sign(self) -> Tensor: ...
        def sin(self) -> Tensor: ...
        def cos(self) -> Tensor: ...
        def tanh(self) -> Tensor: ...
        def sigmoid(self) -> Tensor: ...
        def relu(self) -> Tensor: ...
        def clip(self, lower: Operand | None = None, upper: Operand | None = None) -> Tensor: ...
        def matmul(self, y: Operand) -> Tensor: ...
        def dot(self, b: Operand) -> Tensor: ...
        def cumsum(self, axis: int) -> Tensor: ...
        def cumprod(self, axis: int) -> Tensor: ...
        def tril(self, diagonal: int = 0) -> Tensor: ...
        def triu(self, diagonal: int = 0) -> Tensor: ...
        def diag(self, diagonal: int = 0) -> Tensor: ...
        def trace(self) -> Tensor: ...
        def sort(self, axis: int = -1, descending: bool = False) -> tuple[Tensor, Tensor]: ...
        def argsort(self, axis: int = -1, descending: bool = False) -> Tensor: ...
        def topk(self, k: int, dim: int | None = None, largest: bool = True,
                 sorted: bool = True) -> tuple[Tensor, Tensor]: ...
        def norm(self, ord: Any = None, dim: Axis = None, keepdim: bool = False) -> Tensor: ...
        def detach(self) -> Tensor: ...
        def all(self, axis: Axis = None) -> Tensor: ...
        def any(self, axis: Axis = None) -> Tensor: ...
        def ones_like(self) -> Tensor: ...
        def zeros_like(self) -> Tensor: ...

        @property
        def T(self) -> Tensor: ...  # noqa: N802 (NumPy's name)


#: what Tensor's operators take besides a Tensor: arrays, numbers, nested lists (for type checkers)
Operand = Union[Tensor, npt.ArrayLike]
Axis = Union[int, Sequence[int], None]


def from_dlpack(x) -> Tensor:
    """A Tensor sharing the memory of ``x``, any array that speaks DLPack (``__dlpack__``): a NumPy array, a CPU
    PyTorch tensor (``.detach()`` it first if it requires grad), a JAX array. Zero-copy, as NumPy's
    ``np.from_dlpack``, which it uses; device (GPU) arrays are refused by NumPy naming the device.

    >>> import numpy as np
    >>> a = np.zeros(3, np.float32)
    >>> t = from_dlpack(a)
    >>> a[0] = 5.0
    >>> t
    Tensor(shape=[3], dtype=Float32, value=
    [5., 0., 0.])
    """
    if not hasattr(x, "__dlpack__"):
        raise TypeError(f"from_dlpack: x must be an array with __dlpack__ (NumPy, PyTorch, JAX, ...), got "
                        f"{type(x).__name__} {x!r:.80}; use softgrad.tensor(data) for other data")
    return wrap(np.from_dlpack(x))

def unwrap_index(index):
    """Tensor indices become their ndarrays (indices are never differentiated)."""
    if isinstance(index, Tensor):
        return index._value()
    if isinstance(index, tuple):
        return tuple(i._value() if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray([i._value() if isinstance(i, Tensor) else i for i in index])
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
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Parameter: name must be a str or None, got {type(name).__name__} {name!r}")
        if not isinstance(requires_grad, (bool, np.bool_)):
            raise TypeError(f"Parameter: requires_grad must be True or False, got {type(requires_grad).__name__} "
                            f"{requires_grad!r}")
        # updated in place: never alias the caller's array
        data = as_array(default_input, name="Parameter: default_input").copy(order="K")
        super().__init__(data)
        self.name = name
        self.requires_grad = bool(requires_grad)

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


__all__ = [
    "Tensor", "Parameter", "from_dlpack", "float16", "float32", "float64", "int32", "int64", "bool_",
    "is_float_dtype", "as_shape", "as_array", "unwrap_index", "wrap", "concrete", "is_column_major",
]
