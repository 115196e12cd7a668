"""softgrad.autodiff: the backward sweep (``backward``), the transforms built on it (``transforms``: ``grad``,
``value_and_grad``, ``vjp``, ``jvp``, ``jacobian``, ``hessian``, ``check_grad``), forward mode (``forward``),
MindSpore's other entry points (``mindspore``: ``GradOperation``, ``get_grad``, ``jacrev``, ``jacfwd``,
``linearize``, ``jit``, ``set_context``), Taylor mode (``taylor``: ``jet``, ``derivative``), custom derivatives
(``custom``: ``custom_vjp``, ``custom_jvp``, ``Cell.bprop``), ``vmap`` and the computation graph of a call
(``graph``)."""

from softgrad.autodiff.transforms import (  # noqa: F401  (_vjp_all: the traced call, for tests of the tape)
    _vjp_all, check_grad, grad, hessian, jacobian, jvp, value_and_grad, vjp,
)
from softgrad.autodiff.custom import custom_jvp, custom_vjp
from softgrad.autodiff.graph import graph
from softgrad.autodiff.vmap import vmap
from softgrad.autodiff.taylor import derivative, jet
from softgrad.autodiff.mindspore import GradOperation, get_grad, jacfwd, jacrev, jit, linearize, set_context


__all__ = [
    "check_grad", "grad", "hessian", "jacobian", "jvp", "value_and_grad", "vjp", "custom_vjp", "custom_jvp", "graph",
    "vmap",
    "derivative", "jet", "GradOperation", "get_grad", "jacfwd", "jacrev", "jit", "linearize", "set_context",
]
