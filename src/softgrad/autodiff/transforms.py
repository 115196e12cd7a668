"""Functional transforms: ``grad``, ``value_and_grad`` (MindSpore's contract), ``vjp``, ``jvp`` (forward mode,
``softgrad.autodiff.forward``), ``jacobian``, ``hessian``; and ``check_grad``.

Each transform opens a trace level, boxes its inputs (arguments at ``grad_position`` and the ``weights``
Parameters, boxed in place for the duration of the call), runs ``fn`` — every op is appended to the level's
tape — and walks the tape backwards once (``backward``). Derivative rules run on the values below the level,
so a transform inside another is differentiated by the outer one: any order, any nesting.

Return structure of ``grad`` / ``value_and_grad`` (MindSpore's; ``value_and_grad`` returns ``(value, that)``):

=====================================  ===========================================================
arguments                              gradient part
=====================================  ===========================================================
``grad_position=i`` or ``(i,)``        ``g_i`` (one position collapses, unlike JAX)
``grad_position=(i, j, ...)``          ``(g_i, g_j, ...)``
``weights=p`` (one Parameter)          ``g_p``
``weights=[p, q, ...]`` / ``()``       ``(g_p, g_q, ...)`` — a 1-tuple for one, ``()`` for none
positions and weights                  ``(position_part, weights_part)``
``grad_position=None``, weights        ``weights_part``
``has_aux=True``                       ``grad``: ``(gradient_part, (aux_1, ...))``; ``value_and_grad``:
                                       ``((out_0, aux_1, ...), gradient_part)``; only output 0 is differentiated
``return_ids=True``                    every ``g`` becomes ``(position, g)`` or ``(parameter_name, g)``
=====================================  ===========================================================

Several or non-scalar outputs without ``has_aux`` are differentiated as the sum of all their entries
(an all-ones sensitivity), as MindSpore does. NumPy arrays and Python floats at a differentiated position are
differentiated like Tensors (MindSpore skips non-Tensor inputs).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from softgrad.ops._primitive import shape_of
from softgrad.ops.creation import eye, zeros, zeros_like
from softgrad.ops.shape import reshape, stack, transpose
from softgrad.tensor import Parameter, Tensor, concrete, is_float_dtype, wrap
from softgrad.autodiff.backward import backward
from softgrad.autodiff.forward import primal_and_tangent, push_forward
from softgrad.trace import add_leaf, close_level, lift, new_level, traced, value_of

# ----- tracing a call -----


def _check_differentiable(value, what: str) -> None:
    dtype = np.asarray(concrete(value)).dtype
    if not is_float_dtype(dtype):
        raise TypeError(f"{what} has dtype {dtype}; only floating-point (or integer) inputs can be "
                        "differentiated. Cast it first (x.astype(softgrad.float32)) or leave it out of grad_position.")


def _differentiable_value(x, what: str):
    """What a transform boxes for input ``x``: its value, integers as float32 (so their gradient is a float, not
    truncated to the integer dtype as MindSpore returns it); bools and other dtypes raise."""
    value = value_of(x)
    if getattr(value, "dtype", None) is not None and value.dtype.kind in "iu":
        return value.astype(np.float32)
    _check_differentiable(value, what)
    return value


def _the_leaf(leaves):
    return leaves[0]


def tree_flatten(value) -> tuple[list, Callable]:
    """The leaves of nested dicts, lists and tuples (dict keys in sorted order, as JAX), and ``rebuild(leaves)``,
    which puts leaves back into that structure."""
    if not isinstance(value, (dict, list, tuple)):
        return [value], _the_leaf
    items = sorted(value.items()) if isinstance(value, dict) else list(enumerate(value))
    parts = [tree_flatten(v) for _, v in items]

    def rebuild(leaves):
        out, start = [], 0
        for part_leaves, part_rebuild in parts:
            out.append(part_rebuild(leaves[start:start + len(part_leaves)]))
            start += len(part_leaves)
        return {k: o for (k, _), o in zip(items, out)} if isinstance(value, dict) else type(value)(out)

    return [leaf for part_leaves, _ in parts for leaf in part_leaves], rebuild


_ONE_LEAF = (1, _the_leaf)  # the tree of a position that is one Tensor


class _Trace:
    """One traced call of ``fn``: its level, tape, boxed inputs, and output."""

    __slots__ = ("level", "tape", "leaves", "trees", "flat", "output", "aux", "outs")

    def __init__(self, fn: Callable, args: Sequence, positions: Sequence[int], weights: Sequence[Tensor]):
        self.level, self.tape = level, tape = new_level()
        self.leaves: list[tuple[int, Any]] = []  # (tape node, dtype-and-shape source) per differentiated leaf
        self.trees: list[tuple[int, Callable]] = []  # (number of leaves, rebuild) per differentiated position
        leaves, trees = self.leaves, self.trees
        self.flat = True  # is every position one Tensor (no pytree)?
        saved = []
        try:
            if positions:
                args = list(args)
            for p in positions:  # each a Tensor, or a dict / list / tuple of them (a pytree, as JAX)
                arg = args[p]
                if type(arg) is Tensor and not arg._trace and arg._data.dtype.kind == "f":  # the common case
                    box = args[p] = lift(arg._data, level, tape)
                    leaves.append((box._node, box._data))
                    trees.append(_ONE_LEAF)
                    continue
                self.flat = False
                position_leaves, rebuild = tree_flatten(arg)
                boxes = [lift(_differentiable_value(leaf, f"argument {p} (grad_position)"), level, tape)
                         for leaf in position_leaves]
                args[p] = rebuild(boxes)
                leaves.extend((box._node, box._data) for box in boxes)
                trees.append((len(boxes), rebuild))
            for w in weights:
                data, trace = w._data, w._trace
                if trace or data.dtype.kind not in "fc":  # the common case, an untraced float, is fine
                    _check_differentiable(w, f"weight '{getattr(w, 'name', None)}'")
                    value = value_of(w)
                else:
                    value = data
                if getattr(w, "requires_grad", True) is False:  # a frozen Parameter: a constant, zero gradient
                    leaves.append((add_leaf(tape, value), value))  # (a leaf nothing reaches, as MindSpore)
                    continue
                saved.append((w, data, trace, w._node))
                w._data, w._trace, w._node = value, level, add_leaf(tape, value)
                leaves.append((w._node, value))
            self.output = _unbox_weights(fn(*args), level)
        finally:
            for w, data, trace, node in reversed(saved):
                w._data, w._trace, w._node = data, trace, node
            close_level(self.level)

    def seeds(self, outputs, cotangents) -> dict[int, Any]:
        """Tape nodes of this level's outputs with their cotangents (outputs that don't depend on the
        inputs contribute nothing)."""
        seeds: dict[int, Any] = {}
        for out, ct in zip(outputs, cotangents):
            if isinstance(out, Tensor) and out._trace == self.level:
                seeds[out._node] = ct if out._node not in seeds else seeds[out._node] + ct
        return seeds

    def batchable(self) -> bool:
        """Can one sweep with batched cotangents replace a sweep per cotangent? (Primitive.batchable)"""
        return all(prim is None or prim.batchable for prim, *_ in self.tape)

    def input_cotangents(self, seeds, batch: tuple[int, ...] = ()) -> list:
        """One cotangent per differentiated input, in order: zeros where untouched, in the input's dtype;
        each with the leading ``batch`` axes of the seeds."""
        cotangents = backward(self.tape, seeds, len(batch))
        grads = []
        for node, value in self.leaves:
            g = cotangents[node]
            dtype = value.dtype
            if g is None:
                g = zeros(batch + value.shape, dtype=dtype)
            elif g.dtype != dtype:
                g = g.astype(dtype)
            grads.append(wrap(g))
        return grads

    def grouped(self, cotangents: list) -> tuple[list, list]:
        """Cotangents of the leaves as ``(one per position, in its structure; one per weight)``."""
        if self.flat:
            count = len(self.trees)
            return cotangents[:count], cotangents[count:]
        count = sum(n for n, _ in self.trees)
        return _regroup(cotangents, self.trees), cotangents[count:]

    def drop(self, value):
        """An output as the caller sees it: this level removed (lower levels kept)."""
        if isinstance(value, tuple):
            return tuple(self.drop(v) for v in value)
        if isinstance(value, list):
            return [self.drop(v) for v in value]
        if isinstance(value, Tensor) and value._trace == self.level:
            return wrap(value._data)
        return value


def _unbox_weights(value, level: int):
    """fn's output with every weight it returns itself (a Parameter boxed in place for the call) replaced by a
    Tensor on the same tape entry, so that it keeps its place on the trace once the Parameter is unboxed."""
    if isinstance(value, (tuple, list)):
        return type(value)(_unbox_weights(v, level) for v in value)
    if isinstance(value, Parameter) and value._trace == level:
        return traced(value._data, level, value._node)
    return value


def _flatten(value) -> list:
    if isinstance(value, (tuple, list)):
        return [leaf for v in value for leaf in _flatten(v)]
    return [value]


def _ones_seed(out):
    """∂out/∂out: ones of out's shape and dtype."""
    seed = np.empty(shape_of(out), concrete(out).dtype)  # (one example's shape inside vmap)
    seed.fill(1)
    return seed


