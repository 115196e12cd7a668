"""How each primitive vectorises: its batching rule, for ``vmap`` (``softgrad.autodiff.vmap``).

A rule ``rule(args, batched, **params)`` receives the primitive's arguments one level below ``vmap`` — the
batched ones (``batched[i]`` True) carry the examples stacked on a new leading axis 0, the others are one
value shared by every example — and returns the output for every example, stacked on axis 0. Rules bind
primitives (``prim.bind``), so they work on traced values too: ``vmap`` composes with ``grad`` both ways.

Most primitives fall into a few families, each one rule here (JAX's ``batching`` module has the same
families): elementwise with broadcasting (the batched arguments get length-1 axes after the batch axis, so
that broadcasting aligns the examples' axes), reductions and axis-wise ops (the axis moves up by one),
shape ops (the batch axis is prepended to the shape, the permutation, the index), and the ``N``-batched
kernels (``matmul``, ``dense``, ``conv2d``, pooling: the examples' batches merge into one). A primitive
without a rule (``conv2d_weight``, ``solve``) runs once per example (``vmap``'s documented fallback); ``BATCH_RULES`` lists the rules by
primitive name (the families ``concat[n]`` and ``einsum[n]`` by their base name).
"""

from __future__ import annotations

import string


from softgrad.ops._primitive import shape_of
from softgrad.ops.reductions import broadcast_to_p
from softgrad.ops.shape import _batched_index, reshape_p, transpose_p

# ----- helpers -----


def _size(args, batched) -> int:
    return next(shape_of(a)[0] for a, b in zip(args, batched) if b)


def _with_rank(value, rank: int):
    """A batched value (B, *s) as (B, 1, …, 1, *s) with ``rank`` axes after the batch axis, so that broadcasting
    against the shared values (aligned on the right) matches the examples' axes."""
    shape = shape_of(value)
    missing = rank - (len(shape) - 1)
    return reshape_p.bind(value, shape=shape[:1] + (1,) * missing + shape[1:]) if missing > 0 else value


def _example_ndim(value, is_batched: bool) -> int:
    return len(shape_of(value)) - is_batched


def _spread(value, size: int):
    """A shared value repeated (as a view) for every example: (B, *shape)."""
    return broadcast_to_p.bind(value, shape=(size,) + tuple(shape_of(value)))


def _move_up(axis, ndim: int):
    """An axis parameter of one example (int, tuple, or None for all) as the axis of the stacked examples."""
    if axis is None:
        return tuple(range(1, ndim + 1))
    if isinstance(axis, tuple):
        return tuple(a % ndim + 1 for a in axis)
    return axis % ndim + 1


# ----- the families -----


def elementwise(prim):
    """Elementwise with broadcasting (any arity; None arguments pass through): f over aligned examples."""

    def rule(args, batched, **params):
        rank = max(_example_ndim(a, b) for a, b in zip(args, batched) if a is not None)
        return prim.bind(*[_with_rank(a, rank) if b else a for a, b in zip(args, batched)], **params)

    return rule


def axis_wise(prim, name: str = "axis"):
    """A reduction or scan of one input over ``params[name]`` (None: all axes): the axis moves up by one."""

    def rule(args, batched, **params):
        (x, *rest), ndim = args, _example_ndim(args[0], True)
        params[name] = _move_up(params[name], ndim)
        return prim.bind(x, *rest, **params)

    return rule


def flat_arg(prim):
    """argmax / argmin: axis None means the flattened example, so flatten each example first."""

    def rule(args, batched, axis, keepdims):
        (x,) = args
        shape = shape_of(x)
        if axis is not None:
            return prim.bind(x, axis=_move_up(axis, len(shape) - 1), keepdims=keepdims)
        flat = prim.bind(reshape_p.bind(x, shape=(shape[0], -1)), axis=1, keepdims=False)
        return reshape_p.bind(flat, shape=(shape[0],) + (1,) * (len(shape) - 1)) if keepdims else flat

    return rule


