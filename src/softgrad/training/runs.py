"""A finished (or stopped) run directory as a model: ``load_run(run_dir) -> (config, model)``."""

from __future__ import annotations

from pathlib import Path

from softgrad._files import remove_stale_temp_files
from softgrad.random import Generator
from softgrad.nn.serialization import load_checkpoint
from softgrad.training import checkpoint
from softgrad.training.config import TrainConfig
from softgrad.training.loop import CHECKPOINT_FILE, CONFIG_FILE, MODEL_FILE
from softgrad.training.models import build_model


def load_run(run_dir) -> tuple[TrainConfig, object]:
    """The config and trained model of ``run_dir`` (model.safetensors, or the latest checkpoint of a run that
    has not finished), in evaluation mode.

    Every file is checked before what it describes is allocated (sizes against ``softgrad._files.max_bytes()``):
    FileNotFoundError if config.json or the weights are missing, ValueError naming the file for anything
    damaged, foreign or too large."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).exists():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no {CONFIG_FILE}); pass the directory "
                                "`softgrad train` printed at the end")
    remove_stale_temp_files(run_dir)
    config = TrainConfig.load(run_dir / CONFIG_FILE)
    missing = [name for name in TrainConfig.DERIVED if getattr(config, name) is None]
    if missing:
        raise ValueError(f"{run_dir / CONFIG_FILE} has no {', '.join(missing)}, which a run records when it starts "
                         "training: the file is damaged or was not written by `softgrad train`")
    model = build_model(config, Generator(0), Generator(0))
    if (run_dir / MODEL_FILE).exists():
        load_checkpoint(run_dir / MODEL_FILE, model, strict_load=True)
    elif (run_dir / CHECKPOINT_FILE).exists():
        checkpoint.load_training_checkpoint(run_dir / CHECKPOINT_FILE, model)
    else:
        raise FileNotFoundError(f"{run_dir} holds no {MODEL_FILE} or {CHECKPOINT_FILE}: the run saved no weights yet")
    return config, model.set_train(False)


__all__ = ["load_run"]