# ----- argument checks (errors say what to pass) -----


def _positions(grad_position) -> tuple[int, ...] | None:
    if grad_position is None:
        return None
    if isinstance(grad_position, (int, np.integer)) and not isinstance(grad_position, bool):
        positions = (int(grad_position),)
    elif isinstance(grad_position, (tuple, list)):
        positions = tuple(grad_position)
    else:
        raise TypeError(f"grad_position must be an int or a tuple of ints, got {grad_position!r}")
    if not positions:  # MindSpore's type and words
        raise RuntimeError("grad_position should not be empty when grad by position: pass an int such as 0, a "
                           "tuple such as (0, 1), or None together with weights=")
    for p in positions:
        if not isinstance(p, (int, np.integer)) or isinstance(p, bool):
            raise TypeError(f"grad_position must hold ints, got {p!r} ({type(p).__name__}) in {grad_position!r}")
        if p < 0:
            raise ValueError(f"grad_position must hold non-negative ints, got {p!r} in {grad_position!r}")
    if len(set(positions)) != len(positions):
        raise ValueError(f"grad_position {grad_position!r} repeats a position; list each argument once")
    return positions


def _weights(weights) -> tuple[tuple[Tensor, ...], bool] | None:
    """(weights as a tuple, whether a single Parameter was given)."""
    if weights is None:
        return None
    if isinstance(weights, Tensor):
        return (weights,), True
    weights = tuple(weights)
    for w in weights:
        if not isinstance(w, Tensor):
            raise TypeError(f"weights must be Parameters (e.g. cell.trainable_params()), got {type(w).__name__}")
    return weights, False


