"""Whether an array's memory is softgrad's alone to write, from CPython's reference counts.

A value that no caller and no rule can see may be overwritten in place: the backward sweep's cotangents (a fused
activation's rule writes g·f' into g, a parent's next cotangent is added into its sum; PyTorch's engine steals a
gradient the same way), and a convolution's output that an activation written by hand follows (``ops.relu``:
``_primitive.folded``). The counts are exact on CPython 3.11-3.13 without free threading; elsewhere (3.14
borrows references of locals) every test here answers no, so nothing is ever written in place.
"""

from __future__ import annotations

import sys
import sysconfig
from sys import getrefcount

import numpy as np

EXACT = (sys.implementation.name == "cpython" and (3, 11) <= sys.version_info[:2] <= (3, 13)
         and not sysconfig.get_config_var("Py_GIL_DISABLED"))


def _refcount_of_a_sole_local() -> int:
    """What ``getrefcount(v)`` reads for a value held by one local variable and nothing else; -1 where counts are
    not exact (so that no count ever matches)."""
    v = np.empty(0)
    return getrefcount(v) if EXACT else -1


def _base_refcount(a) -> int:
    base = a.base
    return getrefcount(base)


SOLE_LOCAL = _refcount_of_a_sole_local()
_SOLE_BASE = _base_refcount(np.empty((1, 2)).T) if EXACT else -1  # a base nothing but its one view holds


def writable(a) -> bool:
    """A plain ndarray whose writeable memory nothing else reaches through another array: it owns it, or it is a
    view of an array only it references (the NCHW view of channels-last memory the convolution and pooling
    kernels return, a crop of it) in which no two elements share memory. The caller checks the references to
    ``a`` itself."""
    if type(a) is not np.ndarray or not a.flags.writeable:
        return False
    if a.base is None:
        return True
    if _base_refcount(a) != _SOLE_BASE:  # (before any other reference to the base is made)
        return False
    base = a.base
    return type(base) is np.ndarray and base.base is None and _without_overlap(a)


def _without_overlap(a) -> bool:
    """Whether every element of ``a`` has memory of its own: along the axes by increasing stride, each stride
    passes the reach of the axes inside it (a stride-0 or self-overlapping ``as_strided`` view does not)."""
    reach = a.itemsize
    for stride, length in sorted((abs(s), n) for s, n in zip(a.strides, a.shape) if n > 1):
        if stride < reach:
            return False
        reach = stride * (length - 1) + reach
    return True
