"""softgrad: exact, fast functional autodiff on NumPy for neural-network classification.

Layers, lowest first: ``tensor`` (data + trace) → ``ops`` (primitives, each with its derivative rule) →
``autodiff`` (transforms) → ``info`` → ``nn`` (cells, layers, losses) → ``optim`` → ``data`` →
``training`` → ``cli``.
"""

from softgrad import info, linear_model, nn, ops, optim, random
from softgrad.autodiff import (
    GradOperation, check_grad, custom_jvp, custom_vjp, derivative, get_grad, grad, graph, hessian, jacfwd, jacobian,
    jacrev, jet, jit, jvp, linearize, set_context, value_and_grad, vjp, vmap,
)
from softgrad.config import config, debug_infs, debug_nans
from softgrad.nn.serialization import load_checkpoint, load_param_into_net, save_checkpoint
from softgrad.ops import stop_gradient
from softgrad.random import set_seed
from softgrad.tensor import Parameter, Tensor, bool_, float16, float32, float64, from_dlpack, int32, int64

__version__ = "0.1.0"


def tensor(data, dtype=None) -> Tensor:
    """A Tensor from data (a copy-free view of an ndarray of the right dtype)."""
    return Tensor(data, dtype)


__all__ = [
    "Tensor", "Parameter", "tensor", "ops", "nn", "optim", "info", "random", "grad", "value_and_grad", "vjp",
    "jvp", "jacobian", "hessian", "check_grad", "stop_gradient", "float16", "float32", "float64", "int32",
    "int64", "bool_", "config", "debug_nans", "debug_infs", "GradOperation", "custom_vjp", "custom_jvp", "get_grad",
    "graph",
    "save_checkpoint", "load_checkpoint", "load_param_into_net", "from_dlpack",
    "jacfwd", "jacrev", "linearize", "jit", "set_context", "vmap", "jet", "derivative", "linear_model", "set_seed",
]
