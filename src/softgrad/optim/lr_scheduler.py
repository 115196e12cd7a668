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

from softgrad.optim.optimizer import Optimizer, check_integer, check_known_keys, check_real


class LRScheduler:
    """Base class: subclasses define ``lr_at(t)``, the learning rate after t steps, from ``base_lr``
    (the optimizer's ``initial_lr``). Creating a scheduler sets the optimizer to ``lr_at(0)``."""

    def __init__(self, optimizer: Optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: optimizer must be a softgrad.optim Optimizer, got "
                            f"{type(optimizer).__name__} {optimizer!r:.80}")
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
        owner = f"{type(self).__name__}.load_state_dict"
        check_known_keys(owner, "state", state, ("last_epoch",))
        if "last_epoch" not in state:
            raise ValueError(f"{owner}: the state lacks 'last_epoch'; pass what scheduler.state_dict() returned")
        self.last_epoch = check_integer(owner, "last_epoch", state["last_epoch"], 0)
        self.optimizer.lr = self.lr_at(self.last_epoch)


class StepLR(LRScheduler):
    """lr = base · γ^⌊t / step_size⌋."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        self.step_size = check_integer("StepLR", "step_size", step_size, 1)
        self.gamma = check_real("StepLR", "gamma", gamma, low_open=True)
        super().__init__(optimizer)

    def lr_at(self, t: int) -> float:
        return self.base_lr * self.gamma ** (t // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = η_min + (base − η_min) · (1 + cos(π t / T_max)) / 2: half a cosine from base down to η_min."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):  # noqa: N803 (PyTorch's name)
        self.T_max = check_integer("CosineAnnealingLR", "T_max", T_max, 1)
        self.eta_min = check_real("CosineAnnealingLR", "eta_min", eta_min)
        super().__init__(optimizer)

    def lr_at(self, t: int) -> float:
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2


class LinearLR(LRScheduler):
    """Linear warm-up (or decay): lr = base · (s + (e − s) · min(t, total_iters) / total_iters), with start
    factor s and end factor e (PyTorch's defaults: s = 1/3, e = 1, total_iters = 5)."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1 / 3, end_factor: float = 1.0,
                 total_iters: int = 5):
        self.start_factor = check_real("LinearLR", "start_factor", start_factor, 0.0, 1.0, low_open=True)
        self.end_factor = check_real("LinearLR", "end_factor", end_factor, 0.0, 1.0)
        self.total_iters = check_integer("LinearLR", "total_iters", total_iters, 1)
        super().__init__(optimizer)

    def lr_at(self, t: int) -> float:
        fraction = min(t, self.total_iters) / self.total_iters
        return self.base_lr * (self.start_factor + (self.end_factor - self.start_factor) * fraction)


class SequentialLR(LRScheduler):
    """Schedulers one after another: ``schedulers[i]`` runs from ``milestones[i-1]``, restarted at its t = 0
    (e.g. a LinearLR warm-up, then CosineAnnealingLR)."""

    def __init__(self, optimizer: Optimizer, schedulers: list[LRScheduler], milestones: list[int]):
        if not isinstance(schedulers, (list, tuple)) or not schedulers:
            raise TypeError(f"SequentialLR: schedulers must be a non-empty list of schedulers, got {schedulers!r:.80}")
        for i, scheduler in enumerate(schedulers):
            if not isinstance(scheduler, LRScheduler) or scheduler.optimizer is not optimizer:
                raise ValueError(f"SequentialLR: schedulers[{i}] must be a scheduler of this optimizer, got "
                                 f"{scheduler!r:.80}; build every scheduler on the optimizer passed to SequentialLR")
        if not isinstance(milestones, (list, tuple)):
            raise TypeError(f"SequentialLR: milestones must be a list of integers, got {milestones!r:.80}")
        milestones = [check_integer("SequentialLR", f"milestones[{i}]", m, 1) for i, m in enumerate(milestones)]
        if len(milestones) != len(schedulers) - 1 or any(a >= b for a, b in zip(milestones, milestones[1:])):
            raise ValueError(f"SequentialLR: milestones must be len(schedulers) - 1 = {len(schedulers) - 1} "
                             f"increasing step counts, got {milestones}")
        self.schedulers, self.milestones = list(schedulers), milestones
        super().__init__(optimizer)

    def lr_at(self, t: int) -> float:
        index = bisect.bisect_right(self.milestones, t)
        start = self.milestones[index - 1] if index else 0
        return self.schedulers[index].lr_at(t - start)
