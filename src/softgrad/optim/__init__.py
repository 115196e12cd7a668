"""softgrad.optim: optimizers that update Parameters in place (``optimizer(grads)`` or ``optimizer.step(grads)``)
with PyTorch's update rules (and MindSpore's Momentum), parameter groups, learning-rate schedules and gradient
clipping.

A training step::

    loss_and_grads = sg.value_and_grad(loss_fn, None, weights=optimizer.parameters)
    loss, grads = loss_and_grads(x, y)
    optimizer(grads)
"""

from softgrad.optim.adagrad import Adadelta, Adagrad
from softgrad.optim.adam import Adam, AdamW
from softgrad.optim.clip import clip_by_global_norm, clip_grad_norm_
from softgrad.optim.lr_scheduler import (CosineAnnealingLR, ExponentialLR, LinearLR, LRScheduler, MultiStepLR,
                                         SequentialLR, StepLR)
from softgrad.optim.momentum import Momentum
from softgrad.optim.one_cycle import OneCycleLR
from softgrad.optim.optimizer import Optimizer, parameter_array
from softgrad.optim.plateau import ReduceLROnPlateau
from softgrad.optim.rmsprop import RMSprop
from softgrad.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Momentum", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "LRScheduler", "StepLR",
           "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "SequentialLR", "OneCycleLR",
           "ReduceLROnPlateau", "clip_by_global_norm", "clip_grad_norm_", "parameter_array"]
