"""Learning-rate schedules, PyTorch-style: a scheduler sets the learning rate of every parameter group of its
optimizer, each from that group's ``initial_lr``, and ``scheduler.step()`` advances it by one (an epoch or an
iteration: the caller decides). Each is a closed form of the step count t, so ``state_dict()`` is just t and a
resumed schedule continues exactly (``ReduceLROnPlateau``, which follows a metric, is in ``plateau.py``).

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

from softgrad._checks import check_integer, check_known_keys, check_real
from softgrad.optim.optimizer import Optimizer


def check_optimizer(owner: str, optimizer) -> Optimizer:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{owner}: optimizer must be a softgrad.optim Optimizer, got {type(optimizer).__name__} "
                        f"{optimizer!r:.80}")
    return optimizer


class LRScheduler:
    """Base class: subclasses define ``lr_at(t, i)``, the learning rate of parameter group i after t steps, from
    ``base_lrs[i]`` (that group's ``initial_lr``). Creating a scheduler sets every group to ``lr_at(0, i)``."""

    def __init__(self, optimizer: Optimizer):
        self.optimizer = check_optimizer(type(self).__name__, optimizer)
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = 0
        self._apply(0)

    def lr_at(self, t: int, i: int = 0) -> float:
        raise NotImplementedError

    def _apply(self, t: int) -> None:
        """Set every parameter group to its value at step t."""
        for i, group in enumerate(self.optimizer.param_groups):
            group["lr"] = self.lr_at(t, i)

    def step(self) -> None:
        self._apply(self.last_epoch + 1)
        self.last_epoch += 1

    def get_last_lr(self) -> list[float]:
        """The learning rate of each parameter group, as PyTorch returns it."""
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {"last_epoch": self.last_epoch}

    def load_state_dict(self, state: dict) -> None:
        owner = f"{type(self).__name__}.load_state_dict"
        check_known_keys(owner, "state", state, ("last_epoch",))
        if "last_epoch" not in state:
            raise ValueError(f"{owner}: the state lacks 'last_epoch'; pass what scheduler.state_dict() returned")
        last_epoch = check_integer(owner, "last_epoch", state["last_epoch"], 0)
        self._apply(last_epoch)
        self.last_epoch = last_epoch


class StepLR(LRScheduler):
    """lr = base · γ^⌊t / step_size⌋."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        self.step_size = check_integer("StepLR", "step_size", step_size, 1)
        self.gamma = check_real("StepLR", "gamma", gamma, low_open=True)
        super().__init__(optimizer)

    def lr_at(self, t: int, i: int = 0) -> float:
        return self.base_lrs[i] * self.gamma ** (t // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = η_min + (base − η_min) · (1 + cos(π t / T_max)) / 2: half a cosine from base down to η_min."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):  # noqa: N803 (PyTorch's name)
        self.T_max = check_integer("CosineAnnealingLR", "T_max", T_max, 1)
        self.eta_min = check_real("CosineAnnealingLR", "eta_min", eta_min)
        super().__init__(optimizer)

    def lr_at(self, t: int, i: int = 0) -> float:
        return self.eta_min + (self.base_lrs[i] - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2


class LinearLR(LRScheduler):
    """Linear warm-up (or decay): lr = base · (s + (e − s) · min(t, total_iters) / total_iters), with start
    factor s and end factor e (PyTorch's defaults: s = 1/3, e = 1, total_iters = 5)."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1 / 3, end_factor: float = 1.0,
                 total_iters: int = 5):
        self.start_factor = check_real("LinearLR", "start_factor", start_factor, 0.0, 1.0, low_open=True)
        self.end_factor = check_real("LinearLR", "end_factor", end_factor, 0.0, 1.0)
        self.total_iters = check_integer("LinearLR", "total_iters", total_iters, 1)
        super().__init__(optimizer)

    def lr_at(self, t: int, i: int = 0) -> float:
        fraction = min(t, self.total_iters) / self.total_iters
        return self.base_lrs[i] * (self.start_factor + (self.end_factor - self.start_factor) * fraction)


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

    def lr_at(self, t: int, i: int = 0) -> float:
        index = bisect.bisect_right(self.milestones, t)
        start = self.milestones[index - 1] if index else 0
        return self.schedulers[index].lr_at(t - start, i)


class ExponentialLR(LRScheduler):
    """lr = base · γᵗ."""

    def __init__(self, optimizer: Optimizer, gamma: float):
        self.gamma = check_real("ExponentialLR", "gamma", gamma, low_open=True)
        super().__init__(optimizer)

    def lr_at(self, t: int, i: int = 0) -> float:
        return self.base_lrs[i] * self.gamma ** t


class MultiStepLR(LRScheduler):
    """lr = base · γ^(number of milestones ≤ t): ×γ at each milestone (a milestone given twice counts twice, as in
    PyTorch)."""

    def __init__(self, optimizer: Optimizer, milestones: list[int], gamma: float = 0.1):
        if not isinstance(milestones, (list, tuple)):
            raise TypeError(f"MultiStepLR: milestones must be a list of step counts, got {milestones!r:.80}")
        self.milestones = sorted(check_integer("MultiStepLR", f"milestones[{i}]", m, 0)
                                 for i, m in enumerate(milestones))
        self.gamma = check_real("MultiStepLR", "gamma", gamma, low_open=True)
        super().__init__(optimizer)

    def lr_at(self, t: int, i: int = 0) -> float:
        return self.base_lrs[i] * self.gamma ** bisect.bisect_right(self.milestones, t)


__all__ = [
    "check_optimizer", "LRScheduler", "StepLR", "CosineAnnealingLR", "LinearLR", "SequentialLR", "ExponentialLR",
    "MultiStepLR",
]
