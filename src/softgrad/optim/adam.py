"""Adam and AdamW with PyTorch's update rules (bias correction, eps added to the corrected √v)."""

from __future__ import annotations

import math

import numpy as np

from softgrad._checks import check_bool, check_real
from softgrad.optim.optimizer import Optimizer


def check_betas(owner: str, betas) -> tuple[float, float]:
    """``betas`` as a pair of floats in [0, 1)."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{owner}: betas must be a pair (beta1, beta2) of numbers in [0, 1), e.g. (0.9, 0.999); "
                         f"got {betas!r}")
    return tuple(check_real(owner, f"betas[{i}]", beta, 0.0, 1.0, high_open=True) for i, beta in enumerate(betas))


class Adam(Optimizer):
    """Adam (Kingma & Ba), PyTorch's rule; ``weight_decay`` is an L2 term added to the gradient:

        g ← ∇ + λ·p
        m ← m + (1 − β₁)·(g − m),    v ← β₂·v + (1 − β₂)·g²       (v̂ ← max(v̂, v) with amsgrad)
        p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + eps)

    >>> import softgrad as sg
    >>> w = sg.Parameter(sg.Tensor([1.0, -1.0]), name='w')
    >>> Adam([w], lr=0.1)(sg.grad(lambda: (w * w).sum(), None, weights=[w])())
    >>> w.numpy().round(6)   # the first step moves every entry by lr
    array([ 0.9, -0.9], dtype=float32)
    """

    hyperparameters = ("betas", "eps", "weight_decay", "amsgrad")
    squared_states = ("exp_avg_sq", "max_exp_avg_sq")
    decoupled_weight_decay = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 amsgrad: bool = False):
        super().__init__(params, lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)

    def check_hyperparameters(self, owner, *, betas, eps, weight_decay, amsgrad):
        return {"betas": check_betas(owner, betas),
                "eps": check_real(owner, "eps", eps),
                "weight_decay": check_real(owner, "weight_decay", weight_decay),
                "amsgrad": check_bool(owner, "amsgrad", amsgrad)}

    def state_names(self, group):
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group["amsgrad"] else ())

    def update(self, array, grad, state, group):
        (beta1, beta2), lr, weight_decay = group["betas"], group["lr"], group["weight_decay"]
        if weight_decay:
            if self.decoupled_weight_decay:
                array *= 1 - lr * weight_decay
            else:
                grad = grad + weight_decay * array
        if not state:
            state["exp_avg"] = np.zeros_like(array)
            state["exp_avg_sq"] = np.zeros_like(array)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(array)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (1 - beta1) * (grad - m)
        v *= beta2
        v += (1 - beta2) * grad * grad
        if group["amsgrad"]:
            v = np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        t = self.step_count
        step_size = lr / (1 - beta1 ** t)
        denom = np.sqrt(v) / math.sqrt(1 - beta2 ** t) + group["eps"]
        array -= step_size * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), PyTorch's rule: first p ← p·(1 − lr·λ), then the
    Adam step on the plain gradient. ``weight_decay`` defaults to 0.01, as in PyTorch."""

    decoupled_weight_decay = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 amsgrad: bool = False):
        super().__init__(params, lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


__all__ = ["check_betas", "Adam", "AdamW"]
