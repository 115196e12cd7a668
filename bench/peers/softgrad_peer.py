"""Peer "softgrad": this project, used through its public API (``softgrad.value_and_grad``, ``softgrad.ops``,
``softgrad.nn``, ``softgrad.optim``, ``softgrad.jvp``, ``softgrad.hessian``), as a user would write it.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import workloads  # noqa: E402
from common import require  # noqa: E402


def row_name(args) -> str:
    return "softgrad-ops" if args.mode == "ops" else "softgrad"


def setup(ctx):
    if ctx.mode not in (None, "ops"):
        raise ValueError(f"--mode must be ops (the MLP written by hand from ops) or absent, not {ctx.mode!r}")
    sg = require("softgrad", "import softgrad failed")
    return {"version": getattr(sg, "__version__", "?"), "source": str(Path(sg.__file__).parent),
            "impl": SoftgradImpl(sg) if ctx.mode is None else SoftgradOpsImpl(sg)}


class SoftgradImpl:
    def __init__(self, sg):
        self.sg, self.ops = sg, sg.ops

    def ce(self, logits, labels):
        sg, ops = self.sg, self.ops
        y = sg.Tensor(labels)
        vg = sg.value_and_grad(lambda z: ops.cross_entropy(z, y, reduction="mean"), grad_position=0)
        z = sg.Tensor(logits)
        return (lambda: vg(z)), _loss_and_grad

    def mlp(self, params, lr):
        return _SoftgradMLP(self.sg, params, lr)

    def cnn(self, params, lr, case):
        return _SoftgradCNN(self.sg, params, lr, case)

    def overhead(self, x0, chain):
        sg, ops = self.sg, self.ops
        steps = workloads.chain_steps(chain, ops.sin, ops.exp)
        vg = sg.value_and_grad(lambda x: ops.sum(workloads.run_chain(steps, x)), grad_position=0)
        x = sg.Tensor(x0)
        return (lambda: vg(x)), _loss_and_grad

    def _f(self, a):
        ops = self.ops
        at = self.sg.Tensor(a)
        return lambda x: ops.logsumexp(ops.matmul(at, x), axis=0)

    def hvp(self, a, x, v):
        sg = self.sg
        gf = sg.grad(self._f(a))
        xt, vt = sg.Tensor(x), sg.Tensor(v)

        def step():
            return sg.jvp(gf, (xt,), (vt,))[1]
        step.note = "jvp(grad(f))"
        return step, _np

    def hessian(self, a, x):
        sg = self.sg
        h = sg.hessian(self._f(a))
        xt = sg.Tensor(x)
        return (lambda: h(xt)), _np


class _SoftgradMLP(workloads.MLPTrainer):
    """The idiomatic training step: ``nn.Dense`` layers in a ``SequentialCell``,
    ``value_and_grad(loss, None, weights=optimizer.parameters)``,
    ``optim.SGD(...)(grads)`` - what ``nn.TrainOneStepCell`` does."""

    def __init__(self, sg, params, lr):
        nn, ops = sg.nn, sg.ops
        sizes = workloads.MLP_SIZES
        layers = []
        for k, (w, b) in enumerate(workloads.linear_init(params), start=1):
            layers.append(nn.Dense(sizes[k - 1], sizes[k], weight_init=w, bias_init=b.copy(),
                                   activation="relu" if k < 3 else None))
        self.model = nn.SequentialCell(*layers)
        self.opt = sg.optim.SGD(self.model.trainable_params(), lr=lr)
        ids = {}
        for k, layer in enumerate(layers, start=1):
            ids[id(layer.weight)] = (f"W{k}", True)
            ids[id(layer.bias)] = (f"b{k}", False)
        self.order = [ids[id(p)] for p in self.opt.parameters]
        self.sg = sg
        model = self.model
        self.vg = sg.value_and_grad(lambda x, y: ops.cross_entropy(model(x), y), None,
                                    weights=self.opt.parameters)
        self.note = "nn.Dense + optim.SGD"

    def grads(self, x, y):
        loss, g = self.vg(self.sg.Tensor(x), self.sg.Tensor(y))
        by_name = {}
        for (name, transpose), gi in zip(self.order, g):
            a = _np(gi)
            by_name[name] = a.T if transpose else a
        return float(_np(loss)), [by_name[k] for k in workloads.PARAM_NAMES]

    def step(self, x, y):
        _, g = self.vg(self.sg.Tensor(x), self.sg.Tensor(y))
        self.opt(g)


class SoftgradOpsImpl:
    """``--mode ops``: the MLP alone, written by hand from ops (the other workloads are the default row's)."""

    def __init__(self, sg):
        self.sg = sg

    def mlp(self, params, lr):
        return _SoftgradOpsMLP(self.sg, params, lr)


class _SoftgradOpsMLP(workloads.MLPTrainer):
    """The MLP as a user porting a tutorial writes it: ``ops.relu(ops.matmul(x, w) + b)`` on (in, out)
    ``Parameter``s, ``value_and_grad(..., weights=)`` and ``optim.SGD``; no ``nn.Dense``."""

    def __init__(self, sg, params, lr):
        ops = sg.ops
        self.sg = sg
        self.weights = [sg.Parameter(params[name].copy(), name=name) for name in workloads.PARAM_NAMES]
        w1, b1, w2, b2, w3, b3 = self.weights

        def model(x):
            h = ops.relu(ops.matmul(x, w1) + b1)
            h = ops.relu(ops.matmul(h, w2) + b2)
            return ops.matmul(h, w3) + b3
        self.opt = sg.optim.SGD(self.weights, lr=lr)
        self.vg = sg.value_and_grad(lambda x, y: ops.cross_entropy(model(x), y), None, weights=self.weights)
        self.note = "ops.matmul + add + ops.relu + optim.SGD"

    def grads(self, x, y):
        loss, g = self.vg(self.sg.Tensor(x), self.sg.Tensor(y))
        return float(_np(loss)), [_np(gi) for gi in g]

    def step(self, x, y):
        _, g = self.vg(self.sg.Tensor(x), self.sg.Tensor(y))
        self.opt(g)


class _SoftgradCNN(workloads.CNNTrainer):
    """``layers``: ``nn.Conv2d`` / ``nn.MaxPool2d`` / ``nn.Dense`` cells in a ``SequentialCell``; ``ops``: the
    same net written by hand from ``ops.conv2d``, ``ops.relu``, ``ops.max_pool2d``, ``ops.matmul`` on
    ``Parameter``s (what a user porting PyTorch's example writes). Both train with
    ``value_and_grad(..., weights=)`` and ``optim.SGD``."""

    def __init__(self, sg, params, lr, case):
        nn, ops = sg.nn, sg.ops
        self.sg = sg
        if case == "layers":
            conv = dict(pad_mode="valid", has_bias=True)
            model = nn.SequentialCell(
                nn.Conv2d(1, 32, 3, weight_init=params["conv1.weight"], bias_init=params["conv1.bias"], **conv),
                nn.ReLU(),
                nn.Conv2d(32, 64, 3, weight_init=params["conv2.weight"], bias_init=params["conv2.bias"], **conv),
                nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                nn.Dense(9216, 128, weight_init=params["fc1.weight"], bias_init=params["fc1.bias"],
                         activation="relu"),
                nn.Dense(128, 10, weight_init=params["fc2.weight"], bias_init=params["fc2.bias"]))
            weights = model.trainable_params()
            self.note = "nn.Conv2d, nn.MaxPool2d, nn.Dense + optim.SGD"
        else:
            weights = [sg.Parameter(params[name].copy(), name=name) for name, _ in workloads.CNN_PARAMS]
            w1, b1, w2, b2, w3, b3, w4, b4 = weights

            def model(x):
                h = ops.relu(ops.conv2d(x, w1, bias=b1))
                h = ops.relu(ops.conv2d(h, w2, bias=b2))
                h = ops.reshape(ops.max_pool2d(h, 2), (x.shape[0], -1))
                h = ops.relu(ops.matmul(h, ops.transpose(w3, (1, 0))) + b3)
                return ops.matmul(h, ops.transpose(w4, (1, 0))) + b4
            self.note = "ops.conv2d, ops.max_pool2d, ops.matmul + optim.SGD"
        by_id = {id(w): k for k, w in enumerate(weights)}
        self.opt = sg.optim.SGD(weights, lr=lr)
        self.order = [by_id[id(w)] for w in self.opt.parameters]
        self.vg = sg.value_and_grad(lambda x, y: ops.cross_entropy(model(x), y), None, weights=self.opt.parameters)

    def grads(self, x, y):
        loss, g = self.vg(self.sg.Tensor(x), self.sg.Tensor(y))
        out = [None] * len(g)
        for k, gi in zip(self.order, g):
            out[k] = _np(gi)
        return float(_np(loss)), out

    def step(self, x, y):
        _, g = self.vg(self.sg.Tensor(x), self.sg.Tensor(y))
        self.opt(g)


def _np(t):
    """A softgrad Tensor (or anything array-like) as an ndarray."""
    return t.numpy() if hasattr(t, "numpy") else np.asarray(t)


def _loss_and_grad(r):
    """A (loss, gradient) pair of Tensors as (float, ndarray)."""
    return float(_np(r[0])), _np(r[1])


if __name__ == "__main__":
    workloads.main(row_name, setup)
