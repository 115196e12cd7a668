"""Stochastic gradient descent with PyTorch's update rule."""

from __future__ import annotations

from softgrad.optim.optimizer import Optimizer, check_bool, check_real, state_array


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
        super().__init__(params, lr)
        self.__dict__.update(self.check_hyperparameters(momentum=momentum, dampening=dampening, nesterov=nesterov,
                                                        weight_decay=weight_decay))

    def check_hyperparameters(self, *, momentum, dampening, nesterov, weight_decay):
        name = type(self).__name__
        checked = {"momentum": check_real(name, "momentum", momentum),
                   "dampening": check_real(name, "dampening", dampening, 0.0, 1.0),
                   "nesterov": check_bool(name, "nesterov", nesterov),
                   "weight_decay": check_real(name, "weight_decay", weight_decay)}
        if checked["nesterov"] and (checked["momentum"] <= 0 or checked["dampening"] != 0):
            raise ValueError(f"{name}: nesterov=True needs momentum > 0 and dampening = 0, got momentum={momentum!r} "
                             f"and dampening={dampening!r}")
        return checked

    def state_names(self, hyperparameters):
        return ("momentum_buffer",) if hyperparameters["momentum"] else ()

    def update(self, array, grad, state):
        if self.weight_decay:
            grad = grad + self.weight_decay * array
        if self.momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = state_array(grad, array)
            else:
                buf *= self.momentum
                self.add_scaled(buf, 1 - self.dampening, grad)
            grad = grad + self.momentum * buf if self.nesterov else buf
        self.add_scaled(array, -self.lr, grad)
