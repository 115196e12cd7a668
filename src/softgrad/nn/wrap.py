"""Training wrappers with MindSpore's names: ``WithLossCell`` joins a network and a loss; ``TrainOneStepCell``
runs one optimisation step per call (forward, ``value_and_grad``, ``optimizer(grads)``); ``ForwardValueAndGrad``
returns the network's output with ``GradOperation``'s gradients.

>>> import softgrad as sg
>>> net = sg.nn.Dense(2, 1, weight_init='zeros', bias_init='zeros')
>>> def mse(pred, target):
...     return ((pred - target) ** 2).mean()
>>> step = TrainOneStepCell(WithLossCell(net, mse), sg.optim.SGD(net.trainable_params(), lr=0.1))
>>> x, y = sg.Tensor([[1.0, 2.0]]), sg.Tensor([[1.0]])
>>> [round(float(step(x, y)), 4) for _ in range(3)]
[1.0, 0.04, 0.0016]
"""

from __future__ import annotations

from softgrad.autodiff import GradOperation, jvp, value_and_grad, vjp
from softgrad.autodiff.transforms import differentiate
from softgrad.nn.cell import Cell


class WithLossCell(Cell):
    """``loss_fn(backbone(data), label)``."""

    def __init__(self, backbone: Cell, loss_fn):
        super().__init__(auto_prefix=False)  # the backbone's Parameters keep their names (as MindSpore)
        self.backbone = backbone
        self.loss_fn = loss_fn

    def construct(self, data, label):
        return self.loss_fn(self.backbone(data), label)


class TrainOneStepCell(Cell):
    """One step of training per call: returns the loss (before the update) and updates the Parameters of
    ``optimizer`` in place. The network is put in training mode. ``sens`` (MindSpore's) is the sensitivity the
    backward starts from: the gradients are those of ``sens · loss``."""

    def __init__(self, network: Cell, optimizer, sens: float = 1.0):
        super().__init__(auto_prefix=False)
        if isinstance(sens, bool) or not isinstance(sens, (int, float)) or not abs(sens) < float("inf"):
            raise ValueError(f"TrainOneStepCell: sens must be a finite number, got {sens!r}")
        self.network = network
        self.optimizer = optimizer
        self.sens = float(sens)
        self.network.set_train(True)
        self._value_and_grad = value_and_grad(network, None, weights=optimizer.parameters)

    def construct(self, *inputs):
        if self.sens == 1.0:
            loss, grads = self._value_and_grad(*inputs)
        else:
            loss, _, _, grads = differentiate(self.network, inputs, (), tuple(self.optimizer.parameters),
                                              sens=self.sens)
        self.optimizer(tuple(grads))
        return loss


class ForwardValueAndGrad(Cell):
    """MindSpore's ``nn.ForwardValueAndGrad(network, weights=None, get_all=False, get_by_list=False,
    sens_param=False)``: a call returns ``(network's output, gradients)``, the gradients as ``GradOperation``
    with the same flags returns them (``sens_param``: the sensitivity is the last input)."""

    def __init__(self, network, weights=None, get_all: bool = False, get_by_list: bool = False,
                 sens_param: bool = False):
        super().__init__(auto_prefix=False)
        self.network = network
        self.weights = weights
        self._grad = GradOperation(get_all=get_all, get_by_list=get_by_list, sens_param=sens_param)(network, weights)
        self.sens_param = sens_param

    def construct(self, *inputs):
        values = inputs[:-1] if self.sens_param else inputs
        return self.network(*values), self._grad(*inputs)


class Jvp(Cell):
    """MindSpore's ``nn.Jvp(fn)``: ``Jvp(fn)(*inputs, v)`` is ``(fn(*inputs), J·v)``, v one tangent per input (a
    tuple for several), as ``softgrad.jvp``."""

    def __init__(self, fn):
        super().__init__(auto_prefix=False)
        self.fn = fn

    def construct(self, *inputs_and_v):
        *inputs, v = inputs_and_v
        return jvp(self.fn, tuple(inputs), v)


class Vjp(Cell):
    """MindSpore's ``nn.Vjp(fn)``: ``Vjp(fn)(*inputs, v)`` is ``(fn(*inputs), vᵀJ)``, v one cotangent per output,
    vᵀJ one gradient per input (a tuple), as ``softgrad.vjp``."""

    def __init__(self, fn):
        super().__init__(auto_prefix=False)
        self.fn = fn

    def construct(self, *inputs_and_v):
        *inputs, v = inputs_and_v
        output, vjp_fn = vjp(self.fn, *inputs)
        return output, vjp_fn(*v) if isinstance(v, tuple) else vjp_fn(v)


__all__ = ["WithLossCell", "TrainOneStepCell", "ForwardValueAndGrad", "Jvp", "Vjp"]
