"""Where one training step of a benchmark workload goes, in softgrad: the wall time of every primitive's forward
and of each of its rules (outermost calls on the calling thread: a rule's own binds count in it), of the work
shared out on softgrad's pool (``softgrad._parallel.share_out``, the calling thread's wait for the others
included), and what is not shared out (the step less that work: one thread, or BLAS's own threads). The CNN or
MLP step of ``bench/run.py``, with its data, weights and trainer, in this process.

    python bench/profile_step.py cnn [--case ops] [--threads 2] [--steps 30]
    python bench/profile_step.py mlp [--batch 32] [--threads 2]

The timers cost a few µs a call: compare rows, not the step with ``bench/run.py``'s figures.
"""

from __future__ import annotations

import argparse
import collections
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))

import workloads  # noqa: E402


class Timers:
    """Seconds and calls by label, the outermost timed call only (a timed call inside another counts in it)."""

    def __init__(self):
        self.seconds, self.calls, self.depth = collections.defaultdict(float), collections.Counter(), 0

    def wrap(self, fn, label):
        def timed(*args, **kwargs):
            if self.depth:
                return fn(*args, **kwargs)
            self.depth += 1
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - start
                self.calls[label] += 1
                self.depth -= 1
        return timed


def _instrument(timers, sg):
    """Timers around every primitive's impl, rules and lazy rule, and around the pool's shared-out work; returns
    the function that takes them all off again."""
    from softgrad import _parallel
    from softgrad.trace import PRIMITIVES

    saved = [(p, p.impl, p.vjps, p.lazy_vjp) for p in PRIMITIVES]
    for p in PRIMITIVES:
        p.impl = timers.wrap(p.impl, p.name)
        if p.vjps is not None:
            p.vjps = tuple(None if rule is None else timers.wrap(rule, f"{p.name} rule {i}")
                           for i, rule in enumerate(p.vjps))
        if p.lazy_vjp is not None:
            p.lazy_vjp = timers.wrap(p.lazy_vjp, f"{p.name} lazy rule")
    share_out = _parallel.share_out

    def timed_share_out(task, parts):
        start = time.perf_counter()
        share_out(task, parts)
        timers.seconds["(shared out on the pool)"] += time.perf_counter() - start
        timers.calls["(shared out on the pool)"] += 1
    _parallel.share_out = timed_share_out

    def restore():
        _parallel.share_out = share_out
        for p, impl, vjps, lazy in saved:
            p.impl, p.vjps, p.lazy_vjp = impl, vjps, lazy
    return restore


def trainer(sg, workload, case, batch):
    """The benchmark's softgrad trainer and a function giving the (x, y) of step k."""
    import softgrad_peer

    if workload == "cnn":
        x_all, y_all = workloads.cnn_data()
        params, n = workloads.cnn_init(), workloads.CNN_BATCH
        model = softgrad_peer._SoftgradCNN(sg, {k: v.copy() for k, v in params.items()}, workloads.CNN_LR, case)
    else:
        x_all, y_all = workloads.mnist_like(workloads.CNN_BATCHES * batch)
        model, n = softgrad_peer._SoftgradMLP(sg, workloads.mlp_init(), workloads.MLP_LR), batch
    count = len(x_all) // n
    return model, lambda k: (x_all[k % count * n:(k % count + 1) * n], y_all[k % count * n:(k % count + 1) * n])


def profile(workload="cnn", case="layers", batch=32, threads=2, steps=30, warmup=3):
    """{'step': median seconds, 'cpu': CPU seconds / wall seconds, 'rows': [(label, seconds a step, calls a step)]}
    (the rows by time, 'gradients' and 'optimizer' among them)."""
    import softgrad as sg

    sg.config.threads = threads
    model, batch_of = trainer(sg, workload, case, batch)
    for k in range(warmup):
        model.step(*batch_of(k))
    timers = Timers()
    restore = _instrument(timers, sg)
    walls, usage, wall = [], resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    try:
        for k in range(steps):
            x, y = (sg.Tensor(a) for a in batch_of(k))
            start = time.perf_counter()
            _, grads = model.vg(x, y)
            middle = time.perf_counter()
            model.opt(grads)
            end = time.perf_counter()
            timers.seconds["gradients (value_and_grad)"] += middle - start
            timers.seconds["optimizer"] += end - middle
            walls.append(end - start)
    finally:
        restore()
    wall, after = time.perf_counter() - wall, resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime
    timers.seconds["(not shared out on softgrad's pool)"] = sum(walls) - timers.seconds["(shared out on the pool)"]
    rows = sorted(((label, seconds / steps, timers.calls[label] / steps) for label, seconds in timers.seconds.items()),
                  key=lambda row: -row[1])
    return {"step": statistics.median(walls), "cpu": cpu / wall, "rows": rows}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=("cnn", "mlp"))
    parser.add_argument("--case", choices=workloads.CNN_CASES, default="layers", help="the CNN's (default layers)")
    parser.add_argument("--batch", type=int, default=32, choices=workloads.MLP_BATCHES, help="the MLP's")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args(argv)
    result = profile(args.workload, args.case, args.batch, args.threads, args.steps)
    print(f"{args.workload} ({args.case if args.workload == 'cnn' else f'batch {args.batch}'}), {args.threads} "
          f"thread(s): step median {result['step'] * 1e3:.2f} ms, CPU {result['cpu']:.2f}× the wall time")
    for label, seconds, calls in result["rows"]:
        print(f"  {label:44s} {seconds * 1e3:8.3f} ms a step" + (f"  ({calls:g} calls)" if calls else ""))


if __name__ == "__main__":
    main()
