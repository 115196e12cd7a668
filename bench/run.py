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
import json
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH_DIR  # noqa: E402
import meta  # noqa: E402
import report  # noqa: E402
import schedule  # noqa: E402
from schedule import CONTENDED, ROWS, SLOW, Plan  # noqa: E402
import workloads as W  # noqa: E402

ALIASES = {"jax": ["jax-jit", "jax-eager"], "all": list(ROWS)}
ALL_WORKLOADS = list(W.DRIVERS)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see bench/README.md)."""
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
    return p.parse_args(argv)


def expand_workloads(spec: str) -> list[str]:
    """The workloads named in ``spec``, limits first (the other tables compare with them; the cnn table's GEMM
    bound needs them, so cnn brings limits along)."""
    workloads = [w.strip() for w in spec.split(",") if w.strip()]
    for w in workloads:
        if w not in ALL_WORKLOADS:
            raise SystemExit(f"unknown workload {w!r}; choose from {', '.join(ALL_WORKLOADS)}")
    if "cnn" in workloads and "limits" not in workloads:
        workloads.append("limits")
    if "limits" in workloads:
        workloads = ["limits"] + [w for w in workloads if w != "limits"]
    return workloads


def expand_peers(spec: str) -> list[str]:
    """The rows named in ``spec`` (aliases expanded), in the order of ``ROWS``."""
    rows: list[str] = []
    for name in [s.strip() for s in spec.split(",") if s.strip()]:
        for r in ALIASES.get(name, [name]):
            if r not in ROWS:
                raise SystemExit(f"unknown peer {r!r}; choose from {', '.join(ROWS)} or jax/all")
            if r not in rows:
                rows.append(r)
    return sorted(rows, key=list(ROWS).index)


def make_plan(args: argparse.Namespace) -> Plan:
    """The run the command line asks for, with the defaults that depend on --quick."""
    workloads = expand_workloads(args.workloads)
    rows = expand_peers(args.peers)
    env_choice = args.env or ("stock" if args.quick else "both")
    return Plan(workloads=workloads, rows=rows,
                envs=["stock", "tuned"] if env_choice == "both" else [env_choice],
                threads=max(1, args.threads), quick=args.quick, rounds=max(1, args.rounds or 1),
                retries=(0 if args.quick else 2) if args.retries is None else args.retries,
                retry_budget=args.retry_budget, time_budget=args.time_budget,
                idle_wait=(0.0 if args.quick else 5.0) if args.idle_wait is None else args.idle_wait,
                timeout=args.timeout, python=args.python, softgrad_rev=args.softgrad_rev)


def command_line(argv: list[str] | None) -> str:
    """The run's command, as the report quotes it."""
    return "python bench/run.py" + ("".join(" " + shlex.quote(a) for a in sys.argv[1:])
                                    if argv is None else " " + " ".join(argv))


def report_again(source: Path, name: str | None) -> None:
    """Choose the figures and write the report again from the attempts saved in ``source``, next to it."""
    saved = json.loads(source.read_text())
    report.write_results(saved["runs"], saved["meta"], source.parent, name or source.stem)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark the command line asks for (or only report again) and write its results."""
    args = parse_args(argv)
    if args.report_from:
        report_again(Path(args.report_from), args.name)
        return 0
    plan = make_plan(args)
    command = command_line(argv)
    runs, wall = schedule.run(plan)
    report.write_results(runs, meta.describe(plan, runs, wall, command), Path(args.out),
                         args.name or ("quick" if args.quick else "latest"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
