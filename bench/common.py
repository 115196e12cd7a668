"""Shared machinery for the benchmark peers and the runner.

Nothing here imports a peer library (torch, jax, autograd, softgrad) unless a
peer asks (``require``): a peer process imports exactly one of them, the runner
imports none.

What lives here:

* the child-process protocol (``peer_main``): argument parsing, the JSON
  line a peer prints, peak RSS, per-case status ``ok`` / ``FAILED`` /
  ``unavailable`` (``run_case``, ``run_cases``);
* thread-count and allocator environments (``thread_env``, ``ENVIRONMENTS``);
* the timing helper (``measure``: warm-up, then the median of >= 5 repeats
  measured with ``time.perf_counter``);
* the comparison helper used by every reference check (``compare``).

Workload definitions, data generation and the NumPy references are in
``workloads.py``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import resource
import statistics
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
PEERS_DIR = BENCH_DIR / "peers"

#: Marker that starts the one line of stdout the runner parses; libraries may
#: print whatever they like around it.
RESULT_MARKER = "BENCH_RESULT "


def log(msg: str) -> None:
    """A progress line of the runner, on stderr."""
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Environments
# --------------------------------------------------------------------------

#: glibc malloc tuned so that large blocks are neither handed to mmap nor
#: returned to the kernel after free: big temporaries are recycled instead of
#: being page-faulted in again on every call.
MALLOC_TUNED = {
    "MALLOC_MMAP_THRESHOLD_": "4294967296",
    "MALLOC_TRIM_THRESHOLD_": "68719476736",
}

ENVIRONMENTS: dict[str, dict[str, str]] = {
    "stock": {},
    "tuned": dict(MALLOC_TUNED),
}


def package_version(distribution: str, module) -> str:
    """The installed version of ``distribution`` (its metadata, else ``module.__version__``, else '?')."""
    from importlib.metadata import version
    try:
        return version(distribution)
    except Exception:
        return getattr(module, "__version__", "?")


def thread_env(threads: int) -> dict[str, str]:
    """Environment variables that pin every library's thread pool to ``threads``."""
    n = str(int(threads))
    return {
        "OMP_NUM_THREADS": n,
        "MKL_NUM_THREADS": n,
        "OPENBLAS_NUM_THREADS": n,
        "NUMEXPR_NUM_THREADS": n,
        "VECLIB_MAXIMUM_THREADS": n,
        "XLA_FLAGS": (
            f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} "
            f"intra_op_parallelism_threads={n}"
        ),
        "JAX_PLATFORMS": "cpu",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONHASHSEED": "0",
    }


def child_env(threads: int, env_name: str) -> dict[str, str]:
    """Full environment for a peer process: the caller's, minus anything that
    would change threading or the allocator behind our back, plus ours."""
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("MALLOC_") or key.startswith("GLIBC_TUNABLES"):
            del env[key]
    env.update(thread_env(threads))
    env.update(ENVIRONMENTS[env_name])
    src = str(REPO_DIR / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


# --------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------


@dataclass
class Budget:
    """How hard to try. ``quick`` is the smoke-test setting."""

    repeats: int = 7
    warmup: int = 2
    min_time: float = 0.05  # seconds per repeat for small kernels (inner loop)
    mlp_repeats: int = 5
    mlp_samples: int = 6000  # samples per MLP repeat (at least)
    mlp_min_time: float = 0.5  # seconds per MLP repeat (at least)
    cnn_warmup: int = 3  # CNN steps before timing
    cnn_steps: int = 8  # CNN steps per timed repeat
    cnn_repeats: int = 3

    @classmethod
    def for_mode(cls, quick: bool) -> "Budget":
        if quick:
            return cls(repeats=3, warmup=1, min_time=0.005,
                       mlp_repeats=3, mlp_samples=512, mlp_min_time=0.0,
                       cnn_warmup=1, cnn_steps=2, cnn_repeats=2)
        return cls()


def measure(fn: Callable[[], Any], *, repeats: int, warmup: int,
            min_time: float = 0.0, warmup_time: float | None = None) -> dict[str, Any]:
    """Median wall time of ``fn()`` (seconds per call).

    ``fn`` must return only once its work is finished (JAX peers block on
    their result inside ``fn``). Warm-up: at least ``warmup`` untimed calls
    and at least ``warmup_time`` seconds of them (default: ``2 * min_time``,
    so that lazy initialisation, JIT caches and the allocator settle). The
    fastest warm-up call sets ``number``, the count of calls per repeat, so
    that each repeat lasts at least ``min_time``; then ``repeats`` repeats
    are timed with ``time.perf_counter`` and the median per-call time is
    reported.
    """
    if warmup_time is None:
        warmup_time = 2 * min_time
    calls, spent, fastest = 0, 0.0, math.inf
    while calls < max(warmup, 1) or spent < warmup_time:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        calls, spent, fastest = calls + 1, spent + dt, min(fastest, dt)
        if calls >= 10_000:
            break
    number = 1
    if min_time > 0 and fastest < min_time:
        number = max(1, min(100_000, math.ceil(min_time / max(fastest, 1e-9))))
    times = []
    for _ in range(max(repeats, 1)):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    trace = os.environ.get("BENCH_TRACE")
    if trace:  # debugging aid: where did the time go?
        with open(trace, "a") as f:
            f.write(json.dumps({"pid": os.getpid(), "argv": sys.argv[1:], "warmup_calls": calls,
                                "fastest_warmup": fastest, "number": number,
                                "times": times}) + "\n")
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "repeats": len(times),
        "number": number,
        "warmup_calls": calls,
    }