def _check_arity(positions, args, error: type[Exception] = IndexError) -> None:
    """Every position names an argument (MindSpore raises IndexError in grad, ValueError in jacfwd/jacrev)."""
    for p in positions:
        if p >= len(args):
            raise error(f"grad_position {p} is out of range: the function was called with {len(args)} "
                        f"argument(s); use a position in 0..{len(args) - 1}")


def _check_outputs(outs, name: str) -> None:
    """The values to differentiate must be Tensors, arrays or numbers (not None, strings, ...)."""
    for out in outs:
        if not isinstance(out, (Tensor, np.ndarray, np.generic, float, int)) or isinstance(out, bool):
            raise TypeError(f"{name} returned {type(out).__name__} {out!r:.40}; the function to differentiate must "
                            "return a Tensor (or a tuple of Tensors): did it forget a return?")


def _split_aux(output, has_aux: bool):
    if not has_aux:
        return output, ()
    if not isinstance(output, tuple) or len(output) < 2:
        raise ValueError("has_aux=True needs fn to return a tuple of at least two outputs (loss, aux...), "
                         f"got {type(output).__name__}" + ("" if not isinstance(output, tuple)
                                                            else f" of length {len(output)}"))
    return output[0], output[1:]


# ----- grad and value_and_grad -----


def _check_callable(fn, transform: str) -> None:
    if not callable(fn):
        raise TypeError(f"{transform}: fn must be a function (or a Cell) to differentiate, got "
                        f"{type(fn).__name__} {fn!r:.40}")


