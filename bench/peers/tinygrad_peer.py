"""Peer "tinygrad": tinygrad on the CPU, used the way its README does, without
``TinyJit`` (the eager API): ``Tensor`` operands, ``.backward()`` and the
gradients in ``.grad``; ``nn.Linear`` + ``nn.optim.SGD`` under
``Context(TRAINING=1)`` for the MLP; ``sparse_categorical_crossentropy``.
tinygrad is lazy: every timed call realizes its results and waits for the
device (``Device[...].synchronize()``), as a training loop does when it reads
the loss.

Backend: ``DEV=CPU:CLANG`` (tinygrad's default CPU renderer: C source compiled
by the ``clang`` binary), set here unless ``DEV`` is already in the
environment. tinygrad 0.14's CPU device needs ``clang`` on PATH whatever the
renderer (it builds its worker programs with it; Debian: ``apt-get install
clang``); gcc cannot stand in (``CC=gcc`` fails on clang's ``--target``
flag). Without clang every case is "unavailable". Measured on this machine:
``CPU:LLVM`` (libLLVM 15) fails to compile the cross-entropy kernel,
``CPU:X86`` (tinygrad's own assembler) compiles ~10x slower and ran the
overhead chain slower, ``CPU:LVP`` needs Mesa, and ``PYTHON`` interprets every
kernel. Kernels run on ``NUM_CPU_THREADS`` = the harness's thread count.

The first call of a case compiles its fused kernels and is part of the
untimed warm-up; for the overhead chain (200 float64 ops, ``sin`` and ``exp``
expanded into polynomials inside one kernel) that takes minutes.

Second order: tinygrad has no forward mode, so the HVP is reverse-over-reverse
(``Tensor.gradient`` of ``g · v``) and the Hessian stacks one reverse pass
per row of the gradient, realized together.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import workloads  # noqa: E402
from common import Unavailable, package_version, require  # noqa: E402

BACKEND = "CPU:CLANG"


def setup(ctx):
    # tinygrad reads its settings from the environment when it is imported.
    os.environ.setdefault("DEV", BACKEND)
    os.environ["NUM_CPU_THREADS"] = str(ctx.threads)
    compiler = os.environ.get("CC", "clang")
    if os.environ["DEV"].startswith("CPU") and shutil.which(compiler) is None:
        raise Unavailable(f"tinygrad's CPU device needs {compiler!r} on PATH to compile its "
                          "kernels (Debian: apt-get install clang)")
    tinygrad = require("tinygrad")
    from tinygrad import Device, Tensor
    from tinygrad.helpers import NUM_CPU_THREADS
    try:
        (Tensor([1.0, 2.0]) * 2).realize()
    except Exception as exc:
        raise Unavailable(f"device {os.environ['DEV']} does not run "
                          f"({type(exc).__name__}: {exc})")
    ver = package_version("tinygrad", tinygrad)
    return {"version": f"{ver} ({os.environ['DEV']})", "threads": NUM_CPU_THREADS.value,
            "impl": TinygradImpl(Device[Device.DEFAULT])}


class TinygradImpl:
    def __init__(self, device):
        from tinygrad import Context, Tensor, nn
        self.Tensor, self.nn, self.Context, self.device = Tensor, nn, Context, device

    def _done(self, *tensors):
        """Realize ``tensors`` and wait until the device has computed them."""
        self.Tensor.realize(*tensors)
        self.device.synchronize()
        return tensors

    def ce(self, logits, labels):
        z = self.Tensor(logits).realize()
        y = self.Tensor(labels).realize()

        def step():
            z.grad = None
            loss = z.sparse_categorical_crossentropy(y).backward()
            return self._done(loss, z.grad)

        return step, workloads.tensor_loss_and_grad

    def mlp(self, params, lr):
        return _TinygradMLP(self, params, lr)

    def overhead(self, x0, chain):
        Tensor = self.Tensor
        x = Tensor(x0).realize()
        steps = workloads.chain_steps(chain, Tensor.sin, Tensor.exp)

        def step():
            x.grad = None
            s = workloads.run_chain(steps, x).sum().backward()
            return self._done(s, x.grad)

        return step, workloads.tensor_loss_and_grad

    def _grad(self, a, x):
        """The gradient of logsumexp(a @ x) w.r.t. x, as a lazy tensor."""
        (g,) = (a @ x).logsumexp().gradient(x)
        return g

    def hvp(self, a, x, v):
        at, xt, vt = (self.Tensor(t).realize() for t in (a, x, v))

        def step():
            (hv,) = (self._grad(at, xt) * vt).sum().gradient(xt)
            return self._done(hv)[0]

        step.note = "reverse-over-reverse (no forward mode)"
        return step, workloads.tensor_numpy

    def hessian(self, a, x):
        at, xt = (self.Tensor(t).realize() for t in (a, x))

        def step():
            g = self._grad(at, xt)
            rows = [g[i].gradient(xt)[0] for i in range(g.shape[0])]
            return self._done(self.Tensor.stack(*rows))[0]

        step.note = "one reverse-over-reverse pass per row"
        return step, workloads.tensor_numpy


class _TinygradMLP(workloads.MLPTrainer):
    def __init__(self, impl: TinygradImpl, params, lr):
        Tensor, nn = impl.Tensor, impl.nn
        self.Tensor, self.Context, self.device = Tensor, impl.Context, impl.device
        sizes = workloads.MLP_SIZES
        self.layers = [nn.Linear(i, o) for i, o in zip(sizes[:-1], sizes[1:])]
        for lin, (w, b) in zip(self.layers, workloads.linear_init(params)):
            lin.weight = Tensor(w).realize()
            lin.bias = Tensor(b).realize()
        self.opt = nn.optim.SGD(nn.state.get_parameters(self.layers), lr=lr)

    def _loss(self, x, y):
        l1, l2, l3 = self.layers
        logits = l3(l2(l1(self.Tensor(x)).relu()).relu())
        return logits.sparse_categorical_crossentropy(self.Tensor(y))

    def grads(self, x, y):
        with self.Context(TRAINING=1):
            self.opt.zero_grad()
            loss = self._loss(x, y).backward()
            out = []
            for lin in self.layers:
                out += [lin.weight.grad.numpy().T.copy(), lin.bias.grad.numpy()]
            self.opt.zero_grad()
        return float(loss.item()), out

    def step(self, x, y):
        with self.Context(TRAINING=1):
            self.opt.zero_grad()
            self._loss(x, y).backward()
            self.opt.step()

    def sync(self):
        self.device.synchronize()


if __name__ == "__main__":
    workloads.main("tinygrad", setup)