def merged_batch(prim, *, merged: tuple[int, ...] = (0,), shape_param: str | None = None):
    """Kernels over a leading N axis (``conv2d``, its transposes, pooling): the examples' (B, N, …) merge into
    (B·N, …). ``merged``: the arguments with an N axis (a shared one is spread over the examples first); a
    ``shape_param`` (the input shape a transpose produces) gets B·N too. Another argument batched (a per-example
    kernel) has no such merge: None, and ``vmap`` runs the primitive once per example."""

    def rule(args, batched, **params):
        if any(b for i, b in enumerate(batched) if i not in merged):
            return None
        size = _size(args, batched)
        args = list(args)
        for i in merged:
            a = args[i] if batched[i] else _spread(args[i], size)
            shape = shape_of(a)
            args[i] = reshape_p.bind(a, shape=(shape[0] * shape[1],) + shape[2:])
        if shape_param is not None:
            params[shape_param] = (size * params[shape_param][0],) + tuple(params[shape_param][1:])
        out = prim.bind(*args, **params)
        out_shape = shape_of(out)
        return reshape_p.bind(out, shape=(size, out_shape[0] // size) + out_shape[1:])

    return rule


# ----- the rules of particular primitives -----


def _reshape(args, batched, shape):
    (x,) = args
    return reshape_p.bind(x, shape=shape_of(x)[:1] + tuple(shape))


def _transpose(args, batched, axes):
    (x,) = args
    ndim = len(shape_of(x)) - 1
    order = tuple(reversed(range(ndim))) if axes is None else axes
    return transpose_p.bind(x, axes=(0,) + tuple(a + 1 for a in order))


def _broadcast_to(args, batched, shape):
    (x,) = args
    return broadcast_to_p.bind(_with_rank(x, len(shape)), shape=shape_of(x)[:1] + tuple(shape))


def _indexing(prim):
    """getitem / untake: the index gets a leading full slice (unless NumPy would then move the examples'
    advanced-index axes in front of the batch axis: None, run once per example)."""

    def rule(args, batched, index, **params):
        lead_index = _batched_index(index, 1)
        if lead_index is None or not batched[0]:
            return None
        if "shape" in params:
            params["shape"] = shape_of(args[0])[:1] + tuple(params["shape"])
        return prim.bind(*args, index=lead_index, **params)

    return rule


def _concat(prim):
    def rule(args, batched, axis):
        size = _size(args, batched)
        return prim.bind(*[a if b else _spread(a, size) for a, b in zip(args, batched)], axis=axis + 1)

    return rule


def _matmul(prim):
    """x @ y for stacked examples: a batched vector operand becomes a (1, k) row or (k, 1) column so that
    ``matmul`` sees matrices, the batched operands get ones for the other's batch dims, and the
    promoted axes are dropped from the result."""

    def rule(args, batched):
        (x, y), (bx, by) = args, batched
        x_vector, y_vector = _example_ndim(x, bx) == 1, _example_ndim(y, by) == 1
        if bx and x_vector:
            x = reshape_p.bind(x, shape=shape_of(x)[:1] + (1,) + shape_of(x)[1:])
        if by and y_vector:
            y = reshape_p.bind(y, shape=shape_of(y) + (1,))
        if bx and not by and y_vector:  # a batched x (B, …, n, k) times a shared vector y (k,)
            out = prim.bind(x, y)
            return reshape_p.bind(out, shape=shape_of(out)[:1] + shape_of(out)[2:]) if x_vector else out
        if by and not bx and x_vector:  # a shared vector x (k,) times batched y (B, …, k, m)
            out = prim.bind(x, y)
            return reshape_p.bind(out, shape=shape_of(out)[:-1]) if y_vector else out
        rank = max(_example_ndim(x, bx), _example_ndim(y, by))  # (after the promotions)
        if bx:
            x = _with_rank(x, rank)
        else:
            x = reshape_p.bind(x, shape=(1,) + shape_of(x)) if not x_vector else x
        if by:
            y = _with_rank(y, rank)
        else:
            y = reshape_p.bind(y, shape=(1,) + shape_of(y)) if not y_vector else y
        out = prim.bind(x, y)
        out_shape = shape_of(out)
        if x_vector:  # drop the promoted row axis (second to last, or last when y was a shared vector)
            out_shape = out_shape[:-2] + out_shape[-1:]
        if y_vector:
            out_shape = out_shape[:-1]
        return reshape_p.bind(out, shape=out_shape) if out_shape != shape_of(out) else out

    return rule


def _dense(prim):
    """act(x Wᵀ + b) with the examples' rows merged: (B, N, in) → (B·N, in); per-example weights: None."""

    def rule(args, batched, activation):
        (x, weight, bias), (bx, bw, bb) = args, batched
        if bw or bb or not bx:
            return None
        shape = shape_of(x)
        rows = reshape_p.bind(x, shape=(-1, shape[-1]))
        out = prim.bind(rows, weight, bias, activation=activation)
        return reshape_p.bind(out, shape=shape[:-1] + shape_of(out)[-1:])

    return rule


def _einsum(prim):
    """einsum with a fresh index letter for the examples, on every batched operand and in front of the output."""

    def rule(args, batched, subscripts):
        if "->" not in subscripts:
            return None
        inputs, output = subscripts.split("->")
        letter = next(c for c in string.ascii_letters if c not in subscripts)
        parts = [letter + p if b else p for p, b in zip(inputs.split(","), batched)]
        return prim.bind(*args, subscripts=",".join(parts) + "->" + letter + output)

    return rule


def _along(prim):
    """take_along / put_along: every argument with the batch axis (a shared one gets length 1, which
    broadcasts), the axis (and the shape put_along makes) moved up by one."""

    def rule(args, batched, axis, **params):
        size = _size(args, batched)
        args = [a if b else reshape_p.bind(a, shape=(1,) + tuple(shape_of(a))) for a, b in zip(args, batched)]
        if "shape" in params:
            params["shape"] = (size,) + tuple(params["shape"])
        return prim.bind(*args, axis=axis + 1, **params)

    return rule


def _exp_shifted(prim):
    """e^{x − shift}: the shift is a constant parameter that broadcasts against one example from the right (or,
    computed from x's concrete value, already carries the batch axis), so it applies to the stacked examples."""

    def rule(args, batched, shift):
        return prim.bind(*args, shift=shift)

    return rule


def _same(prim):
    """Kernels that already map over leading axes (NumPy's linalg stacks): f of the stacked examples."""

    def rule(args, batched, **params):
        size = _size(args, batched)
        return prim.bind(*[a if b else _spread(a, size) for a, b in zip(args, batched)], **params)

    return rule


def _through_its_op(prim):
    """Primitives whose parameters are built from concrete values by their op (which batches them itself)."""

    def rule(args, batched, **params):
        raise TypeError(f"vmap: the primitive {prim.name} holds per-call data in its parameters and cannot be "
                        f"batched directly; call its op (softgrad.ops.{prim.name.replace('_grad', '')}) inside vmap")

    return rule


ELEMENTWISE = (
    "neg exp log log1p expm1 sqrt square sign abs sin cos tanh sigmoid softplus relu add sub mul div pow floordiv "
    "mod maximum minimum where clip xlogy equal not_equal less less_equal greater greater_equal logical_and "
    "logical_or logical_xor logical_not isfinite isnan astype copy logsigmoid leaky_relu elu normal_cdf gelu "
    "clamped_log binary_cross_entropy binary_cross_entropy_with_logits huber huber_slope"
).split()
AXIS_WISE = "sum mean prod max min cumsum cumprod argsort logsumexp softmax log_softmax vector_norm".split()

#: primitive name -> factory(primitive) -> rule
BATCH_RULES = {
    **{name: elementwise for name in ELEMENTWISE},
    **{name: axis_wise for name in AXIS_WISE},
    "argmax": flat_arg, "argmin": flat_arg,
    "reshape": lambda prim: _reshape, "transpose": lambda prim: _transpose,
    "broadcast_to": lambda prim: _broadcast_to,
    "getitem": _indexing, "untake": _indexing, "concat": _concat, "take_along": _along, "put_along": _along,
    "matmul": _matmul, "dense": _dense, "einsum": _einsum,
    "conv2d": merged_batch, "conv2d_bias": merged_batch, "conv2d_bias_pool": merged_batch,
    "conv2d_input": lambda prim: merged_batch(prim, shape_param="x_shape"),
    "max_pool2d": merged_batch, "max_pool2d_scatter": lambda prim: merged_batch(prim, merged=(0, 1, 2)),
    "max_pool2d_gather": lambda prim: merged_batch(prim, merged=(0, 1)),
    "max_pool2d_indices": lambda prim: merged_batch(prim, merged=(0, 1)),
    "exp_shifted": _exp_shifted,
    "inv": _same, "det": _same, "logabsdet": _same, "cholesky": _same, "qr": _same, "svd": _same, "svdvals": _same,
    "cross_entropy": _through_its_op, "cross_entropy_grad": _through_its_op, "nll_loss": _through_its_op,
}


def batch_rule(prim):
    """The batching rule of ``prim`` (made once, kept in ``prim.batch``), or None: run once per example."""
    if prim.batch is None:
        factory = BATCH_RULES.get(prim.name.partition("[")[0])
        if factory is None:
            return None
        prim.batch = factory(prim)
    return prim.batch


__all__ = ["BATCH_RULES", "ELEMENTWISE", "AXIS_WISE", "batch_rule", "elementwise", "axis_wise", "merged_batch"]
