"""Forward mode: J·t pushed through a call beside its values, with no tape.

``push_forward(fn, primals, tangents)`` opens a trace level without a tape (``softgrad.trace.new_forward_level``):
a Tensor traced at it holds its primal (the value below the level) in ``_data`` and its tangent
in ``_node`` (None: zero), and every primitive applied to one computes its output's tangent from its arguments'
with its ``jvp`` rule. Rules run on the values below the level, so forward mode nests with reverse mode in both
orders (jvp of grad: Hessian-vector products; grad of jvp) and with itself, any depth. ``forward_sweep`` runs the
same rules over a recorded tape (``linearize``: the values are computed once, each J·v is one sweep).

Tangents may carry leading batch axes (``batch``; ``jacfwd`` pushes every basis vector at once): a ``batchable``
primitive takes them in one call, any other is called once per batch row.

A primitive without a forward rule (every registered one has one; a ``custom_vjp`` function's has only its
hand-written VJP) is differentiated by transposing its VJPs: t ↦ Σᵢ Jᵢtᵢ is the gradient over g of
Σᵢ ⟨vjpᵢ(g), tᵢ⟩, one small reverse sweep over its rules.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from softgrad.autodiff.backward import backward
from softgrad.ops._primitive import shape_of
from softgrad.ops.reductions import broadcast_to_p, sum_p, unbroadcast
from softgrad.ops.shape import stack
from softgrad.tensor import Tensor, concrete, wrap
from softgrad.trace import CHECKS, Primitive, check_value, close_level, lift, new_forward_level, new_level, traced


def push_forward(fn: Callable, primals: Sequence, tangents: Sequence, batch: tuple[int, ...] = ()):
    """``(fn(*boxed), level)``: fn called on the primals boxed with their tangents (each ``batch + shape`` of its
    primal, or None) at a new forward level; read its outputs with ``primal_and_tangent``."""
    level = new_forward_level(_interpreter(batch))
    try:
        return fn(*[traced(p, level, t) for p, t in zip(primals, tangents)]), level
    finally:
        close_level(level)


def primal_and_tangent(value, level: int, batch: tuple[int, ...] = ()) -> tuple:
    """An output of ``push_forward`` as (its value, its tangent): zeros where it does not depend on the inputs."""
    if isinstance(value, Tensor) and value._trace == level:
        primal, tangent = wrap(value._data), value._node
    else:
        primal, tangent = wrap(value), None
    if tangent is None:
        tangent = np.zeros(batch + shape_of(primal), np.asarray(concrete(primal)).dtype)
    return primal, wrap(tangent)


def _interpreter(batch: tuple[int, ...]) -> Callable:
    def interpret(prim: Primitive, level: int, args, params):
        primals, tangents = [], []
        for a in args:
            if isinstance(a, Tensor) and a._trace == level:
                primals.append(a._data)
                tangents.append(a._node)
            else:
                primals.append(a)
                tangents.append(None)
        ans = prim.bind(*primals, **params)
        if prim.vjps is None:  # not differentiable: a constant at this level
            return wrap(ans)
        tangent = tangent_of(prim, tangents, ans, primals, params, batch)
        return wrap(ans) if tangent is None else traced(ans, level, tangent)

    return interpret


def tangent_of(prim: Primitive, tangents: list, ans, args, params, batch: tuple[int, ...] = ()):
    """The tangent of ``prim``'s output ``ans`` (``batch + ans.shape``) from its arguments' (None: zero, and then
    None if all are)."""
    tangents = [None if rule is None else t for t, rule in zip(tangents, prim.vjps)]
    if all(t is None for t in tangents):
        return None
    if batch and not prim.batchable:
        return _row_by_row(prim, tangents, ans, args, params, batch)
    if prim.jvp is not None:
        tangent = prim.jvp(tangents, ans, *args, **params)
    else:
        tangent = _transposed_vjp(prim, tangents, ans, args, params, batch)
    if tangent is None:
        return None
    expected = batch + shape_of(ans)
    if shape_of(tangent) != expected:
        tangent = broadcast_to_p.bind(tangent, shape=expected)
    if CHECKS["nan"] or CHECKS["inf"]:
        check_value(tangent, lambda: f"the forward rule of '{prim.name}'", tuple(args))
    return tangent


def _row_by_row(prim, tangents, ans, args, params, batch):
    """``tangent_of`` for each batch row of the tangents, stacked (a rule that takes one tangent at a time)."""
    n = int(np.prod(batch, dtype=np.int64))
    flat = [None if t is None else t.reshape((n,) + shape_of(x)) for t, x in zip(tangents, args)]
    rows = [tangent_of(prim, [None if f is None else f[b] for f in flat], ans, args, params) for b in range(n)]
    zero = np.zeros(shape_of(ans), concrete(ans).dtype)
    if not rows:
        return np.zeros(batch + shape_of(ans), zero.dtype)
    return stack([zero if r is None else r for r in rows]).reshape(batch + shape_of(ans))


def _transposed_vjp(prim, tangents, ans, args, params, batch):
    """Σᵢ Jᵢtᵢ: the transpose of g ↦ (vjpᵢ(g))ᵢ applied to the tangents."""
    def cotangents(g):
        h = g if prim.output_vjp is None else prim.output_vjp(g, ans, None, **params)  # (a fused activation's f')
        return [None if t is None else unbroadcast(rule(h, ans, *args, **params), shape_of(x), len(batch))
                for rule, t, x in zip(prim.vjps, tangents, args)]

    return linear_transpose(cotangents, [np.zeros(batch + shape_of(ans), concrete(ans).dtype)], tangents)[0]


def linear_transpose(linear: Callable, inputs: list, cotangents: list) -> list:
    """Lᵀu for a linear map ``linear(*xs) -> [outputs]``: the gradient over xs of Σⱼ ⟨outputⱼ, uⱼ⟩, by one reverse
    sweep at ``inputs`` (arrays of the shapes L takes; L being linear, their values do not matter). None where
    the outputs do not depend on an input. Traced below, so it is differentiable again."""
    level, tape = new_level()
    try:
        boxes = [lift(x, level, tape) for x in inputs]
        total = None
        for out, u in zip(linear(*boxes), cotangents):
            if out is not None and u is not None:
                term = sum_p.bind(out * u, axis=None, keepdims=False)
                total = term if total is None else total + term
    finally:
        close_level(level)
    if not (isinstance(total, Tensor) and total._trace == level):
        return [None] * len(boxes)
    swept = backward(tape, {total._node: np.ones((), concrete(total).dtype)})
    return [swept[box._node] for box in boxes]


def forward_sweep(tape: list, tangents: dict[int, object], batch: tuple[int, ...] = ()) -> list:
    """The tangent of every entry of a recorded tape (None: zero) from those of some entries (node → value): one
    pass in creation order with each primitive's forward rule."""
    out: list = [None] * len(tape)
    for node, tangent in tangents.items():
        out[node] = tangent
    for node, (prim, ans, args, params, parents) in enumerate(tape):
        if prim is not None:
            out[node] = tangent_of(prim, [out[p] if p >= 0 else None for p in parents], ans, args, params, batch)
    return out


__all__ = ["push_forward", "primal_and_tangent", "tangent_of", "linear_transpose", "forward_sweep"]
