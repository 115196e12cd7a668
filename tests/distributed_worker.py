"""Run by tests/test_distributed.py under ``mpiexec -n N``: ``python distributed_worker.py MODE [RUN_DIR]``.
Rank 0 prints one JSON line with what the test asserts.

* ``gradients``: ranks build models from different seeds; after ``broadcast_parameters`` they must be
  identical; the allreduced gradients of the shards of a batch against the full batch's gradient.
* ``writes``: trains one epoch into RUN_DIR and reports the files each rank opened for writing (an audit hook).
* ``raise``: rank 1 raises in the middle of training; the job must end, not hang.
* ``diverge``: rank 1 alone gets NaN weights at step 3; every rank must stop at the same step.
"""

import json
import os
import sys
from pathlib import Path

import numpy as np

from softgrad import communication, ops
from softgrad.autodiff import value_and_grad
from softgrad.data import DataLoader, load_digits
from softgrad.nn.distributed import DistributedGradReducer, broadcast_parameters
from softgrad.random import Generator
from softgrad.training import TrainConfig, Trainer
from softgrad.training.loop import TrainingDiverged
from softgrad.training.models import build_model

BATCH = 64


def _model(seed: int):
    config = TrainConfig(hidden=(32,), input_shape=(1, 8, 8), num_classes=10)
    return build_model(config, Generator(seed), Generator(seed))


def gradients() -> dict:
    """Weights identical after the broadcast; shards' allreduced gradient against the full batch's."""
    rank, size = communication.get_rank(), communication.get_group_size()
    model = _model(100 + rank)
    params = model.trainable_params()
    before = communication.allgather_object([p.numpy().copy() for p in params])
    broadcast_parameters(list(model.get_parameters()))
    after = communication.allgather_object([p.numpy().copy() for p in params])
    x, y, _, _ = load_digits(flatten=False)
    x, y = x[:BATCH], y[:BATCH]
    loss_grad = value_and_grad(lambda a, b: ops.cross_entropy(model(a), b), None, weights=params)
    _, full = loss_grad(x, y)
    shard = next(iter(DataLoader((x, y), BATCH, num_shards=size, shard_id=rank)))
    _, local = loss_grad(*shard)
    reduced, _ = DistributedGradReducer(params).reduce(local, weight=len(shard[1]))
    error = np.sqrt(sum(np.sum((r - f.numpy()) ** 2) for r, f in zip(reduced, full)))
    norm = np.sqrt(sum(np.sum(f.numpy() ** 2) for f in full))
    return {"differed_before": any(not np.array_equal(a, b) for a, b in zip(before[0], before[-1])),
            "identical_after": all(np.array_equal(a, b) for other in after for a, b in zip(after[0], other)),
            "relative_error": float(error / norm), "dtype": str(reduced[0].dtype)}


def _writes_of_this_process() -> list:
    """Installs an audit hook; returns the list it fills with every path opened for writing or renamed, caches of
    compiled code left out (every process may write those: Python's bytecode, and Numba's kernels, whose cache
    directory each process probes with a mkdir on its first compiled call)."""
    written = []
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND

    def record(path):
        named = isinstance(path, (str, bytes, os.PathLike))  # (not a file descriptor)
        if not (named and "__pycache__" in Path(os.fsdecode(path)).parts):
            written.append(str(path))

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            if (mode and any(c in mode for c in "wax+")) or (not mode and flags & write_flags):
                record(path)
        elif event in ("os.rename", "os.replace", "os.mkdir", "os.remove"):
            record(args[0])

    sys.addaudithook(hook)
    return written


def writes(run_dir: str) -> dict:
    written = _writes_of_this_process()
    config = TrainConfig(hidden=(32,), epochs=1, batch_size=64)
    Trainer(config, run_dir, log=lambda line: None, progress=False).run()
    everyone = communication.allgather_object(written)
    return {"written_by_rank": {rank: sorted(set(paths)) for rank, paths in enumerate(everyone)}}


def fail_on_rank_1() -> dict:
    def hook(trainer):
        if trainer.rank == 1 and trainer.global_step == 3:
            raise RuntimeError("rank 1 fails on purpose at step 3")

    Trainer(TrainConfig(hidden=(32,), epochs=50), sys.argv[2], log=lambda line: None, progress=False,
            on_step=hook).run()
    return {"finished": True}


def diverge_on_rank_1() -> dict:
    def hook(trainer):
        if trainer.rank == 1 and trainer.global_step == 3:
            trainer.model.trainable_params()[0].set_data(np.full(trainer.model.trainable_params()[0].shape, np.nan))

    trainer = Trainer(TrainConfig(hidden=(32,), epochs=50), sys.argv[2], log=lambda line: None, progress=False,
                      on_step=hook)
    try:
        trainer.run()
        stopped = None
    except TrainingDiverged as error:
        stopped = [trainer.global_step, str(error)]
    return {"stopped_by_rank": communication.allgather_object(stopped)}


if __name__ == "__main__":
    mode = sys.argv[1]
    result = {"gradients": gradients, "writes": lambda: writes(sys.argv[2]), "raise": fail_on_rank_1,
              "diverge": diverge_on_rank_1}[mode]()
    if communication.get_rank() == 0:
        print(json.dumps(result), flush=True)
