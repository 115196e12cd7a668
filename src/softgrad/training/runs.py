"""A finished (or stopped) run directory as a model: ``load_run(run_dir) -> (config, model)``."""

from __future__ import annotations

from pathlib import Path

from softgrad.random import Generator
from softgrad.training import checkpoint
from softgrad.training.config import TrainConfig
from softgrad.training.loop import CHECKPOINT_FILE, CONFIG_FILE, MODEL_FILE
from softgrad.training.models import build_model


def load_run(run_dir) -> tuple[TrainConfig, object]:
    """The config and trained model of ``run_dir`` (model.safetensors, or the latest checkpoint of a run that
    has not finished), in evaluation mode."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).exists():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no {CONFIG_FILE}); pass the directory "
                                "`softgrad train` printed at the end")
    config = TrainConfig.load(run_dir / CONFIG_FILE)
    model = build_model(config, Generator(0), Generator(0))
    if (run_dir / MODEL_FILE).exists():
        checkpoint.load_model(run_dir / MODEL_FILE, model)
    elif (run_dir / CHECKPOINT_FILE).exists():
        checkpoint.load_checkpoint(run_dir / CHECKPOINT_FILE, model)
    else:
        raise FileNotFoundError(f"{run_dir} holds no {MODEL_FILE} or {CHECKPOINT_FILE}: the run saved no weights yet")
    return config, model.set_train(False)
