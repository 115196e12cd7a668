"""The report: each case's figure chosen among its attempts (``Results``), a markdown table per workload
(``build_report``), and the results files (``write_results``)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Callable

from common import log
from schedule import CNN_ROWS, CONTENDED, SLOW, busy, fastest_probe, slow
import workloads as W

LABELS = {
    "numpy": "NumPy by hand", "torch": "PyTorch eager", "jax-jit": "JAX jit",
    "jax-eager": "JAX eager", "autograd": "autograd", "tinygrad": "tinygrad",
    "mygrad": "MyGrad", "softgrad": "softgrad", "softgrad-ops": "softgrad, ops by hand",
}

#: (max - min) / median of the repeats above which a figure is marked noisy
NOISY = 0.5

#: A table column: (name, fn(case_dict, env, case) -> cell text).
Figure = tuple[str, Callable[[dict[str, Any], str, str], str]]


# --------------------------------------------------------------------------
# cells and tables
# --------------------------------------------------------------------------


def sig(x: float | None, digits: int = 3) -> str:
    """``x`` with ``digits`` significant digits (at least all of its integer part), '' if not a number."""
    if x is None or not isinstance(x, (int, float)) or not math.isfinite(x):
        return ""
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - mag)
    return f"{x:,.{decimals}f}"


def pct(x: float | None) -> str:
    """A fraction as a percentage (one decimal below 9.5 %)."""
    return "" if x is None else f"{100 * x:.0f}%" if x >= 0.095 else f"{100 * x:.1f}%"


def ratio(x: float | None) -> str:
    """A ratio as ``1.23×`` (two significant digits below 0.095)."""
    return "" if x is None else (f"{x:.2f}×" if x >= 0.095 else sig(x, 2) + "×")


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


# --------------------------------------------------------------------------
# choosing the figures
# --------------------------------------------------------------------------


def primary(c: dict[str, Any]) -> float:
    """The figure that ranks rounds of one case: seconds per epoch or per call."""
    v = c.get("sec_per_epoch", c.get("median_s"))
    return v if isinstance(v, (int, float)) else math.inf


def rounds_by_case(runs: list[dict[str, Any]]) -> dict[tuple, list[dict[str, Any]]]:
    """Every round of each case, by (env, row, workload, case, threads), with its process's peak RSS."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for run in runs:
        for case in run.get("cases", []):
            key = (run["env"], run["row"], run["workload"], case["case"], run["threads"])
            groups.setdefault(key, []).append(
                dict(case, maxrss_mb=run.get("maxrss_mb"), round=run.get("round", 1)))
    return groups