def differentiate(fn, args, positions, weights, has_aux: bool = False, sens=None):
    """Trace ``fn(*args)`` and sweep back once: ``(output, aux, position_grads, weight_grads)``, lists with one
    gradient per position and per weight. The sensitivity of the differentiated output(s) is ``sens`` (one
    cotangent per output, flattened as the outputs are; or a number for every entry), or ones of each output's
    shape."""
    trace = _Trace(fn, args, positions, weights)
    output = trace.output
    if type(output) is Tensor and output._trace == trace.level and not has_aux and sens is None:  # one loss
        position_grads, weight_grads = trace.grouped(trace.input_cotangents({output._node: _ones_seed(output)}))
        return wrap(output._data), (), position_grads, weight_grads
    differentiated, aux = _split_aux(output, has_aux)
    outs = _flatten(differentiated)
    _check_outputs(outs, getattr(fn, "__name__", "fn"))
    if sens is None:
        cotangents = [_ones_seed(o) for o in outs]
    elif isinstance(sens, (int, float)) and not isinstance(sens, bool):  # a number: every entry's sensitivity
        cotangents = [np.full(shape_of(o), sens, dtype=concrete(o).dtype) for o in outs]
    else:
        cotangents = [value_of(c) for c in _flatten(sens)]
        if len(cotangents) != len(outs):
            raise ValueError(f"sens: expected {len(outs)} sensitivity value(s), one per output of fn, got "
                             f"{len(cotangents)}")
        _check_same_shapes("sens", cotangents, "fn's output", outs)
    position_grads, weight_grads = trace.grouped(trace.input_cotangents(trace.seeds(outs, cotangents)))
    if aux:
        aux = tuple(wrap(concrete(a)) if isinstance(a, Tensor) else a for a in aux)
    return trace.drop(trace.output), aux, position_grads, weight_grads


def _gradient_fn(fn, grad_position, weights, has_aux, return_ids):
    _check_callable(fn, "grad")
    positions = _positions(grad_position)
    weight_spec = _weights(weights)
    if positions is None and weight_spec is None:
        raise ValueError("grad_position and weights are both None, so there is nothing to differentiate; "
                         "pass grad_position=0 (the first argument) or weights=cell.trainable_params()")
    weight_list, single_weight = weight_spec if weight_spec is not None else ((), False)

    def value_and_gradient(*args):
        if positions is not None:
            _check_arity(positions, args)
        output, aux, position_grads, weight_grads = differentiate(fn, args, positions or (), weight_list, has_aux)
        if return_ids:
            position_grads = [(p, g) for p, g in zip(positions or (), position_grads)]
            weight_grads = [(w.name, g) for w, g in zip(weight_list, weight_grads)]
        position_part = position_grads[0] if len(position_grads) == 1 else tuple(position_grads)
        weight_part = weight_grads[0] if single_weight else tuple(weight_grads)
        if positions is None:
            gradient = weight_part
        elif weight_spec is None:
            gradient = position_part
        else:
            gradient = (position_part, weight_part)
        return output, gradient, aux

    return value_and_gradient


def grad(fn: Callable, grad_position=0, weights=None, has_aux: bool = False, return_ids: bool = False):
    """The gradient function of ``fn`` (see the module docstring for what it returns).

    >>> import softgrad as sg
    >>> sg.grad(lambda x: (x * x).sum())(sg.Tensor([1.0, 2.0]))
    Tensor(shape=[2], dtype=Float32, value=
    [2., 4.])
    """
    value_gradient_aux = _gradient_fn(fn, grad_position, weights, has_aux, return_ids)

    def gradient(*args):
        _, gradient, aux = value_gradient_aux(*args)
        return (gradient, aux) if has_aux else gradient

    gradient.__name__ = f"grad_of_{getattr(fn, '__name__', 'fn')}"
    return gradient