# --------------------------------------------------------------------------
# Reference checks
# --------------------------------------------------------------------------


class CheckFailed(Exception):
    """A peer's result disagrees with the NumPy reference."""


class Unavailable(Exception):
    """The peer cannot run this case (library or API missing)."""


def require(module: str, failure: str = "not installed") -> Any:
    """``import module``; if that fails, raise ``Unavailable`` with ``failure`` and the reason."""
    try:
        return importlib.import_module(module)
    except Exception as exc:
        raise Unavailable(f"{failure} ({type(exc).__name__}: {exc})")


def compare(name: str, got: Any, ref: np.ndarray, rtol: float) -> float:
    """Relative max-norm error ``max|got - ref| / max|ref|``; raise if > rtol.

    Also checks shape and finiteness. Returns the error.
    """
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        raise CheckFailed(f"{name}: shape {got.shape} != reference {ref.shape}")
    if not np.all(np.isfinite(got)):
        raise CheckFailed(f"{name}: non-finite values")
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    err = float(np.max(np.abs(got - ref))) / (scale if scale > 0 else 1.0)
    if not err <= rtol:
        raise CheckFailed(f"{name}: relative error {err:.3g} > {rtol:g}")
    return err


# --------------------------------------------------------------------------
# Peer process protocol
# --------------------------------------------------------------------------


@dataclass
class Context:
    """What a workload driver gets: the parsed command line and the budget."""

    threads: int
    quick: bool
    budget: Budget
    cases: list[str] | None
    weights: str | None
    mode: str | None
    extra: dict[str, Any] = field(default_factory=dict)

    def wants(self, case: str) -> bool:
        return self.cases is None or case in self.cases


def maxrss_mb() -> float:
    # Linux reports kilobytes.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def blas_info() -> list[dict[str, Any]]:
    try:
        from threadpoolctl import threadpool_info
    except Exception:
        return []
    return [
        {k: d.get(k) for k in ("user_api", "internal_api", "num_threads", "version", "architecture")}
        for d in threadpool_info()
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="benchmark peer (run by bench/run.py)")
    p.add_argument("--workload", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--case", action="append", default=None,
                   help="run only this case (repeatable)")
    p.add_argument("--weights", default=None, help=".npz with the MLP's initial weights")
    p.add_argument("--mode", default=None, help="peer-specific variant, e.g. jit/eager")
    return p.parse_args(argv)


def emit(payload: dict[str, Any]) -> None:
    sys.stdout.flush()
    sys.stdout.write(RESULT_MARKER + json.dumps(payload) + "\n")
    sys.stdout.flush()


def process_info(args: argparse.Namespace, row: str) -> dict[str, Any]:
    """The start of a peer's payload: what it was asked to run, and where (interpreter, allocator, CPUs)."""
    return {
        "row": row,
        "workload": args.workload,
        "threads": args.threads,
        "quick": args.quick,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "malloc_env": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")},
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }


def run_workload(payload: dict[str, Any], ctx: Context, workload: str,
                 setup: Callable[[Context], dict[str, Any]],
                 drivers: dict[str, Callable[[Context, Any], list[dict[str, Any]]]]) -> None:
    """Set the library up and run the workload's driver, adding the library's version and threads, the
    status and the cases to ``payload``; an exception outside any case becomes the status."""
    try:
        info = setup(ctx)
        payload["version"] = info.get("version")
        payload["library_threads"] = info.get("threads", ctx.threads)
        if info.get("source"):
            payload["source"] = info["source"]
        driver = drivers.get(workload)
        if driver is None:
            payload.update(status="unavailable",
                           reason=f"workload {workload!r} not implemented by this peer", cases=[])
        else:
            payload["cases"] = driver(ctx, info.get("impl"))
            payload["status"] = "ok"
    except Unavailable as exc:
        payload.update(status="unavailable", reason=str(exc), cases=[])
    except Exception as exc:  # a crash outside any case
        payload.update(status="FAILED", reason=f"{type(exc).__name__}: {exc}",
                       traceback=traceback.format_exc(limit=8), cases=[])


