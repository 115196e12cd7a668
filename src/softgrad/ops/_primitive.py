"""How an op is declared, and the helpers every op file shares.

One op is, in one file, side by side:

1. its ``Primitive`` (``softgrad.trace``): the NumPy forward, one VJP rule per argument, its flags
   (``batchable``, ``output_vjp``), its forward-mode rule ``jvp`` (J·t from the arguments' tangents), the slot for
   a batching rule, and the ``samples`` the registry's gradient test differentiates it at;
2. its public function, a plain ``def`` decorated with ``@op``: the real signature and a docstring that states
   the math (``∂/∂x = …``) with a ``>>>`` example; its body checks the arguments and binds the primitive.

>>> import numpy as np
>>> from softgrad.trace import Primitive
>>> cube_p = Primitive("cube_example", lambda x: x ** 3, (lambda g, ans, x: g * (3 * x * x),),
...                    batchable=True, jvp=lambda ts, ans, x: ts[0] * (3 * x * x), samples=[Sample(In((3,)))])
>>> @op
... def cube(x):
...     '''x³.  ∂/∂x = 3x²'''
...     return cube_p.bind(x)
>>> cube([1.0, 2.0])
Tensor(shape=[2], dtype=Float32, value=
[1., 8.])

Rules are written over *values* (ndarrays, or traced Tensors in higher-order use) with operators, ndarray
methods (``.sum .reshape .swapaxes .astype``) and ``other_p.bind(...)``; so one rule serves first order at
NumPy speed and any higher order by tracing itself. Broadcasting is undone in one place, the backward sweep
(``reductions.unbroadcast``): a binary rule returns its cotangent at the broadcast shape.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from sys import getrefcount
from typing import Any, Callable, ParamSpec, overload

import numpy as np

from softgrad._refcounts import EXACT
from softgrad.tensor import ARRAY_TYPES, Tensor, as_array, concrete, float16, float32, wrap
from softgrad.trace import batch_axes, fold_into_producer

P = ParamSpec("P")
_VALUE_TYPES = (Tensor,) + ARRAY_TYPES

# ----- the public op -----


@overload
def op(fn: Callable[P, Any], *, data: int | None = None) -> Callable[P, Tensor]: ...


@overload
def op(fn: None = None, *, data: int | None = None) -> Callable[[Callable[P, Any]], Callable[P, Tensor]]: ...


def op(fn=None, *, data=None):
    """Declare a public op (``@op``, or ``@op(data=n)``). ``fn`` computes on values (binding primitives or
    composing other ops); the op keeps fn's name, signature and docstring, and

    * converts Python data once, on the way in: when no Tensor or array is among the arguments, its data
      arguments become arrays as ``Tensor(data)`` makes them (floats float32), so ``ops.sum([1.0, 2.0])`` and
      ``ops.transpose([[1.0, 2.0]])`` are float32 like ``Tensor([1.0, 2.0]).sum()``. The data arguments are
      the first ``data`` positional ones: by default, the leading positional parameters without a default
      (say ``data=1`` for ``broadcast_to(x, shape)``, whose ``shape`` is not data);
    * returns a Tensor (a tuple of Tensors for a tuple), wrapping NumPy results without a copy.
    """
    if fn is None:
        return functools.partial(op, data=data)
    count = _data_parameter_count(fn) if data is None else data

    @functools.wraps(fn)
    def public(*args, **kwargs):
        for a in args:
            if isinstance(a, _VALUE_TYPES):
                break
        else:
            args = tuple(python_data(a) for a in args[:count]) + args[count:]
        try:
            out = fn(*args, **kwargs) if kwargs else fn(*args)  # (no empty dict made: the per-op cost)
        except TypeError as error:  # (free until raised) say which argument is not data, if one is not
            _raise_for_non_numeric(fn, count, args, kwargs, error)
            raise
        if isinstance(out, Tensor):
            return out
        return tuple(map(wrap, out)) if isinstance(out, tuple) else wrap(out)

    return public


def folded(prim, x, in_place) -> bool:
    """Whether the activation ``prim`` (its op's argument x) was applied to x in x's own memory and recorded as
    the activation of the entry that made x (``trace.fold_into_producer``: ``relu(conv2d(x, w, bias=b))`` by hand
    becomes the fused convolution). Only for an x that nothing but this op call holds: a temporary passed
    positionally, such as the convolution's result written inside the call (a Tensor that a variable, a
    container or a keyword also holds counts more references; ``softgrad._refcounts``)."""
    return type(x) is Tensor and getrefcount(x) == _SOLE_ARGUMENT and fold_into_producer(prim, x, in_place)


def _raise_for_non_numeric(fn, count: int, args, kwargs, error: TypeError) -> None:
    """After a TypeError inside op ``fn``: raise one naming the argument that is not numeric (a string, None as
    data, another object), the value and what to pass, if there is such an argument; else return."""
    names = fn.__code__.co_varnames
    named = [(names[i] if i < fn.__code__.co_argcount else f"argument {i}", a, i < count) for i, a in enumerate(args)]
    named += [(name, a, False) for name, a in kwargs.items()]
    for name, value, is_data in named:
        if isinstance(value, _VALUE_TYPES + (bool, int, float, complex, list, tuple, type, np.dtype)):
            continue
        if value is None and not is_data:
            continue
        if callable(value) and not isinstance(value, (str, bytes)):
            continue
        if name in str(error) and repr(value)[:60] in str(error):  # the error says it already
            return
        if is_data:
            raise TypeError(f"{fn.__name__}: {name} must be a Tensor, an array or a number, got "
                            f"{type(value).__name__} {value!r:.60}") from error
        raise TypeError(f"{fn.__name__}: {name}={value!r:.60} ({type(value).__name__}) is not a valid value: "
                        f"{error}; see help(softgrad.ops.{fn.__name__})") from error


def _data_parameter_count(fn) -> int:
    """How many leading positional parameters of ``fn`` have no default: the op's data arguments."""
    return fn.__code__.co_argcount - len(fn.__defaults__ or ())


