"""The tracing core: ``Primitive``, the registry of every primitive, trace levels with their tapes, and ``bind``.

A *value* is what primitives compute on: a NumPy array (or scalar), or a traced ``Tensor``.

* An untraced Tensor has ``_trace == 0`` and holds an ndarray.
* Inside the transform of level ``k`` (``grad``, ``vjp``, ...) a traced Tensor has ``_trace == k``; it holds the
  value at the levels below ``k`` (an ndarray, or a Tensor of a lower level) and the index of its entry on
  level ``k``'s tape. Nested transforms therefore nest boxes, and an op is recorded on the highest level among
  its inputs only — lower-level inputs are constants there (no perturbation confusion, as in HIPS autograd).

``vmap``'s levels have no tape: a Tensor at such a level (a ``BatchedTensor``) holds every example's value
stacked on axis 0, and ``bind`` hands a primitive whose highest level is one of them to that level's batching
function (``new_batch_level``), which applies the primitive's batching rule one level below. Forward mode's
levels (``new_forward_level``, ``softgrad.autodiff.forward``) have no tape either: a Tensor there holds its
value one level below and its tangent in ``_node``, and ``bind`` hands its primitives to the level's function,
which applies the primitive's forward rule.

``bind`` is the single entry point of every primitive: plain NumPy in gives plain NumPy out (so derivative
rules evaluated outside any outer transform run at NumPy speed), any Tensor in gives a Tensor out.

A tape entry is the plain tuple ``(primitive, ans, args, params, parents)`` — ``primitive`` None for a
transform's input, ``args`` the values below the level, ``parents`` the tape index of each argument (−1: a
constant). A named tuple would read better but costs ~0.35 µs per op to build (12 % of the per-op overhead).
"""

from __future__ import annotations

import itertools
from sys import getrefcount
from typing import Any, Callable, Sequence

import numpy as np

from softgrad._refcounts import SOLE_LOCAL, writable
from softgrad.tensor import ARRAY_TYPES, Tensor, concrete, wrap

_new_tensor = object.__new__

# ----- primitives -----