def value_and_grad(fn: Callable, grad_position=0, weights=None, has_aux: bool = False, return_ids: bool = False):
    """Like ``grad``, returning ``(everything fn returned, gradients)`` — with ``has_aux`` too, as MindSpore:
    ``((loss, aux...), gradients)``.

    >>> import softgrad as sg
    >>> value, g = sg.value_and_grad(lambda x: (x * x).sum())(sg.Tensor([3.0]))
    >>> float(value), float(g[0])
    (9.0, 6.0)
    """
    value_gradient_aux = _gradient_fn(fn, grad_position, weights, has_aux, return_ids)

    def value_and_gradient(*args):
        value, gradient, _ = value_gradient_aux(*args)
        return value, gradient

    value_and_gradient.__name__ = f"value_and_grad_of_{getattr(fn, '__name__', 'fn')}"
    return value_and_gradient


# ----- vjp, jvp -----


def _check_same_shapes(what: str, values, reference_name: str, references) -> None:
    for value, reference in zip(values, references):
        if shape_of(value) != shape_of(reference):
            raise ValueError(f"{what} shape {shape_of(value)} does not match the shape of "
                             f"{reference_name}, {shape_of(reference)}")


def _vjp_all(fn, inputs, weights=(), has_aux: bool = False):
    """``(output, vjp_fn, trace)`` where ``vjp_fn(cotangent)`` returns a list with one cotangent per input and
    then per weight; ``output`` is what is differentiated (without the aux outputs, in ``trace.aux``)."""
    _check_callable(fn, "vjp")
    trace = _Trace(fn, inputs, range(len(inputs)), weights)
    output, trace.aux = _split_aux(trace.output, has_aux)
    outs = trace.outs = tree_flatten(output)[0]  # (traced)
    _check_outputs(outs, getattr(fn, "__name__", "fn"))

    def vjp_fn(cotangent):
        cts = tree_flatten(cotangent)[0]
        if len(cts) != len(outs):
            raise ValueError(f"vjp_fn: expected {len(outs)} cotangent(s), one per output, got {len(cts)}")
        _check_same_shapes("vjp_fn: cotangent", cts, "the output", outs)
        values = [value_of(ct) for ct in cts]
        return trace.input_cotangents(trace.seeds(outs, values))

    return trace.drop(output), vjp_fn, trace


def vjp(fn: Callable, *inputs, weights=None, has_aux: bool = False):
    """MindSpore's ``vjp``: ``(fn(*inputs), vjp_fn)``, or ``(out_0, vjp_fn, aux)`` with ``has_aux`` (only output 0
    is differentiated; ``aux`` is one value or a tuple, stop-gradiented). ``vjp_fn(*v)`` takes one cotangent per
    output (vᵀ, the shape of each) and returns vᵀJ as a tuple with one gradient per input — and with ``weights``
    (a Parameter or a list of them) ``((input gradients), (weight gradients))``.

    >>> import softgrad as sg
    >>> out, vjp_fn = sg.vjp(lambda x: x * x, sg.Tensor([1.0, 2.0]))
    >>> vjp_fn(sg.Tensor([1.0, 10.0]))
    (Tensor(shape=[2], dtype=Float32, value=
    [ 2., 40.]),)
    """
    weight_spec = _weights(weights)
    weight_list = weight_spec[0] if weight_spec is not None else ()
    output, vjp_all, trace = _vjp_all(fn, inputs, weight_list, has_aux)

    def vjp_fn(*cotangents):
        position_part, weight_part = trace.grouped(vjp_all(cotangents[0] if len(cotangents) == 1 else cotangents))
        if weight_spec is None:
            return tuple(position_part)
        return tuple(position_part), weight_part[0] if weight_spec[1] else tuple(weight_part)

    if not has_aux:
        return output, vjp_fn
    return output, vjp_fn, _aux_value(trace.aux)


def _aux_value(aux: tuple):
    """MindSpore's aux value: the one auxiliary output as it is, several as a tuple (stop-gradiented)."""
    aux = tuple(wrap(concrete(a)) if isinstance(a, Tensor) else a for a in aux)
    return aux[0] if len(aux) == 1 else aux