def check_numeric(fn: str, **arguments) -> None:
    """Raise unless each argument is a Tensor, an array, a number or a list (for ops that NumPy would apply to
    any object, such as the logical ones: ``np.logical_not(None)`` is True)."""
    for name, value in arguments.items():
        if not isinstance(value, _VALUE_TYPES + (bool, int, float, complex, list, tuple)):
            raise TypeError(f"{fn}: {name} must be a Tensor, an array or a number, got {type(value).__name__} "
                            f"{value!r:.60}")


def python_data(a):
    """Python numbers and lists as ``Tensor(data)`` converts them (floats to float32); anything else as it is."""
    return as_array(a) if isinstance(a, (list, tuple, float, int)) and not isinstance(a, bool) else a


def _references(x) -> int:
    return getrefcount(x)  # (the same call form as in ``folded``)


@op
def _argument_references(x):
    return _references(x)


#: What ``getrefcount`` reads in ``folded`` for an op's argument that is a temporary of the caller's expression.
_SOLE_ARGUMENT = int(_argument_references(wrap(np.empty(0)))) if EXACT else -1


# ----- samples: where the registry's gradient test differentiates a primitive -----

#: name -> (low, high) magnitudes and sign of the values drawn (see ``In``)
DOMAINS = {
    "real": None,  # standard normal
    "positive": (0.5, 2.0),
    "nonzero": (0.3, 2.0),  # either sign, |x| ≥ 0.3: away from a kink or pole at 0
    "unit": (0.05, 0.95),  # inside (0, 1): probabilities
}


@dataclass(frozen=True)
class In:
    """A differentiable float64 input of ``shape`` drawn from ``domain`` (a key of ``DOMAINS``)."""

    shape: tuple[int, ...]
    domain: str = "real"

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        bounds = DOMAINS[self.domain]
        if bounds is None:
            return rng.standard_normal(self.shape)
        values = rng.uniform(*bounds, self.shape)
        return values * rng.choice([-1.0, 1.0], self.shape) if self.domain == "nonzero" else values


class Sample:
    """Arguments at which to check a primitive's rules: ``Sample(*args, order=2, build=None, **params)``.

    Each positional argument is an ``In`` (differentiated where the primitive has a rule for it) or a constant;
    ``params`` are its keyword parameters. ``order``: the highest derivative order to check (2 unless the rule
    is not itself differentiable there). ``build``, when given, maps the drawn inputs to the primitive's full
    argument list (for primitives whose arguments derive from one another, such as ``cross_entropy``'s kept
    exponentials); it is traced with them."""

    __slots__ = ("args", "params", "order", "build")

    def __init__(self, *args, order: int = 2, build: Callable | None = None, **params):
        self.args, self.params, self.order, self.build = args, params, order, build

    def __repr__(self) -> str:
        return f"Sample{self.args + tuple(f'{k}={v!r}' for k, v in self.params.items())}"


# ----- axes and shapes -----


def normalize_axis(axis, ndim: int) -> tuple[int, ...] | None:
    """``axis`` (None, int or sequence) as a sorted tuple of non-negative ints, or None for all axes."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for an array of {ndim} dimension(s)")
        out.append(int(a) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"axis {axis} repeats an axis")
    return tuple(sorted(out))


def kept_shape(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> tuple[int, ...]:
    """The shape a reduction over ``axes`` has with ``keepdims=True``."""
    if axes is None:
        return (1,) * len(shape)
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def batch_shape(g, ans) -> tuple[int, ...]:
    """The leading axes g has beyond ans's shape (empty outside a batched sweep; see Primitive.batchable)."""
    g_shape = shape_of(g)
    return g_shape[:len(g_shape) - len(shape_of(ans))]


