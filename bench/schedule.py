"""Running the peer processes: the schedule of jobs, waiting for an idle machine, spotting contended and
slow-phase attempts, re-running them at the end of the schedule, and the time and retry budgets.

A *job* is one peer process: ``(round, workload, row, cases, threads, env)``; ``cases`` is None for all of
the workload's cases. Its *attempts* are the payloads of the times it ran (see ``run_peer``).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from common import (PEERS_DIR, REPO_DIR, RESULT_MARKER, child_env, log, machine_busy_s,
                    thread_env)
import workloads as W

#: row name -> (peer script, --mode)
ROWS: dict[str, tuple[str, str | None]] = {
    "numpy": ("numpy_peer.py", None),
    "torch": ("torch_peer.py", None),
    "jax-jit": ("jax_peer.py", "jit"),
    "jax-eager": ("jax_peer.py", "eager"),
    "autograd": ("autograd_peer.py", None),
    "tinygrad": ("tinygrad_peer.py", None),
    "mygrad": ("mygrad_peer.py", None),
    "softgrad": ("softgrad_peer.py", None),
    "softgrad-ops": ("softgrad_peer.py", "ops"),
}

#: The rows that run the cnn workload (the others have no convolution, or no practical one).
CNN_ROWS = ("torch", "jax-jit", "softgrad")
#: Rows that run the MLP only: softgrad's MLP written by hand from ops (the other workloads are the same code).
MLP_ONLY_ROWS = ("softgrad-ops",)

#: Average CPUs used by other processes during a case above which the case
#: counts as contended (re-run if retries are left; marked ‡ if it stays so).
CONTENDED = 0.25

#: A case whose speed probe (common.speed_probe) took more than SLOW x the
#: fastest probe of the run was measured in one of the machine's slow phases:
#: re-run like a contended one (the fastest round is still the one reported).
SLOW = 1.3

#: Seconds of idle-waiting in the whole run.
WAIT_BUDGET = 120.0


@dataclass
class Plan:
    """What a run measures and how hard it tries: the command line with its defaults applied."""

    workloads: list[str]
    rows: list[str]
    envs: list[str]
    threads: int
    quick: bool
    rounds: int
    retries: int
    retry_budget: int
    time_budget: float
    idle_wait: float
    timeout: float
    python: str
    softgrad_rev: str | None

    @property
    def limit_threads(self) -> list[int]:
        """The thread counts the machine limits are measured with."""
        return sorted({1, 2, self.threads}) if self.threads >= 2 else [1]


# --------------------------------------------------------------------------
# contended and slow-phase attempts
# --------------------------------------------------------------------------


def busy(case: dict[str, Any]) -> bool:
    """Whether other processes took more than ``CONTENDED`` CPUs on average while the case ran."""
    return (case.get("background_cpus") or 0) > CONTENDED


def contended(payload: dict[str, Any]) -> bool:
    """Whether any ok case of the attempt was ``busy``."""
    return any(busy(c) for c in payload.get("cases", []) if c.get("status") == "ok")


def fastest_probe(runs: list[dict[str, Any]]) -> float | None:
    """The fastest speed probe of any case of any attempt (None if there is none)."""
    probes = [c["probe_s"] for r in runs for c in r.get("cases", []) if c.get("probe_s")]
    return min(probes) if probes else None


def slow(payload: dict[str, Any], fastest: float | None) -> bool:
    """Whether an ok case of the attempt had a speed probe over ``SLOW`` x ``fastest``: a slow phase."""
    return bool(fastest) and any(c.get("status") == "ok" and (c.get("probe_s") or 0) > SLOW * fastest
                                 for c in payload.get("cases", []))


def job_key(job: tuple) -> tuple:
    """The job as a hashable key (its cases as a tuple)."""
    rnd, workload, row, cases, t, env = job
    return rnd, workload, row, tuple(cases or ()), t, env


def late_reruns(runs: list[dict[str, Any]], attempts: dict[tuple, int], retries: int) -> list[tuple]:
    """Jobs (schedule entries) every attempt of which was slow by the run's fastest probe so far, and which
    have re-runs left."""
    fastest = fastest_probe(runs)
    by_key: dict[tuple, list[dict[str, Any]]] = {}
    for run in runs:
        by_key.setdefault(run["_key"], []).append(run)
    jobs = []
    for key, tries in by_key.items():
        if attempts[key] <= retries and all(slow(r, fastest) for r in tries):
            rnd, workload, row, cases, t, env = key
            jobs.append((rnd, workload, row, list(cases) or None, t, env))
    return jobs


# --------------------------------------------------------------------------
# one peer process
# --------------------------------------------------------------------------


def machine_load(window: float = 0.5) -> float | None:
    """CPUs busy on the whole machine over ``window`` seconds (we are asleep)."""
    b0 = machine_busy_s()
    time.sleep(window)
    b1 = machine_busy_s()
    return None if b0 is None or b1 is None else (b1 - b0) / window


def wait_for_quiet(max_wait: float, threshold: float = 0.2) -> tuple[float, float | None]:
    """Wait (at most ``max_wait`` s) until other processes leave the CPUs alone.
    Returns (seconds waited, last load seen)."""
    t0 = time.monotonic()
    load = None
    while max_wait > 0:
        load = machine_load()
        if load is None or load < threshold or time.monotonic() - t0 >= max_wait:
            break
    return time.monotonic() - t0, load


def peer_command(row: str, workload: str, threads: int, *, quick: bool, cases: list[str] | None,
                 weights: str, python: str) -> list[str]:
    """The command line of the peer process for ``row``."""
    script, mode = ROWS[row]
    cmd = [python, str(PEERS_DIR / script), "--workload", workload,
           "--threads", str(threads), "--weights", weights]
    if mode:
        cmd += ["--mode", mode]
    if quick:
        cmd.append("--quick")
    for c in cases or []:
        cmd += ["--case", c]
    return cmd


def peer_cpus(threads: int) -> list[int]:
    """The CPUs a peer with ``threads`` threads is pinned to: the first ``threads`` of ours (all if fewer)."""
    try:
        avail = sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        avail = []
    return avail[:threads] if 0 < threads < len(avail) else avail


def peer_result(out: str, err: str, returncode: int) -> dict[str, Any]:
    """The payload of the peer's last result line, or a FAILED one saying how it exited without one."""
    payload = None
    for line in out.splitlines():
        if line.startswith(RESULT_MARKER):
            payload = json.loads(line[len(RESULT_MARKER):])
    if payload is None:
        tail = " | ".join((err or "").strip().splitlines()[-3:])
        payload = {"status": "FAILED", "cases": [],
                   "reason": f"peer process exited {returncode} without a result: {tail}"}
    return payload


