"""The backward sweep: one reverse pass over a tape, applying each primitive's derivative rules.

The sweep writes into a cotangent only when it holds the only reference to it (a fresh array no caller or rule
can see; PyTorch's engine steals a gradient the same way): a fused activation's rule then writes g·f' into g
(``Primitive.output_vjp``'s ``out``), and a parent's next cotangent is added into its sum in place.
"""

from __future__ import annotations

from sys import getrefcount
from typing import Any

import numpy as np

from softgrad._refcounts import SOLE_LOCAL, writable
from softgrad.ops.reductions import unbroadcast
from softgrad.trace import CHECKS, StandIn, check_value


def backward(tape: list, seeds: dict[int, Any], batch_ndim: int = 0) -> list:
    """Cotangents of every tape entry, given the cotangents ``seeds`` of some entries (node → value).

    Entries are in creation order, which is a topological order, so one reverse sweep suffices. With
    ``batch_ndim`` > 0 every cotangent carries that many leading batch axes (several VJPs in one sweep; every
    primitive on the tape must be ``batchable``).

    The sweep writes into a cotangent only when it holds the only reference to it (a fresh array no caller or
    rule can see; PyTorch's engine steals a gradient the same way): a fused activation's rule then writes g·f'
    into g (``Primitive.output_vjp``'s ``out``), and a parent's next cotangent is added into its sum in place.
    """
    cotangents: list = [None] * len(tape)
    checking = CHECKS["nan"] or CHECKS["inf"]  # softgrad.config.debug_nans / debug_infs
    folded: dict = {}  # node → (the output and the name of the activation folded into its rules)
    for node, seed in seeds.items():
        cotangents[node] = seed if cotangents[node] is None else cotangents[node] + seed
    for node in range(max(seeds, default=-1), -1, -1):
        g = cotangents[node]
        if g is None:
            continue
        prim, ans, args, params, parents = tape[node]
        if prim is None:  # an input: keep its cotangent
            if type(g) is not np.ndarray and isinstance(g, StandIn):
                cotangents[node] = g.value()
            continue
        cotangents[node] = None
        if prim.folds_into is not None and _folds(tape, cotangents, node, ans, g, batch_ndim):
            folded[node - 1] = ans, prim.folds_into[tape[node - 1][0]]
            cotangents[node - 1] = g
            g = None
            continue
        if type(g) is not np.ndarray and isinstance(g, StandIn) and not prim.takes_stand_ins:
            g = g.value()
        if (prim.lazy_vjp is not None and not checking and not batch_ndim and parents[0] == node - 1
                and cotangents[node - 1] is None and type(g) is np.ndarray):
            stand_in = prim.lazy_vjp(g, ans, *args, **params)
            if stand_in is not None:  # (the producer's whole cotangent: nothing else consumes its output)
                cotangents[node - 1] = stand_in
                g = stand_in = None
                continue
        if folded and node in folded:
            ans, activation = folded.pop(node)
            params = dict(params, activation=activation)
        if prim.output_vjp is not None:
            out = g if getrefcount(g) == SOLE_LOCAL and writable(g) else None
            g = prim.output_vjp(g, ans, out, **params)
        several = len(args) > 1  # (unbroadcast undoes broadcasting between arguments: one argument has none)
        i = -1
        for parent in parents:  # (an index loop: zip's tuples cost a fifth of a node's sweep)
            i += 1
            if parent < 0:
                continue
            rule = prim.vjps[i]
            if rule is None:
                continue
            ct = rule(g, ans, *args, **params) if params else rule(g, ans, *args)  # (no empty dict made)
            if checking:
                check_value(ct, lambda: f"the derivative rule of '{prim.name}' (backward)", (g,) + tuple(args))
            if several:
                shape = args[i].shape
                if batch_ndim:
                    if ct.shape != g.shape[:batch_ndim] + shape:
                        ct = unbroadcast(ct, shape, batch_ndim)
                elif ct.shape != shape:
                    ct = unbroadcast(ct, shape)
            previous = cotangents[parent]
            if previous is None:
                cotangents[parent] = ct
            elif (getrefcount(previous) == SOLE_LOCAL + 1 and writable(previous)  # held here and in its slot
                  and type(ct) is np.ndarray and ct.shape == previous.shape and ct.dtype == previous.dtype):
                np.add(previous, ct, out=previous)
            else:
                cotangents[parent] = previous + ct
        g = out = ct = previous = None  # (a cotangent left in a local would not be the sole reference a later node
        #                                  looks for: the ReLU before a max-pool wrote g·f' into a copy)
    return cotangents


def _folds(tape, cotangents, node, ans, g, batch_ndim) -> bool:
    """Whether the activation at ``node`` folds into its producer's rules (``Primitive.folds_into``): the producer
    is the entry just before it, made without an activation, and nothing else has sent it a cotangent (every
    other consumer of its output comes later on the tape, so has been swept already); plain arrays, first order."""
    producer = node - 1
    parents = tape[node][4]
    if batch_ndim or parents[0] != producer or cotangents[producer] is not None:
        return False
    prim, _, _, params, _ = tape[producer]
    return (prim in tape[node][0].folds_into and params.get("activation", 0) is None
            and (type(g) is np.ndarray or isinstance(g, StandIn) and prim.takes_stand_ins)
            and type(ans) is np.ndarray and g.shape == ans.shape)


__all__ = ["backward"]
