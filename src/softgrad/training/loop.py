"""The training loop of ``softgrad train``: ``Trainer(config, run_dir).run()``.

One step is the MindSpore pattern::

    (loss, logits), grads = value_and_grad(loss_and_logits, None, weights=params, has_aux=True)(x, y)
    optimizer(grads)

Exact resume. Everything a step depends on is a function of saved state: the weights and optimizer state
(checkpoint tensors), the data order (the DataLoader's permutation of (seed, epoch), replayed up to the
saved step), the dropout generator's state and the schedule's step count; the BLAS thread count, which
decides how the matrix products round, is in the config. So a run stopped anywhere and resumed ends
bit-identical to one that never stopped.

Stopping. Ctrl-C (SIGINT) asks the loop to stop after the current step; it then writes a checkpoint and
returns. A second Ctrl-C aborts at once. ``request_stop()`` does the same from code (e.g. an ``on_step`` hook).
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from softgrad import optim
from softgrad._files import atomic_write_text
from softgrad.autodiff import value_and_grad
from softgrad.data import DataLoader
from softgrad.random import Generator
from softgrad.training import checkpoint, plots
from softgrad.training.config import TrainConfig
from softgrad.training.sources import load_dataset
from softgrad.training.metrics import confusion_matrix, evaluate, make_loss
from softgrad.training.models import build_model, count_parameters
from softgrad.training.threads import blas_threads

CONFIG_FILE, CHECKPOINT_FILE, MODEL_FILE = "config.json", "checkpoint.safetensors", "model.safetensors"
METRICS_FILE, CURVES_FILE, CONFUSION_FILE = "metrics.json", "curves.png", "confusion.png"
HISTORY_KEYS = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr", "seconds")
WARMUP_START_FACTOR = 0.01
STEP_SCHEDULE_GAMMA = 0.1  # 'step': ×0.1 after each third of the run


def make_optimizer(config: TrainConfig, params) -> optim.Optimizer:
    if config.optimizer == "sgd":
        return optim.SGD(params, config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return optim.Adam(params, config.lr, weight_decay=config.weight_decay)
    return optim.AdamW(params, config.lr, weight_decay=config.weight_decay)


def make_schedule(config: TrainConfig, optimizer: optim.Optimizer, steps_per_epoch: int) -> optim.LRScheduler | None:
    """The per-step schedule: linear warm-up over ``warmup_epochs``, then constant, cosine or step decay."""
    total = config.epochs * steps_per_epoch
    warmup = min(round(config.warmup_epochs * steps_per_epoch), total - 1)
    if config.lr_schedule == "cosine":
        main = optim.CosineAnnealingLR(optimizer, T_max=total - warmup)
    elif config.lr_schedule == "step":
        main = optim.StepLR(optimizer, step_size=max(1, math.ceil((total - warmup) / 3)), gamma=STEP_SCHEDULE_GAMMA)
    else:
        main = None
    if warmup <= 0:
        return main
    ramp = optim.LinearLR(optimizer, start_factor=WARMUP_START_FACTOR, total_iters=warmup)
    if main is None:
        return ramp
    return optim.SequentialLR(optimizer, [ramp, main], milestones=[warmup])


@contextlib.contextmanager
def _stop_on_sigint(trainer: "Trainer"):
    """While training, the first Ctrl-C requests a clean stop; a second one raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if trainer.stop_requested:
            raise KeyboardInterrupt
        trainer.request_stop()
        trainer.log("\nstopping after this step to save a checkpoint (Ctrl-C again to abort without saving)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Trainer:
    """Trains ``config``'s model into ``run_dir``. ``run()`` returns the final metrics, or None when stopped
    early (the checkpoint then lets ``run(resume=True)`` continue).

    ``log`` receives the human-readable lines; ``progress`` is True/False for the per-epoch progress bar
    (None: shown on terminals only); ``on_step(trainer)`` is called after every optimisation step.
    """

    def __init__(self, config: TrainConfig, run_dir, *, log: Callable[[str], None] = print,
                 progress: bool | None = None, on_step: Callable[["Trainer"], None] | None = None):
        self.config = config
        self.run_dir = Path(run_dir)
        self.log = log
        self.progress = progress
        self.on_step = on_step
        self.stop_requested = False

    def request_stop(self) -> None:
        self.stop_requested = True

    # ----- set-up -----

    def _setup(self) -> None:
        config = self.config
        x_train, y_train, self.x_test, self.y_test, classes = load_dataset(config.dataset, config.data_dir,
                                                                           config.download)
        config.input_shape, config.num_classes, config.class_names = x_train.shape[1:], len(classes), classes
        init_generator, self.dropout_generator = Generator(config.seed).spawn(2)
        self.model = build_model(config, init_generator, self.dropout_generator)
        self.loss_fn = make_loss(config.loss, config.num_classes)
        self.optimizer = make_optimizer(config, self.model.trainable_params())
        self.loader = DataLoader((x_train, y_train), config.batch_size, shuffle=True, seed=config.seed)
        self.schedule = make_schedule(config, self.optimizer, len(self.loader))
        self.step_fn = value_and_grad(self._loss_and_logits, None, weights=self.optimizer.parameters, has_aux=True)
        self.epoch = 0  # epochs completed
        self.step_in_epoch = 0
        self.global_step = 0
        self.history: dict[str, list] = {key: [] for key in HISTORY_KEYS}
        self.running = {"loss_sum": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
        self.seconds = 0.0  # training time of previous sessions of this run

    def _loss_and_logits(self, x, y):
        logits = self.model(x)
        return self.loss_fn(logits, y), logits

    def _progress_state(self) -> dict:
        return {"epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "global_step": self.global_step,
                "history": self.history, "running": self.running, "seconds": self.seconds,
                "dropout_generator": self.dropout_generator.state_dict(),
                "schedule": self.schedule.state_dict() if self.schedule is not None else None}

    def _restore(self) -> None:
        path = self.run_dir / CHECKPOINT_FILE
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist: nothing to resume (the run ended before its first "
                                    f"checkpoint); start it again with another --out, or delete {self.run_dir}")
        optimizer_state, progress = checkpoint.load_checkpoint(path, self.model)
        self.optimizer.load_state_dict(optimizer_state)
        self.epoch, self.step_in_epoch = progress["epoch"], progress["step_in_epoch"]
        self.global_step, self.history = progress["global_step"], progress["history"]
        self.running, self.seconds = progress["running"], progress["seconds"]
        self.dropout_generator.load_state_dict(progress["dropout_generator"])
        if self.schedule is not None:
            self.schedule.load_state_dict(progress["schedule"])

    def _save_checkpoint(self) -> None:
        checkpoint.save_checkpoint(self.run_dir / CHECKPOINT_FILE, self.model, self.optimizer.state_dict(),
                                   self._progress_state())

    # ----- the loop -----

    def run(self, resume: bool = False) -> dict | None:
        self._setup()
        if resume:
            self._restore()
            self.log(f"resuming {self.run_dir} at epoch {self.epoch + 1}, step {self.step_in_epoch}")
        else:
            if (self.run_dir / CONFIG_FILE).exists():
                raise FileExistsError(f"{self.run_dir} already holds a run; continue it with --resume {self.run_dir} "
                                      "or pick another --out")
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.config.save(self.run_dir / CONFIG_FILE)
        self.log(f"training {self.config.model} ({count_parameters(self.model):,} parameters) on "
                 f"{self.config.dataset}: {len(self.loader.dataset)} train / {len(self.y_test)} test images, "
                 f"{self.config.epochs} epochs of {len(self.loader)} steps")
        with blas_threads(self.config.threads):
            with _stop_on_sigint(self):
                while self.epoch < self.config.epochs:
                    session_start = time.perf_counter()
                    finished = self._train_epoch()
                    if finished:
                        self._end_epoch()
                    self.seconds += time.perf_counter() - session_start
                    self._save_checkpoint()
                    if not finished or self.stop_requested:
                        self.log(f"stopped at epoch {self.epoch + 1}, step {self.step_in_epoch}; checkpoint saved. "
                                 f"Continue with: softgrad train --resume {self.run_dir}")
                        return None
            return self._finish()

    def _train_epoch(self) -> bool:
        """Train until the epoch ends (True) or a stop is requested (False)."""
        self.model.set_train(True)
        self.loader.set_epoch(self.epoch)
        batches = iter(self.loader)
        for _ in range(self.step_in_epoch):  # replay the data order up to the saved step
            next(batches)
        bar = self._progress_bar()
        start = time.perf_counter()
        try:
            for x, y in batches:
                (loss, logits), grads = self.step_fn(x, y)
                self.optimizer(grads)
                if self.schedule is not None:
                    self.schedule.step()
                running = self.running
                running["loss_sum"] += float(loss) * len(y)
                running["correct"] += int(np.count_nonzero(np.argmax(logits.numpy(), axis=-1) == y))
                running["seen"] += len(y)
                self.step_in_epoch += 1
                self.global_step += 1
                if bar is not None:
                    bar.set_postfix({"loss": f"{running['loss_sum'] / running['seen']:.4f}",
                                     "acc": f"{100 * running['correct'] / running['seen']:.2f}%"}, refresh=False)
                    bar.update()
                if self.on_step is not None:
                    self.on_step(self)
                if self.stop_requested:
                    return False
            return True
        finally:
            self.running["seconds"] += time.perf_counter() - start
            if bar is not None:
                bar.close()

    def _progress_bar(self):
        if self.progress is False:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=len(self.loader), initial=self.step_in_epoch, unit="step", leave=False, dynamic_ncols=True,
                    desc=f"epoch {self.epoch + 1}/{self.config.epochs}",
                    disable=None if self.progress is None else False)  # None: a bar on terminals only

    def _end_epoch(self) -> None:
        start = time.perf_counter()
        result = evaluate(self.model, self.loss_fn, self.x_test, self.y_test)
        running = self.running
        seconds = running["seconds"] + time.perf_counter() - start
        row = {"epoch": self.epoch + 1, "train_loss": running["loss_sum"] / running["seen"],
               "train_accuracy": running["correct"] / running["seen"], "test_loss": result["loss"],
               "test_accuracy": result["accuracy"], "lr": self.optimizer.lr, "seconds": seconds}
        for key in HISTORY_KEYS:
            self.history[key].append(row[key])
        self.log(f"epoch {row['epoch']:>3}/{self.config.epochs}  train loss {row['train_loss']:.4f} "
                 f"acc {100 * row['train_accuracy']:6.2f}%  test loss {row['test_loss']:.4f} "
                 f"acc {100 * row['test_accuracy']:6.2f}%  lr {row['lr']:.3g}  {seconds:.1f}s")
        self.epoch += 1
        self.step_in_epoch = 0
        self.running = {"loss_sum": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}

    def _finish(self) -> dict:
        config, run_dir = self.config, self.run_dir
        result = evaluate(self.model, self.loss_fn, self.x_test, self.y_test)
        matrix = confusion_matrix(self.y_test, result["predictions"], config.num_classes)
        metrics = {"test_accuracy": result["accuracy"], "test_loss": result["loss"], "seconds": self.seconds,
                   "epochs": self.epoch, "steps": self.global_step, "num_parameters": count_parameters(self.model),
                   "history": self.history, "confusion_matrix": matrix.tolist()}
        checkpoint.save_model(run_dir / MODEL_FILE, self.model)
        atomic_write_text(run_dir / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")
        title = f"{config.model} on {config.dataset}"
        plots.plot_curves(self.history, run_dir / CURVES_FILE, title=title)
        plots.plot_confusion(matrix, config.class_names, run_dir / CONFUSION_FILE,
                             title=f"{title}: test accuracy {100 * result['accuracy']:.2f}%")
        self.log(f"test accuracy {100 * result['accuracy']:.2f}%  (test loss {result['loss']:.4f}, "
                 f"{self.seconds:.1f}s of training)")
        self.log(f"run directory: {run_dir}")
        return metrics
