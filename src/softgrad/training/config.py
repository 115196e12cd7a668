"""``TrainConfig``: every choice a training run makes, with the defaults of ``softgrad train``. A run directory
keeps it as config.json, which is all ``--resume``, ``evaluate`` and ``predict`` need to rebuild the run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import ClassVar

from softgrad._files import atomic_write_text

DATASETS = ("digits", "mnist", "fashion-mnist")
MODELS = ("logreg", "mlp", "cnn")
OPTIMIZERS = ("sgd", "adam", "adamw")
LOSSES = ("cross-entropy", "mse")
SCHEDULES = ("constant", "cosine", "step")
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3}


@dataclasses.dataclass
class TrainConfig:
    """A training run. ``hidden`` are the widths of the hidden Dense layers (MLP, and the CNN's head);
    ``channels`` the CNN's convolution widths (each conv is followed by ReLU and 2×2 max-pooling).
    ``lr_schedule`` is applied per step, after ``warmup_epochs`` of linear warm-up."""

    dataset: str = "digits"
    data_dir: str | None = None
    download: bool = False
    model: str = "mlp"
    hidden: tuple[int, ...] = (256, 128)
    channels: tuple[int, ...] = (16, 32)
    dropout: float = 0.0
    epochs: int = 20
    batch_size: int = 32
    optimizer: str = "sgd"
    lr: float | None = None  # None: DEFAULT_LR of the optimizer
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_schedule: str = "cosine"
    warmup_epochs: float = 0.0
    loss: str = "cross-entropy"
    seed: int = 0
    threads: int = 1  # BLAS threads; part of the run because the count changes the last bits (training.threads)
    # filled in from the data when the run starts
    DERIVED: ClassVar[tuple[str, ...]] = ("input_shape", "num_classes", "class_names")
    input_shape: tuple[int, ...] | None = None
    num_classes: int | None = None
    class_names: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.lr is None:
            self.lr = DEFAULT_LR.get(self.optimizer, 0.0)
        self.hidden = tuple(int(h) for h in self.hidden)
        self.channels = tuple(int(c) for c in self.channels)
        for name, value, allowed in (("dataset", self.dataset, DATASETS), ("model", self.model, MODELS),
                                     ("optimizer", self.optimizer, OPTIMIZERS), ("loss", self.loss, LOSSES),
                                     ("lr_schedule", self.lr_schedule, SCHEDULES)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        for name in ("epochs", "batch_size", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if any(h < 1 for h in self.hidden + self.channels):
            raise ValueError(f"hidden and channels must be positive widths, got {self.hidden} and {self.channels}")
        if self.model == "cnn" and not self.channels:
            raise ValueError("the cnn model needs at least one convolution width in channels (e.g. 16,32)")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout is a drop probability in [0, 1), got {self.dropout}")
        if self.lr <= 0 or self.seed < 0 or self.warmup_epochs < 0:
            raise ValueError(f"need lr > 0, seed >= 0 and warmup_epochs >= 0; got lr={self.lr}, seed={self.seed}, "
                             f"warmup_epochs={self.warmup_epochs}")
        if self.input_shape is not None:
            self.input_shape = tuple(int(n) for n in self.input_shape)
        if self.class_names is not None:
            self.class_names = tuple(self.class_names)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}; known keys are {sorted(known)}")
        return cls(**values)

    def save(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))
