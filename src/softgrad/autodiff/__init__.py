"""softgrad.autodiff: the backward sweep (``backward``) and the transforms built on it (``transforms``: ``grad``,
``value_and_grad``, ``vjp``, ``jvp``, ``jacobian``, ``hessian``, ``check_grad``)."""

from softgrad.autodiff.transforms import (  # noqa: F401  (_vjp_all: the traced call, for tests of the tape)
    _vjp_all, check_grad, grad, hessian, jacobian, jvp, value_and_grad, vjp,
)
