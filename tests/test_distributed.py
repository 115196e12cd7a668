"""Data-parallel training on MPI (issue #18): without a launcher nothing changes and mpi4py is never imported;
sharding covers every sample once; under ``mpiexec -n 2`` and ``-n 4`` (loopback, each launch under a timeout) the
broadcast makes the weights identical, the allreduced gradient of the shards is the full batch's, an epoch on two
processes is an epoch on one, only rank 0 writes, and a failing rank ends the job.

The MPI tests need mpi4py and mpich (``pip install -e '.[dev]'`` installs both): without them they fail, loudly,
rather than skip."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from softgrad import communication
from softgrad.data import DataLoader
from softgrad.nn.distributed import DistributedGradReducer
from softgrad.tensor import Parameter

HERE = Path(__file__).resolve().parent
WORKER = HERE / "distributed_worker.py"
LAUNCH_TIMEOUT = 120  # seconds; a launch takes 1-5 s
QUICK = ["--hidden", "32", "--batch-size", "64", "--no-progress"]


def _environment() -> dict:
    """This environment without any launcher's variables, one BLAS thread per process."""
    env = {k: v for k, v in os.environ.items() if k not in communication.LAUNCHER_SIZE_VARIABLES}
    return dict(env, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MPLBACKEND="Agg")


# ----- without MPI -----