class Primitive:
    """One primitive operation: its NumPy forward and its derivative rules, declared together.

    * ``impl(*args, **params)`` computes it on NumPy values.
    * ``vjps[i](g, ans, *args, **params)`` is the cotangent of positional argument ``i`` given the output's
      cotangent ``g`` (``None``: not differentiable in that argument). ``vjps=None`` marks a non-differentiable
      primitive: its output is never traced. Rules are written over values (``other_p.bind(...)``, operators,
      ndarray methods), so one rule serves first order at NumPy speed and any higher order by being traced.
    * ``batchable``: the rules also accept a ``g`` with extra leading (batch) axes, ``g.shape = batch +
      ans.shape``, and return ``batch + broadcast shape``; ``jacobian`` then sweeps the tape once for all rows.
    * ``output_vjp(g, ans, out, **params)``: for a primitive ``f(h(args))`` that ends in an elementwise ``f`` (a
      fused activation), ``g·f'`` computed from ``ans`` once per backward step; the ``vjps`` are then those of
      ``h``. ``out`` is ``g`` itself when the backward sweep holds the only reference to it (the rule may write
      its result there), else ``None``.
    * ``jvp(tangents, ans, *args, **params)``: forward mode, J·t from one tangent per argument (``None`` for a
      zero one), at the shape of ``ans`` or one that broadcasts to it. Written over values like the VJPs. For a
      ``batchable`` primitive it also accepts tangents with extra leading (batch) axes, ``t.shape = batch +
      arg.shape`` (``jacfwd`` pushes every basis tangent at once). Without one, forward mode transposes the VJPs.
    * ``batch``: where vmap keeps the primitive's batching rule (``softgrad.ops.batching``).
    * ``folds_into``: for an elementwise activation, {producer primitive: its ``activation`` parameter}: when the
      activation is the only consumer of such a producer's output (made with ``activation=None``) and comes right
      after it on the tape, the backward sweep runs the producer's rules as if it had been made with the
      activation fused (the same bits: the activation's rule g·f' reads only its output), so that a hand-written
      ``relu(conv2d(x, w, bias=b))`` gets the fused layer's backward. Where the producer's output is a temporary
      that nothing else holds, the activation's op folds in as it is recorded (``fold_into_producer``).
    * ``lazy_vjp(g, ans, *args, **params)``: for a primitive whose first argument alone is differentiable, a
      ``StandIn`` for that cotangent, not computed (or None: the rule runs). The sweep asks for it where this entry
      is the only consumer of the entry right before it (plain arrays, first order, no NaN checks), so the stand-in
      is that producer's whole cotangent; a producer that ``takes_stand_ins`` works from it (the max-pool's
      scatter, read inside the Winograd input transpose of the convolution before it), any other gets its value.
    * ``takes_stand_ins``: this primitive's ``output_vjp`` and rules accept a ``StandIn`` cotangent.
    * ``samples``: inputs the registry's gradient test differentiates this primitive at
      (``softgrad.ops._primitive.Sample``); every differentiable primitive must have some.

    Creating a Primitive registers it in ``PRIMITIVES`` (``register=False``: a user's custom rule, made per
    function, which the registry's gradient test cannot know samples for).
    """

    __slots__ = ("name", "impl", "vjps", "output_vjp", "batchable", "jvp", "batch", "samples", "folds_into",
                 "lazy_vjp", "takes_stand_ins")

    def __init__(self, name: str, impl: Callable, vjps: Sequence[Callable | None] | None = None, *,
                 batchable: bool = False, output_vjp: Callable | None = None, jvp: Callable | None = None,
                 batch: Callable | None = None, samples: Sequence = (), register: bool = True):
        self.name = name
        self.impl = impl
        self.vjps = None if vjps is None else tuple(vjps)
        self.output_vjp = output_vjp
        self.batchable = batchable
        self.jvp = jvp
        self.batch = batch
        self.samples = tuple(samples)
        self.folds_into: dict | None = None
        self.lazy_vjp: Callable | None = None
        self.takes_stand_ins = False
        if register:
            PRIMITIVES.append(self)

    @property
    def differentiable(self) -> bool:
        return self.vjps is not None

    def __repr__(self) -> str:
        return f"Primitive({self.name})"


#: Every primitive ever created, in creation order (softgrad's own are all created on import).
PRIMITIVES: list[Primitive] = []


class StandIn:
    """A cotangent not computed yet (``Primitive.lazy_vjp``): its ``shape`` and ``dtype``, and ``value()``, the
    array, computed once, for whatever needs it."""

    __slots__ = ("shape", "dtype", "computed")

    def __init__(self, shape, dtype):
        self.shape, self.dtype, self.computed = tuple(shape), dtype, None

    def value(self):
        if self.computed is None:
            self.computed = self.compute()
        return self.computed

    def compute(self):
        raise NotImplementedError

# ----- trace levels and their tapes -----

_TAPES: dict[int, list] = {}  # level -> tape; only active levels are here
_BATCHES: dict[int, Callable] = {}  # level -> how a primitive binds there (vmap's levels, which have no tape)
_FORWARDS: dict[int, Callable] = {}  # level -> how a primitive binds there (forward mode's levels, no tape either)
_levels = itertools.count(1)

# The one active level when it is a tape and no other level is active (a first-order grad, vjp or
# value_and_grad: the common case), else 0 and None; ``bind``'s fast path records on it directly. (0 too while
# the NaN / inf checks are on: every primitive then goes through ``Primitive.bind``, which checks.)
_only_level, _only_tape = 0, None