def run_peer(row: str, workload: str, env_name: str, threads: int, *, quick: bool,
             cases: list[str] | None, weights: str, timeout: float,
             python: str, pythonpath: str | None = None) -> dict[str, Any]:
    """Run one peer process (pinned to ``peer_cpus``, killed after ``timeout`` s) and return its payload with
    the job's row, workload, environment, threads, command and process time added."""
    cmd = peer_command(row, workload, threads, quick=quick, cases=cases, weights=weights, python=python)
    env = child_env(threads, env_name)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env["PYTHONPATH"]
    cpus = peer_cpus(threads)

    def pin() -> None:  # runs in the child before exec: every thread inherits it
        if cpus:
            os.sched_setaffinity(0, cpus)

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=str(REPO_DIR), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=pin)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        payload = {"status": "FAILED", "reason": f"timed out after {timeout:.0f} s", "cases": []}
    else:
        payload = peer_result(out, err, proc.returncode)
    payload.update(row=row, workload=workload, env=env_name, threads=threads,
                   command=" ".join(shlex.quote(c) for c in cmd),
                   process_s=round(time.perf_counter() - t0, 2))
    if proc.returncode not in (0, None) and payload.get("status") == "ok":
        payload["status"] = "FAILED"
        payload["reason"] = f"exit code {proc.returncode}"
    return payload


# --------------------------------------------------------------------------
# the schedule
# --------------------------------------------------------------------------


def processes(plan: Plan, workload: str) -> list[tuple[str, list[str] | None, int]]:
    """The peer processes of one workload in one round and environment: (row, cases, threads)."""
    if workload == "limits":
        return [("numpy", None, t) for t in plan.limit_threads]
    if workload == "cnn":  # a process per case (RSS per case), 1 core pinned beside the run's threads
        return [(r, [c], t) for r in plan.rows if r in CNN_ROWS for c in W.CNN_CASES for t in plan.limit_threads]
    if workload == "mlp" and not plan.quick:  # one process per batch size: RSS per batch size
        return [(r, [str(b)], plan.threads) for r in plan.rows for b in W.MLP_BATCHES]
    return [(r, None, plan.threads) for r in plan.rows if workload == "mlp" or r not in MLP_ONLY_ROWS]


def schedule(plan: Plan) -> list[tuple]:
    """Every job of the plan, round-major; within a round the environments alternate job by job, so that the
    two see the machine in the same state (it is a shared VM)."""
    return [(rnd, workload, row, cases, t, env)
            for rnd in range(1, plan.rounds + 1)
            for workload in plan.workloads
            for row, cases, t in processes(plan, workload)
            for env in plan.envs]


