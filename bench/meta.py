"""The ``meta`` of a results file: the machine, the versions, the settings and the counts of a run."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from common import ENVIRONMENTS, REPO_DIR, Budget, thread_env
from schedule import CONTENDED, Plan, contended
import workloads as W


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_vectors() -> str:
    """The widest vector instructions the CPU has, from its flags (AVX-512, AVX2, …; '?' off Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "?"
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("sse2", "SSE2")):
        if flag in flags:
            return name
    return "?"


def blas_kernels(infos: list[dict[str, Any]]) -> dict[str, Any]:
    """Which kernels NumPy's OpenBLAS runs (its architecture in threadpoolctl's ``infos``, ``common.blas_info``),
    the CPU's vector width, and OPENBLAS_CORETYPE if the environment forces a kernel family: JAX's XLA and
    PyTorch's oneDNN pick their own kernels, so a forced older family slows NumPy's GEMMs alone."""
    architectures = sorted({info.get("architecture") for info in infos if info.get("internal_api") == "openblas"}
                           - {None})
    return {"openblas": ", ".join(architectures) or "?", "cpu_vectors": cpu_vectors(),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE")}


def git(*args: str) -> str:
    """The output of a git command in the repository ('' if it fails)."""
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0")  # never take the index lock
    try:
        return subprocess.run(["git", *args], cwd=str(REPO_DIR), env=env,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def softgrad_source(rev: str | None) -> dict[str, str]:
    """Which softgrad was benchmarked: the commit ``rev``, or the working tree and whether it has changes."""
    if rev:
        return {"from": f"git {rev}", "commit": git("rev-parse", rev)}
    dirty = git("status", "--porcelain", "--untracked-files=no", "src/softgrad")
    return {"from": "working tree", "commit": git("rev-parse", "HEAD"),
            "uncommitted_changes": "yes" if dirty else "no"}


def versions(runs: list[dict[str, Any]]) -> dict[str, str]:
    """Python's version and every library's, as its peer processes reported them."""
    found: dict[str, str] = {"python": platform.python_version()}
    for run in runs:
        if run.get("version") and run["row"] not in ("jax-eager",):
            key = {"jax-jit": "jax", "numpy": "numpy"}.get(run["row"], run["row"])
            found.setdefault(key, run["version"])
    if "numpy" not in found:
        found["numpy"] = next((r.get("numpy") for r in runs if r.get("numpy")), "?")
    return found


def describe(plan: Plan, runs: list[dict[str, Any]], wall: float, command: str) -> dict[str, Any]:
    """The meta of a run of ``plan`` that made the attempts ``runs`` in ``wall`` seconds (the slow-phase
    counts are added by ``report.write_results``)."""
    budget = Budget.for_mode(plan.quick)
    numpy_blas = [info for run in runs if run.get("row") == "numpy" for info in run.get("blas") or ()]
    thread_check = sorted({(r["row"], r.get("library_threads")) for r in runs
                           if r.get("library_threads") is not None and r["workload"] != "limits"})
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(), "cores": os.cpu_count(), "threads": plan.threads,
        "thread_env": thread_env(plan.threads), "library_threads": thread_check,
        "environments": {e: ENVIRONMENTS[e] for e in plan.envs}, "quick": plan.quick,
        "rounds": plan.rounds, "retries": plan.retries, "idle_wait": plan.idle_wait,
        "contended_cpus": CONTENDED,
        "attempts": len(runs), "contended_attempts": sum(contended(r) for r in runs),
        "repeats": budget.repeats, "mlp_repeats": budget.mlp_repeats,
        "mlp_samples": budget.mlp_samples, "mlp_min_time": budget.mlp_min_time,
        "cnn_warmup": budget.cnn_warmup, "cnn_steps": budget.cnn_steps, "cnn_repeats": budget.cnn_repeats,
        "gemm_n": 1024 if plan.quick else W.GEMM_N,
        "copy_mib": (W.COPY_BYTES // 4 if plan.quick else W.COPY_BYTES) // 2**20,
        "limit_threads": plan.limit_threads, "versions": versions(runs), "blas_kernels": blas_kernels(numpy_blas),
        "glibc": " ".join(platform.libc_ver()), "platform": platform.platform(),
        "command": command, "wall_s": wall, "workloads": plan.workloads, "peers": plan.rows,
        "softgrad_source": softgrad_source(plan.softgrad_rev),
        "bench_commit": git("rev-parse", "HEAD"),
    }
