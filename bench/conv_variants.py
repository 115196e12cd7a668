"""The convolution and pooling options of issue #15 beside the default path, softgrad next to PyTorch eager: fwd+bwd
(gradients of both operands) of a 3×3 convolution of 64 × 32 × 26 × 26 float32 images (the MNIST net's second
layer) with dilation 2, 4 groups, depthwise (32 groups), of stride 2 (padding 1), a 5×5 kernel (padding 2), a 1×1
convolution of the same input, and a 2×2 max-pool with ceil_mode and return_indices.

Each library runs in its own process at --threads threads; the rounds alternate the two (the machine is shared)
and each figure is the best of the rounds' medians. Not a test: it prints a Markdown table.

    .venv/bin/python bench/conv_variants.py [--threads 2] [--rounds 3]
"""

import argparse
import json
import subprocess
import sys
import time

import numpy as np

# name: (channels out, groups, dilation, stride, padding, kernel size)
CONVS = {"default (32 → 64)": (64, 1, 1, 1, 0, 3), "dilation 2": (64, 1, 2, 1, 0, 3), "groups 4": (64, 4, 1, 1, 0, 3),
         "depthwise": (32, 32, 1, 1, 0, 3), "stride 2, padding 1": (64, 1, 1, 2, 1, 3),
         "5×5, padding 2": (64, 1, 1, 1, 2, 5), "1×1 (32 → 64)": (64, 1, 1, 1, 0, 1)}
POOLS = {"max-pool 2": {}, "max-pool, ceil_mode": {"ceil_mode": True}, "max-pool, return_indices":
         {"return_indices": True}}


def _median_ms(fn, repeats=15):
    fn()
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def _first(y):
    return y[0] if isinstance(y, tuple) else y


def measure(library: str, threads: int) -> dict:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 32, 26, 26), dtype=np.float32)
    weights = {name: rng.standard_normal((o, 32 // g, k, k), dtype=np.float32)
               for name, (o, g, _, _, _, k) in CONVS.items()}
    out = {}
    if library == "torch":
        import torch
        torch.set_num_threads(threads)
        xt = torch.from_numpy(x).requires_grad_()
        for name, (_, groups, dilation, stride, padding, _) in CONVS.items():
            wt = torch.from_numpy(weights[name]).requires_grad_()
            out[name] = _median_ms(lambda: torch.nn.functional.conv2d(xt, wt, stride=stride, padding=padding,
                                                                      dilation=dilation, groups=groups)
                                   .sum().backward())
        for name, options in POOLS.items():
            out[name] = _median_ms(lambda: _first(torch.nn.functional.max_pool2d(xt, 2, **options)).sum().backward())
        return out
    import softgrad as sg
    from softgrad import ops
    sg.config.threads = threads
    for name, (_, groups, dilation, stride, padding, _) in CONVS.items():
        gradients = sg.grad(lambda x, w: ops.conv2d(x, w, stride=stride, padding=padding, dilation=dilation,
                                                    groups=groups).sum(), (0, 1))
        out[name] = _median_ms(lambda: gradients(x, weights[name]))
    for name, options in POOLS.items():
        gradients = sg.grad(lambda x: _first(ops.max_pool2d(x, 2, **options)).sum())
        out[name] = _median_ms(lambda: gradients(x))
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--measure", choices=("softgrad", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.threads)))
        return
    import common
    import meta
    import report
    print(*report.blas_kernels_line({"blas_kernels": meta.blas_kernels(common.blas_info())}), sep="\n")
    best = {"softgrad": {}, "torch": {}}
    for _ in range(args.rounds):
        for library in best:
            result = json.loads(subprocess.run([sys.executable, __file__, "--measure", library, "--threads",
                                                str(args.threads)], check=True, capture_output=True, text=True).stdout)
            for name, ms in result.items():
                best[library][name] = min(ms, best[library].get(name, float("inf")))
    print(f"| fwd+bwd, {args.threads} thread(s), best of {args.rounds} | softgrad | PyTorch eager | ratio |")
    print("|---|---|---|---|")
    for name in list(CONVS) + list(POOLS):
        ours, theirs = best["softgrad"][name], best["torch"][name]
        print(f"| {name} | {ours:.2f} ms | {theirs:.2f} ms | {ours / theirs:.2f}× |")


if __name__ == "__main__":
    main()