def test_without_a_launcher_the_world_is_one_process_and_mpi4py_is_never_imported(tmp_path):
    script = f"""
import sys
from softgrad import communication
from softgrad.training import TrainConfig, Trainer
assert (communication.get_rank(), communication.get_group_size()) == (0, 1)
Trainer(TrainConfig(hidden=(8,), epochs=1, batch_size=256), {str(tmp_path / 'run')!r}, log=lambda line: None,
        progress=False).run()
assert "mpi4py" not in sys.modules, "mpi4py was imported"
"""
    done = subprocess.run([sys.executable, "-c", script], env=_environment(), capture_output=True, text=True,
                          timeout=LAUNCH_TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.parametrize("num_shards", [1, 2, 3, 4])
@pytest.mark.parametrize("batch_size, drop_last", [(8, False), (7, False), (7, True), (1, False), (64, False)])
def test_sharding_covers_every_sample_once_with_the_same_permutation(num_shards, batch_size, drop_last):
    n = 50
    whole = DataLoader(np.arange(n), batch_size, shuffle=True, drop_last=drop_last, seed=3)
    shards = [DataLoader(np.arange(n), batch_size, shuffle=True, drop_last=drop_last, seed=3, num_shards=num_shards,
                         shard_id=i) for i in range(num_shards)]
    for epoch in (0, 1):
        for loader in (whole, *shards):
            loader.set_epoch(epoch)
        batches = [[b.tolist() for (b,) in loader] for loader in shards]
        global_batches = [b.tolist() for (b,) in whole]
        assert {len(steps) for steps in batches} == {len(whole)}  # every rank takes the same number of steps
        for step, batch in enumerate(global_batches):  # rank i: positions i, i + N, ... of the same global batch
            interleaved = [None] * len(batch)
            for i in range(num_shards):
                interleaved[i::num_shards] = batches[i][step]
            assert interleaved == batch
        seen = sorted(sample for steps in batches for batch in steps for sample in batch)
        assert seen == sorted(sample for batch in global_batches for sample in batch)
        if not drop_last:
            assert seen == list(range(n))


@pytest.mark.parametrize("kwargs, message", [
    ({"num_shards": 2}, "shard_id is None"),
    ({"shard_id": 0}, "num_shards is None"),
    ({"num_shards": 2, "shard_id": 2}, "shard_id=2"),
    ({"num_shards": 0, "shard_id": 0}, "num_shards=0"),
    ({"num_shards": 2.0, "shard_id": 0}, "num_shards is 2.0"),
    ({"num_shards": 2, "shard_id": True}, "shard_id is True"),
])
def test_sharding_refuses_bad_arguments_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataLoader(np.arange(4), 2, **kwargs)


def test_the_reducer_on_one_process_returns_the_gradients_and_sums_the_scalars():
    params = [Parameter(np.ones((2, 3), np.float32), name="w"), Parameter(np.ones(2, np.float32), name="b")]
    reducer = DistributedGradReducer(params)
    grads = (np.full((2, 3), 2.0, np.float32), np.full(2, 3.0, np.float32))
    assert reducer(grads)[0] is grads[0]
    reduced, scalars = reducer.reduce(grads, (1.5, 4.0), weight=8)
    assert scalars == (1.5, 4.0) and reduced[0].dtype == np.float32
    np.testing.assert_array_equal(reduced[1], grads[1])
    assert reducer.bytes_per_step == 4 * (6 + 2 + 3)  # the gradients, two scalars and the weight
    with pytest.raises(ValueError, match="gradient of 'b' has shape \\(3,\\), expected the Parameter's \\(2,\\)"):
        reducer.reduce((grads[0], np.ones(3)), (1.0,))
    with pytest.raises(TypeError, match="parameters\\[0\\] must be a Parameter, got ndarray"):
        DistributedGradReducer([np.ones(2)])
    with pytest.raises(TypeError, match="mean must be True or False, got str 'yes'"):
        DistributedGradReducer(params, mean="yes")
    with pytest.raises(ValueError, match="backend_name must be None or 'mpi'.*got 'nccl'"):
        communication.init("nccl")


# ----- under mpiexec -----


@pytest.fixture(scope="module")
def mpiexec() -> str:
    """The mpiexec that the `mpich` wheel installs beside this Python; fails (not skips) if it is missing."""
    path = Path(sys.executable).parent / "mpiexec"
    found = str(path) if path.exists() else shutil.which("mpiexec")
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        found = None
    if not found:
        pytest.fail("the MPI tests need mpi4py and mpiexec: pip install -e '.[dev]' (mpi4py and mpich, wheels)")
    return found


def _launch(mpiexec: str, n: int, *command: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([mpiexec, "-n", str(n), *command], env=_environment(), capture_output=True, text=True,
                          timeout=LAUNCH_TIMEOUT, cwd=cwd)


def _worker(mpiexec: str, n: int, *args: str) -> dict:
    done = _launch(mpiexec, n, sys.executable, str(WORKER), *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("n", [2, 4])
def test_broadcast_makes_the_weights_identical_and_the_shards_gradient_is_the_batch_gradient(mpiexec, n):
    result = _worker(mpiexec, n, "gradients")
    assert result["differed_before"] and result["identical_after"]
    assert result["dtype"] == "float32" and result["relative_error"] < 1e-6


def _weights(run_dir: Path) -> dict:
    import safetensors.numpy

    return safetensors.numpy.load_file(str(run_dir / "model.safetensors"))


def test_one_epoch_on_two_processes_is_one_epoch_on_one_process_at_the_same_global_batch(mpiexec, tmp_path):
    softgrad = str(Path(sys.executable).parent / "softgrad")
    runs = {}
    for n in (1, 2):
        out = tmp_path / f"n{n}"
        command = [softgrad, "train", "--epochs", "1", "--out", str(out), *QUICK]
        done = _launch(mpiexec, n, *command) if n > 1 else subprocess.run(
            command, env=_environment(), capture_output=True, text=True, timeout=LAUNCH_TIMEOUT)
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("test accuracy") == 1  # rank 0 alone prints
        runs[n] = out
    one, two = _weights(runs[1]), _weights(runs[2])
    assert one.keys() == two.keys()
    for name in one:
        np.testing.assert_allclose(two[name], one[name], rtol=1e-4, atol=1e-5, err_msg=name)
    metrics = [json.loads((runs[n] / "metrics.json").read_text()) for n in (1, 2)]
    assert metrics[0]["steps"] == metrics[1]["steps"] == 23  # 1437 digits in global batches of 64
    assert abs(metrics[0]["history"]["train_loss"][0] - metrics[1]["history"]["train_loss"][0]) < 1e-5
    assert metrics[0]["confusion_matrix"] == metrics[1]["confusion_matrix"]


def test_only_rank_0_writes_files(mpiexec, tmp_path):
    written = _worker(mpiexec, 2, "writes", str(tmp_path / "run"))["written_by_rank"]
    assert written["1"] == []
    assert any(path.endswith("metrics.json.tmp") or ".metrics.json." in path for path in written["0"])


def test_a_rank_that_raises_ends_the_job_with_an_error_naming_it(mpiexec, tmp_path):
    start = time.perf_counter()
    done = _launch(mpiexec, 2, sys.executable, str(WORKER), "raise", str(tmp_path / "run"))
    assert done.returncode != 0
    assert "rank 1 of 2" in done.stderr and "rank 1 fails on purpose" in done.stderr
    assert time.perf_counter() - start < LAUNCH_TIMEOUT / 2


def test_a_failing_command_names_the_rank_and_keeps_its_exit_status(mpiexec, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}")
    done = _launch(mpiexec, 2, str(Path(sys.executable).parent / "softgrad"), "train", "--out",
                   str(tmp_path / "run"), *QUICK)
    assert done.returncode == 1
    assert "rank 0 of 2: softgrad train: error: " in done.stderr and "already holds a run" in done.stderr


def test_a_non_finite_loss_on_one_rank_stops_every_rank_at_the_same_step(mpiexec, tmp_path):
    stopped = _worker(mpiexec, 2, "diverge", str(tmp_path / "run"))["stopped_by_rank"]
    assert stopped[0] is not None and stopped[0][0] == stopped[1][0] == 3  # before step 4 is applied
    assert "the training loss is nan" in stopped[0][1]


def test_resume_on_the_same_number_of_processes_is_exact_with_dropout(mpiexec, tmp_path):
    softgrad = str(Path(sys.executable).parent / "softgrad")
    options = [*QUICK, "--dropout", "0.2", "--lr-schedule", "constant"]
    for command in (["--epochs", "2", "--out", str(tmp_path / "straight"), *options],
                    ["--epochs", "1", "--out", str(tmp_path / "resumed"), *options],
                    ["--resume", str(tmp_path / "resumed"), "--epochs", "2"]):
        done = _launch(mpiexec, 2, softgrad, "train", *command)
        assert done.returncode == 0, done.stderr
    straight, resumed = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert all(np.array_equal(straight[name], resumed[name]) for name in straight)