def _as_tuple(x) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def jvp(fn: Callable, inputs, v, has_aux: bool = False):
    """MindSpore's ``jvp``: ``(fn(*inputs), J·v)``, or ``(out_0, J·v, aux)`` with ``has_aux``. ``inputs`` and ``v``
    are one Tensor each or tuples of them (one tangent per input; an input may be a dict, list or tuple of Tensors,
    its tangent the same structure); J·v has the structure of the output. Forward mode: one pass of fn carrying
    the tangents (``softgrad.autodiff.forward``).

    >>> import softgrad as sg
    >>> sg.jvp(lambda x: x * x, (sg.Tensor([3.0]),), (sg.Tensor([1.0]),))[1]
    Tensor(shape=[1], dtype=Float32, value=
    [6.])
    """
    _check_callable(fn, "jvp")
    primals, tangents = _as_tuple(inputs), _as_tuple(v)
    values, trees = _input_leaves(primals, "jvp")
    tangent_values = _tangent_leaves("jvp", tangents, values, trees)
    output, level = push_forward(lambda *leaves: fn(*_regroup(leaves, trees)), values, tangent_values)
    differentiated, aux = _split_aux(output, has_aux)
    leaves, rebuild = tree_flatten(differentiated)
    _check_outputs(leaves, getattr(fn, "__name__", "fn"))
    pairs = [primal_and_tangent(o, level) for o in leaves]
    out, tangent_part = rebuild([p for p, _ in pairs]), rebuild([t for _, t in pairs])
    if not has_aux:
        return out, tangent_part
    return out, tangent_part, _aux_value(aux)


def _input_leaves(inputs: Sequence, caller: str) -> tuple[list, list]:
    """The leaves of every input (a Tensor, or a dict / list / tuple of them) as differentiable values, and
    ``trees``, one ``(number of leaves, rebuild)`` per input (``_regroup`` puts leaves back)."""
    values, trees = [], []
    for i, x in enumerate(inputs):
        leaves, rebuild = tree_flatten(x)
        values.extend(_differentiable_value(leaf, f"{caller}: input {i}") for leaf in leaves)
        trees.append((len(leaves), rebuild))
    return values, trees


def _regroup(leaves: Sequence, trees: Sequence) -> list:
    """Leaves back in the structures of ``trees`` (one ``(count, rebuild)`` per input): a list of inputs."""
    parts, start = [], 0
    for count, rebuild in trees:
        parts.append(rebuild(list(leaves[start:start + count])))
        start += count
    return parts


def _tangent_leaves(caller: str, tangents: Sequence, values: list, trees: list) -> list:
    """One tangent per input leaf, checked against its input (structure, shape) and in its dtype."""
    if len(tangents) != len(trees):
        raise ValueError(f"{caller}: {len(trees)} input(s) but {len(tangents)} tangent(s) in v; pass one tangent per "
                         "input")
    leaves = []
    for i, (t, (count, _)) in enumerate(zip(tangents, trees)):
        part = tree_flatten(t)[0]
        if len(part) != count:
            raise ValueError(f"{caller}: tangent {i} has {len(part)} leaf (leaves) but input {i} has {count}; give "
                             "the tangent the input's structure")
        leaves.extend(part)
    _check_same_shapes(f"{caller}: tangent", leaves, "its input", values)
    out = []
    for t, x in zip(leaves, values):
        t = value_of(t)
        out.append(t if t.dtype == x.dtype else t.astype(x.dtype))
    return out


def _restricted(fn: Callable, args: Sequence, positions: Sequence[int]) -> Callable:
    """fn as a function of the arguments at ``positions`` only (the others fixed to ``args``)."""
    def restricted(*xs):
        full = list(args)
        for p, x in zip(positions, xs):
            full[p] = x
        return fn(*full)

    return restricted


# ----- jacobian, hessian -----


