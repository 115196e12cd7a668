"""softgrad.optim: optimizers that update Parameters in place (``optimizer(grads)`` or ``optimizer.step(grads)``)
with PyTorch's update rules, and learning-rate schedules.

A training step::

    loss_and_grads = sg.value_and_grad(loss_fn, None, weights=optimizer.parameters)
    loss, grads = loss_and_grads(x, y)
    optimizer(grads)
"""

from softgrad.optim.adam import Adam, AdamW
from softgrad.optim.lr_scheduler import CosineAnnealingLR, LinearLR, LRScheduler, SequentialLR, StepLR
from softgrad.optim.optimizer import Optimizer, parameter_array
from softgrad.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "LRScheduler", "StepLR", "CosineAnnealingLR", "LinearLR",
           "SequentialLR", "parameter_array"]
