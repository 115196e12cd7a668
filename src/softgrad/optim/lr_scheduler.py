"""Learning-rate schedules, PyTorch-style: a scheduler sets ``optimizer.lr``, and ``scheduler.step()`` advances
it by one (an epoch or an iteration: the caller decides). Each is a closed form of the step count t, so
``state_dict()`` is just t and a resumed schedule continues exactly.

>>> import softgrad as sg
>>> opt = sg.optim.SGD([sg.Parameter(sg.ops.zeros(1), name='w')], lr=1.0)
>>> schedule = SequentialLR(opt, [LinearLR(opt, start_factor=0.5, total_iters=2),
...                               CosineAnnealingLR(opt, T_max=2)], milestones=[2])
>>> lrs = []
>>> for _ in range(5):
...     lrs.append(round(opt.lr, 3))
...     schedule.step()
>>> lrs
[0.5, 0.75, 1.0, 0.5, 0.0]
"""

from __future__ import annotations

import bisect
import math

from softgrad.optim.optimizer import Optimizer


class LRScheduler:
    """Base class: subclasses define ``lr_at(t)``, the learning rate after t steps, from ``base_lr``
    (the optimizer's ``initial_lr``). Creating a scheduler sets the optimizer to ``lr_at(0)``."""

    def __init__(self, optimizer: Optimizer):
        self.optimizer = optimizer
        self.base_lr = optimizer.initial_lr
        self.last_epoch = 0
        optimizer.lr = self.lr_at(0)

    def lr_at(self, t: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        self.optimizer.lr = self.lr_at(self.last_epoch)

    def get_last_lr(self) -> float:
        return self.optimizer.lr

    def state_dict(self) -> dict:
        return {"last_epoch": self.last_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.last_epoch = int(state["last_epoch"])
        self.optimizer.lr = self.lr_at(self.last_epoch)


class StepLR(LRScheduler):
    """lr = base · γ^⌊t / step_size⌋."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer)

    def lr_at(self, t: int) -> float:
        return self.base_lr * self.gamma ** (t // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = η_min + (base − η_min) · (1 + cos(π t / T_max)) / 2: half a cosine from base down to η_min."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):  # noqa: N803 (PyTorch's name)
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = int(T_max), float(eta_min)
        super().__init__(optimizer)

    def lr_at(self, t: int) -> float:
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2


class LinearLR(LRScheduler):
    """Linear warm-up (or decay): lr = base · (s + (e − s) · min(t, total_iters) / total_iters), with start
    factor s and end factor e (PyTorch's defaults: s = 1/3, e = 1, total_iters = 5)."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1 / 3, end_factor: float = 1.0,
                 total_iters: int = 5):
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1 or total_iters < 1:
            raise ValueError("LinearLR: need 0 < start_factor <= 1, 0 <= end_factor <= 1 and total_iters >= 1, "
                             f"got {start_factor}, {end_factor}, {total_iters}")
        self.start_factor, self.end_factor, self.total_iters = float(start_factor), float(end_factor), int(total_iters)
        super().__init__(optimizer)

    def lr_at(self, t: int) -> float:
        fraction = min(t, self.total_iters) / self.total_iters
        return self.base_lr * (self.start_factor + (self.end_factor - self.start_factor) * fraction)


class SequentialLR(LRScheduler):
    """Schedulers one after another: ``schedulers[i]`` runs from ``milestones[i-1]``, restarted at its t = 0
    (e.g. a LinearLR warm-up, then CosineAnnealingLR)."""

    def __init__(self, optimizer: Optimizer, schedulers: list[LRScheduler], milestones: list[int]):
        if len(milestones) != len(schedulers) - 1 or list(milestones) != sorted(milestones):
            raise ValueError(f"SequentialLR: need len(schedulers) - 1 = {len(schedulers) - 1} increasing "
                             f"milestones, got {milestones}")
        self.schedulers, self.milestones = list(schedulers), [int(m) for m in milestones]
        super().__init__(optimizer)

    def lr_at(self, t: int) -> float:
        index = bisect.bisect_right(self.milestones, t)
        start = self.milestones[index - 1] if index else 0
        return self.schedulers[index].lr_at(t - start)