def jacobian(fn: Callable, grad_position=0):
    """The function x ↦ ∂fn/∂x of shape ``out.shape + x.shape``; a tuple of Jacobians when ``grad_position``
    names several arguments (a dict, list or tuple of Tensors at a position gives that structure of Jacobians).
    Reverse mode: one backward sweep with the identity as a batch of cotangents when every primitive on the tape
    is batchable, else one VJP per output entry.

    >>> import softgrad as sg
    >>> sg.jacobian(lambda x: x * x)(sg.Tensor([1.0, 2.0]))
    Tensor(shape=[2, 2], dtype=Float32, value=
    [[2., 0.],
     [0., 4.]])
    """
    _check_callable(fn, "jacobian")
    positions = _positions(grad_position)
    if positions is None:
        raise ValueError("jacobian needs grad_position (an int or a tuple of ints), got None")

    def jacobian_fn(*args):
        _check_arity(positions, args)
        per_output, rebuild, _ = reverse_jacobians(_restricted(fn, args, positions), [args[p] for p in positions])
        if len(per_output) != 1 or rebuild([None]) is not None:  # a tuple, list or dict of outputs
            raise ValueError("jacobian: fn must return a single Tensor; return one, or stack the outputs "
                             "(jacrev and jacfwd take several)")
        jacobians = per_output[0]
        return jacobians[0] if len(jacobians) == 1 else tuple(jacobians)

    return jacobian_fn


def reverse_jacobians(fn: Callable, inputs: Sequence, has_aux: bool = False):
    """``(per_output, rebuild, aux)``: for each output leaf oᵢ of ``fn(*inputs)``, a list with one Jacobian per
    input (∂oᵢ/∂x of shape ``oᵢ.shape + x.shape``; an input pytree gives that structure of them), ``rebuild``
    putting per-output values into fn's output structure, and the aux outputs. Reverse mode: rows."""
    _, vjp_all, trace = _vjp_all(fn, inputs, (), has_aux)
    rebuild = tree_flatten(_split_aux(trace.output, has_aux)[0])[1]
    per_output = [trace.grouped(jacobian_rows(trace, vjp_all, i))[0] for i in range(len(trace.outs))]
    return per_output, rebuild, _stopped(trace.aux)


def forward_jacobians(fn: Callable, inputs: Sequence, has_aux: bool = False):
    """As ``reverse_jacobians``, by forward mode: J·eₖ for every basis vector eₖ of the concatenated inputs, all
    pushed through fn in one pass as a batch of tangents."""
    values, trees = _input_leaves(inputs, "jacfwd")
    shapes = [shape_of(v) for v in values]
    sizes = [int(np.prod(shape, dtype=np.int64)) for shape in shapes]
    total = sum(sizes)
    basis = np.eye(total)
    starts = np.cumsum([0] + sizes)
    tangents = [basis[:, start:start + size].reshape((total,) + shape).astype(v.dtype)
                for v, shape, size, start in zip(values, shapes, sizes, starts)]
    output, level = push_forward(lambda *leaves: fn(*_regroup(leaves, trees)), values, tangents, (total,))
    differentiated, aux = _split_aux(output, has_aux)
    outs, rebuild = tree_flatten(differentiated)
    _check_outputs(outs, getattr(fn, "__name__", "fn"))
    per_output = []
    for o in outs:
        tangent = primal_and_tangent(o, level, (total,))[1]  # (total,) + o.shape: column k is J·eₖ
        out_shape = shape_of(o)
        columns = transpose(tangent, tuple(range(1, len(out_shape) + 1)) + (0,))
        per_output.append(_regroup([reshape(columns[..., start:start + size], out_shape + shape)
                                    for shape, size, start in zip(shapes, sizes, starts)], trees))
    return per_output, rebuild, _stopped(aux)


def _stopped(aux: tuple) -> tuple:
    """Aux outputs as the caller sees them: every level of tracing removed."""
    return tuple(wrap(concrete(a)) if isinstance(a, Tensor) else a for a in aux)


def jacobian_rows(trace, vjp_all, index: int) -> list:
    """∂out/∂xₖ, shaped ``out.shape + xₖ.shape``, for output ``index`` of a traced call (``_vjp_all``) and each of
    its differentiated leaves: one backward sweep with the identity as a batch of cotangents when every primitive
    on the tape is batchable, else one VJP per output entry."""
    outs = trace.outs
    output = outs[index]
    out_shape = shape_of(output)
    size = int(np.prod(out_shape, dtype=np.int64))
    basis = eye(size, dtype=concrete(output).dtype).reshape((size,) + out_shape)  # row i: e_i
    if trace.batchable():
        columns = trace.input_cotangents(trace.seeds([output], [basis.numpy()]), batch=(size,))
    else:
        others = [zeros_like(o) for o in outs]

        def cotangent(row):
            return basis[row] if len(outs) == 1 else tuple(basis[row] if i == index else z
                                                          for i, z in enumerate(others))

        rows = [vjp_all(cotangent(row)) for row in range(size)]
        columns = [stack([row[k] for row in rows]) if rows else None for k in range(len(trace.leaves))]
    jacobians = []
    for k, (_, value) in enumerate(trace.leaves):
        in_shape = shape_of(value)
        if columns[k] is None:  # the output is empty
            jacobians.append(zeros(out_shape + in_shape, dtype=concrete(value).dtype))
        else:
            jacobians.append(reshape(columns[k], out_shape + in_shape))
    return jacobians


