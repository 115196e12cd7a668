"""The benchmark workloads: definitions, data, NumPy references and drivers.

Every peer hands a *factory* to a driver here; the driver generates the data
(same seed for every peer), builds the peer's step function, converts its
first result to NumPy, checks it against the NumPy reference and only then
times it. So no peer re-implements data generation, checking or timing.

Workloads
---------
ce            softmax cross-entropy, forward + backward w.r.t. the logits,
              mean reduction, int64 labels, float32, four shapes.
mlp           784-256-128-10 ReLU MLP, cross-entropy, plain SGD (lr 0.1),
              batch 32 / 128 / 1024 on MNIST-shaped random data.
overhead      a chain of 200 tiny elementwise ops on an (8,) float64 vector,
              forward + backward (gradient of the sum).
second_order  f(x) = logsumexp(A @ x), A 64x64 float64: Hessian-vector
              product and full Hessian.
cnn           PyTorch's MNIST example net without dropout (two 3x3 convolutions, max-pool,
              two dense layers), SGD lr 0.01, batch 64, float32; nn layers / ops by hand.
limits        NumPy-only machine limits: float32 GEMM GFLOP/s and memory-copy
              GB/s (run by the numpy peer at 1 and N threads).
"""

from __future__ import annotations

import math
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Sequence

import numpy as np

from common import CheckFailed, Context, Unavailable, compare, measure, peer_main, run_cases

SEED = 20240601

# --------------------------------------------------------------------------
# ce
# --------------------------------------------------------------------------

CE_SHAPES: list[tuple[int, int]] = [(256, 10), (4096, 1000), (65536, 10), (1024, 32000)]
CE_RTOL = 1e-5


def chain_steps(chain, sin, exp) -> list:
    """The overhead chain as (function, constant) steps, built on a library's own ``sin`` and ``exp``."""
    fns = {"sin": lambda x, c: sin(x), "exp": lambda x, c: exp(x),
           "mul": lambda x, c: x * c, "add": lambda x, c: x + c}
    return [(fns[op], c) for op, c in chain]


def run_chain(steps, x):
    """Apply the steps of ``chain_steps`` to x, in order."""
    for f, c in steps:
        x = f(x, c)
    return x


def loss_and_grad(r) -> tuple[float, np.ndarray]:
    """``to_numpy`` of a (loss, gradient) result that NumPy converts as it is (NumPy, autograd, JAX)."""
    return float(r[0]), np.asarray(r[1])


def tensor_loss_and_grad(r) -> tuple[float, np.ndarray]:
    """``to_numpy`` of a (loss, gradient) pair of tensors with ``.item()`` and ``.numpy()`` (PyTorch,
    tinygrad)."""
    return float(r[0].item()), r[1].numpy()


def tensor_numpy(r) -> np.ndarray:
    """``to_numpy`` of a tensor with ``.numpy()`` (PyTorch, tinygrad)."""
    return r.numpy()


def ce_case(shape: tuple[int, int]) -> str:
    return f"{shape[0]}x{shape[1]}"


