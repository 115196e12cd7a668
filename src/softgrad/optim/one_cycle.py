"""PyTorch's ``OneCycleLR``: the 1cycle policy (Smith & Topin), learning rate up then down, momentum the other way."""

from __future__ import annotations

import math

from softgrad._checks import check_bool, check_choice, check_integer, check_per_group, check_real
from softgrad.optim.lr_scheduler import LRScheduler, check_optimizer
from softgrad.optim.optimizer import Optimizer

OWNER = "OneCycleLR"


def _anneal_cos(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def _anneal_linear(start: float, end: float, pct: float) -> float:
    return (end - start) * pct + start


def _total_steps(total_steps, epochs, steps_per_epoch) -> int:
    if total_steps is not None:
        return check_integer(OWNER, "total_steps", total_steps, 1)
    if epochs is None or steps_per_epoch is None:
        raise ValueError(f"{OWNER}: give total_steps, or epochs and steps_per_epoch; got total_steps=None, "
                         f"epochs={epochs!r}, steps_per_epoch={steps_per_epoch!r}")
    return check_integer(OWNER, "epochs", epochs, 1) * check_integer(OWNER, "steps_per_epoch", steps_per_epoch, 1)


class OneCycleLR(LRScheduler):
    """PyTorch's OneCycleLR, per parameter group and with PyTorch's defaults. With initial = max_lr/div_factor and
    min = initial/final_div_factor, the learning rate anneals (``anneal_strategy``: half a cosine, or linearly)

        initial → max_lr over steps 0 … pct_start·T − 1, then max_lr → min until step T − 1     (T: total_steps)
        three_phase: initial → max_lr, max_lr → initial (until 2·pct_start·T − 2), initial → min

    and with ``cycle_momentum`` the optimizer's ``momentum`` (or beta1 of ``betas``) anneals the other way,
    max_momentum → base_momentum → max_momentum (three_phase: and stays at max_momentum). The optimizer's own
    learning rate is not used; stepping beyond T raises, as in PyTorch.

    >>> import softgrad as sg
    >>> opt = sg.optim.SGD([sg.Parameter(sg.ops.zeros(1), name='w')], lr=1.0, momentum=0.9)
    >>> schedule = OneCycleLR(opt, max_lr=1.0, total_steps=5, pct_start=0.4, div_factor=10, final_div_factor=10)
    >>> lrs = []
    >>> for _ in range(5):
    ...     lrs.append(round(opt.lr, 4))
    ...     schedule.step()
    >>> lrs, round(opt.momentum, 4)   # the momentum: 0.95 → 0.85 → 0.95
    ([0.1, 1.0, 0.7525, 0.2575, 0.01], 0.925)
    """

    def __init__(self, optimizer: Optimizer, max_lr, total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum=0.85, max_momentum=0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False):
        groups = len(check_optimizer(OWNER, optimizer).param_groups)
        self.total_steps = _total_steps(total_steps, epochs, steps_per_epoch)
        self.pct_start = check_real(OWNER, "pct_start", pct_start, 0.0, 1.0)
        self.anneal = {"cos": _anneal_cos, "linear": _anneal_linear}[
            check_choice(OWNER, "anneal_strategy", anneal_strategy, ("cos", "linear"))]
        self.three_phase = check_bool(OWNER, "three_phase", three_phase)
        div_factor = check_real(OWNER, "div_factor", div_factor, low_open=True)
        final_div_factor = check_real(OWNER, "final_div_factor", final_div_factor, low_open=True)
        self.max_lrs = check_per_group(OWNER, "max_lr", max_lr, groups, check_real)
        self.initial_lrs = [m / div_factor for m in self.max_lrs]
        self.min_lrs = [m / final_div_factor for m in self.initial_lrs]
        self.cycle_momentum = check_bool(OWNER, "cycle_momentum", cycle_momentum)
        self.momentum_key = self._momentum_key(optimizer) if self.cycle_momentum else None
        unit = lambda owner, name, value: check_real(owner, name, value, 0.0, 1.0, high_open=True)  # noqa: E731
        self.base_momentums = check_per_group(OWNER, "base_momentum", base_momentum, groups, unit)
        self.max_momentums = check_per_group(OWNER, "max_momentum", max_momentum, groups, unit)
        self.phases = self._phases()
        super().__init__(optimizer)

    @staticmethod
    def _momentum_key(optimizer) -> str:
        names = type(optimizer).hyperparameters
        if "betas" in names or "momentum" in names:
            return "betas" if "betas" in names else "momentum"
        raise ValueError(f"{OWNER}: cycle_momentum=True needs an optimizer with momentum or betas, "
                         f"{type(optimizer).__name__} has neither; pass cycle_momentum=False")

    def _phases(self) -> list[tuple[float, str, str]]:
        """(last step, start, end) of each phase; start and end name 'initial', 'max' or 'min'."""
        T, pct = self.total_steps, self.pct_start
        if self.three_phase:
            phases = [(pct * T - 1, "initial", "max"), (2 * pct * T - 2, "max", "initial"), (T - 1, "initial", "min")]
        else:
            phases = [(pct * T - 1, "initial", "max"), (T - 1, "max", "min")]
        starts = [0.0] + [end for end, _, _ in phases[:-1]]
        if any(end == start for (end, _, _), start in zip(phases, starts)):
            raise ValueError(f"{OWNER}: pct_start={self.pct_start!r} with total_steps={T} makes a phase of no "
                             "steps (PyTorch divides by zero there); change pct_start or total_steps")
        return phases

    def _position(self, t: int) -> tuple[int, float]:
        """(phase, fraction of it done) at step t."""
        if t > self.total_steps:
            raise ValueError(f"{OWNER}: stepped {t} times, beyond total_steps={self.total_steps}; build it with "
                             "a larger total_steps (or epochs and steps_per_epoch)")
        start = 0.0
        for index, (end, _, _) in enumerate(self.phases):
            if t <= end or index == len(self.phases) - 1:
                return index, (t - start) / (end - start)
            start = end
        raise AssertionError("unreachable")

    def lr_at(self, t: int, i: int = 0) -> float:
        index, pct = self._position(t)
        _, start, end = self.phases[index]
        values = {"initial": self.initial_lrs[i], "max": self.max_lrs[i], "min": self.min_lrs[i]}
        return self.anneal(values[start], values[end], pct)

    def momentum_at(self, t: int, i: int = 0) -> float:
        """The momentum of group i at step t: it falls while the learning rate rises, and rises after."""
        index, pct = self._position(t)
        high, low = self.max_momentums[i], self.base_momentums[i]
        start, end = [(high, low), (low, high), (high, high)][index]
        return self.anneal(start, end, pct)

    def _apply(self, t: int) -> None:
        super()._apply(t)
        if self.cycle_momentum:
            for i, group in enumerate(self.optimizer.param_groups):
                momentum = self.momentum_at(t, i)
                if self.momentum_key == "betas":
                    group["betas"] = (momentum, group["betas"][1])
                else:
                    group["momentum"] = momentum


__all__ = ["OneCycleLR"]
