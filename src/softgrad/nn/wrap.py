"""Training wrappers with MindSpore's names: ``WithLossCell`` joins a network and a loss; ``TrainOneStepCell``
runs one optimisation step per call (forward, ``value_and_grad``, ``optimizer(grads)``).

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

from softgrad.autodiff import value_and_grad
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
    ``optimizer`` in place. The network is put in training mode."""

    def __init__(self, network: Cell, optimizer):
        super().__init__(auto_prefix=False)
        self.network = network
        self.optimizer = optimizer
        self.network.set_train(True)
        self._value_and_grad = value_and_grad(network, None, weights=optimizer.parameters)

    def construct(self, *inputs):
        loss, grads = self._value_and_grad(*inputs)
        self.optimizer(grads)
        return loss
