"""PyTorch's ``ReduceLROnPlateau``: lower the learning rate when a metric stops improving."""

from __future__ import annotations

import math
import numbers

import numpy as np

from softgrad._checks import check_choice, check_integer, check_known_keys, check_per_group, check_real
from softgrad.optim.lr_scheduler import check_optimizer
from softgrad.optim.optimizer import Optimizer
from softgrad.tensor import Tensor, concrete

OWNER = "ReduceLROnPlateau"
STATE_KEYS = ("last_epoch", "best", "num_bad_epochs", "cooldown_counter")


class ReduceLROnPlateau:
    """PyTorch's ReduceLROnPlateau, with its defaults: ``scheduler.step(metric)`` after each epoch. A metric is
    better than the best so far when (mode 'min'; 'max' mirrors it)

        metric < best·(1 − threshold)   (threshold_mode 'rel')   or   metric < best − threshold   ('abs')

    After more than ``patience`` steps without a better metric, each group's lr ← max(lr·factor, min_lr) (a change
    smaller than eps is skipped) and ``cooldown`` steps follow in which bad steps are not counted. A NaN metric is
    never better, as in PyTorch. Not a closed form of t: ``state_dict()`` holds the counters and the best metric,
    and the learning rates travel in the optimizer's state_dict.

    >>> import softgrad as sg
    >>> opt = sg.optim.SGD([sg.Parameter(sg.ops.zeros(1), name='w')], lr=1.0)
    >>> schedule = ReduceLROnPlateau(opt, factor=0.5, patience=1)
    >>> for loss in [3.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0]:
    ...     schedule.step(loss)
    >>> schedule.get_last_lr()
    [0.25]
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0, min_lr=0.0,
                 eps: float = 1e-8):
        self.optimizer = check_optimizer(OWNER, optimizer)
        self.mode = check_choice(OWNER, "mode", mode, ("min", "max"))
        self.factor = check_real(OWNER, "factor", factor, 0.0, 1.0, high_open=True)
        self.patience = check_integer(OWNER, "patience", patience, 0)
        self.threshold = check_real(OWNER, "threshold", threshold)
        self.threshold_mode = check_choice(OWNER, "threshold_mode", threshold_mode, ("rel", "abs"))
        self.cooldown = check_integer(OWNER, "cooldown", cooldown, 0)
        self.min_lrs = check_per_group(OWNER, "min_lr", min_lr, len(optimizer.param_groups), check_real)
        self.eps = check_real(OWNER, "eps", eps)
        self.last_epoch = 0
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def is_better(self, metric: float) -> bool:
        sign = 1.0 if self.mode == "min" else -1.0
        if self.threshold_mode == "rel":
            return sign * metric < sign * self.best * (1 - sign * self.threshold)
        return sign * metric < sign * self.best - self.threshold

    def step(self, metrics) -> None:
        """One epoch's metric (a number or a one-element Tensor): counts a bad epoch or records a new best, and
        lowers the learning rates after more than ``patience`` bad ones."""
        value = concrete(metrics) if isinstance(metrics, Tensor) else metrics
        if isinstance(value, np.ndarray) and value.size == 1:
            value = value.reshape(()).item()
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise TypeError(f"{OWNER}.step: metrics must be a number (the epoch's loss or accuracy), got "
                            f"{type(metrics).__name__} {metrics!r:.80}")
        value = float(value)
        self.last_epoch += 1
        if self.is_better(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                new_lr = max(group["lr"] * self.factor, min_lr)
                if group["lr"] - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0

    def get_last_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {key: getattr(self, key) for key in STATE_KEYS}

    def load_state_dict(self, state: dict) -> None:
        """Restore ``state_dict()``'s output, every field checked (best may be ±inf, before the first step)."""
        owner = f"{OWNER}.load_state_dict"
        check_known_keys(owner, "state", state, STATE_KEYS)
        missing = [key for key in STATE_KEYS if key not in state]
        if missing:
            raise ValueError(f"{owner}: the state lacks {missing}; pass what scheduler.state_dict() returned")
        counters = {key: check_integer(owner, key, state[key], 0) for key in STATE_KEYS if key != "best"}
        best = state["best"]
        if isinstance(best, (bool, np.bool_)) or not isinstance(best, numbers.Real) or math.isnan(best):
            raise ValueError(f"{owner}: best must be a number (±inf before the first step), got {best!r}")
        self.__dict__.update(counters, best=float(best))


__all__ = ["ReduceLROnPlateau"]