def hessian(fn: Callable, grad_position=0):
    """The function x ↦ ∂²fn/∂x² (``fn`` scalar-valued), as ``jacobian(grad(fn))``: one batched reverse sweep
    over the gradient's trace (measured a little faster here than forward over reverse, ``jacfwd(grad(fn))``). A
    dict, list or tuple of Tensors at the position gives the blocks ∂²fn/∂xᵢ∂xⱼ in that structure of structures.

    >>> import softgrad as sg
    >>> sg.hessian(lambda x: (x ** 3).sum())(sg.Tensor([1.0, 2.0]))
    Tensor(shape=[2, 2], dtype=Float32, value=
    [[ 6.,  0.],
     [ 0., 12.]])
    """
    if not isinstance(grad_position, (int, np.integer)) or isinstance(grad_position, bool):
        raise ValueError(f"hessian takes a single grad_position (an int), got {grad_position!r}")
    gradient = grad(fn, grad_position)

    def hessian_fn(*args):
        _check_arity((grad_position,), args)
        per_output, rebuild, _ = reverse_jacobians(_restricted(gradient, args, (grad_position,)),
                                                   [args[grad_position]])
        return rebuild([parts[0] for parts in per_output])

    return hessian_fn


# ----- the gradient checker -----


def check_grad(fn: Callable, *inputs, eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7,
               seed: int = 0, directions: int = 2) -> None:
    """Check ``fn``'s reverse-mode gradients against central finite differences, in float64.

    For random unit directions v (per input) it compares vᵀ∇(u·fn) with (u·fn(x+εv) − u·fn(x−εv))/2ε, where u
    is a random cotangent, so a vector-valued fn is checked in full. Raises ``AssertionError`` with both
    numbers when they differ.

    >>> import softgrad as sg
    >>> sg.check_grad(lambda x: sg.ops.sin(x) * x, np.array([0.5, 1.5]))
    """
    rng = np.random.default_rng(seed)
    xs = [np.asarray(concrete(x), dtype=np.float64) for x in inputs]
    out = fn(*[wrap(x) for x in xs])
    u = [rng.standard_normal(shape_of(o)) for o in _flatten(out)]

    def projected(*args):
        return sum((concrete(o) * w).sum() for o, w in zip(_flatten(fn(*[wrap(a) for a in args])), u))

    _, vjp_all, _ = _vjp_all(fn, [wrap(x) for x in xs])
    grads = [concrete(g) for g in vjp_all(tuple(wrap(w) for w in u) if len(u) > 1 else wrap(u[0]))]
    for _ in range(directions):
        vs = [rng.standard_normal(x.shape) for x in xs]
        norm = np.sqrt(sum((v * v).sum() for v in vs)) or 1.0
        vs = [v / norm for v in vs]
        plus = projected(*[x + eps * v for x, v in zip(xs, vs)])
        minus = projected(*[x - eps * v for x, v in zip(xs, vs)])
        numeric = (plus - minus) / (2 * eps)
        analytic = sum((g * v).sum() for g, v in zip(grads, vs))
        if not np.isclose(analytic, numeric, rtol=rtol, atol=atol):
            raise AssertionError(f"check_grad: reverse mode gives {analytic!r}, central differences give "
                                 f"{numeric!r} (difference {analytic - numeric:.3e}, rtol={rtol}, atol={atol})")


__all__ = [
    "tree_flatten", "differentiate", "grad", "value_and_grad", "vjp", "jvp", "jacobian", "reverse_jacobians",
    "forward_jacobians", "jacobian_rows", "hessian", "check_grad",
]
