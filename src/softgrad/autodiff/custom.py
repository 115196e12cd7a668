"""Custom gradients: a function whose VJP is given by hand rather than derived from its ops.

* ``Cell.bprop(self, *inputs, out, dout)`` (MindSpore's): a Cell that defines it is differentiated through it;
  ``construct`` only computes the value. As in MindSpore, the Cell's own Parameters get no gradient from it.
* ``custom_vjp(fn)`` with ``fn.defbwd(bprop)`` (MindSpore's, the same ``bprop(*inputs, out, dout)``) or
  ``fn.defvjp(fwd, bwd)`` (JAX's: ``fwd(*inputs) -> (out, residuals)``, ``bwd(residuals, dout) -> input grads``).

Both become one primitive, made for that function: its forward runs the function on values, its rule for input
i is entry i of what the backward returns. The backward is written with softgrad ops, so inside an outer transform
it is traced like any rule: higher orders go through the custom rule, exactly where it is differentiable.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from softgrad.ops._primitive import shape_of
from softgrad.tensor import Tensor, concrete, wrap
from softgrad.trace import Primitive


def _as_value(x):
    """A backward's result as a rule's cotangent: an untraced Tensor's ndarray, a traced one as it is."""
    return x._data if isinstance(x, Tensor) and not x.is_traced else x


def _as_tensor(x):
    return x if isinstance(x, Tensor) else wrap(x)


def custom_primitive(name: str, forward: Callable, backward: Callable, arity: int) -> Primitive:
    """A primitive of ``arity`` inputs: ``forward(*inputs) -> out``; ``backward(inputs, out, dout) -> tuple`` with one
    cotangent per input (checked: a tuple or list of that length, each of its input's shape, or None for 0)."""

    def impl(*values):
        return concrete(forward(*[_as_tensor(v) for v in values]))

    last = [None, None, None]  # (g, ans, gradients) of the latest backward: one call serves every input's rule

    def gradients(g, ans, values):
        if last[0] is not g or last[1] is not ans:
            last[:] = g, ans, _checked(name, backward([_as_tensor(v) for v in values], _as_tensor(ans),
                                                      _as_tensor(g)), values)
        return last[2]

    def rule(i):
        def vjp(g, ans, *values):
            return _as_value(gradients(g, ans, values)[i])

        return vjp

    return Primitive(f"custom_vjp[{name}]", impl, tuple(rule(i) for i in range(arity)), register=False)


def _checked(name: str, grads, values) -> tuple:
    """What a custom backward returned, checked as MindSpore checks a bprop's result."""
    if not isinstance(grads, (tuple, list)):
        grads = (grads,) if len(values) == 1 else grads
    if not isinstance(grads, (tuple, list)) or len(grads) != len(values):
        got = f"{len(grads)} value(s)" if isinstance(grads, (tuple, list)) else type(grads).__name__
        raise ValueError(f"{name}: the custom backward (bprop) must return one gradient per input, a tuple of "
                         f"{len(values)}; got {got}")
    checked = []
    for i, (g, v) in enumerate(zip(grads, values)):
        if g is None:
            g = np.zeros(shape_of(v), concrete(v).dtype)
        if shape_of(g) != shape_of(v):
            raise ValueError(f"{name}: the custom backward's gradient {i} has shape {shape_of(g)}, but "
                             f"input {i} has shape {shape_of(v)}")
        checked.append(g)
    return tuple(checked)


def call_with_bprop(cell, args):
    """``cell(*args)`` for a Cell that defines ``bprop``: one custom primitive per Cell and arity."""
    cache = cell.__dict__.setdefault("_bprop_primitives", {})
    prim = cache.get(len(args))
    if prim is None:
        name = type(cell).__name__
        prim = cache[len(args)] = custom_primitive(
            name, cell.construct, lambda inputs, out, dout: cell.bprop(*inputs, out, dout), len(args))
    return prim.bind(*args)


class custom_vjp:  # noqa: N801  (MindSpore's and JAX's name)
    """``@custom_vjp`` on a function of Tensors, then ``f.defbwd(bprop)`` (MindSpore: ``bprop(*inputs, out, dout)``
    returns one gradient per input) or ``f.defvjp(fwd, bwd)`` (JAX). Calling ``f`` outside a transform just runs it.

    >>> import softgrad as sg
    >>> @custom_vjp
    ... def clipped_identity(x):
    ...     return x * 1.0
    >>> clipped_identity.defbwd(lambda x, out, dout: (sg.ops.clip(dout, -1.0, 1.0),))
    >>> sg.grad(lambda x: (clipped_identity(x) * 5.0).sum())(sg.Tensor([1.0, 2.0]))
    Tensor(shape=[2], dtype=Float32, value=
    [1., 1.])
    """

    def __init__(self, fn: Callable):
        if not callable(fn):
            raise TypeError(f"custom_vjp: fn must be a function, got {type(fn).__name__}")
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", "custom_vjp")
        self.__doc__ = getattr(fn, "__doc__", None)
        self._primitives: dict[int, Primitive] = {}
        self._backward: Callable | None = None
        self._forward: Callable = fn

    def defbwd(self, bprop: Callable) -> None:
        """MindSpore's form: ``bprop(*inputs, out, dout)`` returns the inputs' gradients."""
        self._define(self.fn, lambda inputs, out, dout: bprop(*inputs, out, dout))

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        """JAX's form: ``fwd(*inputs) -> (out, residuals)``; ``bwd(residuals, dout)`` returns the inputs' gradients.
        (softgrad recomputes ``fwd`` in the backward to get the residuals of the call.)"""
        self._define(lambda *inputs: fwd(*inputs)[0], lambda inputs, out, dout: bwd(fwd(*inputs)[1], dout))

    def _define(self, forward: Callable, backward: Callable) -> None:
        self._forward, self._backward = forward, backward
        self._primitives.clear()

    def __call__(self, *args):
        if self._backward is None:
            raise TypeError(f"custom_vjp {self.__name__}: define its backward first with .defbwd(bprop) or "
                            ".defvjp(fwd, bwd)")
        prim = self._primitives.get(len(args))
        if prim is None:
            prim = self._primitives[len(args)] = custom_primitive(self.__name__, self._forward, self._backward,
                                                                  len(args))
        out = prim.bind(*args)
        return out if isinstance(out, Tensor) else wrap(out)


__all__ = ["custom_primitive", "call_with_bprop", "custom_vjp"]
