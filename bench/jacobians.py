"""Jacobians by forward and by reverse mode: softgrad's ``jacfwd`` / ``jacrev`` beside PyTorch's
``torch.func.jacfwd`` / ``jacrev`` (eager), on a tall function (8 inputs, 512 outputs: forward mode's case) and a
wide one (512 inputs, 8 outputs: reverse mode's), f(x) = tanh(W₂ tanh(W₁x + b₁)) in float64.

Every variant is checked against softgrad's reverse-mode Jacobian, then timed: rounds interleaved (each round
times every variant once, as the median of ``--repeats`` calls), the best round reported, all in one process on
one thread (BLAS and torch). Ratios within one run are what to compare on a shared machine.

    python bench/jacobians.py [--rounds 5] [--repeats 20] [--out bench/results/jacobians.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import softgrad as sg  # noqa: E402

SHAPES = {"tall (8 → 512)": (8, 64, 512), "wide (512 → 8)": (512, 64, 8)}


def weights(n_in: int, hidden: int, n_out: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.standard_normal((hidden, n_in)) / np.sqrt(n_in), rng.standard_normal(hidden),
            rng.standard_normal((n_out, hidden)) / np.sqrt(hidden), rng.standard_normal(n_in)]


def softgrad_variants(w1, b1, w2, x):
    def f(v):
        return sg.ops.tanh(w2 @ sg.ops.tanh(w1 @ v + b1))

    xt = sg.Tensor(x)
    jacfwd, jacrev = sg.jacfwd(f), sg.jacrev(f)
    return {"softgrad jacfwd": lambda: jacfwd(xt).numpy(), "softgrad jacrev": lambda: jacrev(xt).numpy()}


def torch_variants(w1, b1, w2, x):
    try:
        import torch
        from torch.func import jacfwd, jacrev
    except ImportError:
        return {}
    torch.set_num_threads(1)
    w1t, b1t, w2t, xt = (torch.from_numpy(a) for a in (w1, b1, w2, x))

    def f(v):
        return torch.tanh(w2t @ torch.tanh(w1t @ v + b1t))

    forward, reverse = jacfwd(f), jacrev(f)
    return {"torch.func.jacfwd": lambda: forward(xt).numpy(), "torch.func.jacrev": lambda: reverse(xt).numpy()}


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "jacobians.md"))
    args = parser.parse_args(argv)
    rows = {}
    for shape_name, shape in SHAPES.items():
        w1, b1, w2, x = weights(*shape)
        variants = {**softgrad_variants(w1, b1, w2, x), **torch_variants(w1, b1, w2, x)}
        reference = variants["softgrad jacrev"]()
        for name, fn in variants.items():
            error = np.abs(fn() - reference).max()
            assert error < 1e-10, f"{name} on {shape_name} differs from softgrad jacrev by {error}"
        best = {name: float("inf") for name in variants}
        for _ in range(args.rounds):
            for name, fn in variants.items():
                best[name] = min(best[name], median_seconds(fn, args.repeats))
        rows[shape_name] = best
    names = list(next(iter(rows.values())))
    lines = ["| function | " + " | ".join(names) + " | jacfwd / jacrev (softgrad) |",
             "|---|" + "---|" * (len(names) + 1)]
    for shape_name, best in rows.items():
        cells = [f"{best[n] * 1e6:,.0f} µs" for n in names]
        ratio = best["softgrad jacfwd"] / best["softgrad jacrev"]
        lines.append(f"| {shape_name} | " + " | ".join(cells) + f" | {ratio:.2f} |")
    table = "\n".join(lines)
    print(table)
    Path(args.out).write_text(f"# Jacobians: forward against reverse mode\n\n`python bench/jacobians.py "
                              f"--rounds {args.rounds} --repeats {args.repeats}`, one thread, float64, "
                              f"f(x) = tanh(W₂ tanh(W₁x + b₁)), hidden width 64; best round of interleaved "
                              f"medians.\n\n{table}\n")


if __name__ == "__main__":
    main()
