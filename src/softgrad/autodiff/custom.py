"""Custom derivatives: a function whose VJP or JVP is given by hand rather than derived from its ops.

* ``Cell.bprop(self, *inputs, out, dout)`` (MindSpore's): a Cell that defines it is differentiated through it;
  ``construct`` only computes the value. As in MindSpore, the Cell's own Parameters get no gradient from it.
* ``custom_vjp(fn)`` with ``fn.defbwd(bprop)`` (MindSpore's, the same ``bprop(*inputs, out, dout)``) or
  ``fn.defvjp(fwd, bwd)`` (JAX's: ``fwd(*inputs) -> (out, residuals)``, ``bwd(residuals, dout) -> input grads``).
* ``custom_jvp(fn)`` with ``fn.defjvp(rule)`` (JAX's: ``rule(primals, tangents) -> (out, tangent_out)``, linear
  in the tangents): forward mode uses the rule; reverse mode transposes it (one reverse sweep over the rule).

Each becomes one primitive, made for that function: its forward runs the function on values, its rules are the
hand-written ones. They are written with softgrad ops, so inside an outer transform they are traced like any
rule: higher orders go through the custom rule, exactly where it is differentiable.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from softgrad.ops._primitive import shape_of
from softgrad.autodiff.forward import linear_transpose
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


def custom_jvp_primitive(name: str, fn: Callable, rule: Callable, arity: int) -> Primitive:
    """A primitive of ``arity`` inputs computing ``fn``, with the forward rule ``rule(primals, tangents) ->
    (out, tangent_out)`` (zeros for inputs without a tangent) and, for reverse mode, its transpose."""

    def impl(*values):
        return concrete(fn(*[_as_tensor(v) for v in values]))

    def tangent_out(values, tangents):
        result = rule(tuple(_as_tensor(v) for v in values), tuple(_as_tensor(t) for t in tangents))
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise ValueError(f"{name}: the custom jvp rule must return (primal_out, tangent_out), got "
                             f"{type(result).__name__}")
        return _as_value(result[1])

    def jvp(tangents, ans, *values):
        zeros = [np.zeros(shape_of(v), concrete(v).dtype) if t is None else t for t, v in zip(tangents, values)]
        return tangent_out(values, zeros)

    last = [None, None, None]  # (g, ans, cotangents) of the latest backward: one transpose serves every input

    def cotangents(g, ans, values):
        if last[0] is not g or last[1] is not ans:
            zeros = [np.zeros(shape_of(v), concrete(v).dtype) for v in values]
            swept = linear_transpose(lambda *ts: [tangent_out(values, ts)], zeros, [g])
            last[:] = g, ans, [zero if ct is None else ct for ct, zero in zip(swept, zeros)]
        return last[2]

    def rule_for(i):
        return lambda g, ans, *values: cotangents(g, ans, values)[i]

    return Primitive(f"custom_jvp[{name}]", impl, tuple(rule_for(i) for i in range(arity)), jvp=jvp,
                     register=False)


class custom_jvp:  # noqa: N801  (JAX's name)
    """JAX's ``@custom_jvp`` on a function of Tensors, then ``f.defjvp(rule)`` (also as a decorator):
    ``rule(primals, tangents)`` returns ``(fn(*primals), J·tangents)``, linear in the tangents. ``jvp``,
    ``jacfwd`` and ``linearize`` call the rule; ``grad``, ``vjp`` and ``jacrev`` transpose it. Calling ``f``
    outside a transform just runs it.

    >>> import softgrad as sg
    >>> @custom_jvp
    ... def log1pexp(x):
    ...     return sg.ops.log(1.0 + sg.ops.exp(x))
    >>> @log1pexp.defjvp
    ... def log1pexp_jvp(primals, tangents):
    ...     (x,), (t,) = primals, tangents
    ...     return log1pexp(x), t * sg.ops.sigmoid(x)
    >>> sg.grad(lambda x: log1pexp(x).sum())(sg.Tensor([0.0, 2.0]))  # the rule's σ(x), transposed
    Tensor(shape=[2], dtype=Float32, value=
    [0.5     , 0.880797])
    """

    def __init__(self, fn: Callable):
        if not callable(fn):
            raise TypeError(f"custom_jvp: fn must be a function, got {type(fn).__name__}")
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", "custom_jvp")
        self.__doc__ = getattr(fn, "__doc__", None)
        self._primitives: dict[int, Primitive] = {}
        self._rule: Callable | None = None

    def defjvp(self, rule: Callable) -> Callable:
        """``rule(primals, tangents) -> (primal_out, tangent_out)``; returns the rule (usable as a decorator)."""
        if not callable(rule):
            raise TypeError(f"custom_jvp {self.__name__}: defjvp takes the rule, a function, got "
                            f"{type(rule).__name__}")
        self._rule = rule
        self._primitives.clear()
        return rule

    def __call__(self, *args):
        if self._rule is None:
            raise TypeError(f"custom_jvp {self.__name__}: define its rule first with .defjvp(rule)")
        prim = self._primitives.get(len(args))
        if prim is None:
            prim = self._primitives[len(args)] = custom_jvp_primitive(self.__name__, self.fn, self._rule, len(args))
        out = prim.bind(*args)
        return out if isinstance(out, Tensor) else wrap(out)


__all__ = ["custom_primitive", "call_with_bprop", "custom_vjp", "custom_jvp_primitive", "custom_jvp"]