def choose(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round reported for a case: the fastest calm ok round (the fastest ok one if none was calm), with
    every round's figure or status in ``rounds``; the first round if none was ok. A slow phase only ever
    slows a process (and the probe can miss one that hit between its two readings), so slow-flagged rounds
    compete like the others."""
    ok = [c for c in rounds if c.get("status") == "ok"]
    if not ok:
        return rounds[0]
    calm = [c for c in ok if not busy(c)]
    best = dict(min(calm or ok, key=primary))
    best["rounds"] = [primary(c) if c.get("status") == "ok" else c.get("status") for c in rounds]
    return best


class Results:
    """The figure of every case, and what the tables met while rendering them: footnotes for the cases not
    timed, the peers' notes, and whether any figure was noisy (†) or contended (‡)."""

    def __init__(self, runs: list[dict[str, Any]], envs: list[str], rows: list[str],
                 threads: int):
        self.runs, self.envs, self.rows, self.threads = runs, envs, rows, threads
        self.index: dict[tuple, dict[str, Any]] = {
            key: choose(rounds) for key, rounds in rounds_by_case(runs).items()}
        self.footnotes: list[tuple[str, str, str]] = []  # (row / workload case, env, status: reason)
        self.notes: dict[tuple, list] = {}
        self.any_noisy = False
        self.any_contended = False

    def case(self, env, row, workload, case, threads=None):
        """The figure of one case; for a peer process that gave no case entries (it failed or is
        unavailable), its status and reason; None if the case was not run."""
        threads = self.threads if threads is None else threads
        got = self.index.get((env, row, workload, case, threads))
        if got is not None:
            return got
        for run in self.runs:
            if (run["env"], run["row"], run["workload"], run["threads"]) == (env, row, workload, threads) \
                    and (run.get("status") != "ok" or not run.get("cases")) \
                    and case in (run.get("_cases_asked") or [case]):
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
        """None when ok (the case's note is kept for the notes); else the text for the table (and a
        footnote)."""
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
        self.footnotes.append((f"{row} / {workload} {c['case']}", env, f"{status}: {reason}"))
        return "not installed" if reason.startswith("not installed") else status

    def marked(self, text: str, c: dict[str, Any]) -> str:
        """``text`` followed by † if the case's repeats were noisy and ‡ if it was contended."""
        if self.noisy(c):
            text += " †"
        if busy(c):
            self.any_contended = True
            text += " ‡"
        return text

    def table(self, workload: str, cases: list[str], case_label: str, figures: list[Figure]) -> str:
        """A row per case and library, the ``figures`` columns once per environment."""
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
                        values = [fn(c, env, case) for _, fn in figures]
                        cells += [self.marked(values[0], c)] + values[1:]
                out_rows.append(cells)
        return render(headers, out_rows)

    @staticmethod
    def spread(c) -> float | None:
        """(max - min) / median of the case's repeats (None if unknown)."""
        try:
            return (c["max_s"] - c["min_s"]) / c["median_s"]
        except (KeyError, TypeError, ZeroDivisionError):
            return None

    def noisy(self, c) -> bool:
        """Whether the case's repeats spread by more than ``NOISY``."""
        s = self.spread(c)
        if s is not None and s > NOISY:
            self.any_noisy = True
            return True
        return False

    def vs_torch(self, workload, key) -> Callable[[dict[str, Any], str, str], str]:
        """A column: the figure ``key`` / PyTorch's, same case and environment."""
        def fn(c, env, case):
            t = self.case(env, "torch", workload, case)
            if not t or t.get("status") != "ok" or not t.get(key):
                return ""
            return ratio(c[key] / t[key])
        return fn

    def share_of(self, limit_case, limit_key, key) -> Callable[[dict[str, Any], str, str], str]:
        """A column: the figure ``key`` as a share of a machine limit, same environment."""
        def fn(c, env, case):
            lim = self.limit(env, limit_case, limit_key)
            return pct(c[key] / lim) if lim else ""
        return fn


# --------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------


def header(res: Results, meta: dict[str, Any]) -> list[str]:
    """Title, machine, versions and how every figure was measured."""
    src = meta.get("softgrad_source", {})
    best = (f"the best of {meta['rounds']} rounds (separate processes, interleaved) of "
            if meta.get("rounds", 1) > 1 else "")
    return [
        "# softgrad benchmarks", "",
        f"{meta['date']} · {meta['cpu']} · {meta['cores']} cores · **{res.threads} threads for every "
        f"library** · {'quick run' if meta['quick'] else 'full run'} · "
        f"environments: {', '.join(res.envs)}", "",
        *blas_kernels_line(meta),
        "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) +
        f" (softgrad from the {src.get('from', '?')}, commit {src.get('commit', '?')[:10]}"
        + (", with uncommitted changes" if src.get("uncommitted_changes") == "yes" else "") + ").", "",
        f"Each figure is {best}the median of {meta['repeats']} timed repeats after warm-up "
        f"(MLP: {meta['mlp_repeats']}), measured only after the library's result matched "
        "the NumPy reference. *stock*: the default glibc malloc; *tuned*: "
        "`MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736`. "
        "*vs torch*: this row's time / PyTorch's (below 1 is faster).", "",
    ]


def blas_kernels_line(meta: dict[str, Any]) -> list[str]:
    """Which kernels NumPy's OpenBLAS ran, and whether the environment forced them (runs before this line existed
    have no such entry: nothing)."""
    kernels = meta.get("blas_kernels")
    if not kernels:
        return []
    forced = kernels.get("OPENBLAS_CORETYPE")
    return [f"NumPy's OpenBLAS ran its {kernels['openblas']} kernels on a CPU with {kernels['cpu_vectors']}"
            + (f" (forced by OPENBLAS_CORETYPE={forced} in the environment; JAX's and PyTorch's own kernels are not)"
               if forced else "") + ".", ""]


def shared_machine(meta: dict[str, Any]) -> list[str]:
    """How the run dealt with other work on the machine (only when it re-ran attempts)."""
    if not meta.get("retries"):
        return []
    return [
        f"The machine is shared: each peer process started after waiting (up to "
        f"{meta['idle_wait']:.0f} s) for the CPUs to go idle, and one during which other "
        f"processes took more than {meta['contended_cpus']} CPU was run again (up to "
        f"{meta['retries']} times; the calmest, then fastest attempt is reported): "
        f"{meta['contended_attempts']} of {meta['attempts']} peer processes were contended. "
        "The machine also has phases of minutes in which every process runs 2-3x slower: a "
        "peer process whose speed probe (a fixed Python + NumPy task timed before and after "
        f"each case) took more than {meta['slow_factor']}x the run's fastest probe was run "
        f"again the same way (as such a phase only slows a process, the fastest round is "
        f"reported): {meta['slow_attempts']} of {meta['attempts']} were slow.", "",
    ]


def section(title: str, text: str, table: str) -> list[str]:
    """A workload's heading, its explanation and its table."""
    return [title, "", text, "", table, ""]


def limits_section(res: Results, meta: dict[str, Any]) -> list[str]:
    """GEMM and memory-copy limits, a row per thread count, a column per environment."""
    def cell(env, case, key, t):
        c = res.case(env, "numpy", "limits", case, t)
        bad = res.status_cell(c, "numpy", "limits", env)
        return bad if bad is not None else res.marked(sig(c.get(key)), c)

    rows = [[f"float32 GEMM {meta['gemm_n']}³, GFLOP/s", str(t)] +
            [cell(e, "gemm", "peak_gflops", t) for e in res.envs] for t in meta["limit_threads"]]
    rows += [[f"memory copy {meta['copy_mib']} MiB, GB/s (read + write)", str(t)] +
             [cell(e, "copy", "peak_gbps", t) for e in res.envs] for t in meta["limit_threads"]]
    return section("## Machine limits (NumPy, same run)",
                   "The fastest of the timed repeats (a limit is the best the machine does).",
                   render(["figure", "threads"] + list(res.envs), rows))


def ce_section(res: Results, meta: dict[str, Any]) -> list[str]:
    """Cross-entropy: ms per call, GB/s and its share of the memory-copy limit."""
    table = res.table("ce", [W.ce_case(s) for s in W.CE_SHAPES], "shape", [
        ("ms", lambda c, e, k: sig(c["median_s"] * 1e3)),
        ("GB/s", lambda c, e, k: sig(c.get("gbps"))),
        ("% copy", res.share_of("copy", "peak_gbps", "gbps")),
        ("vs torch", res.vs_torch("ce", "median_s")),
    ])
    return section("## ce: softmax cross-entropy, forward + backward w.r.t. logits",
                   "float32, int64 labels, mean reduction. GB/s = (logits read + gradient "
                   f"written) / time; *% copy* = that / the memory-copy GB/s (best with up to {res.threads} "
                   "threads).", table)


def mlp_section(res: Results, meta: dict[str, Any]) -> list[str]:
    """The MLP: seconds per epoch, share of the GEMM limit, peak RSS."""
    table = res.table("mlp", [str(b) for b in W.MLP_BATCHES], "batch", [
        ("s/epoch", lambda c, e, k: sig(c["sec_per_epoch"])),
        ("% GEMM", res.share_of("gemm", "peak_gflops", "gflops")),
        ("vs torch", res.vs_torch("mlp", "sec_per_epoch")),
        ("RSS MB", lambda c, e, k: f"{c['maxrss_mb']:.0f}" if c.get("maxrss_mb") else ""),
    ])
    return section("## mlp: 784-256-128-10 ReLU MLP, SGD lr 0.1, one epoch of 60 000 samples",
                   f"Seconds per epoch, scaled from at least {meta['mlp_samples']} samples "
                   + (f"(and at least {meta['mlp_min_time']} s) " if meta['mlp_min_time'] else "")
                   + "per timed repeat. *% GEMM* = "
                   f"the step's GEMM FLOPs ({W.mlp_flops_per_sample() / 1e6:.2f} MFLOP/sample) "
                   f"per second / the float32 GEMM GFLOP/s (best with up to {res.threads} threads). RSS = "
                   "peak resident memory of the process (includes the 188 MB data set).", table)


def cnn_section(res: Results, meta: dict[str, Any]) -> list[str]:
    """The CNN: seconds per epoch at each thread count (1 = one core pinned), vs PyTorch's layers at the same
    threads, peak RSS; and the GEMM bound, the step's FLOPs at the best GEMM rate with that many threads."""
    threads = meta["limit_threads"]
    flops = W.cnn_flops_per_step() * W.CNN_STEPS_PER_EPOCH
    headers = ["library", "case"]
    for env in res.envs:
        for t in threads:
            headers += [f"{env} {t}T s/epoch", f"{env} {t}T vs torch", f"{env} {t}T RSS MB",
                        f"{env} {t}T faults/step"]
    out_rows = []
    for row in [r for r in res.rows if r in CNN_ROWS]:
        for case in W.CNN_CASES:
            cells = [LABELS.get(row, row), case]
            for env in res.envs:
                for t in threads:
                    c = res.case(env, row, "cnn", case, t)
                    bad = res.status_cell(c, row, "cnn", env)
                    if bad is not None:
                        cells += [bad, "", "", ""]
                        continue
                    ref = res.case(env, "torch", "cnn", "layers", t)
                    vs = ratio(c["sec_per_epoch"] / ref["sec_per_epoch"]) if ref and ref.get("status") == "ok" else ""
                    cells += [res.marked(sig(c["sec_per_epoch"]), c), vs,
                              f"{c['maxrss_mb']:.0f}" if c.get("maxrss_mb") else "",
                              f"{c['faults_per_step']:.0f}" if c.get("faults_per_step") is not None else ""]
            out_rows.append(cells)
    bound = ["GEMM bound", "limit"]
    for env in res.envs:
        for t in threads:
            peak = res.limit(env, "gemm", "peak_gflops", t)
            bound += [sig(flops / (peak * 1e9)) if peak else "", "", "", ""]
    out_rows.append(bound)
    return section("## cnn: PyTorch's MNIST example net (no dropout), SGD lr 0.01, batch 64, one epoch",
                   "conv 1→32 3×3, ReLU, conv 32→64 3×3, ReLU, max-pool 2, dense 9216→128, ReLU, dense 128→10; "
                   f"float32. Seconds per 60 000-sample epoch, scaled from {meta.get('cnn_repeats', '?')} timed "
                   f"repeats (median) of {meta.get('cnn_steps', '?')} steps after {meta.get('cnn_warmup', '?')} "
                   "warm-up steps. *1T*: one thread, pinned to one core; *vs torch*: / PyTorch's `layers` at "
                   "the same threads. *layers*: the library's conv / pool / dense layers; *ops*: the net written "
                   "by hand from its functional ops. *faults/step*: minor page faults of the process a timed step "
                   "(fresh memory the allocator maps in each step). *GEMM bound*: the step's "
                   f"{W.cnn_flops_per_step() / 1e9:.2f} GFLOP (forward, weight and input gradients) at the "
                   "float32 GEMM peak with that many threads (limits table).", render(headers, out_rows))


def overhead_section(res: Results, meta: dict[str, Any]) -> list[str]:
    """The overhead chain: µs per op."""
    table = res.table("overhead", ["chain200"], "case", [
        ("µs/op", lambda c, e, k: sig(c["us_per_op"])),
        ("vs torch", res.vs_torch("overhead", "us_per_op")),
    ])
    return section("## overhead: 200 tiny elementwise ops on an (8,) float64 vector",
                   "Forward + backward (gradient of the sum) of the chain "
                   "`x = exp(sin(x) * 1.01 + 0.1) * 0.3` x 40; time / 200 ops.", table)


def second_order_section(res: Results, meta: dict[str, Any]) -> list[str]:
    """HVP and Hessian: µs per call."""
    table = res.table("second_order", ["hvp", "hessian"], "case", [
        ("µs", lambda c, e, k: sig(c["us"])),
        ("vs torch", res.vs_torch("second_order", "us")),
    ])
    return section("## second_order: f(x) = logsumexp(A x), A 64×64 float64",
                   "Hessian-vector product and full Hessian, checked against "
                   "H = Aᵀ(diag(p) − ppᵀ)A, p = softmax(Ax).", table)


#: The report's workload sections, in order.
SECTIONS = {"limits": limits_section, "ce": ce_section, "mlp": mlp_section, "cnn": cnn_section,
            "overhead": overhead_section, "second_order": second_order_section}


def notes(res: Results) -> list[str]:
    """What the marks mean and the peers' notes, for the ones the tables used."""
    if not (res.any_noisy or res.notes or res.any_contended):
        return []
    parts = ["### Notes", ""]
    if res.any_contended:
        parts.append(f"- ‡: other processes used more than {CONTENDED} CPU on average while "
                     "this figure was measured, in every attempt (the machine is shared); "
                     "treat it as an upper bound.")
    if res.any_noisy:
        parts.append(f"- †: the repeats of this figure spread by more than {NOISY:.0%} of "
                     "the median ((max − min) / median); min and max are in the JSON.")
    for (row, workload, note), where in sorted(res.notes.items()):
        cases = list(dict.fromkeys(c for c, _ in where))
        envs = list(dict.fromkeys(e for _, e in where))
        parts.append(f"- {LABELS.get(row, row)}, {workload} ({', '.join(cases)}; "
                     f"{', '.join(envs)}): {note}")
    return parts + [""]


def not_timed(res: Results) -> list[str]:
    """The cases the tables showed no figure for and why, environments merged."""
    if not res.footnotes:
        return []
    merged: dict[str, list[str]] = {}
    for where, env, why in res.footnotes:
        merged.setdefault(f"{where}: {why}", []).append(env)
    return ["### Not timed", ""] + [f"- {k} [{', '.join(sorted(set(v)))}]" for k, v in merged.items()] + [""]


def build_report(res: Results, meta: dict[str, Any]) -> str:
    """The markdown report: header, a section per workload of ``meta['workloads']``, then the notes and the
    cases not timed that the tables met, and the command."""
    parts = header(res, meta) + shared_machine(meta)
    for workload, make in SECTIONS.items():
        if workload in meta["workloads"]:
            parts += make(res, meta)
    parts += notes(res) + not_timed(res)
    parts.append(f"Command: `{meta['command']}` ({meta['wall_s']:.0f} s).")
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------
# results files
# --------------------------------------------------------------------------


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_results(runs: list[dict[str, Any]], meta: dict[str, Any], out_dir: Path, name: str) -> None:
    """Choose each case's figure among its attempts; write <name>.json (meta, figures, every attempt) and
    <name>.md (the report), atomically, and print the report. The slow-phase counts are derived here."""
    fastest = fastest_probe(runs)
    meta.update(slow_factor=SLOW, fastest_probe_s=fastest, slow_attempts=sum(slow(r, fastest) for r in runs))
    res = Results(runs, list(meta["environments"]), meta["peers"], meta["threads"])
    report = build_report(res, meta)
    figures = [dict(zip(("env", "row", "workload", "case", "threads"), key), **fig)
               for key, fig in sorted(res.index.items(), key=lambda kv: str(kv[0]))]
    atomic_write(out_dir / f"{name}.json",
                 json.dumps({"meta": meta, "figures": figures, "runs": runs}, indent=1) + "\n")
    atomic_write(out_dir / f"{name}.md", report)
    print(report)
    log(f"wrote {out_dir / (name + '.json')} and {out_dir / (name + '.md')} in {meta['wall_s']:.0f} s")
