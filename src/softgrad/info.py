"""Information measures of discrete distributions along an axis, in nats (``base=e``) or any base (``base=2``:
bits), with 0·log 0 = 0 handled exactly (``ops.xlogy``).

* ``entropy(p)``                  H(p)    = −Σ p·log p
* ``cross_entropy_between(p, q)`` H(p, q) = −Σ p·log q
* ``kl_divergence(p, q)``         KL(p‖q) = Σ p·(log p − log q)  (+inf where p > 0 = q)
* ``binary_entropy(p)``           H(p, 1 − p), elementwise

H(p, q) = H(p) + KL(p‖q), and KL ≥ 0 with equality iff p = q (Gibbs), for p and q that sum to 1 along
``axis``. p and q must be distributions along ``axis``: entries ≥ 0 and sums within 1e-3 of 1 (0.03 in
float16; a sanity check, loose enough for rounding and for finite differences); anything else raises, naming
the entry or the sum. They are not normalised for you (SciPy's ``entropy`` and PyTorch's ``Categorical``
divide by the sum): a silent normalisation would hide counts or logits passed by mistake and change the
gradient, which here is that of the formula on the simplex. All are differentiable (the rules of xlogy, log1p and the arithmetic ops).
"""

from __future__ import annotations

import math

import numpy as np

from softgrad import ops
from softgrad.ops._primitive import first_index, op
from softgrad.tensor import Tensor, as_array, concrete


def _check(fn: str, name: str, value, axis) -> None:
    """``value`` is a distribution along ``axis``: entries ≥ 0 (NaN fails) summing to 1 within 1e-3 (or √ε)."""
    array = as_array(concrete(value), name=f"{fn}: {name}")
    negative = ~(array >= 0)
    if negative.any():
        position = first_index(negative)
        raise ValueError(f"{fn}: {name} must hold probabilities (≥ 0), got {array[position].item()!r} at index "
                         f"{position}")
    total = np.sum(array, axis=axis, dtype=np.float64)
    tolerance = max(1e-3, math.sqrt(np.finfo(array.dtype if array.dtype.kind == "f" else np.float64).eps))
    off = ~(np.abs(total - 1) <= tolerance)
    if off.any():
        position = first_index(off)
        raise ValueError(f"{fn}: {name} must sum to 1 along axis={axis} (within {tolerance:.2g}), got a sum of "
                         f"{np.asarray(total)[position].item()!r} at index {position}; divide by the sum "
                         f"({name} / {name}.sum(axis, keepdims=True)) if it holds unnormalised weights")


def _in_base(nats, base) -> Tensor:
    if base == math.e:
        return nats
    if not base > 0 or base == 1:
        raise ValueError(f"base must be positive and not 1, got {base!r}")
    return nats / math.log(base)


@op
def entropy(p, axis=-1, base=math.e) -> Tensor:
    """H(p) = −Σ p·log p along ``axis`` (0·log 0 = 0).  ∂H/∂p = −(log p + 1)/ln base

    >>> entropy([0.5, 0.5, 0.0], base=2)
    Tensor(shape=[], dtype=Float32, value= 1.)
    """
    _check("entropy", "p", p, axis)
    return _in_base(0.0 - ops.sum(ops.xlogy(p, p), axis=axis), base)  # 0 − s: no −0


@op
def cross_entropy_between(p, q, axis=-1, base=math.e) -> Tensor:
    """H(p, q) = −Σ p·log q along ``axis`` (0 where p = 0, +inf where p > 0 = q).

    >>> round(cross_entropy_between([0.0, 1.0, 0.0], [0.3, 0.6, 0.1]).item(), 6)  # −ln 0.6
    0.510826
    """
    _check("cross_entropy_between", "p", p, axis)
    _check("cross_entropy_between", "q", q, axis)
    return _in_base(0.0 - ops.sum(ops.xlogy(p, q), axis=axis), base)


@op
def kl_divergence(p, q, axis=-1, base=math.e) -> Tensor:
    """KL(p‖q) = Σ p·(log p − log q) along ``axis`` (0 where p = 0, +inf where p > 0 = q); exactly 0 for p = q.

    ∂KL/∂p = (log p − log q + 1)/ln base,  ∂KL/∂q = −(p/q)/ln base

    >>> kl_divergence([0.5, 0.5], [0.5, 0.5])
    Tensor(shape=[], dtype=Float32, value= 0.)
    """
    _check("kl_divergence", "p", p, axis)
    _check("kl_divergence", "q", q, axis)
    return _in_base(ops.sum(ops.xlogy(p, p) - ops.xlogy(p, q), axis=axis), base)


@op
def binary_entropy(p, base=math.e) -> Tensor:
    """H(p) = −p·log p − (1 − p)·log(1 − p), elementwise (the second term as (1 − p)·log1p(−p), exact for
    tiny p; 0 at p = 0 and p = 1).  ∂H/∂p = log((1 − p)/p)/ln base

    >>> binary_entropy([0.5, 0.0, 1.0], base=2)
    Tensor(shape=[3], dtype=Float32, value=
    [1., 0., 0.])
    """
    array = as_array(concrete(p), name="binary_entropy: p")
    outside = ~((array >= 0) & (array <= 1))
    if outside.any():
        position = first_index(outside)
        raise ValueError(f"binary_entropy: p must lie in [0, 1], got {array[position].item()!r} at index "
                         f"{position}")
    below_one = ops.less(p, 1)
    complement = ops.where(below_one, ops.log1p(-ops.where(below_one, p, 0)), 0) * (1 - p)
    return _in_base(0.0 - (ops.xlogy(p, p) + complement), base)


__all__ = ["entropy", "cross_entropy_between", "kl_divergence", "binary_entropy"]