def ce_data(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """float32 logits ~ N(0, 2^2) and int64 labels in [0, C)."""
    n, c = shape
    rng = np.random.default_rng([SEED, n, c])
    logits = rng.standard_normal((n, c), dtype=np.float32)
    logits *= np.float32(2.0)
    labels = rng.integers(0, c, size=n, dtype=np.int64)
    return logits, labels


def ce_reference(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Closed form in float64: loss = mean(logsumexp(z) - z_y),
    dloss/dz = (softmax(z) - onehot(y)) / N."""
    z = logits.astype(np.float64)
    n = z.shape[0]
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = float(np.mean(np.log(s[:, 0]) + m[:, 0] - z[rows, labels]))
    g = e / s
    g[rows, labels] -= 1.0
    g /= n
    return loss, g


def drive_ce(ctx: Context, impl) -> list[dict[str, Any]]:
    """``impl.ce(logits, labels) -> (step, to_numpy)``: ``step()`` runs forward
    + backward and returns the library's (loss, grad) once computed;
    ``to_numpy(result) -> (float loss, ndarray grad)``."""
    b = ctx.budget

    def body(shape) -> dict[str, Any]:
        logits, labels = ce_data(shape)
        ref_loss, ref_grad = ce_reference(logits, labels)
        step, to_numpy = impl.ce(logits, labels)
        loss, grad = to_numpy(step())
        grad_dtype = str(np.asarray(grad).dtype)
        err_l = compare("loss", np.float64(loss), np.float64(ref_loss), CE_RTOL)
        err_g = compare("grad", grad, ref_grad, CE_RTOL)
        del grad, ref_grad
        t = measure(step, repeats=b.repeats, warmup=b.warmup, min_time=b.min_time)
        nbytes = 2 * logits.nbytes  # logits read + float32 gradient written
        notes = [getattr(step, "note", None)]
        if grad_dtype != "float32":
            notes.append(f"gradient returned as {grad_dtype}")
        return dict(t, check_err=max(err_l, err_g), bytes=nbytes,
                    gbps=nbytes / t["median_s"] / 1e9, grad_dtype=grad_dtype,
                    note=_join(notes))

    return run_cases(ctx, {ce_case(s): partial(body, s) for s in CE_SHAPES})


def _join(notes) -> str | None:
    notes = [n for n in notes if n]
    return "; ".join(notes) if notes else None


# --------------------------------------------------------------------------
# mlp
# --------------------------------------------------------------------------

MLP_SIZES = (784, 256, 128, 10)
MLP_BATCHES = (32, 128, 1024)
MLP_LR = 0.1
MLP_N_TRAIN = 60_000
MLP_RTOL = 1e-4
PARAM_NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")


def mlp_flops_per_sample() -> int:
    """Multiply-adds x2 of one SGD step per sample: forward GEMMs, the weight
    gradients of all three layers and the input gradients of layers 2 and 3
    (the data needs none). Elementwise work is not counted."""
    dims = list(zip(MLP_SIZES[:-1], MLP_SIZES[1:]))
    fwd = sum(2 * i * o for i, o in dims)
    dw = fwd
    dx = sum(2 * i * o for i, o in dims[1:])
    return fwd + dw + dx


def mnist_like(n: int = MLP_N_TRAIN) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-shaped random data: float32 pixels in [0, 1), int64 labels 0..9."""
    rng = np.random.default_rng([SEED, 784])
    x = rng.random((n, MLP_SIZES[0]), dtype=np.float32)
    y = rng.integers(0, MLP_SIZES[-1], size=n, dtype=np.int64)
    return x, y


def mlp_init() -> dict[str, np.ndarray]:
    """PyTorch ``nn.Linear`` default init (He-uniform with a=sqrt(5), i.e.
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias), float32.
    Weights are stored (in, out): the layer is ``x @ W + b``."""
    rng = np.random.default_rng([SEED, 0xC0FFEE])
    params = {}
    for k, (fan_in, fan_out) in enumerate(zip(MLP_SIZES[:-1], MLP_SIZES[1:]), start=1):
        bound = 1.0 / math.sqrt(fan_in)
        params[f"W{k}"] = rng.uniform(-bound, bound, size=(fan_in, fan_out)).astype(np.float32)
        params[f"b{k}"] = rng.uniform(-bound, bound, size=(fan_out,)).astype(np.float32)
    return params


def save_mlp_init(path: str) -> None:
    np.savez(path, **mlp_init())


def load_mlp_init(path: str | None) -> dict[str, np.ndarray]:
    if not path:
        return mlp_init()
    with np.load(path) as f:
        return {k: np.array(f[k], dtype=np.float32) for k in PARAM_NAMES}


def mlp_reference(params: dict[str, np.ndarray], x: np.ndarray,
                  y: np.ndarray) -> tuple[float, list[np.ndarray]]:
    """Hand-written backprop in float64: loss and [dW1, db1, dW2, db2, dW3, db3]."""
    p = {k: v.astype(np.float64) for k, v in params.items()}
    x = x.astype(np.float64)
    z1 = x @ p["W1"] + p["b1"]
    h1 = np.maximum(z1, 0.0)
    z2 = h1 @ p["W2"] + p["b2"]
    h2 = np.maximum(z2, 0.0)
    z3 = h2 @ p["W3"] + p["b3"]
    loss, d3 = ce_reference(z3, y)
    dW3 = h2.T @ d3
    db3 = d3.sum(0)
    d2 = (d3 @ p["W3"].T) * (z2 > 0)
    dW2 = h1.T @ d2
    db2 = d2.sum(0)
    d1 = (d2 @ p["W2"].T) * (z1 > 0)
    dW1 = x.T @ d1
    db1 = d1.sum(0)
    return loss, [dW1, db1, dW2, db2, dW3, db3]


class MLPTrainer:
    """Base of what a peer's MLP factory returns.

    ``grads(x, y)`` -> (loss, [dW1, db1, dW2, db2, dW3, db3]) as NumPy, at the
    current weights and without updating them (the check);
    ``step(x, y)`` -> one SGD step (forward, backward, update);
    ``sync()`` -> wait for outstanding asynchronous work (JAX, tinygrad).
    Gradients of W are reported in the (in, out) layout of ``mlp_init``.
    """

    def grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, Sequence[np.ndarray]]:
        raise NotImplementedError

    def step(self, x: np.ndarray, y: np.ndarray) -> None:
        raise NotImplementedError

    def sync(self) -> None:
        """Nothing to wait for: a step's work is done when it returns."""


def linear_init(params: dict[str, np.ndarray]):
    """The initial (weight, bias) of each layer, the weight in the (out, in) layout of ``nn.Linear``-style
    layers (C-contiguous)."""
    for k in range(1, len(MLP_SIZES)):
        yield np.ascontiguousarray(params[f"W{k}"].T), params[f"b{k}"]


def drive_mlp(ctx: Context, impl) -> list[dict[str, Any]]:
    """``impl.mlp(params, lr) -> MLPTrainer``; a fresh trainer (fresh copy of the
    initial weights) per batch size."""
    b = ctx.budget
    x_all, y_all = mnist_like()
    init = load_mlp_init(ctx.weights)
    def body(bs) -> dict[str, Any]:
        params = {k: v.copy() for k, v in init.items()}
        trainer = impl.mlp(params, MLP_LR)
        xb, yb = x_all[:bs], y_all[:bs]
        ref_loss, ref_grads = mlp_reference(init, xb, yb)
        loss, grads = trainer.grads(xb, yb)
        err = compare("loss", np.float64(loss), np.float64(ref_loss), MLP_RTOL)
        if len(grads) != len(ref_grads):
            raise CheckFailed(f"{len(grads)} gradients, expected {len(ref_grads)}")
        for pname, g, r in zip(PARAM_NAMES, grads, ref_grads):
            err = max(err, compare("d" + pname, g, r, MLP_RTOL))

        n_batches = MLP_N_TRAIN // bs
        pos = [0]

        def chunk(k: int) -> float:
            t0 = time.perf_counter()
            i = pos[0]
            for _ in range(k):
                s = (i % n_batches) * bs
                trainer.step(x_all[s:s + bs], y_all[s:s + bs])
                i += 1
            trainer.sync()
            pos[0] = i
            return time.perf_counter() - t0

        k = max(2, math.ceil(b.mlp_samples / bs))
        chunk(k)  # warm-up (compiles, first-touch, allocator steady state)
        if b.mlp_min_time > 0 and (t_first := chunk(k)) < b.mlp_min_time:
            k = min(n_batches, math.ceil(k * b.mlp_min_time / max(t_first, 1e-9)))
        times = sorted(chunk(k) for _ in range(b.mlp_repeats))
        med = float(np.median(times))
        samples = k * bs
        per_epoch = med / samples * MLP_N_TRAIN
        return {
            "median_s": med, "min_s": times[0], "max_s": times[-1],
            "repeats": len(times), "steps_per_repeat": k, "samples_timed": samples,
            "sec_per_epoch": per_epoch,
            "gflops": mlp_flops_per_sample() * MLP_N_TRAIN / per_epoch / 1e9,
            "check_err": err, "note": getattr(trainer, "note", None),
        }

    return run_cases(ctx, {str(bs): partial(body, bs) for bs in MLP_BATCHES})


# --------------------------------------------------------------------------
# cnn
# --------------------------------------------------------------------------

#: PyTorch's MNIST example net without dropout: conv 1->32 3x3, ReLU, conv 32->64 3x3, ReLU, max-pool 2,
#: flatten (C, H, W order), dense 9216->128, ReLU, dense 128->10.
CNN_BATCH = 64
CNN_LR = 0.01
CNN_RTOL = 1e-3  # float32 sums over up to 9216 terms, checked in max-norm
#: (name, shape) of the parameters, PyTorch layouts: conv (O, C, kh, kw), dense (out, in).
CNN_PARAMS = (("conv1.weight", (32, 1, 3, 3)), ("conv1.bias", (32,)), ("conv2.weight", (64, 32, 3, 3)),
              ("conv2.bias", (64,)), ("fc1.weight", (128, 9216)), ("fc1.bias", (128,)),
              ("fc2.weight", (10, 128)), ("fc2.bias", (10,)))
#: The cases: the net from the library's layers, and written by hand from its ops.
CNN_CASES = ("layers", "ops")
CNN_BATCHES = 8  # distinct batches cycled through while timing
CNN_STEPS_PER_EPOCH = 60_000 / CNN_BATCH


def cnn_flops_per_step(batch: int = CNN_BATCH) -> int:
    """Multiply-adds x2 of one SGD step: forward, weight gradients of every layer, input gradients of all but
    the first convolution (the data needs none). The 32->64 convolution is 89 % of it."""
    conv1 = 2 * 26 * 26 * 32 * 9 * 1
    conv2 = 2 * 24 * 24 * 64 * 9 * 32
    fc1, fc2 = 2 * 9216 * 128, 2 * 128 * 10
    return batch * (2 * (conv1 + conv2 + fc1 + fc2) + conv2 + fc1 + fc2)


def cnn_init() -> dict[str, np.ndarray]:
    """PyTorch's default init of Conv2d and Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), float32."""
    rng = np.random.default_rng([SEED, 0xC0DE])
    params = {}
    for name, shape in CNN_PARAMS:
        fan_in = math.prod(dict(CNN_PARAMS)[name.split(".")[0] + ".weight"][1:])
        bound = 1.0 / math.sqrt(fan_in)
        params[name] = rng.uniform(-bound, bound, size=shape).astype(np.float32)
    return params


def cnn_data() -> tuple[np.ndarray, np.ndarray]:
    """CNN_BATCHES batches of MNIST-shaped images (N, 1, 28, 28) in [0, 1) and labels 0..9."""
    x, y = mnist_like(CNN_BATCHES * CNN_BATCH)
    return x.reshape(-1, 1, 28, 28), y


def _windows(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N, C, H - 2, W - 2, 3, 3): every 3x3 window, a view."""
    return np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3))


def cnn_reference(p: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
    """Hand-written backprop in float64: loss and the gradients in ``CNN_PARAMS`` order."""
    p = {k: v.astype(np.float64) for k, v in p.items()}
    x = x.astype(np.float64)
    n = x.shape[0]
    z1 = np.einsum("nchwij,ocij->nohw", _windows(x), p["conv1.weight"], optimize=True) + p["conv1.bias"][:, None, None]
    h1 = np.maximum(z1, 0)
    z2 = np.einsum("nchwij,ocij->nohw", _windows(h1), p["conv2.weight"], optimize=True) + p["conv2.bias"][:, None, None]
    h2 = np.maximum(z2, 0)
    blocks = h2.reshape(n, 64, 12, 2, 12, 2)
    pooled = blocks.max(axis=(3, 5))
    f = pooled.reshape(n, -1)
    z3 = f @ p["fc1.weight"].T + p["fc1.bias"]
    h3 = np.maximum(z3, 0)
    z4 = h3 @ p["fc2.weight"].T + p["fc2.bias"]
    loss, d4 = ce_reference(z4, y)
    d3 = (d4 @ p["fc2.weight"]) * (z3 > 0)
    dpool = (d3 @ p["fc1.weight"]).reshape(pooled.shape)
    # route each window's gradient to its maximum (ties only among ReLU zeros, whose gradient is 0 anyway)
    dblocks = (blocks == pooled[:, :, :, None, :, None]) * dpool[:, :, :, None, :, None]
    d2 = dblocks.reshape(h2.shape) * (z2 > 0)
    d1 = np.einsum("nohwij,ocij->nchw", _windows(np.pad(d2, ((0, 0), (0, 0), (2, 2), (2, 2)))),
                   p["conv2.weight"][:, :, ::-1, ::-1], optimize=True) * (z1 > 0)
    grads = [np.einsum("nohw,nchwij->ocij", d1, _windows(x), optimize=True), d1.sum((0, 2, 3)),
             np.einsum("nohw,nchwij->ocij", d2, _windows(h1), optimize=True), d2.sum((0, 2, 3)),
             d3.T @ f, d3.sum(0), d4.T @ h3, d4.sum(0)]
    return loss, grads


class CNNTrainer(MLPTrainer):
    """What a peer's ``cnn(params, lr, case)`` returns: ``grads(x, y)`` -> (loss, gradients in ``CNN_PARAMS``
    order and layouts) at the current weights, ``step(x, y)`` one SGD step, ``sync()``."""


def drive_cnn(ctx: Context, impl) -> list[dict[str, Any]]:
    """``impl.cnn(params, lr, case) -> CNNTrainer`` for each case of ``CNN_CASES`` (Unavailable if the peer
    has no such variant). Checked against ``cnn_reference``, then timed: repeats of a fixed number of SGD
    steps after warm-up, scaled to the 60 000-sample epoch."""
    b = ctx.budget
    x_all, y_all = cnn_data()
    init = cnn_init()

    def body(case) -> dict[str, Any]:
        trainer = impl.cnn({k: v.copy() for k, v in init.items()}, CNN_LR, case)
        xb, yb = x_all[:CNN_BATCH], y_all[:CNN_BATCH]
        ref_loss, ref_grads = cnn_reference(init, xb, yb)
        loss, grads = trainer.grads(xb, yb)
        err = compare("loss", np.float64(loss), np.float64(ref_loss), CNN_RTOL)
        if len(grads) != len(ref_grads):
            raise CheckFailed(f"{len(grads)} gradients, expected {len(ref_grads)}")
        for (name, _), g, r in zip(CNN_PARAMS, grads, ref_grads):
            err = max(err, compare("d" + name, g, r, CNN_RTOL))
        pos = [0]

        def chunk(k: int) -> float:
            t0 = time.perf_counter()
            for i in range(pos[0], pos[0] + k):
                s = (i % CNN_BATCHES) * CNN_BATCH
                trainer.step(x_all[s:s + CNN_BATCH], y_all[s:s + CNN_BATCH])
            trainer.sync()
            pos[0] += k
            return time.perf_counter() - t0

        chunk(b.cnn_warmup)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        times = sorted(chunk(b.cnn_steps) for _ in range(b.cnn_repeats))
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        med = float(np.median(times))
        per_epoch = med / b.cnn_steps * CNN_STEPS_PER_EPOCH
        return {
            "median_s": med, "min_s": times[0], "max_s": times[-1], "repeats": len(times),
            "steps_per_repeat": b.cnn_steps, "sec_per_epoch": per_epoch,
            "gflops": cnn_flops_per_step() * CNN_STEPS_PER_EPOCH / per_epoch / 1e9,
            "check_err": err, "note": getattr(trainer, "note", None),
            "faults_per_step": faults / (b.cnn_steps * b.cnn_repeats),
        }

    return run_cases(ctx, {case: partial(body, case) for case in CNN_CASES})


# --------------------------------------------------------------------------
# overhead
# --------------------------------------------------------------------------

#: One cycle of the chain: x = exp(sin(x) * 1.01 + 0.1) * 0.3, repeated. Values
#: stay in a small range and the gradient neither vanishes nor explodes.
_CYCLE: list[tuple[str, float | None]] = [
    ("sin", None),
    ("mul", 1.01),
    ("add", 0.1),
    ("exp", None),
    ("mul", 0.3),
]
#: The chain every peer replays: 200 (op, const) steps; op is one of
#: "sin" (x -> sin x), "exp" (x -> exp x), "mul" (x -> x * c), "add" (x -> x + c).
OVERHEAD_CHAIN: list[tuple[str, float | None]] = _CYCLE * 40
OVERHEAD_RTOL = 1e-10


def overhead_x0() -> np.ndarray:
    return np.linspace(-1.0, 1.0, 8, dtype=np.float64)


def overhead_reference(x0: np.ndarray, chain=OVERHEAD_CHAIN) -> tuple[float, np.ndarray]:
    """Forward pass carrying the elementwise derivative dx_k/dx_0."""
    x = x0.astype(np.float64).copy()
    d = np.ones_like(x)
    for op, c in chain:
        if op == "sin":
            d *= np.cos(x)
            x = np.sin(x)
        elif op == "exp":
            x = np.exp(x)
            d *= x
        elif op == "mul":
            x = x * c
            d *= c
        elif op == "add":
            x = x + c
        else:  # pragma: no cover
            raise ValueError(op)
    return float(x.sum()), d


def drive_overhead(ctx: Context, impl) -> list[dict[str, Any]]:
    """``impl.overhead(x0, chain) -> (step, to_numpy)``: ``step()`` computes
    sum(chain(x)) and its gradient; ``to_numpy(r) -> (float, ndarray)``."""
    b = ctx.budget

    def body() -> dict[str, Any]:
        x0 = overhead_x0()
        ref_v, ref_g = overhead_reference(x0)
        step, to_numpy = impl.overhead(x0.copy(), list(OVERHEAD_CHAIN))
        v, g = to_numpy(step())
        err = max(compare("value", np.float64(v), np.float64(ref_v), OVERHEAD_RTOL),
                  compare("grad", g, ref_g, OVERHEAD_RTOL))
        t = measure(step, repeats=b.repeats, warmup=b.warmup, min_time=b.min_time)
        return dict(t, check_err=err, n_ops=len(OVERHEAD_CHAIN), note=getattr(step, "note", None),
                    us_per_op=t["median_s"] / len(OVERHEAD_CHAIN) * 1e6)

    return run_cases(ctx, {"chain200": body})


# --------------------------------------------------------------------------
# second_order
# --------------------------------------------------------------------------

SO_N = 64
SO_RTOL = 1e-10


def second_order_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng([SEED, SO_N])
    a = rng.standard_normal((SO_N, SO_N)) / math.sqrt(SO_N)
    x = rng.standard_normal(SO_N)
    v = rng.standard_normal(SO_N)
    return a, x, v


def second_order_reference(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """H = A^T (diag(p) - p p^T) A with p = softmax(A x)."""
    z = a @ x
    p = np.exp(z - z.max())
    p /= p.sum()
    return a.T @ (np.diag(p) - np.outer(p, p)) @ a


def drive_second_order(ctx: Context, impl) -> list[dict[str, Any]]:
    """``impl.hvp(A, x, v)`` and ``impl.hessian(A, x)`` each return
    ``(step, to_numpy)``; ``to_numpy(step())`` is the HVP vector / the Hessian."""
    b = ctx.budget
    a, x, v = second_order_data()
    h_ref = second_order_reference(a, x)
    cases = {"hvp": (lambda: impl.hvp(a.copy(), x.copy(), v.copy()), h_ref @ v),
             "hessian": (lambda: impl.hessian(a.copy(), x.copy()), h_ref)}

    def body(name, build, ref) -> dict[str, Any]:
        step, to_numpy = build()
        err = compare(name, to_numpy(step()), ref, SO_RTOL)
        t = measure(step, repeats=b.repeats, warmup=b.warmup, min_time=b.min_time)
        return dict(t, check_err=err, us=t["median_s"] * 1e6,
                    note=getattr(step, "note", None))

    return run_cases(ctx, {name: partial(body, name, build, ref) for name, (build, ref) in cases.items()})


# --------------------------------------------------------------------------
# limits (NumPy only)
# --------------------------------------------------------------------------

GEMM_N = 2048
COPY_BYTES = 256 * 2**20


def drive_limits(ctx: Context, _impl=None) -> list[dict[str, Any]]:
    """GEMM: ``np.matmul(a, b, out=c)`` float32 n x n x n, GFLOP/s = 2 n^3 / t,
    BLAS threads = ctx.threads (set through the environment by the runner).
    Copy: ``np.copyto`` of a 256 MiB float32 array split over ctx.threads
    Python threads (NumPy releases the GIL); GB/s = (bytes read + bytes
    written) / t, the same convention as the ce workload's GB/s."""
    b = ctx.budget
    n = 1024 if ctx.quick else GEMM_N

    def gemm() -> dict[str, Any]:
        rng = np.random.default_rng([SEED, n])
        a = rng.random((n, n), dtype=np.float32)
        bm = rng.random((n, n), dtype=np.float32)
        c = np.empty((n, n), dtype=np.float32)
        step = lambda: np.matmul(a, bm, out=c)  # noqa: E731
        step()
        err = compare("gemm", c[:8], a[:8].astype(np.float64) @ bm.astype(np.float64), 1e-5)
        t = measure(step, repeats=b.repeats, warmup=b.warmup, min_time=20 * b.min_time)
        return dict(t, check_err=err, n=n, gflops=2 * n**3 / t["median_s"] / 1e9,
                    peak_gflops=2 * n**3 / t["min_s"] / 1e9)

    def copy() -> dict[str, Any]:
        nbytes = (COPY_BYTES // 4) if ctx.quick else COPY_BYTES
        src = np.random.default_rng([SEED, 1]).random(nbytes // 4, dtype=np.float32)
        dst = np.zeros_like(src)  # zeros_like + first copy: pages are resident before timing
        t_count = max(1, ctx.threads)
        bounds = np.linspace(0, src.size, t_count + 1).astype(int)
        parts = [(dst[lo:hi], src[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:])]
        if t_count == 1:
            step = lambda: np.copyto(dst, src)  # noqa: E731
            pool = None
        else:
            pool = ThreadPoolExecutor(max_workers=t_count)

            def step() -> None:
                for f in [pool.submit(np.copyto, d, s) for d, s in parts]:
                    f.result()
        try:
            step()
            if not np.array_equal(dst, src):
                raise CheckFailed("copy: destination differs from source")
            t = measure(step, repeats=b.repeats, warmup=b.warmup, min_time=0.0)
        finally:
            if pool is not None:
                pool.shutdown()
        return dict(t, check_err=0.0, bytes=2 * src.nbytes, copy_threads=t_count,
                    gbps=2 * src.nbytes / t["median_s"] / 1e9,
                    peak_gbps=2 * src.nbytes / t["min_s"] / 1e9)

    return run_cases(ctx, {"gemm": gemm, "copy": copy})


DRIVERS = {
    "ce": drive_ce,
    "mlp": drive_mlp,
    "cnn": drive_cnn,
    "overhead": drive_overhead,
    "second_order": drive_second_order,
    "limits": drive_limits,
}


def main(row, setup, argv=None) -> None:
    """Entry point of a peer script: ``setup(ctx)`` returns ``{"version": str,
    "impl": obj}`` (see ``common.peer_main``) where ``obj`` has any of the
    methods ``ce``, ``mlp``, ``cnn``, ``overhead``, ``hvp``, ``hessian``; a missing
    method makes its cases ``unavailable``. Only the numpy peer runs limits."""
    peer_main(row, setup, {w: _on_impl(w, d) for w, d in DRIVERS.items()}, argv)


def _on_impl(workload, driver):
    """``driver``, run only on an impl that has the workload: limits on the numpy peer alone (``impl.limits``),
    ce / mlp / cnn / overhead on one with the method of that name; second order asks case by case (``_Guard``)."""
    def run(ctx, impl):
        if workload == "limits":
            if not getattr(impl, "limits", False):
                raise Unavailable("limits are measured by the numpy peer only")
            return driver(ctx, impl)
        if workload != "second_order" and not callable(getattr(impl, workload, None)):
            raise Unavailable(f"peer has no {workload} implementation")
        return driver(ctx, _Guard(impl))
    return run


class _Guard:
    """Attribute access on a peer impl; a missing method raises Unavailable."""

    def __init__(self, impl):
        self._impl = impl

    def __getattr__(self, name):
        fn = getattr(self._impl, name, None)
        if not callable(fn):
            raise Unavailable(f"peer has no {name} implementation")
        return fn
