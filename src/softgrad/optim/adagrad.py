"""Adagrad and Adadelta with PyTorch's update rules and defaults."""

from __future__ import annotations

import numpy as np

from softgrad._checks import check_bool, check_real
from softgrad.optim.optimizer import Optimizer, decayed_gradient


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), PyTorch's rule and defaults:

        g ← −∇ if maximize else ∇;   g ← g + λ·p                      (weight_decay λ)
        s ← s + g²                                  (s starts at initial_accumulator_value)
        p ← p − lr/(1 + (t − 1)·lr_decay) · g/(√s + eps)               (t: the step, from 1)

    >>> import softgrad as sg
    >>> w = sg.Parameter(sg.Tensor([1.0, -2.0]), name='w')
    >>> Adagrad([w], lr=0.5)(sg.grad(lambda: (w * w).sum(), None, weights=[w])())
    >>> w.numpy().round(6)   # the first step is lr·sign(g)
    array([ 0.5, -1.5], dtype=float32)
    """

    hyperparameters = ("lr_decay", "weight_decay", "initial_accumulator_value", "eps", "maximize")
    squared_states = ("sum",)

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, maximize: bool = False):
        super().__init__(params, lr, lr_decay=lr_decay, weight_decay=weight_decay,
                         initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize)

    def check_hyperparameters(self, owner, *, lr_decay, weight_decay, initial_accumulator_value, eps, maximize):
        return {"lr_decay": check_real(owner, "lr_decay", lr_decay),
                "weight_decay": check_real(owner, "weight_decay", weight_decay),
                "initial_accumulator_value": check_real(owner, "initial_accumulator_value", initial_accumulator_value),
                "eps": check_real(owner, "eps", eps),
                "maximize": check_bool(owner, "maximize", maximize)}

    def state_names(self, group):
        return ("sum",)

    def update(self, array, grad, state, group):
        grad = decayed_gradient(array, grad, group)
        if "sum" not in state:
            state["sum"] = np.full_like(array, group["initial_accumulator_value"])
        total = state["sum"]
        total += grad * grad
        clr = group["lr"] / (1 + (self.step_count - 1) * group["lr_decay"])
        denom = np.sqrt(total)
        denom += group["eps"]
        self.add_scaled(array, -clr, grad / denom)


class Adadelta(Optimizer):
    """Adadelta (Zeiler), PyTorch's rule and defaults (lr = 1 is the paper's method):

        g ← −∇ if maximize else ∇;   g ← g + λ·p                      (weight_decay λ)
        v ← ρ·v + (1 − ρ)·g²,   δ ← √(u + eps)/√(v + eps) · g,   u ← ρ·u + (1 − ρ)·δ²       (v, u start at 0)
        p ← p − lr·δ

    >>> import softgrad as sg
    >>> w = sg.Parameter(sg.Tensor([1.0]), name='w')
    >>> Adadelta([w], eps=1e-6)(sg.grad(lambda: (w * w).sum(), None, weights=[w])())
    >>> round(float(w.numpy()[0]), 6)   # 1 − √eps·2/√(0.1·4 + eps)
    0.996838
    """

    hyperparameters = ("rho", "eps", "weight_decay", "maximize")
    squared_states = ("square_avg", "acc_delta")

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0.0,
                 maximize: bool = False):
        super().__init__(params, lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)

    def check_hyperparameters(self, owner, *, rho, eps, weight_decay, maximize):
        return {"rho": check_real(owner, "rho", rho, 0.0, 1.0),
                "eps": check_real(owner, "eps", eps),
                "weight_decay": check_real(owner, "weight_decay", weight_decay),
                "maximize": check_bool(owner, "maximize", maximize)}

    def state_names(self, group):
        return ("square_avg", "acc_delta")

    def update(self, array, grad, state, group):
        rho, eps = group["rho"], group["eps"]
        grad = decayed_gradient(array, grad, group)
        if not state:
            state["square_avg"] = np.zeros_like(array)
            state["acc_delta"] = np.zeros_like(array)
        v, u = state["square_avg"], state["acc_delta"]
        v *= rho
        v += (1 - rho) * grad * grad
        delta = np.sqrt(u + eps) / np.sqrt(v + eps) * grad
        u *= rho
        u += (1 - rho) * delta * delta
        self.add_scaled(array, -group["lr"], delta)


__all__ = ["Adagrad", "Adadelta"]