class Scheduler:
    """Runs the schedule in order. A contended or slow-phase attempt sends its job back to the end of the
    schedule (when the machine may be quieter) while the job has re-runs left (``plan.retries``) and the run
    has too (``plan.retry_budget``); no re-run starts once ``plan.time_budget`` seconds have passed."""

    def __init__(self, plan: Plan, weights: str, softgrad_path: str | None, t_start: float):
        self.plan, self.weights, self.softgrad_path, self.t_start = plan, weights, softgrad_path, t_start
        self.queue = schedule(plan)
        self.base_jobs = len(self.queue)
        self.started = 0
        self.runs: list[dict[str, Any]] = []
        self.attempts: dict[tuple, int] = {}
        self.retry_budget = plan.retry_budget
        self.wait_budget = WAIT_BUDGET

    def run(self) -> list[dict[str, Any]]:
        """Every attempt, in the order they ran."""
        while self.queue:
            job = self.queue.pop(0)
            if self.started >= self.base_jobs and time.perf_counter() - self.t_start > self.plan.time_budget:
                log(f"time budget of {self.plan.time_budget:.0f} s spent: skipping "
                    f"{len(self.queue) + 1} re-run(s)")
                break
            self.started += 1
            payload, waited = self.attempt(job)
            requeued = self.requeue(job, payload)
            log(self.progress(job, payload, waited, requeued))
            if not self.queue:  # the fastest probe may have come late: catch up on slow-only jobs
                self.catch_up()
        return self.runs

    def attempt(self, job: tuple) -> tuple[dict[str, Any], float]:
        """Wait for an idle machine (within the wait budget), run the job's peer process and record the
        attempt; returns its payload and the seconds waited."""
        rnd, workload, row, cases, t, env = job
        waited, load = wait_for_quiet(min(self.plan.idle_wait, self.wait_budget))
        self.wait_budget -= waited
        payload = run_peer(row, workload, env, t, quick=self.plan.quick, cases=cases,
                           weights=self.weights, timeout=self.plan.timeout, python=self.plan.python,
                           pythonpath=self.softgrad_path if row.startswith("softgrad") else None)
        key = job_key(job)
        self.attempts[key] = self.attempts.get(key, 0) + 1
        payload["_key"] = key
        payload.update(_cases_asked=cases, round=rnd, attempt=self.attempts[key],
                       waited_s=round(waited, 1),
                       load_before=None if load is None else round(load, 2))
        self.runs.append(payload)
        return payload, waited

    def requeue(self, job: tuple, payload: dict[str, Any]) -> str:
        """Send a contended or slow-phase attempt's job to the end of the schedule if it and the run have
        re-runs left; returns why it was sent ('' if it was not)."""
        why = ("contended" if contended(payload)
               else "slow phase" if slow(payload, fastest_probe(self.runs)) else "")
        if why and self.attempts[job_key(job)] <= self.plan.retries and self.retry_budget > 0:
            self.queue.append(job)
            self.retry_budget -= 1
            return why
        return ""

    def catch_up(self) -> None:
        """Schedule the ``late_reruns`` (jobs slow only by a probe seen after them), within the budget."""
        for job in late_reruns(self.runs, self.attempts, self.plan.retries):
            if self.retry_budget > 0:
                self.queue.append(job)
                self.retry_budget -= 1

    def progress(self, job: tuple, payload: dict[str, Any], waited: float, requeued: str) -> str:
        """The progress line of one attempt."""
        rnd, workload, row, _, t, env = job
        cases = payload.get("cases", [])
        bg = [c.get("background_cpus") for c in cases if c.get("background_cpus") is not None]
        probes = [c["probe_s"] for c in cases if c.get("probe_s")]
        summary = ", ".join(f"{c['case']}={c['status']}" for c in cases) or \
            f"{payload.get('status')}: {payload.get('reason', '')}"
        again = f"  [{requeued}: will retry]" if requeued else ""
        return (f"[{self.started:3d}/{self.started + len(self.queue)} r{rnd} {env}] {workload:<12} {row:<10} "
                f"t={t} {payload['process_s']:6.1f} s  bg={max(bg) if bg else 0:.2f} cpu  "
                f"probe={max(probes) * 1e3 if probes else 0:.1f} ms  "
                f"{'waited %.0f s  ' % waited if waited >= 1 else ''}{summary[:120]}{again}")


def export_softgrad(rev: str, tmp: str) -> str:
    """``src/softgrad`` as committed at ``rev``, extracted under ``tmp``; returns
    the directory to put first on the softgrad peer's PYTHONPATH."""
    dest = os.path.join(tmp, "softgrad-src")
    os.makedirs(dest)
    archive = subprocess.run(["git", "archive", "--format=tar", rev, "src/softgrad"],
                             cwd=str(REPO_DIR), capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
    return os.path.join(dest, "src")


def run(plan: Plan) -> tuple[list[dict[str, Any]], float]:
    """Run the plan (the MLP's initial weights and an exported softgrad in a temporary directory); returns
    every attempt and the run's wall time in seconds."""
    log(f"softgrad bench: workloads={','.join(plan.workloads)} peers={','.join(plan.rows)} "
        f"threads={plan.threads} env={','.join(plan.envs)}{' quick' if plan.quick else ''}")
    log("thread settings for every peer: " + " ".join(
        f"{k}={v!r}" if " " in v else f"{k}={v}" for k, v in thread_env(plan.threads).items()
        if k != "PYTHONHASHSEED"))
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="softgrad-bench-") as tmp:
        weights = os.path.join(tmp, "mlp_init.npz")
        W.save_mlp_init(weights)
        softgrad_path = None
        if plan.softgrad_rev:
            softgrad_path = export_softgrad(plan.softgrad_rev, tmp)
            log(f"softgrad from {plan.softgrad_rev}: {softgrad_path}")
        runs = Scheduler(plan, weights, softgrad_path, t_start).run()
    return runs, time.perf_counter() - t_start
