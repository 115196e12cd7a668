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

Divergence. A training loss that is NaN or infinite, or weights that are, stop the run with
``TrainingDiverged`` before the step is applied or anything is saved: the last good checkpoint is kept, never
overwritten with NaN weights. Data holding NaN or inf is refused before training starts.

Extending a run. ``--resume`` with a larger ``--epochs`` recomputes the schedule for the new length: a cosine
or step schedule then continues from where a run of the new length would be at that step (for a cosine run
that had decayed towards 0, the rate rises again), so the result matches neither the old run nor a run
trained for the new length from the start. The loop says so when it happens.

Several processes (``mpiexec -n N softgrad train``, data parallel). Every rank builds the same model, then
takes rank 0's weights and optimizer state (``nn.distributed.broadcast_parameters``); each step, each rank
computes the gradients of its stride of the global batch of ``batch_size`` (``DataLoader(num_shards=N,
shard_id=rank)``), and one allreduce (``nn.DistributedGradReducer``) gives every rank the gradient of the
mean loss over the whole global batch, weighted by the ranks' sample counts, together with the batch's loss,
its correct predictions and whether any rank asked to stop. So every rank applies the same update, takes the
same decisions (a non-finite loss, Ctrl-C, a request_stop() on any rank, effective after the next step) and
N processes step as one process at the same global batch, up to the order of summation: keep ``--lr`` when
you add processes at the same ``--batch-size``; scaling ``--batch-size`` by N calls for ``--lr`` × N (Goyal
et al.'s linear rule, with warm-up). Dropout masks come from per-rank generators spawned from the seed (so a
run with dropout differs from one process's); BatchNorm statistics are each rank's own (the moving averages
saved are rank 0's; ``softgrad train``'s models have none). The test set is evaluated sharded and summed.
Rank 0 alone writes files, logs and shows the progress bar. ``--resume`` reads the checkpoint on every rank
(so the run directory must be visible to all: a shared filesystem); with the same N it continues exactly,
with another N it continues the same weights, optimizer state and data order, but fresh dropout streams.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from softgrad import communication, optim
from softgrad._files import atomic_write_text, check_writable, remove_stale_temp_files
from softgrad.autodiff import value_and_grad
from softgrad.data import DataLoader
from softgrad.nn.distributed import DistributedGradReducer, broadcast_optimizer_state, broadcast_parameters
from softgrad.nn.serialization import save_checkpoint
from softgrad.random import Generator
from softgrad.training import checkpoint, jsonfiles, plots
from softgrad.training.config import TrainConfig
from softgrad.training.jsonfiles import field
from softgrad.training.metrics import confusion_matrix, evaluate, make_loss
from softgrad.training.models import build_model, check_model_size, count_parameters
from softgrad.training.sources import SHAPES, load_dataset
from softgrad.training.threads import blas_threads, thread_limit_source

CONFIG_FILE, CHECKPOINT_FILE, MODEL_FILE = "config.json", "checkpoint.safetensors", "model.safetensors"
METRICS_FILE, CURVES_FILE, CONFUSION_FILE = "metrics.json", "curves.png", "confusion.png"
HISTORY_KEYS = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr", "seconds")
WARMUP_START_FACTOR = 0.01
STEP_SCHEDULE_GAMMA = 0.1  # 'step': ×0.1 after each third of the run
SPACE_PER_WEIGHT_BYTE, SPACE_FIXED_BYTES = 8, 1 << 20  # a run directory's files, with a checkpoint being replaced


class TrainingDiverged(RuntimeError):
    """The training loss, or the weights, became NaN or infinite; the run stopped without saving."""


def make_optimizer(config: TrainConfig, params) -> optim.Optimizer:
    """The optimizer ``config.optimizer`` names, with the config's learning rate, weight decay and the
    hyperparameters of that optimizer (``OPTIMIZER_DEFAULTS``)."""
    c, decay = config, config.weight_decay
    if c.optimizer == "sgd":
        return optim.SGD(params, c.lr, momentum=c.momentum, nesterov=c.nesterov, weight_decay=decay)
    if c.optimizer == "momentum":
        return optim.Momentum(params, c.lr, c.momentum, weight_decay=decay, use_nesterov=c.nesterov)
    if c.optimizer in ("adam", "adamw"):
        return (optim.Adam if c.optimizer == "adam" else optim.AdamW)(params, c.lr, betas=c.betas, eps=c.eps,
                                                                      weight_decay=decay)
    if c.optimizer == "rmsprop":
        return optim.RMSprop(params, c.lr, alpha=c.alpha, eps=c.eps, weight_decay=decay, momentum=c.momentum,
                             centered=c.centered)
    if c.optimizer == "adagrad":
        return optim.Adagrad(params, c.lr, lr_decay=c.lr_decay, weight_decay=decay, eps=c.eps)
    return optim.Adadelta(params, c.lr, rho=c.rho, eps=c.eps, weight_decay=decay)


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


def _check_finite_images(images: np.ndarray, what: str) -> None:
    if np.isfinite(np.sum(images, dtype=np.float64)):  # one pass; the pixels are in [0, 1], the sum cannot overflow
        return
    bad = np.flatnonzero(~np.isfinite(images.reshape(len(images), -1)).all(axis=1))
    if bad.size:
            raise ValueError(f"{what} hold NaN or infinite values ({len(bad)} images, the first at index {bad[0]}); "
                         "training on them would diverge: fix the data")


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
        self.rank, self.world_size = communication.get_rank(), communication.get_group_size()
        if self.rank != 0:  # rank 0 alone talks to the user
            self.log, self.progress = (lambda line: None), False

    def request_stop(self) -> None:
        self.stop_requested = True

    # ----- set-up -----

    def _setup(self) -> None:
        config = self.config
        x_train, y_train, self.x_test, self.y_test, classes = load_dataset(config.dataset, config.data_dir,
                                                                           config.download)
        for split, images in (("training", x_train), ("test", self.x_test)):
            _check_finite_images(images, f"the {config.dataset} {split} images")
        config.input_shape, config.num_classes, config.class_names = x_train.shape[1:], len(classes), classes
        init_generator, self.dropout_generator = Generator(config.seed).spawn(2)
        if self.world_size > 1:
            self.dropout_generator = self._rank_dropout_generators()[self.rank]
        self.model = build_model(config, init_generator, self.dropout_generator)
        self.loss_fn = make_loss(config.loss, config.num_classes)
        self.optimizer = make_optimizer(config, self.model.trainable_params())
        self.loader = DataLoader((x_train, y_train), config.batch_size, shuffle=True, seed=config.seed,
                                 num_shards=self.world_size, shard_id=self.rank)
        self.reducer = DistributedGradReducer(self.optimizer.parameters) if self.world_size > 1 else None
        self.schedule = make_schedule(config, self.optimizer, len(self.loader))
        self.step_fn = value_and_grad(self._loss_and_logits, None, weights=self.optimizer.parameters, has_aux=True)
        self.epoch = 0  # epochs completed
        self.step_in_epoch = 0
        self.global_step = 0
        self.history: dict[str, list] = {key: [] for key in HISTORY_KEYS}
        self.running = {"loss_sum": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
        self.seconds = 0.0  # training time of previous sessions of this run
        self.saved_at: str | None = None  # where the checkpoint on disk stands

    def _rank_dropout_generators(self) -> list[Generator]:
        """One dropout generator per rank, spawned from the seed's (one process keeps the seed's own)."""
        return Generator(self.config.seed).spawn(2)[1].spawn(self.world_size)

    def _synchronise(self) -> None:
        """Every rank takes rank 0's weights (moving averages included) and optimizer state."""
        broadcast_parameters(list(self.model.get_parameters()))
        broadcast_optimizer_state(self.optimizer)

    def _loss_and_logits(self, x, y):
        logits = self.model(x)
        return self.loss_fn(logits, y), logits

    def _progress_state(self) -> dict:
        return {"epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "global_step": self.global_step,
                "history": self.history, "running": self.running, "seconds": self.seconds,
                "dropout_generator": self.dropout_generator.state_dict(),
                **({"rank_dropout_generators": communication.allgather_object(self.dropout_generator.state_dict())}
                   if self.world_size > 1 else {}),
                "schedule": self.schedule.state_dict() if self.schedule is not None else None}

    def _restore(self) -> None:
        path = self.run_dir / CHECKPOINT_FILE
        remove_stale_temp_files(self.run_dir)
        optimizer_state, progress = checkpoint.load_training_checkpoint(path, self.model)
        checkpoint.restore_optimizer(self.optimizer, optimizer_state, path)
        self._restore_progress(progress, f"{path}: metadata 'progress'")
        self.saved_at = self._position()
        if self.schedule is None and self.optimizer.lr != self.optimizer.initial_lr:
            raise ValueError(f"{path}: the optimizer's lr is {self.optimizer.lr}, a constant schedule keeps "
                             f"{self.optimizer.initial_lr}; the checkpoint is damaged or from another run")
        if self.schedule is not None and self.optimizer.lr != optimizer_state["lr"]:
            self.log(f"the {self.config.lr_schedule} schedule is recomputed for {self.config.epochs} epochs: the "
                     f"learning rate at step {self.global_step} is now {self.optimizer.lr:.3g}, it was "
                     f"{optimizer_state['lr']:.3g} (see `softgrad train --help`, --resume)")
        self._refuse_to_resume_a_complete_run()

    def _restore_progress(self, progress: dict, where: str) -> None:
        """Check every field of a checkpoint's progress before using it."""
        steps = len(self.loader)
        epoch = field(progress, "epoch", "int", where, minimum=0)
        step_in_epoch = field(progress, "step_in_epoch", "int", where, minimum=0)
        global_step = field(progress, "global_step", "int", where, minimum=0)
        if step_in_epoch > steps or global_step != epoch * steps + step_in_epoch:
            raise ValueError(f"{where}: epoch {epoch}, step_in_epoch {step_in_epoch} and global_step {global_step} "
                             f"do not fit this run's {steps} steps per epoch")
        history = field(progress, "history", "dict", where)
        if set(history) != set(HISTORY_KEYS):
            raise ValueError(f"{where}: 'history' has the columns {sorted(history)}, expected {list(HISTORY_KEYS)}")
        for key in HISTORY_KEYS:
            column = field(history, key, "list", f"{where} 'history'")
            if len(column) != epoch:
                raise ValueError(f"{where}: history '{key}' has {len(column)} entries for {epoch} epochs")
            for value in column:
                jsonfiles.check(value, "number?", f"{where}: history '{key}' entries")
        running = field(progress, "running", "dict", where)
        for key, kind in (("loss_sum", "number"), ("correct", "int"), ("seen", "int"), ("seconds", "number")):
            field(running, key, kind, f"{where} 'running'", minimum=0)
        seconds = field(progress, "seconds", "number", where, minimum=0)
        try:
            self.dropout_generator.load_state_dict(field(progress, "dropout_generator", "dict", where))
        except (ValueError, TypeError, KeyError, OverflowError) as error:
            raise ValueError(f"{where}: 'dropout_generator' is not the state of a generator ({error})") from None
        if self.world_size > 1:
            self._restore_rank_dropout(progress.get("rank_dropout_generators"), where)
        schedule = progress.get("schedule")
        if self.schedule is None:
            if schedule is not None:
                raise ValueError(f"{where}: 'schedule' is set, but this run's config has no schedule")
        else:
            where_schedule = f"{where} 'schedule'"
            last = field(jsonfiles.check(schedule, "dict", where_schedule), "last_epoch", "int", where_schedule)
            if last != global_step:
                raise ValueError(f"{where_schedule}: last_epoch {last} must be the global step {global_step}")
            self.schedule.load_state_dict({"last_epoch": last})
        self.epoch, self.step_in_epoch, self.global_step = epoch, step_in_epoch, global_step
        self.history, self.running, self.seconds = history, running, seconds

    def _restore_rank_dropout(self, states, where: str) -> None:
        """Each rank's own dropout stream when the checkpoint has one per rank of this run; otherwise (another
        number of processes) fresh streams from the seed, which the log says."""
        if isinstance(states, list) and len(states) == self.world_size:
            try:
                return self.dropout_generator.load_state_dict(states[self.rank])
            except (ValueError, TypeError, KeyError, OverflowError) as error:
                raise ValueError(f"{where}: 'rank_dropout_generators'[{self.rank}] is not the state of a generator "
                                 f"({error})") from None
        self.dropout_generator.load_state_dict(self._rank_dropout_generators()[self.rank].state_dict())
        if self.config.dropout:
            self.log(f"the checkpoint was not written by {self.world_size} processes: the dropout masks from here on "
                     "differ from those of an uninterrupted run")

    def _refuse_to_resume_a_complete_run(self) -> None:
        """Training no epoch would only rewrite config.json: say how to extend the run instead."""
        epochs, done = self.config.epochs, self.epoch
        if done > epochs:
            raise ValueError(f"{self.run_dir} has trained {done} epochs already, so --epochs {epochs} leaves nothing "
                             f"to train; nothing was changed. To train further, pass --epochs greater than {done}")
        if done == epochs and (self.run_dir / METRICS_FILE).exists():
            raise ValueError(f"{self.run_dir} is complete: it trained all {done} epochs; nothing was changed. To "
                             f"train further, pass a larger --epochs: softgrad train --resume {self.run_dir} "
                             f"--epochs {done + 10}")

    def _position(self) -> str:
        return f"the end of epoch {self.epoch}" if self.step_in_epoch == 0 else \
            f"epoch {self.epoch + 1}, step {self.step_in_epoch}"

    def _save_checkpoint(self) -> None:
        self._check_weights()  # on every rank: their weights are equal, so they agree
        progress = self._progress_state()
        if self.rank != 0:
            self.saved_at = self._position()
            return
        checkpoint.save_training_checkpoint(self.run_dir / CHECKPOINT_FILE, self.model, self.optimizer.state_dict(),
                                            progress)
        self.saved_at = self._position()

    def _diverged(self, what: str) -> TrainingDiverged:
        kept = (f"the last good checkpoint, from {self.saved_at}, is kept in {self.run_dir / CHECKPOINT_FILE}"
                if self.saved_at else "no checkpoint had been written yet")
        return TrainingDiverged(
            f"training diverged: {what}. Nothing was saved; {kept}. Lower --lr (it is {self.config.lr:g}) or check "
            "the data; resuming would repeat the same steps")

    def _check_weights(self) -> None:
        for name, param in self.model.parameters_dict().items():
            if not np.isfinite(param.numpy()).all():
                raise self._diverged(f"parameter '{name}' holds NaN or infinite values at {self._position()}")

    def _check_run_dir(self) -> None:
        """Before any data is loaded: the model fits the size cap, and the run directory can be written and has
        room for the run's files."""
        config = self.config
        if config.input_shape is None:
            shape, classes = SHAPES[config.dataset]
            config = dataclasses.replace(config, input_shape=shape, num_classes=classes)
        needed = SPACE_PER_WEIGHT_BYTE * check_model_size(config) + SPACE_FIXED_BYTES
        try:
            check_writable(self.run_dir, needed)
        except OSError as error:
            raise OSError(error.errno, f"cannot write the run directory {self.run_dir}: {error.strerror or error}; "
                                       "pass another --out") from None

    # ----- the loop -----

    def run(self, resume: bool = False) -> dict | None:
        """Train (or, with ``resume``, continue from the checkpoint); the final metrics, or None if stopped.

        Raises ValueError or OSError (with the file and the fix) for a bad config, run directory or dataset,
        before anything is written, and ``TrainingDiverged`` if the loss or the weights become non-finite."""
        if self.rank == 0:  # alone: the others would see the files rank 0 starts writing
            self._check_can_start(resume)
        self._setup()
        if resume:
            self._restore()
            self.log(f"resuming {self.run_dir} at epoch {self.epoch + 1}, step {self.step_in_epoch}")
        self._synchronise()
        # the loop checks the loss and the weights itself (TrainingDiverged): NumPy's overflow warnings would
        # only add lines to its message
        with blas_threads(self.config.threads) as threads, np.errstate(over="ignore", invalid="ignore",
                                                                       divide="ignore"):
            self._record_threads(threads, resume)
            if self.rank == 0:
                self.config.save(self.run_dir / CONFIG_FILE)
            self.log(f"training {self.config.model} ({count_parameters(self.model):,} parameters) on "
                     f"{self.config.dataset}: {len(self.loader.dataset)} train / {len(self.y_test)} test images, "
                     f"{self.config.epochs} epochs of {len(self.loader)} steps"
                     + (f", on {self.world_size} processes" if self.world_size > 1 else ""))
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

    def _check_can_start(self, resume: bool) -> None:
        """A new run's directory holds none, a resumed one has a checkpoint, and it can be written."""
        if not resume and (self.run_dir / CONFIG_FILE).exists():
            raise FileExistsError(f"{self.run_dir} already holds a run; continue it with --resume {self.run_dir} "
                                  "or pick another --out")
        if resume and not (self.run_dir / CHECKPOINT_FILE).exists():
            raise FileNotFoundError(f"{self.run_dir / CHECKPOINT_FILE} does not exist: nothing to resume (the run "
                                    f"ended before its first checkpoint); start it again with another --out, or "
                                    f"delete {self.run_dir}")
        self._check_run_dir()

    def _record_threads(self, threads: int | None, resume: bool) -> None:
        """The config records the BLAS threads that run, which the environment may cap (OPENBLAS_NUM_THREADS)."""
        asked = self.config.threads
        if threads is None or threads == asked:
            return
        source = thread_limit_source()
        if resume:
            self.log(f"warning: this run trained on {asked} BLAS thread(s), BLAS now runs {threads} ({source}); the "
                     "last bits of the results will differ from a run that never stopped")
        else:
            self.log(f"BLAS runs {threads} thread(s), not the {asked} asked ({source}); the run records {threads}")
            self.config.threads = threads

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
                loss_sum, correct, seen = self._step(x, y)
                running = self.running
                running["loss_sum"] += loss_sum
                running["correct"] += correct
                running["seen"] += seen
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

    def _step(self, x, y) -> tuple[float, int, int]:
        """One optimisation step on (x, y), this rank's share of the batch: the batch's loss sum, correct
        predictions and samples, over every rank. The step is not applied if the loss is not finite."""
        if self.reducer is None:
            (loss, logits), grads = self.step_fn(x, y)
            loss = float(loss)
            correct = int(np.count_nonzero(np.argmax(logits.numpy(), axis=-1) == y))
            loss_sum, seen = loss * len(y), len(y)
        else:
            grads, loss_sum, correct, seen = self._reduced_step(x, y)
            loss = loss_sum / seen
        if not math.isfinite(loss):
            raise self._diverged(f"the training loss is {loss} at epoch {self.epoch + 1}, step "
                                 f"{self.step_in_epoch + 1}")
        self.optimizer(grads)
        if self.schedule is not None:
            self.schedule.step()
        return loss_sum, correct, seen

    def _reduced_step(self, x, y) -> tuple[tuple, float, int, int]:
        """This rank's gradients of its mean loss, and its loss sum and correct count, reduced with every rank's
        in one allreduce (weighted by sample counts), with the stop requests: any rank's stops them all."""
        if len(y):
            (loss, logits), grads = self.step_fn(x, y)
            loss_sum, correct = float(loss) * len(y), np.count_nonzero(np.argmax(logits.numpy(), axis=-1) == y)
        else:  # the epoch's last batch left this rank no sample: it still joins the allreduce, with weight 0
            grads, loss_sum, correct = [np.zeros(p.shape, p.dtype) for p in self.optimizer.parameters], 0.0, 0
        grads, (loss_sum, correct, seen, stop) = self.reducer.reduce(
            grads, (loss_sum, correct, len(y), float(self.stop_requested)), weight=len(y))
        self.stop_requested = stop > 0
        return grads, loss_sum, round(correct), round(seen)

    def _evaluate(self) -> tuple[float, float, np.ndarray]:
        """(loss, accuracy, confusion matrix) on the test set; with several ranks each evaluates its stride of it
        and one allreduce sums the loss and the matrix."""
        classes = self.config.num_classes
        if self.world_size == 1:
            result = evaluate(self.model, self.loss_fn, self.x_test, self.y_test)
            return result["loss"], result["accuracy"], confusion_matrix(self.y_test, result["predictions"], classes)
        x, y = self.x_test[self.rank::self.world_size], self.y_test[self.rank::self.world_size]
        result = evaluate(self.model, self.loss_fn, x, y)
        local = confusion_matrix(y, result["predictions"], classes)
        totals = communication.allreduce_sum_(np.concatenate([[result["loss"] * len(y)], local.ravel()]))
        matrix, count = totals[1:].round().astype(np.int64).reshape(classes, classes), len(self.y_test)
        return totals[0] / max(count, 1), float(np.trace(matrix)) / max(count, 1), matrix

    def _progress_bar(self):
        if self.progress is False:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=len(self.loader), initial=self.step_in_epoch, unit="step", leave=False, dynamic_ncols=True,
                    desc=f"epoch {self.epoch + 1}/{self.config.epochs}",
                    disable=None if self.progress is None else False)  # None: a bar on terminals only

    def _end_epoch(self) -> None:
        start = time.perf_counter()
        test_loss, test_accuracy, _ = self._evaluate()
        running = self.running
        seconds = running["seconds"] + time.perf_counter() - start
        row = {"epoch": self.epoch + 1, "train_loss": running["loss_sum"] / running["seen"],
               "train_accuracy": running["correct"] / running["seen"], "test_loss": test_loss,
               "test_accuracy": test_accuracy, "lr": self.optimizer.lr, "seconds": seconds}
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
        test_loss, test_accuracy, matrix = self._evaluate()
        metrics = {"test_accuracy": test_accuracy, "test_loss": test_loss, "seconds": self.seconds,
                   "epochs": self.epoch, "steps": self.global_step, "num_parameters": count_parameters(self.model),
                   "history": self.history, "confusion_matrix": matrix.tolist()}
        self._check_weights()
        if self.rank != 0:
            return metrics
        save_checkpoint(self.model, run_dir / MODEL_FILE)
        atomic_write_text(run_dir / METRICS_FILE, jsonfiles.dumps(metrics, indent=2) + "\n")
        title = f"{config.model} on {config.dataset}"
        plots.plot_curves(self.history, run_dir / CURVES_FILE, title=title)
        plots.plot_confusion(matrix, config.class_names, run_dir / CONFUSION_FILE,
                             title=f"{title}: test accuracy {100 * test_accuracy:.2f}%")
        self.log(f"test accuracy {100 * test_accuracy:.2f}%  (test loss {test_loss:.4f}, "
                 f"{self.seconds:.1f}s of training)")
        self.log(f"run directory: {run_dir}")
        return metrics


__all__ = ["TrainingDiverged", "make_optimizer", "make_schedule", "Trainer"]
