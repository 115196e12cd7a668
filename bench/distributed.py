"""Data-parallel training on MPI (issue #18): samples per second at 1, 2 and 4 processes on this machine, the bytes
each rank sends per step, the time spent in the allreduce, and a model of what N machines would reach.

Each run trains an MLP with softgrad's own data-parallel pieces (``DataLoader(num_shards, shard_id)``,
``nn.DistributedGradReducer``, ``broadcast_parameters``) for a fixed number of steps at a fixed global batch, one
BLAS thread per process, and reports rank 0's figures. Two workloads: the embedded digits with ``softgrad
train``'s default MLP (64-256-128-10, 50 826 weights, 0.2 MB per allreduce), and MNIST-sized random data through
784-1024-1024-10 (1.9 M weights, 7.5 MB per allreduce: a step long enough to split).

Two cores cannot show scaling (4 processes share 2), hence the model: a step on N machines costs the measured
one-process compute of B/N samples (assumed to split perfectly: the compute per sample measured at 1 process)
plus a ring allreduce of S bytes, 2·(N−1)/N · S / bandwidth + 2·(N−1) · latency, at the stated bandwidths and
latency. Not a test: it prints Markdown tables.

    .venv/bin/python bench/distributed.py [--steps 60] [--processes 1,2,4] [--quick]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

WORKLOADS = {  # name: (input features, hidden widths, samples, global batch)
    "digits 64-256-128-10": (64, (256, 128), 1437, 32),
    "mnist-sized 784-1024-1024-10": (784, (1024, 1024), 8192, 256),
}
LINKS = {"1 GbE": 1e9 / 8, "10 GbE": 10e9 / 8, "100 Gb InfiniBand": 100e9 / 8}  # bytes per second
LATENCY = 20e-6  # seconds per message hop, a typical TCP-over-Ethernet figure (InfiniBand: ~2 µs)
MACHINES = (1, 2, 4, 8, 16, 32, 64)


def _data(workload: str):
    features, _, samples, _ = WORKLOADS[workload]
    if workload.startswith("digits"):
        from softgrad.data import load_digits

        x, y, _, _ = load_digits()
        return x.reshape(len(x), -1).astype(np.float32), y
    rng = np.random.default_rng(0)
    return rng.random((samples, features), dtype=np.float32), rng.integers(0, 10, samples)


def _model(workload: str):
    from softgrad import nn
    from softgrad.random import Generator

    features, hidden, _, _ = WORKLOADS[workload]
    init, layers = Generator(0), []
    for width in hidden:
        layers += [nn.Dense(features, width, activation="relu", generator=init)]
        features = width
    return nn.SequentialCell(layers + [nn.Dense(features, 10, generator=init)])


def worker(workload: str, steps: int) -> dict | None:
    """Train ``steps`` steps (after 3 untimed ones) on this rank's shards; rank 0's figures (None elsewhere)."""
    from softgrad import communication, ops, optim
    from softgrad.autodiff import value_and_grad
    from softgrad.data import DataLoader
    from softgrad.nn.distributed import DistributedGradReducer, broadcast_parameters

    rank, size = communication.get_rank(), communication.get_group_size()
    x, y = _data(workload)
    model = _model(workload)
    params = model.trainable_params()
    broadcast_parameters(params)
    optimizer = optim.SGD(params, lr=0.01, momentum=0.9)
    reducer = DistributedGradReducer(params)
    loss_and_grads = value_and_grad(lambda a, b: ops.cross_entropy(model(a), b), None, weights=params)
    loader = DataLoader((x, y), WORKLOADS[workload][3], shuffle=True, drop_last=True, seed=0, num_shards=size,
                        shard_id=rank)
    batches = (batch for epoch in range(10 ** 6) for batch in loader)
    compute = 0.0
    for step in range(steps + 3):
        if step == 3:  # the warm-up is over: start the clocks together
            communication.allreduce_sum_(np.zeros(1))
            start, compute, reducer.seconds = time.perf_counter(), 0.0, 0.0
        xb, yb = next(batches)
        begin = time.perf_counter()
        _, grads = loss_and_grads(xb, yb)
        compute += time.perf_counter() - begin
        grads, _ = reducer.reduce(grads, weight=len(yb)) if size > 1 else (grads, ())
        optimizer(grads)
    wall = time.perf_counter() - start
    if rank != 0:
        return None
    return {"workload": workload, "processes": size, "steps": steps, "samples_per_second": steps * loader.batch_size
            / wall, "seconds_per_step": wall / steps, "compute_per_step": compute / steps,
            "allreduce_per_step": reducer.seconds / steps, "bytes_per_step": reducer.bytes_per_step if size > 1 else 0,
            "parameters": sum(p.size for p in params)}


def measure(workload: str, processes: int, steps: int) -> dict:
    """One launch of this script under ``mpiexec -n processes`` (1: a plain process); its rank 0's figures."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    command = [sys.executable, __file__, "--worker", workload, "--steps", str(steps)]
    if processes > 1:
        command = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(processes), *command]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ring_allreduce_seconds(nbytes: int, machines: int, bandwidth: float) -> float:
    """A ring allreduce: each rank sends and receives 2·(N−1)/N of the buffer, in 2·(N−1) hops."""
    if machines == 1:
        return 0.0
    return 2 * (machines - 1) / machines * nbytes / bandwidth + 2 * (machines - 1) * LATENCY


