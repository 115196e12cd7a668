"""Stochastic gradient descent with PyTorch's update rule."""

from __future__ import annotations

from softgrad._checks import check_bool, check_real
from softgrad.optim.optimizer import Optimizer, state_array


class SGD(Optimizer):
    """SGD, optionally with momentum, dampening, Nesterov momentum and L2 weight decay (PyTorch's rule):

        g ← ∇ + λ·p                                    (weight_decay λ)
        b ← g at the first step, else μ·b + (1 − τ)·g   (momentum μ, dampening τ)
        g ← g + μ·b  if nesterov,  else  b
        p ← p − lr·g

    >>> import softgrad as sg
    >>> w = sg.Parameter(sg.Tensor([1.0, 2.0]), name='w')
    >>> opt = SGD([w], lr=0.1)
    >>> opt(sg.grad(lambda: (w * w).sum(), None, weights=[w])())
    >>> w
    Parameter (name=w, shape=(2,), dtype=Float32, requires_grad=True)
    >>> w.numpy()
    array([0.8, 1.6], dtype=float32)
    """

    hyperparameters = ("momentum", "dampening", "nesterov", "weight_decay")

    def __init__(self, params, lr: float, momentum: float = 0.0, dampening: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        super().__init__(params, lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                         weight_decay=weight_decay)

    def check_hyperparameters(self, owner, *, momentum, dampening, nesterov, weight_decay):
        checked = {"momentum": check_real(owner, "momentum", momentum),
                   "dampening": check_real(owner, "dampening", dampening, 0.0, 1.0),
                   "nesterov": check_bool(owner, "nesterov", nesterov),
                   "weight_decay": check_real(owner, "weight_decay", weight_decay)}
        if checked["nesterov"] and (checked["momentum"] <= 0 or checked["dampening"] != 0):
            raise ValueError(f"{owner}: nesterov=True needs momentum > 0 and dampening = 0, got momentum={momentum!r} "
                             f"and dampening={dampening!r}")
        return checked

    def state_names(self, group):
        return ("momentum_buffer",) if group["momentum"] else ()

    def update(self, array, grad, state, group):
        momentum, weight_decay = group["momentum"], group["weight_decay"]
        if weight_decay:
            grad = grad + weight_decay * array
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = state_array(grad, array)
            else:
                buf *= momentum
                self.add_scaled(buf, 1 - group["dampening"], grad)
            grad = grad + momentum * buf if group["nesterov"] else buf
        self.add_scaled(array, -group["lr"], grad)


__all__ = ["SGD"]