def _update_only_level() -> None:
    global _only_level, _only_tape
    if len(_TAPES) == 1 and not _BATCHES and not _FORWARDS and not CHECKS["nan"] and not CHECKS["inf"]:
        [(_only_level, _only_tape)] = _TAPES.items()
    else:
        _only_level, _only_tape = 0, None


def new_level() -> tuple[int, list]:
    level = next(_levels)
    tape: list = []
    _TAPES[level] = tape
    _update_only_level()
    return level, tape


def new_batch_level(bind_batched: Callable) -> int:
    """A level without a tape: ``bind`` calls ``bind_batched(prim, level, args, params)`` for its Tensors."""
    level = next(_levels)
    _BATCHES[level] = bind_batched
    _update_only_level()
    return level


def new_forward_level(bind_forward: Callable) -> int:
    """A level without a tape for forward mode: ``bind`` calls ``bind_forward(prim, level, args, params)``."""
    level = next(_levels)
    _FORWARDS[level] = bind_forward
    _update_only_level()
    return level


def batch_axes(value) -> int:
    """How many leading axes of ``concrete(value)`` are vmap's (one per vmap level the value is traced at): a
    constant computed from the concrete value (a mask, gather indices) holds every example on those axes."""
    count = 0
    while isinstance(value, Tensor):
        count += value._trace in _BATCHES
        value = value._data
    return count


def constant_like(array, source):
    """``array``, computed from ``concrete(source)`` (so with its vmap axes leading), as a constant: untraced, or
    inside vmap boxed at ``source``'s vmap levels again, so that it stays one value per example."""
    boxes = []
    while isinstance(source, Tensor):
        if source._trace in _BATCHES:
            boxes.append((type(source), source._trace))
        source = source._data
    for kind, level in reversed(boxes):  # the lowest level innermost
        box = _new_tensor(kind)
        box._data, box._trace, box._node = array, level, -1
        array = box
    return array


def close_level(level: int) -> None:
    _TAPES.pop(level, None)
    _BATCHES.pop(level, None)
    _FORWARDS.pop(level, None)
    _update_only_level()


def is_active(level: int) -> bool:
    return level in _TAPES or level in _BATCHES or level in _FORWARDS


def traced(value, level: int, node: int) -> Tensor:
    """A Tensor traced at ``level`` whose tape entry is ``node``, holding ``value`` (the value below)."""
    tensor = _new_tensor(Tensor)
    tensor._data, tensor._trace, tensor._node = value, level, node
    return tensor


def bind(prim: Primitive, *args, **params):
    """Apply ``prim``: NumPy in → NumPy out; any Tensor in → Tensor out, recorded on the highest active trace.

    Fast path: when a single tape level is active (``_only_level``) and every argument is a Tensor of that level,
    an untraced Tensor or a non-Tensor, the values below that level are concrete (no other level exists to box
    them), so the primitive is recorded in one pass over the arguments; anything else takes the general path.
    """
    level = _only_level
    if level and prim.vjps is not None:
        inner = []
        parents = []
        recorded = False
        for a in args:
            if isinstance(a, Tensor):
                trace = a._trace
                if trace == level:
                    recorded = True
                    parents.append(a._node)
                elif trace:  # a Tensor that outlived its transform
                    break
                else:
                    parents.append(-1)
                inner.append(a._data)
            else:
                inner.append(a)
                parents.append(-1)
        else:
            if recorded:
                ans = prim.impl(*inner, **params) if params else prim.impl(*inner)  # (no empty dict made)
                tape = _only_tape
                tape.append((prim, ans, inner, params, parents))
                out = _new_tensor(Tensor)
                out._data, out._trace, out._node = ans, level, len(tape) - 1
                return out
    # the general path: any mix of levels, vmap's and forward mode's levels, dead levels; or no Tensor at all
    top = -1  # -1: no Tensor among args
    for a in args:
        if isinstance(a, Tensor) and a._trace > top:
            top = a._trace
    if top < 0:
        return prim.impl(*args, **params)
    if top == 0:
        return wrap(prim.impl(*[a._data if isinstance(a, Tensor) else a for a in args], **params))
    tape = _TAPES.get(top)
    if tape is None:
        batched = _BATCHES.get(top)
        if batched is not None:  # vmap's level
            return batched(prim, top, args, params)
        forward = _FORWARDS.get(top)
        if forward is not None:  # forward mode's level
            return forward(prim, top, args, params)
        # a Tensor that outlived its transform: a constant from now on
        return bind(prim, *[_drop_level(a, top) for a in args], **params)
    if prim.vjps is None:  # not differentiable: the result is a constant at this level
        return wrap(bind(prim, *[_drop_level(a, top) for a in args], **params))
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
    if nested:
        ans = bind(prim, *inner, **params)
    else:
        ans = prim.impl(*inner, **params) if params else prim.impl(*inner)  # (no empty dict made)
    tape.append((prim, ans, inner, params, parents))
    out = _new_tensor(Tensor)
    out._data, out._trace, out._node = ans, top, len(tape) - 1
    return out


