"""Tensor's operators and methods are the ops: ``x + y`` is ``ops.add(x, y)``, ``x.sum()`` is ``ops.sum(x)``.
NumPy ufuncs applied to a Tensor (``np.exp(t)``, ``ndarray * t``) dispatch here too, so they stay traced."""

from __future__ import annotations

import numpy as np

from softgrad.ops import activations as act, creation, elementwise as ew, linalg, reductions as red, shape
from softgrad.tensor import Tensor, concrete, wrap
from softgrad.trace import operator_method


# The arithmetic operators bind their primitive directly: ``self`` is a Tensor, so the op's conversion of Python
# data never applies and bind returns a Tensor, the same result without the op's layer (the per-op cost).

_BINARY = {"add": ew.add_p, "sub": ew.sub_p, "mul": ew.mul_p, "truediv": ew.div_p, "floordiv": ew.floordiv_p,
           "mod": ew.mod_p, "pow": ew.pow_p}
for _name, _prim in _BINARY.items():
    setattr(Tensor, f"__{_name}__", operator_method(_prim))
    setattr(Tensor, f"__r{_name}__", operator_method(_prim, reflected=True))

Tensor.__matmul__ = linalg.matmul  # (its shape checks)
Tensor.__rmatmul__ = lambda self, other: linalg.matmul(other, self)
Tensor.__neg__ = lambda self: ew.neg_p.bind(self)
Tensor.__pos__ = lambda self: self
Tensor.__abs__ = ew.abs
Tensor.__eq__ = ew.equal
Tensor.__ne__ = ew.not_equal
Tensor.__lt__ = ew.less
Tensor.__le__ = ew.less_equal
Tensor.__gt__ = ew.greater
Tensor.__ge__ = ew.greater_equal
Tensor.__and__ = ew.logical_and
Tensor.__or__ = ew.logical_or
Tensor.__xor__ = ew.logical_xor
Tensor.__invert__ = ew.logical_not
Tensor.__getitem__ = shape.getitem



def _reduction_method(op):
    """``t.sum(axis, keepdims)``; also takes NumPy's ``out=None`` so ``np.sum(t)`` works (and stays traced)."""

    def method(self, axis=None, keepdims=False, out=None, **numpy_defaults):
        if out is not None:
            raise TypeError(f"Tensor.{op.__name__}: out= is not supported (Tensors are immutable inside transforms)")
        return op(self, axis=axis, keepdims=keepdims)

    method.__name__ = op.__name__
    method.__doc__ = op.__doc__
    return method


for _op in (red.sum, red.mean, red.max, red.min, red.prod, red.argmax, red.argmin):
    setattr(Tensor, _op.__name__, _reduction_method(_op))

_METHODS = {
    "var": red.var, "std": red.std, "logsumexp": act.logsumexp,
    "reshape": shape.reshape, "transpose": shape.transpose, "swapaxes": shape.swapaxes,
    "expand_dims": shape.expand_dims, "squeeze": shape.squeeze, "flatten": shape.flatten,
    "broadcast_to": red.broadcast_to, "astype": shape.astype, "copy": shape.copy,
    "exp": ew.exp, "log": ew.log, "log1p": ew.log1p, "expm1": ew.expm1, "sqrt": ew.sqrt, "square": ew.square,
    "abs": ew.abs, "sign": ew.sign, "sin": ew.sin, "cos": ew.cos, "tanh": ew.tanh, "sigmoid": ew.sigmoid,
    "relu": ew.relu, "clip": ew.clip, "matmul": linalg.matmul, "dot": linalg.dot,
    "cumsum": red.cumsum, "cumprod": red.cumprod, "tril": linalg.tril, "triu": linalg.triu, "diag": linalg.diag,
    "trace": linalg.trace, "sort": red.sort, "argsort": red.argsort, "topk": red.topk,
    "norm": linalg.norm,
}
for _name, _op in _METHODS.items():
    setattr(Tensor, _name, _op)

Tensor.T = property(lambda self: shape.transpose(self))
Tensor.detach = shape.stop_gradient


def _all(self, axis=None):
    """Whether every entry (over ``axis``) is true; traced (inside vmap: per example) as "no entry is false"."""
    if not self.is_traced:
        return wrap(np.all(concrete(self), axis=axis))
    return red.sum(ew.logical_not(self), axis=axis) == 0


def _any(self, axis=None):
    if not self.is_traced:
        return wrap(np.any(concrete(self), axis=axis))
    return red.sum(ew.not_equal(self, 0), axis=axis) > 0


Tensor.all, Tensor.any = _all, _any
Tensor.ones_like = creation.ones_like
Tensor.zeros_like = creation.zeros_like

_UFUNCS = {
    np.add: ew.add, np.subtract: ew.sub, np.multiply: ew.mul, np.true_divide: ew.div,
    np.floor_divide: ew.floordiv, np.mod: ew.mod, np.power: ew.pow, np.matmul: linalg.matmul,
    np.negative: ew.neg, np.exp: ew.exp, np.log: ew.log, np.log1p: ew.log1p, np.expm1: ew.expm1,
    np.sqrt: ew.sqrt, np.square: ew.square, np.absolute: ew.abs, np.sign: ew.sign, np.sin: ew.sin,
    np.cos: ew.cos, np.tanh: ew.tanh, np.maximum: ew.maximum, np.minimum: ew.minimum, np.equal: ew.equal,
    np.not_equal: ew.not_equal, np.less: ew.less, np.less_equal: ew.less_equal, np.greater: ew.greater,
    np.greater_equal: ew.greater_equal, np.logical_and: ew.logical_and, np.logical_or: ew.logical_or,
    np.logical_xor: ew.logical_xor, np.logical_not: ew.logical_not,
}
_BOOLEAN_UFUNCS = {np.bitwise_and: ew.logical_and, np.bitwise_or: ew.logical_or, np.bitwise_xor: ew.logical_xor,
                   np.invert: ew.logical_not}  # (on booleans: ndarray & Tensor, as derivative rules write masks)


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    """NumPy ufuncs on Tensors run as softgrad ops (traced); others see the concrete arrays."""
    op = _UFUNCS.get(ufunc)
    if op is None and all(np.asarray(concrete(i)).dtype == np.bool_ for i in inputs):
        op = _BOOLEAN_UFUNCS.get(ufunc)
    if method == "__call__" and op is not None and not kwargs:
        return op(*inputs)
    arrays = [concrete(i) if isinstance(i, Tensor) else i for i in inputs]
    if any(isinstance(i, Tensor) and i.is_traced for i in inputs):
        raise TypeError(f"np.{ufunc.__name__}{'' if method == '__call__' else '.' + method} is not "
                        "differentiable in softgrad; use the softgrad.ops equivalent")
    return getattr(ufunc, method)(*arrays, **kwargs)


Tensor.__array_ufunc__ = _array_ufunc
