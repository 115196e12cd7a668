"""Loss cells: the functions of ``softgrad.ops`` with their options fixed at construction, called as
``loss_fn(prediction, target)``. Arguments and semantics are those of the functions (PyTorch's); options are
checked when the cell is built.

>>> import softgrad as sg
>>> loss_fn = sg.nn.CrossEntropyLoss(label_smoothing=0.1)
>>> round(loss_fn(sg.Tensor([[2.0, 0.0, 0.0]]), sg.Tensor([0])).item(), 6)
0.372878
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from softgrad import ops
from softgrad.nn.cell import Cell
from softgrad.ops import losses  # the options' checks: each option is checked by the same code as in the op
from softgrad.tensor import Operand, Tensor


class _Loss(Cell):
    def __init__(self, reduction: str = "mean", allowed=losses.REDUCTIONS):
        super().__init__()
        losses.check_reduction(reduction, allowed)
        self.reduction = reduction

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.extra_repr().items())
        return f"{type(self).__name__}({options})"

    def extra_repr(self) -> dict:
        return {"reduction": self.reduction}

    if TYPE_CHECKING:  # a loss cell returns the loss (Cell's call returns whatever construct does)
        def __call__(self, prediction: Operand, target: Operand) -> Tensor: ...


class CrossEntropyLoss(_Loss):
    """``ops.cross_entropy(logits, target, weight, ignore_index, reduction, label_smoothing)`` as a cell."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(reduction)
        losses.check_ignore_index("CrossEntropyLoss", ignore_index)
        losses.check_label_smoothing("CrossEntropyLoss", label_smoothing)
        self.weight, self.ignore_index, self.label_smoothing = weight, ignore_index, label_smoothing

    def construct(self, logits, target):
        return ops.cross_entropy(logits, target, self.weight, self.ignore_index, self.reduction,
                                 self.label_smoothing)

    def extra_repr(self) -> dict:
        return dict(super().extra_repr(), ignore_index=self.ignore_index, label_smoothing=self.label_smoothing)


class NLLLoss(_Loss):
    """``ops.nll_loss(log_probs, target, weight, ignore_index, reduction)`` as a cell."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction)
        losses.check_ignore_index("NLLLoss", ignore_index)
        self.weight, self.ignore_index = weight, ignore_index

    def construct(self, log_probs, target):
        return ops.nll_loss(log_probs, target, self.weight, self.ignore_index, self.reduction)


class BCELoss(_Loss):
    """``ops.binary_cross_entropy(probs, target, weight, reduction)`` as a cell."""

    def __init__(self, weight=None, reduction: str = "mean"):
        super().__init__(reduction)
        self.weight = weight

    def construct(self, probs, target):
        return ops.binary_cross_entropy(probs, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """``ops.binary_cross_entropy_with_logits(logits, label, weight, pos_weight, reduction)`` as a cell (pass
    the options by keyword: PyTorch and MindSpore order them differently)."""

    def __init__(self, weight=None, pos_weight=None, reduction: str = "mean"):
        super().__init__(reduction)
        self.weight, self.pos_weight = weight, pos_weight

    def construct(self, logits, label):
        return ops.binary_cross_entropy_with_logits(logits, label, self.weight, self.pos_weight, self.reduction)


class MSELoss(_Loss):
    """``ops.mse_loss(input, target, reduction)`` as a cell."""

    def construct(self, input, target):
        return ops.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """``ops.l1_loss(input, target, reduction)`` as a cell."""

    def construct(self, input, target):
        return ops.l1_loss(input, target, self.reduction)


class SmoothL1Loss(_Loss):
    """``ops.smooth_l1_loss(input, target, reduction, beta)`` as a cell."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0):
        super().__init__(reduction)
        losses.check_beta("SmoothL1Loss", beta)
        self.beta = beta

    def construct(self, input, target):
        return ops.smooth_l1_loss(input, target, self.reduction, self.beta)

    def extra_repr(self) -> dict:
        return dict(super().extra_repr(), beta=self.beta)


class HuberLoss(_Loss):
    """``ops.huber_loss(input, target, reduction, delta)`` as a cell."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction)
        losses.check_delta("HuberLoss", delta)
        self.delta = delta

    def construct(self, input, target):
        return ops.huber_loss(input, target, self.reduction, self.delta)

    def extra_repr(self) -> dict:
        return dict(super().extra_repr(), delta=self.delta)


class KLDivLoss(_Loss):
    """``ops.kl_div(log_input, target, reduction, log_target)`` as a cell ('batchmean' allowed)."""

    def __init__(self, reduction: str = "mean", log_target: bool = False):
        super().__init__(reduction, losses.REDUCTIONS + ("batchmean",))
        self.log_target = log_target

    def construct(self, log_input, target):
        return ops.kl_div(log_input, target, self.reduction, self.log_target)

    def extra_repr(self) -> dict:
        return dict(super().extra_repr(), log_target=self.log_target)


__all__ = [
    "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss",
    "KLDivLoss",
]
