"""vmap beside a Python loop of the same calls (issue #13), and per-example gradients of the README's MLP in one
call, next to torch.func.vmap and jax.vmap where those are installed.

Cases (float32, 256 examples):
* ``batchable fn``: f(x) = Σ softmax(tanh(W x + b))·log softmax(...) for one example x (784,), W (128, 784);
* ``per-example grads``: ∇_params of cross_entropy(MLP 784-256-128-10 (x), y) per example, the README's MLP.

Each figure is the median of --repeats calls, the libraries interleaved round by round (the machine is shared).
Not a test: it prints a Markdown table.

    .venv/bin/python bench/vmap.py [--repeats 7] [--examples 256]
"""

import argparse
import os
import statistics
import time

import numpy as np

import softgrad as sg
from softgrad import ops

SIZES = (784, 256, 128, 10)


def data(examples: int):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((examples, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], examples)
    params = {}
    for i, (a, b) in enumerate(zip(SIZES, SIZES[1:])):
        params[f"w{i}"] = (rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32)
        params[f"b{i}"] = np.zeros(b, np.float32)
    return x, y, params


def functions(p, tanh, softmax, log_softmax, relu, cross_entropy):
    """The two cases' functions of one example, written once over a library's ops: (f, loss)."""
    w, b = p["w0"][:, :128], p["b0"][:128]

    def f(xi):
        h = tanh(xi @ w + b)
        return (softmax(h) * log_softmax(h)).sum()

    def loss(p, xi, yi):
        h = xi
        for i in range(len(SIZES) - 1):
            h = h @ p[f"w{i}"] + p[f"b{i}"]
            h = relu(h) if i < len(SIZES) - 2 else h
        return cross_entropy(h, yi)

    return f, loss


def softgrad_cases(x, y, params):
    p = {k: sg.Tensor(v) for k, v in params.items()}
    f, loss = functions(p, ops.tanh, lambda h: ops.softmax(h, -1), lambda h: ops.log_softmax(h, -1), ops.relu,
                        ops.cross_entropy)
    xs, ys = sg.Tensor(x), sg.Tensor(y)
    per_example = sg.vmap(sg.grad(loss), in_axes=(None, 0, 0))
    one = sg.grad(loss)
    batched_f = sg.vmap(f)
    return {
        "batchable fn": {"softgrad vmap": lambda: batched_f(xs),
                         "softgrad loop": lambda: [f(xs[i]) for i in range(len(x))]},
        "per-example grads": {"softgrad vmap": lambda: per_example(p, xs, ys),
                              "softgrad loop": lambda: [one(p, xs[i], ys[i]) for i in range(len(x))]},
    }


def torch_cases(x, y, params):
    try:
        import torch
        from torch.func import grad, vmap
    except ImportError:
        return {}
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    p = {k: torch.from_numpy(v) for k, v in params.items()}
    f, loss = functions(p, torch.tanh, lambda h: torch.softmax(h, -1), lambda h: torch.log_softmax(h, -1), torch.relu,
                        lambda h, yi: torch.nn.functional.cross_entropy(h[None], yi[None]))
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    batched_f, per_example = vmap(f), vmap(grad(loss), in_dims=(None, 0, 0))
    return {"batchable fn": {"torch.func.vmap": lambda: batched_f(xs)},
            "per-example grads": {"torch.func.vmap": lambda: per_example(p, xs, ys)}}


def jax_cases(x, y, params):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return {}
    p = {k: jnp.asarray(v) for k, v in params.items()}
    f, loss = functions(p, jnp.tanh, jax.nn.softmax, jax.nn.log_softmax, jax.nn.relu,
                        lambda h, yi: -jax.nn.log_softmax(h)[yi])
    xs, ys = jnp.asarray(x), jnp.asarray(y)
    batched_f = jax.jit(jax.vmap(f))
    per_example = jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0, 0)))
    return {"batchable fn": {"jax.jit(vmap)": lambda: batched_f(xs).block_until_ready()},
            "per-example grads": {"jax.jit(vmap)": lambda: jax.block_until_ready(per_example(p, xs, ys))}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--examples", type=int, default=256)
    args = parser.parse_args()
    x, y, params = data(args.examples)
    cases = softgrad_cases(x, y, params)
    for extra in (torch_cases(x, y, params), jax_cases(x, y, params)):
        for case, runs in extra.items():
            cases[case].update(runs)
    times: dict = {case: {name: [] for name in runs} for case, runs in cases.items()}
    for case, runs in cases.items():
        for run in runs.values():
            run()  # warm-up (and JAX's compilation)
    for _ in range(args.repeats):
        for case, runs in cases.items():
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                times[case][name].append(time.perf_counter() - start)
    print(f"| {args.examples} examples | library | median ms | softgrad loop / this |")
    print("|---|---|---|---|")
    for case, runs in times.items():
        loop = statistics.median(runs["softgrad loop"])
        for name, samples in runs.items():
            median = statistics.median(samples)
            print(f"| {case} | {name} | {median * 1e3:.2f} | {loop / median:.1f}× |")


if __name__ == "__main__":
    main()