def peer_main(
    row: str | Callable[[argparse.Namespace], str],
    setup: Callable[[Context], dict[str, Any]],
    drivers: dict[str, Callable[[Context, Any], list[dict[str, Any]]]],
    argv: list[str] | None = None,
) -> None:
    """Entry point of every peer script.

    ``setup(ctx)`` imports the library (raising ``Unavailable`` if it cannot)
    and returns ``{"version": ..., "impl": <object handed to the driver>}``,
    and ``"threads"`` if the library reports a thread count of its own (default:
    ``ctx.threads``). ``drivers[workload](ctx, impl)`` returns the list of case
    results. Whatever happens, exactly one result line is printed and the exit
    code is 0 unless the interpreter itself dies.
    """
    args = parse_args(argv)
    ctx = Context(threads=args.threads, quick=args.quick,
                  budget=Budget.for_mode(args.quick), cases=args.case,
                  weights=args.weights, mode=args.mode)
    t_start = time.perf_counter()
    payload = process_info(args, row(args) if callable(row) else row)
    run_workload(payload, ctx, args.workload, setup, drivers)
    payload["blas"] = blas_info()
    payload["maxrss_mb"] = round(maxrss_mb(), 1)
    payload["wall_s"] = round(time.perf_counter() - t_start, 3)
    emit(payload)


_CLK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_busy_s() -> float | None:
    """CPU-seconds the whole machine (all CPUs, every process, including ones
    in other PID namespaces) has spent busy since boot, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return (sum(v) - v[3] - v[4]) / _CLK  # all but idle and iowait


class LoadProbe:
    """Measures how much CPU *other* processes used while this one ran:
    (machine busy CPU-seconds - this process's CPU-seconds) / wall seconds,
    i.e. the average number of CPUs taken by someone else. On a shared
    machine that is what turns a benchmark into noise."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.b0 = machine_busy_s()
        r = resource.getrusage(resource.RUSAGE_SELF)
        self.c0 = r.ru_utime + r.ru_stime

    def background_cpus(self) -> float | None:
        b1 = machine_busy_s()
        if self.b0 is None or b1 is None:
            return None
        r = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.perf_counter() - self.t0
        own = r.ru_utime + r.ru_stime - self.c0
        return max(0.0, (b1 - self.b0) - own) / max(wall, 1e-9)


def speed_probe() -> float:
    """Seconds for a fixed piece of work, best of 3: a Python loop and float32 GEMMs through NumPy's BLAS on
    the run's threads (when one CPU is slow, the other thread waits for it). This VM has phases of seconds to
    minutes in which every process runs 1.3-3x slower with no other process busy; the driver compares the
    probes of all cases of a run to spot a case measured in such a phase (``schedule.SLOW``)."""
    m = np.full((256, 256), 0.5, np.float32)
    best = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        total = 0
        for i in range(60_000):
            total += i
        for _ in range(16):
            m @ m
        best = min(best, time.perf_counter() - t0)
    return best


def run_case(case: str, body: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one case's build + check + timing, turning exceptions into a status.

    ``Unavailable`` -> ``unavailable``; ``CheckFailed`` or any other exception
    -> ``FAILED`` (a peer that fails its check is never timed because ``body``
    checks before it times). Records ``background_cpus`` (see ``LoadProbe``)
    and ``probe_s``, the slower ``speed_probe`` of the two taken before and
    after the case (the latter once the library's threads have gone idle).
    """
    before = speed_probe()
    probe = LoadProbe()
    try:
        out = body()
        out.setdefault("status", "ok")
    except Unavailable as exc:
        out = {"status": "unavailable", "reason": str(exc)}
    except CheckFailed as exc:
        out = {"status": "FAILED", "reason": f"check: {exc}"}
    except Exception as exc:
        out = {"status": "FAILED", "reason": f"{type(exc).__name__}: {exc}",
               "traceback": traceback.format_exc(limit=6)}
    out["case"] = case
    bg = probe.background_cpus()
    out["background_cpus"] = None if bg is None else round(bg, 3)
    time.sleep(0.25)
    out["probe_s"] = round(max(before, speed_probe()), 6)
    return out


def run_cases(ctx: Context, bodies: dict[str, Callable[[], dict[str, Any]]]) -> list[dict[str, Any]]:
    """``run_case`` of each case (name -> body) that the command line asks for, in order."""
    return [run_case(name, body) for name, body in bodies.items() if ctx.wants(name)]