def aligned(t, x, ndim: int):
    """A tangent of x (``batch + x.shape``) with x's axes where broadcasting x to ``ndim`` axes puts them, so that
    its batch axes stay in front of everything in an elementwise rule (None stays None)."""
    if t is None:
        return None
    t_shape, x_shape = shape_of(t), shape_of(x)
    lead, pad = len(t_shape) - len(x_shape), ndim - len(x_shape)
    if not lead or pad <= 0:
        return t
    return t.reshape(t_shape[:lead] + (1,) * pad + x_shape)


def tangent_sum(tangents, args, ans, *maps):
    """Σᵢ mapsᵢ(tᵢ) over the arguments that have a tangent, each ``aligned``: the forward rule of an elementwise
    primitive, where ``mapsᵢ`` multiplies by ∂ans/∂argᵢ (None: not differentiable in that argument)."""
    total = None
    for t, x, linear in zip(tangents, args, maps):
        if t is not None and linear is not None:
            term = linear(aligned(t, x, len(shape_of(ans))))
            total = term if total is None else total + term
    return total


def multilinear(primitive: Callable):
    """The forward rule of a primitive linear in each argument (a product, a convolution): Σᵢ f(…, ṫᵢ, …).
    ``primitive()`` returns the primitive (a lambda, so that a declaration can name the primitive it makes)."""
    def jvp(tangents, ans, *args, **params):
        total = None
        for i, t in enumerate(tangents):
            if t is not None:
                term = primitive().bind(*args[:i], t, *args[i + 1:], **params)
                total = term if total is None else total + term
        return total

    return jvp


def jvp_from_vjps(*vjps):
    """The forward rule of a primitive whose Jacobian in each argument is diagonal (elementwise, after
    broadcasting) or, for one argument of the output's shape, symmetric (softmax): Jᵢtᵢ = Jᵢᵀtᵢ, its VJP
    applied to the tangent."""
    def jvp(tangents, ans, *args, **params):
        return tangent_sum(tangents, args, ans, *[None if vjp is None else _applied(vjp, ans, args, params)
                                                  for vjp in vjps])

    return jvp


def _applied(vjp, ans, args, params):
    return lambda t: vjp(t, ans, *args, **params)


def batched_axis(axis, g, ans):
    """``axis`` of ans (an int, a tuple, or None: all) as an axis of g, which may carry leading batch axes
    (Primitive.batchable)."""
    lead = len(batch_shape(g, ans))
    if axis is None:
        return tuple(range(lead, len(shape_of(g))))
    return lead + axis if isinstance(axis, int) else tuple(lead + a for a in axis)


def shape_of(x) -> tuple[int, ...]:
    """The shape of a value: an ndarray, NumPy scalar, Tensor, or Python number/list."""
    try:
        return x.shape
    except AttributeError:
        return np.shape(x)


def number(fn: str, name: str, value) -> float:
    """A hyperparameter of ``fn`` as a float; a Tensor being differentiated is refused (it has no rule, so its
    gradient would silently be 0)."""
    if isinstance(value, Tensor) and value.is_traced:
        raise TypeError(f"{fn}: {name} is a constant of this op and is not differentiated; pass a number (or "
                        f"stop_gradient({name}) to use its value)")
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number, Tensor, np.ndarray)) \
            or np.size(concrete(value)) != 1:
        raise TypeError(f"{fn}: {name} must be a number, got {type(value).__name__} {value!r:.60}")
    return float(concrete(value))


def refuse_batched(fn: str, indices) -> None:
    """Raise if integer ``indices`` differ from example to example inside vmap: a gather by batched indices has
    no batching rule yet (its concrete value would silently index every example's rows at once)."""
    if batch_axes(indices):
        raise NotImplementedError(f"vmap: {fn} by indices that differ from example to example is not supported "
                                  "yet; gather with take, take_along_axis or embedding (which batch), or multiply by "
                                  "one_hot(indices, n)")


def first_index(mask: np.ndarray) -> tuple[int, ...]:
    """The index of the first True entry of ``mask`` (for error messages: "got v at index i")."""
    return tuple(int(i) for i in np.argwhere(mask)[0]) if mask.ndim else ()


# ----- float16 in, float32 inside, float16 out -----


def _is_half(value) -> bool:
    return getattr(concrete(value), "dtype", None) == float16


def in_float32(*values):
    """``(values, dtype)``: if any value is float16, the float16 ones converted (traced) to float32 and
    ``dtype = float16`` (hand it to ``cast_back``); otherwise the values unchanged and ``dtype = None``.
    (The exponentials and sums of the softmax family, and x² in GELU, leave float16's range long before their
    results do.)"""
    if not any(map(_is_half, values)):
        return values, None
    from softgrad.ops.shape import astype_p  # (shape's ops use this module's helpers)

    return tuple(astype_p.bind(v, dtype=np.dtype(float32)) if _is_half(v) else v for v in values), float16


def cast_back(out, dtype):
    """A result converted (traced) back to float16 when ``in_float32`` said so (values beyond float16's range
    round to ±inf, as float16 arithmetic would)."""
    if dtype is None:
        return out
    from softgrad.ops.shape import astype_p

    with np.errstate(over="ignore"):
        return astype_p.bind(out, dtype=np.dtype(dtype))
