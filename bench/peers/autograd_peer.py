"""Peer "autograd": HIPS autograd (tracing reverse mode over NumPy), used
the way its README does: ``autograd.numpy`` functions and ``value_and_grad``.
If ``import autograd`` fails, every case is reported "not installed".
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import workloads  # noqa: E402
from common import package_version, require  # noqa: E402


def setup(ctx):
    autograd = require("autograd")
    require("autograd.numpy")
    return {"version": package_version("autograd", autograd), "impl": AutogradImpl()}


class AutogradImpl:
    def __init__(self):
        import autograd
        import autograd.numpy as anp
        from autograd.scipy.special import logsumexp
        self.ag, self.anp, self.logsumexp = autograd, anp, logsumexp

    def ce(self, logits, labels):
        anp, lse = self.anp, self.logsumexp
        rows = np.arange(logits.shape[0])

        def loss_fn(z):
            return anp.mean(lse(z, axis=1) - z[rows, labels])

        vg = self.ag.value_and_grad(loss_fn)
        return (lambda: vg(logits)), workloads.loss_and_grad

    def mlp(self, params, lr):
        return _AutogradMLP(self, params, lr)

    def overhead(self, x0, chain):
        anp = self.anp
        steps = workloads.chain_steps(chain, anp.sin, anp.exp)

        def chain_fn(x):
            return anp.sum(workloads.run_chain(steps, x))

        vg = self.ag.value_and_grad(chain_fn)
        return (lambda: vg(x0)), workloads.loss_and_grad

    def _f(self, a):
        lse = self.logsumexp
        return lambda x: lse(self.anp.dot(a, x))

    def hvp(self, a, x, v):
        hvp = self.ag.hessian_vector_product(self._f(a))
        return (lambda: hvp(x, v)), np.asarray

    def hessian(self, a, x):
        h = self.ag.hessian(self._f(a))
        return (lambda: h(x)), np.asarray


class _AutogradMLP(workloads.MLPTrainer):
    def __init__(self, impl: AutogradImpl, params, lr):
        anp, lse = impl.anp, impl.logsumexp
        self.p = [params[k] for k in workloads.PARAM_NAMES]
        self.lr = np.float32(lr)

        def loss_fn(p, x, y):
            w1, b1, w2, b2, w3, b3 = p
            h = anp.maximum(anp.dot(x, w1) + b1, 0.0)
            h = anp.maximum(anp.dot(h, w2) + b2, 0.0)
            z = anp.dot(h, w3) + b3
            return anp.mean(lse(z, axis=1) - z[np.arange(x.shape[0]), y])

        self.vg = impl.ag.value_and_grad(loss_fn)

    def grads(self, x, y):
        loss, g = self.vg(self.p, x, y)
        return float(loss), [np.asarray(gi) for gi in g]

    def step(self, x, y):
        _, g = self.vg(self.p, x, y)
        for pi, gi in zip(self.p, g):
            pi -= self.lr * gi


if __name__ == "__main__":
    workloads.main("autograd", setup)