Primitive.bind = bind  # prim.bind(*args, **params): how ops and derivative rules call primitives


def operator_method(prim: Primitive, reflected: bool = False) -> Callable:
    """Tensor's arithmetic operator for ``prim``: ``x ∘ y`` is ``prim.bind(x, y)`` (``reflected``: ``y ∘ x``, as
    ``__radd__``), with ``bind``'s fast path written out for its two arguments, ``self`` a Tensor: the operators
    are most of a small model's ops, and the generic loop over arguments costs a fifth of an op's overhead."""

    def method(self, other):
        level = _only_level
        if level and self._trace == level:
            if not isinstance(other, Tensor):
                other_value, other_node = other, -1
            elif other._trace == level:
                other_value, other_node = other._data, other._node
            elif not other._trace:
                other_value, other_node = other._data, -1
            else:  # a Tensor of another level, or one that outlived its transform
                return prim.bind(other, self) if reflected else prim.bind(self, other)
            if reflected:
                inner, parents = [other_value, self._data], [other_node, self._node]
            else:
                inner, parents = [self._data, other_value], [self._node, other_node]
            ans = prim.impl(inner[0], inner[1])
            tape = _only_tape
            tape.append((prim, ans, inner, {}, parents))
            out = _new_tensor(Tensor)
            out._data, out._trace, out._node = ans, level, len(tape) - 1
            return out
        return prim.bind(other, self) if reflected else prim.bind(self, other)

    return method


# ----- NaN / inf hunting (softgrad.config.debug_nans, debug_infs) -----
# When on, ``Primitive.bind`` is ``checked_bind``: every primitive's result is checked as it is made, in the
# forward pass and inside derivative rules; the backward sweep checks each rule's result. When off, ``bind`` is
# the plain function again: the checks cost nothing.

CHECKS = {"nan": False, "inf": False}


def fold_into_producer(prim: Primitive, x: Tensor, in_place: Callable) -> bool:
    """Apply the activation ``prim`` to x in x's memory and record it as the activation of the entry that made x,
    when that entry is the latest on the one tape (a first-order transform, no NaN checks: ``_only_level``), by
    one of ``prim.folds_into``'s producers made without an activation, and its output is held by nothing but
    that entry and x (``softgrad._refcounts``); ``in_place(v)`` writes prim's value of v into v. True if done: the
    tape is then the fused layer's (``relu(conv2d(x, w, bias=b))`` written by hand records one fused
    convolution, its output never copied). The caller has checked that nothing else holds x itself: it is a
    temporary that only this call sees (``_primitive.folded``)."""
    level = _only_level
    if not level or x._trace != level or prim.folds_into is None:
        return False
    tape = _only_tape
    node = x._node
    if node != len(tape) - 1:
        return False
    producer, ans, args, params, parents = tape[node]
    name = prim.folds_into.get(producer)
    if (name is None or params.get("activation", 0) is not None or getrefcount(ans) != SOLE_LOCAL + 2
            or not writable(ans) or ans.dtype.kind != "f"):  # (held by x, by the entry and by this local)
        return False
    in_place(ans)
    tape[node] = (producer, ans, args, dict(params, activation=name), parents)
    return True


