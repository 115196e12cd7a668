#!/usr/bin/env python3
"""Run the softgrad benchmark suite: every library in its own process, side by
side, in the stock and the malloc-tuned environment.

    python bench/run.py                      # everything, both environments
    python bench/run.py --quick              # smoke test (< 60 s, plus minutes for tinygrad's compiles)
    python bench/run.py --workloads ce,mlp --peers torch,softgrad --env tuned

Writes bench/results/latest.json and bench/results/latest.md (quick runs:
quick.json / quick.md) and prints the tables. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (BENCH_DIR, ENVIRONMENTS, PEERS_DIR, RESULT_MARKER, Budget,  # noqa: E402
                    child_env, machine_busy_s, thread_env)
import workloads as W  # noqa: E402

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
}
ALIASES = {"jax": ["jax-jit", "jax-eager"], "all": list(ROWS)}
BENCH_WORKLOADS = ["ce", "mlp", "overhead", "second_order"]
ALL_WORKLOADS = BENCH_WORKLOADS + ["limits"]
LABELS = {
    "numpy": "NumPy by hand", "torch": "PyTorch eager", "jax-jit": "JAX jit",
    "jax-eager": "JAX eager", "autograd": "autograd", "tinygrad": "tinygrad",
    "mygrad": "MyGrad", "softgrad": "softgrad",
}


# --------------------------------------------------------------------------
# running peers
# --------------------------------------------------------------------------


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


#: Average CPUs used by other processes during a case above which the case
#: counts as contended (re-run if retries are left; marked ‡ if it stays so).
CONTENDED = 0.25

#: A case whose speed probe (common.speed_probe) took more than SLOW x the
#: fastest probe of the run was measured in one of the machine's slow phases:
#: re-run like a contended one (the fastest round is still the one reported).
SLOW = 1.3


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


def contended(payload: dict[str, Any]) -> bool:
    return any((c.get("background_cpus") or 0) > CONTENDED
               for c in payload.get("cases", []) if c.get("status") == "ok")


def fastest_probe(runs: list[dict[str, Any]]) -> float | None:
    probes = [c["probe_s"] for r in runs for c in r.get("cases", []) if c.get("probe_s")]
    return min(probes) if probes else None


def slow(payload: dict[str, Any], fastest: float | None) -> bool:
    return bool(fastest) and any(c.get("status") == "ok" and (c.get("probe_s") or 0) > SLOW * fastest
                                 for c in payload.get("cases", []))


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


def run_peer(row: str, workload: str, env_name: str, threads: int, *, quick: bool,
             cases: list[str] | None, weights: str, timeout: float,
             python: str, pythonpath: str | None = None) -> dict[str, Any]:
    script, mode = ROWS[row]
    cmd = [python, str(PEERS_DIR / script), "--workload", workload,
           "--threads", str(threads), "--weights", weights]
    if mode:
        cmd += ["--mode", mode]
    if quick:
        cmd.append("--quick")
    for c in cases or []:
        cmd += ["--case", c]
    env = child_env(threads, env_name)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env["PYTHONPATH"]
    try:
        avail = sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        avail = []
    cpus = avail[:threads] if 0 < threads < len(avail) else avail

    def pin() -> None:  # runs in the child before exec: every thread inherits it
        if cpus:
            os.sched_setaffinity(0, cpus)

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=str(BENCH_DIR.parent), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=pin)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        payload = {"status": "FAILED", "reason": f"timed out after {timeout:.0f} s", "cases": []}
    else:
        payload = None
        for line in out.splitlines():
            if line.startswith(RESULT_MARKER):
                payload = json.loads(line[len(RESULT_MARKER):])
        if payload is None:
            tail = " | ".join((err or "").strip().splitlines()[-3:])
            payload = {"status": "FAILED", "cases": [],
                       "reason": f"peer process exited {proc.returncode} without a result: {tail}"}
    payload.update(row=row, workload=workload, env=env_name, threads=threads,
                   command=" ".join(shlex.quote(c) for c in cmd),
                   process_s=round(time.perf_counter() - t0, 2))
    if proc.returncode not in (0, None) and payload.get("status") == "ok":
        payload["status"] = "FAILED"
        payload["reason"] = f"exit code {proc.returncode}"
    return payload


def expand_peers(spec: str) -> list[str]:
    rows: list[str] = []
    for name in [s.strip() for s in spec.split(",") if s.strip()]:
        for r in ALIASES.get(name, [name]):
            if r not in ROWS:
                raise SystemExit(f"unknown peer {r!r}; choose from {', '.join(ROWS)} or jax/all")
            if r not in rows:
                rows.append(r)
    return sorted(rows, key=list(ROWS).index)


# --------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------


def sig(x: float | None, digits: int = 3) -> str:
    if x is None or not isinstance(x, (int, float)) or not math.isfinite(x):
        return ""
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - mag)
    return f"{x:,.{decimals}f}"


def pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.0f}%" if x >= 0.095 else f"{100 * x:.1f}%"


def ratio(x: float | None) -> str:
    return "" if x is None else (f"{x:.2f}×" if x >= 0.095 else sig(x, 2) + "×")


#: (max - min) / median of the repeats above which a figure is marked noisy
NOISY = 0.5


def render(headers: list[str], rows: list[list[str]], align: list[str] | None = None) -> str:
    """A padded GitHub-markdown table (readable as plain text too)."""
    align = align or ["l"] * 2 + ["r"] * (len(headers) - 2)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]

    def line(cells):
        return "| " + " | ".join(c.rjust(w) if a == "r" else c.ljust(w)
                                  for c, w, a in zip(cells, widths, align)) + " |"

    sep = "|" + "|".join((":" if a == "l" else "-") + "-" * w + (":" if a == "r" else "-")
                         for w, a in zip(widths, align)) + "|"
    return "\n".join([line(headers), sep] + [line(r) for r in rows])


def primary(c: dict[str, Any]) -> float:
    """The figure that ranks rounds of one case: seconds per epoch or per call."""
    v = c.get("sec_per_epoch", c.get("median_s"))
    return v if isinstance(v, (int, float)) else math.inf


class Results:
    def __init__(self, runs: list[dict[str, Any]], envs: list[str], rows: list[str],
                 threads: int):
        self.runs, self.envs, self.rows, self.threads = runs, envs, rows, threads
        # Every round of a case; the figure reported is the best ok round.
        groups: dict[tuple, list[dict[str, Any]]] = {}
        for run in runs:
            for case in run.get("cases", []):
                key = (run["env"], run["row"], run["workload"], case["case"], run["threads"])
                groups.setdefault(key, []).append(
                    dict(case, maxrss_mb=run.get("maxrss_mb"), round=run.get("round", 1)))
        self.index: dict[tuple, dict[str, Any]] = {}
        for key, lst in groups.items():
            ok = [c for c in lst if c.get("status") == "ok"]
            # a slow phase only ever slows a process (and the probe can miss one that hit between
            # its two readings): the fastest calm round is reported, slow-flagged or not
            calm = [c for c in ok if (c.get("background_cpus") or 0) <= CONTENDED]
            if ok:
                best = dict(min(calm or ok, key=primary))
                best["rounds"] = [primary(c) if c.get("status") == "ok" else c.get("status")
                                  for c in lst]
            else:
                best = lst[0]
            self.index[key] = best
        self.footnotes: list[str] = []
        self.notes: dict[tuple, list] = {}

    def case(self, env, row, workload, case, threads=None):
        threads = self.threads if threads is None else threads
        got = self.index.get((env, row, workload, case, threads))
        if got is not None:
            return got
        # a process-level failure/unavailability: no case entries
        for run in self.runs:
            if (run["env"], run["row"], run["workload"], run["threads"]) == (env, row, workload, threads):
                if run.get("status") != "ok" or not run.get("cases"):
                    if case in (run.get("_cases_asked") or [case]):
                        return {"status": run.get("status", "FAILED"),
                                "reason": run.get("reason", "no result"), "case": case}
        return None

    def limit(self, env, case, key, threads=None):
        """The machine limit with up to ``threads`` threads (default: the run's):
        the best figure over the measured thread counts not above it."""
        n = self.threads if threads is None else threads
        best = None
        for (e, row, workload, k, t), c in self.index.items():
            if (e, row, workload, k) == (env, "numpy", "limits", case) and t <= n \
                    and c.get("status") == "ok" and c.get(key) is not None:
                best = c[key] if best is None else max(best, c[key])
        return best

    def status_cell(self, c, row, workload, env) -> str | None:
        """None when ok; else the text for the table (and a footnote)."""
        if c is None:
            return "—"
        status = c.get("status")
        if status == "ok":
            if c.get("note"):
                where = self.notes.setdefault((row, workload, c["note"]), [])
                if (c["case"], env) not in where:
                    where.append((c["case"], env))
            return None
        reason = c.get("reason", "")
        text = "not installed" if reason.startswith("not installed") else status
        self.footnotes.append(f"{row} / {workload} {c['case']} [{env}]: {status}: {reason}")
        return text

    def table(self, workload: str, cases: list[str], case_label: str,
              figures: list[tuple[str, Any]]) -> str:
        """``figures``: (column name, fn(case_dict, env, case) -> str)."""
        headers = [case_label, "library"]
        for env in self.envs:
            headers += [f"{env} {name}" for name, _ in figures]
        out_rows = []
        for case in cases:
            for row in self.rows:
                cells = [case, LABELS.get(row, row)]
                for env in self.envs:
                    c = self.case(env, row, workload, case)
                    bad = self.status_cell(c, row, workload, env)
                    if bad is not None:
                        cells += [bad] + [""] * (len(figures) - 1)
                    else:
                        cells += [fn(c, env, case) for _, fn in figures]
                        if self.noisy(c):
                            cells[-len(figures)] += " †"
                        if (c.get("background_cpus") or 0) > CONTENDED:
                            self.any_contended = True
                            cells[-len(figures)] += " ‡"
                out_rows.append(cells)
        return render(headers, out_rows)

    @staticmethod
    def spread(c) -> float | None:
        try:
            return (c["max_s"] - c["min_s"]) / c["median_s"]
        except (KeyError, TypeError, ZeroDivisionError):
            return None

    def noisy(self, c) -> bool:
        s = self.spread(c)
        if s is not None and s > NOISY:
            self.any_noisy = True
            return True
        return False

    any_noisy = False
    any_contended = False

    def vs_torch(self, workload, key):
        def fn(c, env, case):
            t = self.case(env, "torch", workload, case)
            if not t or t.get("status") != "ok" or not t.get(key):
                return ""
            return ratio(c[key] / t[key])
        return fn


def build_report(res: Results, meta: dict[str, Any], workloads_run: list[str]) -> str:
    n = res.threads
    parts = ["# softgrad benchmarks", ""]
    parts.append(
        f"{meta['date']} · {meta['cpu']} · {meta['cores']} cores · **{n} threads for every "
        f"library** · {'quick run' if meta['quick'] else 'full run'} · "
        f"environments: {', '.join(res.envs)}")
    parts.append("")
    src = meta.get("softgrad_source", {})
    parts.append("Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) +
                 f" (softgrad from the {src.get('from', '?')}, commit {src.get('commit', '?')[:10]}"
                 + (", with uncommitted changes" if src.get("uncommitted_changes") == "yes" else "")
                 + ").")
    parts.append("")
    best = (f"the best of {meta['rounds']} rounds (separate processes, interleaved) of "
            if meta.get("rounds", 1) > 1 else "")
    parts.append(
        f"Each figure is {best}the median of {meta['repeats']} timed repeats after warm-up "
        f"(MLP: {meta['mlp_repeats']}), measured only after the library's result matched "
        "the NumPy reference. *stock*: the default glibc malloc; *tuned*: "
        "`MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736`. "
        "*vs torch*: this row's time / PyTorch's (below 1 is faster).")
    parts.append("")
    if meta.get("retries"):
        parts.append(
            f"The machine is shared: each peer process started after waiting (up to "
            f"{meta['idle_wait']:.0f} s) for the CPUs to go idle, and one during which other "
            f"processes took more than {meta['contended_cpus']} CPU was run again (up to "
            f"{meta['retries']} times; the calmest, then fastest attempt is reported): "
            f"{meta['contended_attempts']} of {meta['attempts']} peer processes were contended. "
            "The machine also has phases of minutes in which every process runs 2-3x slower: a "
            "peer process whose speed probe (a fixed Python + NumPy task timed before and after "
            f"each case) took more than {meta['slow_factor']}x the run's fastest probe was run "
            f"again the same way (as such a phase only slows a process, the fastest round is "
            f"reported): {meta['slow_attempts']} of {meta['attempts']} were slow.")
        parts.append("")

    if "limits" in workloads_run:
        parts += ["## Machine limits (NumPy, same run)", "",
                  "The fastest of the timed repeats (a limit is the best the machine does).", ""]
        headers = ["figure", "threads"] + list(res.envs)
        rows = []
        def cell(env, case, key, t):
            c = res.case(env, "numpy", "limits", case, t)
            bad = res.status_cell(c, "numpy", "limits", env)
            if bad is not None:
                return bad
            text = sig(c.get(key))
            if res.noisy(c):
                text += " †"
            if (c.get("background_cpus") or 0) > CONTENDED:
                res.any_contended = True
                text += " ‡"
            return text

        for t in meta["limit_threads"]:
            rows.append([f"float32 GEMM {meta['gemm_n']}³, GFLOP/s", str(t)] +
                        [cell(e, "gemm", "peak_gflops", t) for e in res.envs])
        for t in meta["limit_threads"]:
            rows.append([f"memory copy {meta['copy_mib']} MiB, GB/s (read + write)", str(t)] +
                        [cell(e, "copy", "peak_gbps", t) for e in res.envs])
        parts += [render(headers, rows), ""]

    if "ce" in workloads_run:
        parts += ["## ce: softmax cross-entropy, forward + backward w.r.t. logits", "",
                  "float32, int64 labels, mean reduction. GB/s = (logits read + gradient "
                  f"written) / time; *% copy* = that / the memory-copy GB/s (best with up to {n} threads).", ""]

        def gb(c, env, case):
            return sig(c.get("gbps"))

        def frac(c, env, case):
            lim = res.limit(env, "copy", "peak_gbps")
            return pct(c["gbps"] / lim) if lim else ""

        parts += [res.table("ce", [W.ce_case(s) for s in W.CE_SHAPES], "shape", [
            ("ms", lambda c, e, k: sig(c["median_s"] * 1e3)),
            ("GB/s", gb), ("% copy", frac), ("vs torch", res.vs_torch("ce", "median_s")),
        ]), ""]

    if "mlp" in workloads_run:
        parts += ["## mlp: 784-256-128-10 ReLU MLP, SGD lr 0.1, one epoch of 60 000 samples", "",
                  f"Seconds per epoch, scaled from at least {meta['mlp_samples']} samples "
                  + (f"(and at least {meta['mlp_min_time']} s) " if meta['mlp_min_time'] else "")
                  + "per timed repeat. *% GEMM* = "
                  f"the step's GEMM FLOPs ({W.mlp_flops_per_sample() / 1e6:.2f} MFLOP/sample) "
                  f"per second / the float32 GEMM GFLOP/s (best with up to {n} threads). RSS = peak resident "
                  "memory of the process (includes the 188 MB data set).", ""]

        def gemm_frac(c, env, case):
            lim = res.limit(env, "gemm", "peak_gflops")
            return pct(c["gflops"] / lim) if lim else ""

        parts += [res.table("mlp", [str(b) for b in W.MLP_BATCHES], "batch", [
            ("s/epoch", lambda c, e, k: sig(c["sec_per_epoch"])),
            ("% GEMM", gemm_frac), ("vs torch", res.vs_torch("mlp", "sec_per_epoch")),
            ("RSS MB", lambda c, e, k: f"{c['maxrss_mb']:.0f}" if c.get("maxrss_mb") else ""),
        ]), ""]

    if "overhead" in workloads_run:
        parts += ["## overhead: 200 tiny elementwise ops on an (8,) float64 vector", "",
                  "Forward + backward (gradient of the sum) of the chain "
                  "`x = exp(sin(x) * 1.01 + 0.1) * 0.3` x 40; time / 200 ops.", ""]
        parts += [res.table("overhead", ["chain200"], "case", [
            ("µs/op", lambda c, e, k: sig(c["us_per_op"])),
            ("vs torch", res.vs_torch("overhead", "us_per_op")),
        ]), ""]

    if "second_order" in workloads_run:
        parts += ["## second_order: f(x) = logsumexp(A x), A 64×64 float64", "",
                  "Hessian-vector product and full Hessian, checked against "
                  "H = Aᵀ(diag(p) − ppᵀ)A, p = softmax(Ax).", ""]
        parts += [res.table("second_order", ["hvp", "hessian"], "case", [
            ("µs", lambda c, e, k: sig(c["us"])),
            ("vs torch", res.vs_torch("second_order", "us")),
        ]), ""]

    if res.any_noisy or res.notes or res.any_contended:
        parts += ["### Notes", ""]
    if res.any_contended:
        parts.append(f"- ‡: other processes used more than {CONTENDED} CPU on average while "
                     "this figure was measured, in every attempt (the machine is shared); "
                     "treat it as an upper bound.")
    if res.any_noisy:
        parts.append(f"- †: the repeats of this figure spread by more than {NOISY:.0%} of "
                     "the median ((max − min) / median); min and max are in the JSON.")
    if res.notes:
        for (row, workload, note), where in sorted(res.notes.items()):
            cases = list(dict.fromkeys(c for c, _ in where))
            envs = list(dict.fromkeys(e for _, e in where))
            parts.append(f"- {LABELS.get(row, row)}, {workload} ({', '.join(cases)}; "
                         f"{', '.join(envs)}): {note}")
    if res.any_noisy or res.notes or res.any_contended:
        parts.append("")
    if res.footnotes:
        parts += ["### Not timed", ""]
        merged: dict[str, list[str]] = {}
        for f in res.footnotes:
            head, _, rest = f.partition(" [")
            env, _, reason = rest.partition("]: ")
            merged.setdefault(f"{head}: {reason}", []).append(env)
        parts += [f"- {k} [{', '.join(sorted(set(v)))}]" for k, v in merged.items()]
        parts.append("")
    parts.append(f"Command: `{meta['command']}` ({meta['wall_s']:.0f} s).")
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git(*args: str) -> str:
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0")  # never take the index lock
    try:
        return subprocess.run(["git", *args], cwd=str(BENCH_DIR.parent), env=env,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def export_softgrad(rev: str, tmp: str) -> str:
    """``src/softgrad`` as committed at ``rev``, extracted under ``tmp``; returns
    the directory to put first on the softgrad peer's PYTHONPATH."""
    dest = os.path.join(tmp, "softgrad-src")
    os.makedirs(dest)
    archive = subprocess.run(["git", "archive", "--format=tar", rev, "src/softgrad"],
                             cwd=str(BENCH_DIR.parent), capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
    return os.path.join(dest, "src")


def softgrad_source(rev: str | None) -> dict[str, str]:
    if rev:
        return {"from": f"git {rev}", "commit": git("rev-parse", rev)}
    dirty = git("status", "--porcelain", "--untracked-files=no", "src/softgrad")
    return {"from": "working tree", "commit": git("rev-parse", "HEAD"),
            "uncommitted_changes": "yes" if dirty else "no"}


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default=",".join(ALL_WORKLOADS),
                   help=f"comma-separated, from {','.join(ALL_WORKLOADS)} (default: all)")
    p.add_argument("--peers", default="all",
                   help=f"comma-separated rows, from {','.join(ROWS)}; 'jax' = both jax rows")
    p.add_argument("--threads", type=int, default=2, help="threads for every library (default 2)")
    p.add_argument("--env", choices=["stock", "tuned", "both"], default=None,
                   help="allocator environment(s) (default both; --quick: stock)")
    p.add_argument("--quick", action="store_true", help="smoke test: fewer repeats, smaller samples")
    p.add_argument("--rounds", type=int, default=None,
                   help="run every peer process this many times (interleaved) and report the "
                        "best round (default 1)")
    p.add_argument("--retries", type=int, default=None,
                   help="re-run a peer process measured while other processes took more than "
                        f"{CONTENDED} CPU, or in a slow phase of the machine (speed probe over "
                        f"{SLOW}x the fastest), up to this many times (default 2; --quick: 0)")
    p.add_argument("--retry-budget", type=int, default=40,
                   help="at most this many re-runs in the whole run (default 40)")
    p.add_argument("--time-budget", type=float, default=780,
                   help="start no re-run after this many seconds (default 780)")
    p.add_argument("--idle-wait", type=float, default=None,
                   help="before each peer process wait up to this many seconds for the machine "
                        "to be idle (default 5; --quick: 0)")
    p.add_argument("--timeout", type=float, default=900, help="seconds per peer process")
    p.add_argument("--out", default=str(BENCH_DIR / "results"), help="results directory")
    p.add_argument("--name", default=None, help="results file stem (default latest, quick for --quick)")
    p.add_argument("--python", default=sys.executable, help="interpreter for the peers")
    p.add_argument("--softgrad-rev", default=None, metavar="REV",
                   help="benchmark softgrad as committed at REV (e.g. HEAD) instead of the "
                        "working tree (git archive into a temporary directory)")
    p.add_argument("--report-from", default=None, metavar="JSON",
                   help="run nothing: choose the figures and write the report again from the "
                        "attempts in a results JSON (same stem unless --name)")
    args = p.parse_args(argv)
    if args.report_from:
        source = Path(args.report_from)
        saved = json.loads(source.read_text())
        meta = saved["meta"]
        write_results(saved["runs"], meta, list(meta["environments"]), meta["peers"], meta["threads"],
                      meta["workloads"], source.parent, args.name or source.stem)
        return 0

    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    for w in workloads:
        if w not in ALL_WORKLOADS:
            raise SystemExit(f"unknown workload {w!r}; choose from {', '.join(ALL_WORKLOADS)}")
    rows = expand_peers(args.peers)
    rounds = max(1, args.rounds or 1)
    if args.retries is None:
        args.retries = 0 if args.quick else 2
    if args.idle_wait is None:
        args.idle_wait = 0.0 if args.quick else 5.0
    env_choice = args.env or ("stock" if args.quick else "both")
    envs = ["stock", "tuned"] if env_choice == "both" else [env_choice]
    threads = max(1, args.threads)
    limit_threads = sorted({1, 2, threads}) if threads >= 2 else [1]
    if "limits" in workloads:
        workloads = ["limits"] + [w for w in workloads if w != "limits"]
    budget = Budget.for_mode(args.quick)
    command = "python bench/run.py" + ("".join(" " + shlex.quote(a) for a in sys.argv[1:])
                                      if argv is None else " " + " ".join(argv))
    log(f"softgrad bench: workloads={','.join(workloads)} peers={','.join(rows)} "
        f"threads={threads} env={','.join(envs)}{' quick' if args.quick else ''}")
    log("thread settings for every peer: " + " ".join(
        f"{k}={v!r}" if " " in v else f"{k}={v}" for k, v in thread_env(threads).items()
        if k != "PYTHONHASHSEED"))

    t_start = time.perf_counter()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="softgrad-bench-") as tmp:
        weights = os.path.join(tmp, "mlp_init.npz")
        W.save_mlp_init(weights)
        softgrad_path = None
        if args.softgrad_rev:
            softgrad_path = export_softgrad(args.softgrad_rev, tmp)
            log(f"softgrad from {args.softgrad_rev}: {softgrad_path}")
        # Round-major; within a round the environments alternate job by job, so
        # that the two see the machine in the same state (it is a shared VM).
        schedule = []
        for rnd in range(1, rounds + 1):
            for workload in workloads:
                if workload == "limits":
                    jobs = [("numpy", None, t) for t in limit_threads]
                elif workload == "mlp" and not args.quick:  # one process per batch size: RSS per batch size
                    jobs = [(r, [str(b)], threads) for r in rows for b in W.MLP_BATCHES]
                else:
                    jobs = [(r, None, threads) for r in rows]
                for row, cases, t in jobs:
                    for env in envs:
                        schedule.append((rnd, workload, row, cases, t, env))
        attempts: dict[tuple, int] = {}
        retry_budget = args.retry_budget
        wait_budget = 120.0  # seconds of idle-waiting in the whole run
        i = 0
        base_jobs = len(schedule)
        while schedule:
            rnd, workload, row, cases, t, env = job = schedule.pop(0)
            if i >= base_jobs and time.perf_counter() - t_start > args.time_budget:
                log(f"time budget of {args.time_budget:.0f} s spent: skipping "
                    f"{len(schedule) + 1} re-run(s)")
                break
            i += 1
            waited, load = wait_for_quiet(min(args.idle_wait, wait_budget))
            wait_budget -= waited
            payload = run_peer(row, workload, env, t, quick=args.quick, cases=cases,
                               weights=weights, timeout=args.timeout, python=args.python,
                               pythonpath=softgrad_path if row == "softgrad" else None)
            key = (rnd, workload, row, tuple(cases or ()), t, env)
            attempts[key] = attempts.get(key, 0) + 1
            payload["_key"] = key
            payload.update(_cases_asked=cases, round=rnd, attempt=attempts[key],
                           waited_s=round(waited, 1),
                           load_before=None if load is None else round(load, 2))
            runs.append(payload)
            bg = [c.get("background_cpus") for c in payload.get("cases", [])
                  if c.get("background_cpus") is not None]
            summary = ", ".join(
                f"{c['case']}={c['status']}" for c in payload.get("cases", [])) or \
                f"{payload.get('status')}: {payload.get('reason', '')}"
            again = ""
            why = "contended" if contended(payload) else "slow phase" if slow(payload, fastest_probe(runs)) else ""
            if why and attempts[key] <= args.retries and retry_budget > 0:
                schedule.append(job)  # later, when the machine may be quieter
                retry_budget -= 1
                again = f"  [{why}: will retry]"
            probes = [c["probe_s"] for c in payload.get("cases", []) if c.get("probe_s")]
            log(f"[{i:3d}/{i + len(schedule)} r{rnd} {env}] {workload:<12} {row:<10} t={t} "
                f"{payload['process_s']:6.1f} s  bg={max(bg) if bg else 0:.2f} cpu  "
                f"probe={max(probes) * 1e3 if probes else 0:.1f} ms  "
                f"{'waited %.0f s  ' % waited if waited >= 1 else ''}{summary[:120]}{again}")
            if not schedule:  # the fastest probe may have come late: catch up on slow-only jobs
                for job in late_reruns(runs, attempts, args.retries):
                    if retry_budget > 0:
                        schedule.append(job)
                        retry_budget -= 1
    wall = time.perf_counter() - t_start

    versions: dict[str, str] = {"python": platform.python_version()}
    for run in runs:
        if run.get("version") and run["row"] not in ("jax-eager",):
            key = {"jax-jit": "jax", "numpy": "numpy"}.get(run["row"], run["row"])
            versions.setdefault(key, run["version"])
    if "numpy" not in versions:
        versions["numpy"] = next((r.get("numpy") for r in runs if r.get("numpy")), "?")
    thread_check = sorted({(r["row"], r.get("library_threads")) for r in runs
                           if r.get("library_threads") is not None and r["workload"] != "limits"})
    meta = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(), "cores": os.cpu_count(), "threads": threads,
        "thread_env": thread_env(threads), "library_threads": thread_check,
        "environments": {e: ENVIRONMENTS[e] for e in envs}, "quick": args.quick,
        "rounds": rounds, "retries": args.retries, "idle_wait": args.idle_wait,
        "contended_cpus": CONTENDED,
        "attempts": len(runs), "contended_attempts": sum(contended(r) for r in runs),
        "repeats": budget.repeats, "mlp_repeats": budget.mlp_repeats,
        "mlp_samples": budget.mlp_samples, "mlp_min_time": budget.mlp_min_time,
        "gemm_n": 1024 if args.quick else W.GEMM_N,
        "copy_mib": (W.COPY_BYTES // 4 if args.quick else W.COPY_BYTES) // 2**20,
        "limit_threads": limit_threads, "versions": versions,
        "glibc": " ".join(platform.libc_ver()), "platform": platform.platform(),
        "command": command, "wall_s": wall, "workloads": workloads, "peers": rows,
        "softgrad_source": softgrad_source(args.softgrad_rev),
        "bench_commit": git("rev-parse", "HEAD"),
    }
    write_results(runs, meta, envs, rows, threads, workloads, Path(args.out),
                  args.name or ("quick" if args.quick else "latest"))
    return 0


def write_results(runs: list[dict[str, Any]], meta: dict[str, Any], envs: list[str], rows: list[str],
                  threads: int, workloads: list[str], out_dir: Path, name: str) -> None:
    """Choose each case's figure among its attempts; write <name>.json (meta, figures, every attempt) and
    <name>.md (the report), atomically, and print the report. The slow-phase counts are derived here."""
    fastest = fastest_probe(runs)
    meta.update(slow_factor=SLOW, fastest_probe_s=fastest, slow_attempts=sum(slow(r, fastest) for r in runs))
    res = Results(runs, envs, rows, threads)
    report = build_report(res, meta, workloads)
    figures = [dict(zip(("env", "row", "workload", "case", "threads"), key), **fig)
               for key, fig in sorted(res.index.items(), key=lambda kv: str(kv[0]))]
    atomic_write(out_dir / f"{name}.json",
                 json.dumps({"meta": meta, "figures": figures, "runs": runs}, indent=1) + "\n")
    atomic_write(out_dir / f"{name}.md", report)
    print(report)
    log(f"wrote {out_dir / (name + '.json')} and {out_dir / (name + '.md')} in {meta['wall_s']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
