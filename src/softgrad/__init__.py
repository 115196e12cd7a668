"""softgrad: exact, fast functional autodiff on NumPy for neural-network classification.

Layers, lowest first: ``tensor`` (data + trace) → ``ops`` (primitives, each with its derivative rule) →
``autodiff`` (transforms) → ``nn`` (cells, layers, losses) → ``optim`` → ``data`` → ``cli``.
"""

from softgrad import ops, random
from softgrad.autodiff import check_grad, grad, hessian, jacobian, jvp, value_and_grad, vjp
from softgrad.ops import stop_gradient
from softgrad.tensor import (
    Parameter, Tensor, bool_, float16, float32, float64, int32, int64,
)
from softgrad import nn
from softgrad import info
from softgrad import optim

__version__ = "0.1.0"


def tensor(data, dtype=None) -> Tensor:
    """A Tensor from data (a copy-free view of an ndarray of the right dtype)."""
    return Tensor(data, dtype)


__all__ = [
    "Tensor", "Parameter", "tensor", "ops", "nn", "random", "grad", "value_and_grad", "vjp", "jvp",
    "jacobian", "hessian", "check_grad", "stop_gradient", "float16", "float32", "float64", "int32", "int64",
    "bool_",
]
__all__ += ["optim"]
__all__ += ["info"]
