"""``TrainConfig``: every choice a training run makes, with the defaults of ``softgrad train``. A run directory
keeps it as config.json, which is all ``--resume``, ``evaluate`` and ``predict`` need to rebuild the run."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import ClassVar

from softgrad._files import atomic_write_text, check_size
from softgrad.training import jsonfiles
from softgrad.training.jsonfiles import KINDS, check, matches

DATASETS = ("digits", "mnist", "fashion-mnist")
MODELS = ("logreg", "mlp", "cnn")
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop", "adagrad", "adadelta")
LOSSES = ("cross-entropy", "mse")
SCHEDULES = ("constant", "cosine", "step")
DEFAULT_LR = {"sgd": 0.05, "momentum": 0.05, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3, "adagrad": 1e-2,
              "adadelta": 1.0}
#: the hyperparameters each optimizer takes besides lr and weight_decay, with their defaults (PyTorch's, and
#: MindSpore's for Momentum; SGD's momentum 0.9 is softgrad train's own)
OPTIMIZER_DEFAULTS: dict[str, dict[str, object]] = {
    "sgd": {"momentum": 0.9, "nesterov": False},
    "momentum": {"momentum": 0.9, "nesterov": False},
    "adam": {"betas": (0.9, 0.999), "eps": 1e-8},
    "adamw": {"betas": (0.9, 0.999), "eps": 1e-8},
    "rmsprop": {"alpha": 0.99, "eps": 1e-8, "momentum": 0.0, "centered": False},
    "adagrad": {"lr_decay": 0.0, "eps": 1e-10},
    "adadelta": {"rho": 0.9, "eps": 1e-6},
}
HYPERPARAMETERS = ("momentum", "nesterov", "betas", "eps", "alpha", "centered", "rho", "lr_decay")
CHOICES = {"dataset": DATASETS, "model": MODELS, "optimizer": OPTIMIZERS, "loss": LOSSES, "lr_schedule": SCHEDULES}
MAX_LAYERS = 64  # hidden layers, and convolutions
MAX_THREADS = 1024


def _option(field: str) -> str:
    return "--" + field.replace("_", "-")


def _widths(config: "TrainConfig", name: str) -> tuple[int, ...]:
    widths = getattr(config, name)
    if not isinstance(widths, (list, tuple)) or not all(matches(w, "int") and w >= 1 for w in widths):
        raise ValueError(f"{name} must be positive layer widths such as 256,128 ({_option(name)}), got {widths!r}")
    if len(widths) > MAX_LAYERS:
        raise ValueError(f"{name} lists {len(widths)} layers, at most {MAX_LAYERS} are supported ({_option(name)})")
    return tuple(int(w) for w in widths)


def _ranges(config: "TrainConfig") -> tuple:
    """(field, kind, test, what the test asks) of every numeric setting. ``kind`` is checked first: 'number'
    is finite, and NaN fails every comparison, so a test written ``lr <= 0`` would let it through."""
    return (("epochs", "int", lambda v: v >= 1, ">= 1"),
            ("batch_size", "int", lambda v: v >= 1, ">= 1"),
            ("threads", "int", lambda v: 1 <= v <= MAX_THREADS, f"in 1..{MAX_THREADS}"),
            ("seed", "int", lambda v: v >= 0, ">= 0"),
            ("lr", "number", lambda v: v > 0, "> 0"),
            ("momentum", "number", lambda v: 0 <= v < 1, "in [0, 1)"),
            ("eps", "number", lambda v: v > 0, "> 0"),
            ("alpha", "number", lambda v: 0 <= v <= 1, "in [0, 1]"),
            ("rho", "number", lambda v: 0 <= v <= 1, "in [0, 1]"),
            ("lr_decay", "number", lambda v: v >= 0, ">= 0"),
            ("weight_decay", "number", lambda v: v >= 0, ">= 0"),
            ("dropout", "number", lambda v: 0 <= v < 1, "in [0, 1), a drop probability"),
            ("warmup_epochs", "number", lambda v: 0 <= v < config.epochs,
             f"in [0, {config.epochs}): the warm-up ends within --epochs"))


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
    weight_decay: float = 0.0
    # the optimizer's own hyperparameters (OPTIMIZER_DEFAULTS): None is its default, and stays None for an
    # optimizer that does not take it
    momentum: float | None = None
    nesterov: bool | None = None
    betas: tuple[float, float] | None = None
    eps: float | None = None
    alpha: float | None = None
    centered: bool | None = None
    rho: float | None = None
    lr_decay: float | None = None
    lr_schedule: str = "cosine"
    warmup_epochs: float = 0.0
    loss: str = "cross-entropy"
    seed: int = 0
    threads: int = 1  # softgrad's and BLAS's threads; part of the run's record (training.threads)
    # filled in from the data when the run starts
    DERIVED: ClassVar[tuple[str, ...]] = ("input_shape", "num_classes", "class_names")
    input_shape: tuple[int, ...] | None = None
    num_classes: int | None = None
    class_names: tuple[str, ...] | None = None

    def __post_init__(self):
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            if not isinstance(value, str) or value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)} ({_option(name)}); got {value!r}")
        if self.lr is None:
            self.lr = DEFAULT_LR[self.optimizer]
        self._resolve_hyperparameters()
        self.hidden, self.channels = _widths(self, "hidden"), _widths(self, "channels")
        if self.model == "cnn" and not self.channels:
            raise ValueError("the cnn model needs at least one convolution width in channels (e.g. --channels 16,32)")
        for name, kind, test, expected in _ranges(self):
            value = getattr(self, name)
            if value is None and name in HYPERPARAMETERS:  # one the optimizer does not take
                continue
            if not matches(value, kind) or not test(value):
                raise ValueError(f"{name} must be {expected} ({KINDS[kind][1]}; {_option(name)}), got {value!r}")
            setattr(self, name, int(value) if kind == "int" else float(value))
        check(self.download, "bool", "download (--download)")
        if self.data_dir is not None:
            check(self.data_dir, "str", "data_dir (--data-dir)")
        self._check_derived()

    def _resolve_hyperparameters(self) -> None:
        """Fill in the optimizer's defaults; refuse a hyperparameter it does not take."""
        defaults = OPTIMIZER_DEFAULTS[self.optimizer]
        for name in HYPERPARAMETERS:
            value = getattr(self, name)
            if name not in defaults:
                if value is not None:
                    takers = ", ".join(o for o, taken in OPTIMIZER_DEFAULTS.items() if name in taken)
                    raise ValueError(f"{name} ({_option(name)}) is a hyperparameter of {takers}, not of "
                                     f"{self.optimizer}; got {value!r}")
            elif value is None:
                setattr(self, name, defaults[name])
        for name in ("nesterov", "centered"):
            if getattr(self, name) is not None:
                check(getattr(self, name), "bool", f"{name} ({_option(name)})")
        if self.betas is not None:
            betas = list(self.betas) if isinstance(self.betas, tuple) else self.betas
            if not isinstance(betas, list) or len(betas) != 2 or not all(matches(b, "number") and 0 <= b < 1
                                                                         for b in betas):
                raise ValueError(f"betas must be two numbers in [0, 1) such as 0.9,0.999 (--betas), got "
                                 f"{jsonfiles.shown(self.betas)}")
            self.betas = (float(betas[0]), float(betas[1]))

    def _check_derived(self) -> None:
        if self.input_shape is not None:
            shape = check(list(self.input_shape) if isinstance(self.input_shape, tuple) else self.input_shape,
                          "list", "input_shape")
            if len(shape) != 3 or not all(matches(n, "int") and n >= 1 for n in shape):
                raise ValueError(f"input_shape must be 3 positive integers (channels, height, width), got {shape!r}")
            self.input_shape = tuple(int(n) for n in shape)
            check_size(f"one input image of shape {self.input_shape} (as float32)", 4 * math.prod(self.input_shape))
        if self.num_classes is not None:
            self.num_classes = int(check(self.num_classes, "int", "num_classes", minimum=2))
        if self.class_names is not None:
            names = list(self.class_names) if isinstance(self.class_names, tuple) else self.class_names
            if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
                raise ValueError(f"class_names must be a list of strings, got {jsonfiles.shown(self.class_names)}")
            if self.num_classes is not None and len(names) != self.num_classes:
                raise ValueError(f"class_names has {len(names)} names for num_classes = {self.num_classes}")
            self.class_names = tuple(names)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """Every value is checked (types, ranges, finiteness) as by the constructor."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}; known keys are {sorted(known)}")
        optimizer = values.get("optimizer", cls.optimizer)
        takes = OPTIMIZER_DEFAULTS.get(optimizer, {}) if isinstance(optimizer, str) else {}
        if takes and "momentum" not in takes and values.get("momentum") == 0.9:
            # run directories written before #16 stored momentum 0.9 for every optimizer
            values = {k: v for k, v in values.items() if k != "momentum"}
        return cls(**values)

    def save(self, path: Path) -> None:
        atomic_write_text(path, jsonfiles.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        """The config in ``path``; ValueError naming the file if it is not a valid config."""
        values = jsonfiles.read(path)
        if not isinstance(values, dict):
            raise ValueError(f"{path} must hold a JSON object of settings, got {type(values).__name__} "
                             f"{jsonfiles.shown(values)}; the file is damaged: restore or delete it")
        try:
            return cls.from_dict(values)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None


__all__ = ["TrainConfig"]