def set_checks(*, nan: bool, inf: bool) -> None:
    """Turn the NaN and ±inf checks on or off (``softgrad.config`` calls this)."""
    CHECKS["nan"], CHECKS["inf"] = bool(nan), bool(inf)
    Primitive.bind = checked_bind if nan or inf else bind
    _update_only_level()


def checked_bind(prim: Primitive, *args, **params):
    """``bind``, then raise if the result holds a NaN (or ±inf) that the checks look for."""
    out = bind(prim, *args, **params)
    check_value(out, lambda: f"the forward of '{prim.name}'", args)
    return out


def check_value(value, where: Callable[[], str], inputs=()) -> None:
    """Raise ``FloatingPointError`` naming ``where`` (and the inputs' shapes and value ranges) if ``value`` holds
    a NaN, or ±inf, that the checks look for."""
    array = np.asarray(concrete(value)) if isinstance(value, (Tensor,) + ARRAY_TYPES) else None
    if array is None or array.dtype.kind not in "fc" or not array.size:
        return
    kinds = []
    if CHECKS["nan"] and np.isnan(array).any():
        kinds.append("NaN")
    if CHECKS["inf"] and np.isinf(array).any():
        kinds.append("±inf")
    if kinds:
        raise FloatingPointError(f"{' and '.join(kinds)} in the result of {where()} (shape {array.shape}); "
                                 f"its inputs: {_describe(inputs)}. Turn the check off with "
                                 "softgrad.config.debug_nans = False (debug_infs for ±inf)")


def _describe(inputs) -> str:
    parts = []
    for i, value in enumerate(inputs):
        array = np.asarray(concrete(value)) if isinstance(value, (Tensor,) + ARRAY_TYPES) else None
        if array is None:
            parts.append(f"#{i} {value!r:.30}")
        elif array.dtype.kind == "f" and array.size:
            numbers = array[~np.isnan(array)]
            span = f"in [{numbers.min().item()!r}, {numbers.max().item()!r}]" if numbers.size else "all NaN"
            parts.append(f"#{i} shape {array.shape} {array.dtype} {span}"
                         + (" with NaN" if numbers.size < array.size and numbers.size else ""))
        else:
            parts.append(f"#{i} shape {array.shape} {array.dtype}")
    return "; ".join(parts) or "none"


def _drop_level(value, level: int):
    return value._data if isinstance(value, Tensor) and value._trace == level else value


def add_leaf(tape: list, value) -> int:
    """A tape entry for a transform's input; returns its index."""
    tape.append((None, value, (), {}, ()))
    return len(tape) - 1


def lift(value, level: int, tape: list) -> Tensor:
    """Box ``value`` as an input of the transform at ``level``."""
    return traced(value, level, add_leaf(tape, value))


def value_of(x) -> Any:
    """What a transform boxes for input ``x``: a lower-level traced Tensor as it is, else its ndarray."""
    if isinstance(x, Tensor):
        if x._trace == 0:
            return x._data
        if is_active(x._trace):
            return x if x._trace in _BATCHES else traced(x._data, x._trace, x._node)
        return value_of(x._data)
    return x if isinstance(x, ARRAY_TYPES) else np.asarray(x)


__all__ = [
    "Primitive", "StandIn", "new_level", "new_batch_level", "new_forward_level", "close_level", "is_active", "batch_axes", "constant_like", "traced", "bind", "operator_method", "set_checks", "checked_bind", "check_value",
    "add_leaf", "lift", "value_of",
]
