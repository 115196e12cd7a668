"""RMSprop with PyTorch's update rule (eps added to √v, optionally centred and with momentum)."""

from __future__ import annotations

import numpy as np

from softgrad._checks import check_bool, check_real
from softgrad.optim.optimizer import Optimizer, decayed_gradient


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e), PyTorch's rule and defaults:

        g ← −∇ if maximize else ∇;   g ← g + λ·p                      (weight_decay λ)
        v ← α·v + (1 − α)·g²                                           (alpha α; v starts at 0)
        d ← √(v − ḡ²) + eps with ḡ ← ḡ + (1 − α)·(g − ḡ) if centered, else √v + eps
        b ← μ·b + g/d,  p ← p − lr·b   if momentum μ > 0,  else  p ← p − lr·g/d

    >>> import softgrad as sg
    >>> w = sg.Parameter(sg.Tensor([1.0, -1.0]), name='w')
    >>> RMSprop([w], lr=0.01)(sg.grad(lambda: (w * w).sum(), None, weights=[w])())
    >>> w.numpy().round(4)   # the first step is lr/√(1 − α) = 0.1 in every entry
    array([ 0.9, -0.9], dtype=float32)
    """

    hyperparameters = ("alpha", "eps", "weight_decay", "momentum", "centered", "maximize")
    squared_states = ("square_avg",)

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False, maximize: bool = False):
        super().__init__(params, lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                         centered=centered, maximize=maximize)

    def check_hyperparameters(self, owner, *, alpha, eps, weight_decay, momentum, centered, maximize):
        return {"alpha": check_real(owner, "alpha", alpha, 0.0, 1.0),
                "eps": check_real(owner, "eps", eps),
                "weight_decay": check_real(owner, "weight_decay", weight_decay),
                "momentum": check_real(owner, "momentum", momentum),
                "centered": check_bool(owner, "centered", centered),
                "maximize": check_bool(owner, "maximize", maximize)}

    def state_names(self, group):
        return (("square_avg",) + (("momentum_buffer",) if group["momentum"] else ())
                + (("grad_avg",) if group["centered"] else ()))

    def update(self, array, grad, state, group):
        alpha, momentum = group["alpha"], group["momentum"]
        grad = decayed_gradient(array, grad, group)
        for name in self.state_names(group):
            if name not in state:
                state[name] = np.zeros_like(array)
        v = state["square_avg"]
        v *= alpha
        v += (1 - alpha) * grad * grad
        if group["centered"]:
            mean = state["grad_avg"]
            mean += (1 - alpha) * (grad - mean)
            denom = np.sqrt(v - mean * mean)
        else:
            denom = np.sqrt(v)
        denom += group["eps"]
        if momentum:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += grad / denom
            self.add_scaled(array, -group["lr"], buf)
        else:
            self.add_scaled(array, -group["lr"], grad / denom)


__all__ = ["RMSprop"]
