"""MindSpore's other autodiff entry points, on the same trace and backward sweep as ``grad``:
``GradOperation`` (the older API of many tutorials and model zoos), ``get_grad`` (for ``return_ids=True``),
``jacrev`` and ``jacfwd`` with MindSpore's nested return structure, ``linearize``, and the no-ops that let
MindSpore code run unchanged (``jit``, ``set_context``). docs/MINDSPORE.md lists every name and deviation.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from softgrad.autodiff.forward import forward_sweep
from softgrad.autodiff.transforms import (
    _as_tuple, _check_arity, _check_callable, _positions, _restricted, _tangent_leaves, _vjp_all, _weights,
    differentiate, forward_jacobians, reverse_jacobians, tree_flatten,
)
from softgrad.ops._primitive import shape_of
from softgrad.tensor import Parameter, Tensor, concrete, wrap

# ----- GradOperation -----


def _flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"For 'GradOperation', the '{name}' should be bool, but got {type(value).__name__}")
    return value


class GradOperation:
    """MindSpore's ``GradOperation(get_all=False, get_by_list=False, sens_param=False)``; ``GradOperation(...)(fn)``
    or ``(fn, weights)`` is the gradient function. What it returns:

    ================================  ======================================================
    flags                             gradients
    ================================  ======================================================
    (none)                            of the first input
    ``get_all``                       of every input, a tuple
    ``get_by_list``                   of ``weights``, a tuple
    ``get_all`` and ``get_by_list``   ``((of every input), (of weights))``
    ================================  ======================================================

    ``sens_param=True``: the gradient function takes the output's sensitivity (what ``grad`` seeds with ones) as
    its last argument, or as ``sens=`` — a tuple for a tuple output.

    >>> import softgrad as sg
    >>> grad_all = GradOperation(get_all=True)(lambda x, y: x * y)
    >>> grad_all(sg.Tensor([2.0]), sg.Tensor([3.0]))
    (Tensor(shape=[1], dtype=Float32, value=
    [3.]), Tensor(shape=[1], dtype=Float32, value=
    [2.]))
    """

    def __init__(self, get_all: bool = False, get_by_list: bool = False, sens_param: bool = False):
        self.get_all = _flag("get_all", get_all)
        self.get_by_list = _flag("get_by_list", get_by_list)
        self.sens_param = _flag("sens_param", sens_param)

    def __call__(self, fn: Callable, weights=None) -> Callable:
        _check_callable(fn, "GradOperation")
        if self.get_by_list and weights is None:
            raise ValueError("GradOperation(get_by_list=True) differentiates the weights passed with the function: "
                             "call it as GradOperation(get_by_list=True)(net, net.trainable_params())")
        weight_list = _weights(weights)[0] if self.get_by_list else ()

        def gradient_function(*args, **kwargs):
            sens = None
            if self.sens_param:
                if "sens" in kwargs:
                    sens = kwargs.pop("sens")
                elif args:
                    args, sens = args[:-1], args[-1]
                else:
                    raise TypeError("GradOperation(sens_param=True): pass the sensitivity as the last argument")
            if kwargs:
                raise TypeError(f"GradOperation: unexpected keyword arguments {sorted(kwargs)}")
            positions = tuple(range(len(args))) if self.get_all else (0,) if args else ()
            if not self.get_all and not self.get_by_list and not args:
                raise ValueError("GradOperation() differentiates the first input, but the function was called "
                                 "with none")
            if not self.get_all and self.get_by_list:
                positions = ()
            _, _, position_grads, weight_grads = differentiate(fn, args, positions, weight_list, sens=sens)
            if self.get_all and self.get_by_list:
                return tuple(position_grads), tuple(weight_grads)
            if self.get_by_list:
                return tuple(weight_grads)
            return tuple(position_grads) if self.get_all else position_grads[0]

        return gradient_function


# ----- get_grad -----


def get_grad(gradients, identifier):
    """The gradient of ``identifier`` — a position (int) or a Parameter — in the result of ``grad(...,
    return_ids=True)`` (or the gradient part of ``value_and_grad``'s), searched through nested tuples.

    >>> import softgrad as sg
    >>> out = sg.grad(lambda x, y, z: x * y * z, (1, 2), return_ids=True)(
    ...     sg.Tensor([1.0, 2.0]), sg.Tensor([-2.0, 3.0]), sg.Tensor([0.0, 3.0]))
    >>> get_grad(out, 1)
    Tensor(shape=[2], dtype=Float32, value=
    [0., 6.])
    """
    if isinstance(identifier, bool) or not isinstance(identifier, (int, np.integer, Parameter)):
        raise TypeError(f"get_grad: identifier must be a position (int) or a Parameter, got "
                        f"{type(identifier).__name__} {identifier!r:.40}")
    if not isinstance(gradients, tuple):
        raise TypeError(f"get_grad: gradients must be what grad(..., return_ids=True) returns, a tuple, got "
                        f"{type(gradients).__name__}")
    key = identifier.name if isinstance(identifier, Parameter) else int(identifier)
    found = _find(gradients, key)
    if found is None:
        raise RuntimeError(f"get_grad: no gradient for {identifier!r:.60} among the ids "
                           f"{_ids(gradients)}; was it in grad_position or weights?")
    return found


def _is_pair(value) -> bool:
    return (isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], Tensor)
            and isinstance(value[0], (int, str)) and not isinstance(value[0], bool))


def _find(gradients, key):
    if _is_pair(gradients):
        return gradients[1] if gradients[0] == key and type(gradients[0]) is type(key) else None
    if isinstance(gradients, tuple):
        for part in gradients:
            found = _find(part, key)
            if found is not None:
                return found
    return None


def _ids(gradients) -> list:
    if _is_pair(gradients):
        return [gradients[0]]
    return [i for part in gradients for i in _ids(part)] if isinstance(gradients, tuple) else []


# ----- jacrev, jacfwd -----


def _nest(per_output: list, rebuild):
    """MindSpore's structure: for each output, the Jacobian of the one input or a tuple with one per input; then
    one output as it is, several in fn's output structure (a tuple: one entry per output)."""
    return rebuild([parts[0] if len(parts) == 1 else tuple(parts) for parts in per_output])


def _aux_result(aux: tuple):
    return aux[0] if len(aux) == 1 else aux


def jacrev(fn: Callable, grad_position=0, has_aux: bool = False) -> Callable:
    """MindSpore's ``jacrev``: the Jacobian of ``fn`` by reverse mode, rows: one backward sweep per output (with the
    identity as a batch of cotangents), the faster mode for wide Jacobians (few outputs, many inputs). For outputs
    oᵢ and inputs xⱼ at ``grad_position``, ∂oᵢ/∂xⱼ has shape ``oᵢ.shape + xⱼ.shape``, nested as MindSpore nests
    them (``_nest``); an input that is a dict, list or tuple of Tensors gets that structure of Jacobians; with
    ``has_aux`` ``(jacobian, aux)``.

    >>> import softgrad as sg
    >>> jacrev(lambda x: x * x)(sg.Tensor([1.0, 2.0]))
    Tensor(shape=[2, 2], dtype=Float32, value=
    [[2., 0.],
     [0., 4.]])
    """
    return _jacobian_transform(fn, grad_position, has_aux, "jacrev", reverse_jacobians)


def jacfwd(fn: Callable, grad_position=0, has_aux: bool = False) -> Callable:
    """MindSpore's ``jacfwd``: the same Jacobians as ``jacrev``, by forward mode, columns — J·eₖ for every basis
    vector eₖ of the inputs, all pushed through fn in one pass as a batch of tangents: the faster mode for tall
    Jacobians (many outputs, few inputs).

    >>> import softgrad as sg
    >>> jacfwd(lambda x: x * x)(sg.Tensor([1.0, 2.0]))
    Tensor(shape=[2, 2], dtype=Float32, value=
    [[2., 0.],
     [0., 4.]])
    """
    return _jacobian_transform(fn, grad_position, has_aux, "jacfwd", forward_jacobians)


def _jacobian_transform(fn, grad_position, has_aux, name, jacobians_of):
    _check_callable(fn, name)
    if not isinstance(has_aux, bool):
        raise TypeError(f"{name}: has_aux must be a bool, got {type(has_aux).__name__}")
    positions = _positions(grad_position)
    if positions is None:
        raise ValueError(f"{name} needs grad_position (an int or a tuple of ints), got None")

    def jacobian_fn(*args):
        _check_arity(positions, args, ValueError)
        per_output, rebuild, aux = jacobians_of(_restricted(fn, args, positions), [args[p] for p in positions],
                                                has_aux)
        result = _nest(per_output, rebuild)
        return (result, _aux_result(aux)) if has_aux else result

    return jacobian_fn


# ----- linearize, and what MindSpore code calls that softgrad need not do -----


def linearize(fn: Callable, inputs):
    """MindSpore's ``linearize``: ``(fn(*inputs), jvp_fn)`` with ``jvp_fn(v)`` = J·v at ``inputs`` (one tangent per
    input, as ``jvp``'s ``v``; dicts, lists and tuples of Tensors as inputs too). fn is traced once; every
    ``jvp_fn`` call is one forward sweep of the tangents over that trace, with no value computed again.

    >>> import softgrad as sg
    >>> out, jvp_fn = linearize(lambda x: x * x, sg.Tensor([3.0]))
    >>> jvp_fn(sg.Tensor([1.0]))
    Tensor(shape=[1], dtype=Float32, value=
    [6.])
    """
    _check_callable(fn, "linearize")
    primals = _as_tuple(inputs)
    output, _, trace = _vjp_all(fn, primals)
    rebuild = tree_flatten(output)[1]
    values = [value for _, value in trace.leaves]

    def jvp_fn(v):
        tangents = _tangent_leaves("linearize: jvp_fn", _as_tuple(v), values, trace.trees)
        swept = forward_sweep(trace.tape, {node: t for (node, _), t in zip(trace.leaves, tangents)})
        columns = []
        for o in trace.outs:
            tangent = swept[o._node] if isinstance(o, Tensor) and o._trace == trace.level else None
            columns.append(wrap(np.zeros(shape_of(o), concrete(o).dtype) if tangent is None else tangent))
        return rebuild(columns)

    return output, jvp_fn


def jit(fn=None, *args, **kwargs):
    """MindSpore's ``jit`` (``@jit`` or ``jit(fn)``): softgrad runs eagerly, so it returns ``fn`` as it is."""
    return (lambda f: f) if fn is None else fn


def set_context(**kwargs) -> None:
    """MindSpore's ``set_context(mode=..., device_target=...)``: accepted so that MindSpore code runs unchanged;
    softgrad runs eagerly (PyNative-like) on the CPU whatever it says."""


__all__ = ["GradOperation", "get_grad", "jacrev", "jacfwd", "linearize", "jit", "set_context"]