def model_table(one: dict, nbytes: int) -> list[str]:
    """Samples per second on N machines of this machine's one-process speed, per link."""
    batch = WORKLOADS[one["workload"]][3]
    per_sample = one["compute_per_step"] / batch  # compute, as measured; the optimizer step is left out
    update = one["seconds_per_step"] - one["compute_per_step"]  # every rank applies the whole update
    lines = ["| machines | " + " | ".join(f"{link}: samples/s (speed-up)" for link in LINKS) + " |",
             "|---:|" + "---:|" * len(LINKS)]
    for n in MACHINES:
        cells = []
        for bandwidth in LINKS.values():
            step = per_sample * batch / n + update + ring_allreduce_seconds(nbytes, n, bandwidth)
            cells.append(f"{batch / step:,.0f} ({batch / step / (batch / one['seconds_per_step']):.2f}×)")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return lines


def report(results: list[dict]) -> None:
    print("| workload | processes | samples/s | ms/step | compute ms/step | allreduce ms/step | MB per step |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['workload']} | {r['processes']} | {r['samples_per_second']:,.0f} | "
              f"{1e3 * r['seconds_per_step']:.2f} | {1e3 * r['compute_per_step']:.2f} | "
              f"{1e3 * r['allreduce_per_step']:.2f} | {r['bytes_per_step'] / 1e6:.2f} |")
    for workload in WORKLOADS:
        ones = [r for r in results if r["workload"] == workload and r["processes"] == 1]
        several = [r for r in results if r["workload"] == workload and r["processes"] > 1]
        if ones and several:
            print(f"\nModel of N machines, {workload}, global batch {WORKLOADS[workload][3]}, "
                  f"{several[0]['bytes_per_step'] / 1e6:.2f} MB per allreduce, latency {LATENCY * 1e6:.0f} µs:\n")
            print("\n".join(model_table(ones[0], several[0]["bytes_per_step"])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="timed steps per run (default 60)")
    parser.add_argument("--processes", default="1,2,4", help="process counts (default 1,2,4)")
    parser.add_argument("--quick", action="store_true", help="10 steps, the digits workload only")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = worker(args.worker, args.steps)
        if result is not None:
            print(json.dumps(result), flush=True)
        return
    steps = 10 if args.quick else args.steps
    workloads = list(WORKLOADS)[:1] if args.quick else list(WORKLOADS)
    results = [measure(w, int(n), steps) for w in workloads for n in args.processes.split(",")]
    report(results)


if __name__ == "__main__":
    main()
