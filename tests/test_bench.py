"""The benchmark driver's choice among attempts (bench/schedule.py, bench/report.py): contended and
slow-phase attempts are re-run; a contended one is never preferred to a calm one, while the fastest round is
reported whether or not the speed probe called its phase slow. (The timings themselves are never asserted.)"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import report  # noqa: E402
import schedule  # noqa: E402


def attempt(key, seconds, probe, background=0.0):
    rnd, workload, row, cases, threads, env = key
    case = {"case": "32", "status": "ok", "sec_per_epoch": seconds, "probe_s": probe, "background_cpus": background}
    return {"_key": key, "row": row, "workload": workload, "env": env, "threads": threads, "round": rnd,
            "cases": [case]}


KEY = (1, "mlp", "softgrad", ("32",), 2, "tuned")


def test_the_fastest_round_is_reported_even_when_the_probe_called_its_phase_slow():
    """A slow phase only slows a process; the probe, read before and after, can miss one that hit between its
    readings (a round flagged normal that ran 2x slow), so the flag decides re-runs, not the figure."""
    runs = [attempt(KEY, 0.70, probe=0.0060), attempt(KEY, 1.40, probe=0.0030)]
    assert schedule.fastest_probe(runs) == 0.0030
    assert schedule.slow(runs[0], 0.0030) and not schedule.slow(runs[1], 0.0030)
    best = report.Results(runs, ["tuned"], ["softgrad"], 2).case("tuned", "softgrad", "mlp", "32")
    assert best["sec_per_epoch"] == 0.70
    assert best["rounds"] == [0.70, 1.40]


def test_contended_attempts_are_not_reported_when_a_calm_one_exists():
    runs = [attempt(KEY, 0.70, probe=0.003, background=0.9), attempt(KEY, 0.80, probe=0.003)]
    best = report.Results(runs, ["tuned"], ["softgrad"], 2).case("tuned", "softgrad", "mlp", "32")
    assert best["sec_per_epoch"] == 0.80


def test_late_reruns_catch_jobs_that_look_slow_once_a_faster_probe_is_seen():
    other = (1, "mlp", "numpy", ("32",), 2, "tuned")
    runs = [attempt(KEY, 0.9, probe=0.006), attempt(other, 0.7, probe=0.003)]
    attempts = {KEY: 1, other: 1}
    assert schedule.late_reruns(runs, attempts, retries=2) == [(1, "mlp", "softgrad", ["32"], 2, "tuned")]
    assert schedule.late_reruns(runs, {KEY: 3, other: 1}, retries=2) == []  # no re-runs left
