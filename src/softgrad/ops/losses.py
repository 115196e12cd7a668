"""Losses: fused kernels with closed-form derivative rules, PyTorch's semantics."""

from __future__ import annotations

import numpy as np

from softgrad.ops._primitive import lift_python, shape_of, tensor_out
from softgrad.ops.elementwise import _softplus, sigmoid_p, softplus_p
from softgrad.ops.reductions import mean, sum
from softgrad.tensor import Primitive

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction: str, allowed=REDUCTIONS) -> None:
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {', '.join(map(repr, allowed))}, got {reduction!r}")


def reduce_loss(loss, reduction: str):
    """The per-element ``loss`` reduced as asked: 'mean' (over all elements), 'sum' or 'none'."""
    check_reduction(reduction)
    if reduction == "mean":
        return mean(loss)
    if reduction == "sum":
        return sum(loss)
    return tensor_out(loss)


# ----- binary cross-entropy on logits -----


def _bce_logits_impl(z, y, weight, pos_weight):
    """w·[(1 − y)·z + (1 + (p − 1)·y)·softplus(−z)]  (= w·[−p·y·ln σ(z) − (1 − y)·ln(1 − σ(z))])."""
    scale = 1 if pos_weight is None else 1 + (pos_weight - 1) * y
    loss = (1 - y) * z + scale * _softplus(-z)
    return loss if weight is None else loss * weight


def _bce_logits_vjp_logits(g, ans, z, y, weight, pos_weight):
    """∂/∂z = w·[(1 + (p − 1)·y)·σ(z) − p·y]  (= w·(σ(z) − y) without pos_weight)."""
    s = sigmoid_p.bind(z)
    d = s - y if pos_weight is None else (1 + (pos_weight - 1) * y) * s - pos_weight * y
    return g * (d if weight is None else d * weight)


def _bce_logits_vjp_label(g, ans, z, y, weight, pos_weight):
    """∂/∂y = w·[(p − 1)·softplus(−z) − z]."""
    d = -z if pos_weight is None else (pos_weight - 1) * softplus_p.bind(-z) - z
    return g * (d if weight is None else d * weight)


def _bce_logits_vjp_weight(g, ans, z, y, weight, pos_weight):
    return g * bce_logits_p.bind(z, y, None, pos_weight)


def _bce_logits_vjp_pos_weight(g, ans, z, y, weight, pos_weight):
    """∂/∂p = w·y·softplus(−z)."""
    d = y * softplus_p.bind(-z)
    return g * (d if weight is None else d * weight)


bce_logits_p = Primitive("binary_cross_entropy_with_logits", _bce_logits_impl,
                         (_bce_logits_vjp_logits, _bce_logits_vjp_label, _bce_logits_vjp_weight,
                          _bce_logits_vjp_pos_weight))


def binary_cross_entropy_with_logits(logits, label, weight=None, pos_weight=None, reduction="mean"):
    """Sigmoid + binary cross-entropy in one stable kernel (MindSpore's argument order):

    ℓ = w·[(1 − y)·z + (1 + (p − 1)·y)·ln(1 + e^{−z})],  ∂ℓ/∂z = w·[(1 + (p − 1)·y)·σ(z) − p·y],

    with ``pos_weight`` p broadcasting along the last (class) axis. Finite for any logit.

    >>> binary_cross_entropy_with_logits([0.0], [1.0])
    Tensor(shape=[], dtype=Float32, value= 0.6931472)
    """
    check_reduction(reduction)
    logits, label = lift_python(logits, label)
    z_shape, y_shape = shape_of(logits), shape_of(label)
    if z_shape != y_shape:
        raise ValueError(f"binary_cross_entropy_with_logits: label shape {y_shape} must equal logits shape "
                         f"{z_shape}")
    return reduce_loss(bce_logits_p.bind(logits, label, weight, pos_weight), reduction)
