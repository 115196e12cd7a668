"""MindSpore's ``nn.Momentum``: its signature, argument names and weight-decay rule."""

from __future__ import annotations

from softgrad._checks import check_bool, check_real
from softgrad.optim.optimizer import Optimizer, state_array
from softgrad.tensor import Parameter


def _decay_exempt(params: list):
    """MindSpore's rule for ungrouped parameters: weight decay skips those with 'beta' or 'gamma' in their name
    (normalisation scales and shifts). ``params`` as the groups that express it, or as it is if none is exempt."""
    if not params or not all(isinstance(p, Parameter) for p in params):
        return params  # groups already, or wrong: the base class says what to pass
    exempt = [p for p in params if "beta" in p.name or "gamma" in p.name]
    if not exempt:
        return params
    exempt_ids = {id(p) for p in exempt}
    decayed = [p for p in params if id(p) not in exempt_ids]
    if not decayed:
        return [{"params": exempt, "weight_decay": 0.0}]
    return [{"params": decayed}, {"params": exempt, "weight_decay": 0.0}, {"order_params": params}]


class Momentum(Optimizer):
    """MindSpore's Momentum, ``Momentum(params, learning_rate, momentum, weight_decay=0.0, loss_scale=1.0,
    use_nesterov=False)``; ``optimizer(grads)`` applies

        g ← ∇/loss_scale + λ·p                   (weight_decay λ: MindSpore scales it by loss_scale, then divides)
        v ← u·v + g                               (momentum u; v starts at 0)
        p ← p − lr·(g + u·v)  if use_nesterov,  else  p ← p − lr·v

    which is PyTorch's SGD(momentum=u, dampening=0) on ∇/loss_scale. As in MindSpore, when ``params`` is a plain
    list and weight_decay > 0, Parameters whose name holds 'beta' or 'gamma' (BatchNorm's) are not decayed: they
    form a parameter group of their own with weight_decay 0 (the gradient order stays that of ``params``). Groups
    take 'lr' and 'weight_decay' (MindSpore's keys) and any other hyperparameter; a learning rate is a number
    (MindSpore's lists and LearningRateSchedule are the schedulers in ``softgrad.optim`` here).

    >>> import softgrad as sg
    >>> w = sg.Parameter(sg.Tensor([1.0, 2.0]), name='w')
    >>> opt = Momentum([w], learning_rate=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt(sg.grad(lambda: (w * w).sum(), None, weights=[w])())
    >>> w.numpy().round(4)   # v = 2w₀, then 0.9·v + 2·0.8·w₀ = 3.4·w₀; w = 0.8·w₀ − 0.34·w₀
    array([0.46, 0.92], dtype=float32)
    """

    hyperparameters = ("momentum", "weight_decay", "loss_scale", "use_nesterov")
    lr_name = "learning_rate"

    def __init__(self, params, learning_rate: float, momentum: float, weight_decay: float = 0.0,
                 loss_scale: float = 1.0, use_nesterov: bool = False):
        if isinstance(params, (list, tuple)) and isinstance(weight_decay, (int, float)) and weight_decay > 0:
            params = _decay_exempt(list(params))
        super().__init__(params, learning_rate, momentum=momentum, weight_decay=weight_decay, loss_scale=loss_scale,
                         use_nesterov=use_nesterov)

    def check_hyperparameters(self, owner, *, momentum, weight_decay, loss_scale, use_nesterov):
        return {"momentum": check_real(owner, "momentum", momentum),
                "weight_decay": check_real(owner, "weight_decay", weight_decay),
                "loss_scale": check_real(owner, "loss_scale", loss_scale, low_open=True),
                "use_nesterov": check_bool(owner, "use_nesterov", use_nesterov)}

    def state_names(self, group):
        return ("moment",)

    def update(self, array, grad, state, group):
        momentum, weight_decay, loss_scale = group["momentum"], group["weight_decay"], group["loss_scale"]
        if loss_scale != 1:
            grad = grad / loss_scale
        if weight_decay:
            grad = grad + weight_decay * array
        moment = state.get("moment")
        if moment is None:
            moment = state["moment"] = state_array(grad, array)  # u·0 + g
        else:
            moment *= momentum
            self.add_scaled(moment, 1.0, grad)
        self.add_scaled(array, -group["lr"], grad + momentum * moment if group["use_nesterov"] else moment)


__all__ = ["Momentum"]
