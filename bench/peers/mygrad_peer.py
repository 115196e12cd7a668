"""Peer "mygrad": MyGrad (eager reverse mode over NumPy), used the way its docs
do: ``mygrad.Tensor`` operands, ``mygrad.nnet`` for ReLU and the fused
``softmax_crossentropy``, ``loss.backward()`` and the gradients in ``.grad``;
the SGD update is ``w.data -= lr * w.grad`` (MyGrad has no optimizer).
Defaults are kept, memory guarding included.

MyGrad has no higher-order derivatives: ``Tensor.grad`` is a plain NumPy
array, not a tensor in a graph, so the HVP and Hessian cases are reported
"unavailable". If ``import mygrad`` fails, every case is "not installed".
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import workloads  # noqa: E402
from common import Unavailable, package_version, require  # noqa: E402

NO_SECOND_ORDER = ("MyGrad has no higher-order derivatives: backward() leaves plain "
                   "NumPy arrays in .grad, which cannot be differentiated again")


def setup(ctx):
    mygrad = require("mygrad")
    return {"version": package_version("mygrad", mygrad), "impl": MygradImpl()}


class MygradImpl:
    def __init__(self):
        import mygrad
        from mygrad.nnet import relu, softmax_crossentropy
        self.mg, self.relu, self.softmax_ce = mygrad, relu, softmax_crossentropy

    def ce(self, logits, labels):
        z = self.mg.tensor(logits)
        softmax_ce = self.softmax_ce

        def step():
            loss = softmax_ce(z, labels)
            loss.backward()
            return loss, z.grad

        return step, _loss_and_grad

    def mlp(self, params, lr):
        return _MygradMLP(self, params, lr)

    def overhead(self, x0, chain):
        mg = self.mg
        x = mg.tensor(x0)
        steps = workloads.chain_steps(chain, mg.sin, mg.exp)

        def step():
            s = mg.sum(workloads.run_chain(steps, x))
            s.backward()
            return s, x.grad

        return step, _loss_and_grad

    def hvp(self, a, x, v):
        raise Unavailable(NO_SECOND_ORDER)

    def hessian(self, a, x):
        raise Unavailable(NO_SECOND_ORDER)


class _MygradMLP(workloads.MLPTrainer):
    def __init__(self, impl: MygradImpl, params, lr):
        self.mg, self.relu, self.softmax_ce = impl.mg, impl.relu, impl.softmax_ce
        self.p = [self.mg.tensor(params[k]) for k in workloads.PARAM_NAMES]
        self.lr = np.float32(lr)

    def _loss(self, x, y):
        mg, relu = self.mg, self.relu
        w1, b1, w2, b2, w3, b3 = self.p
        h = relu(mg.matmul(x, w1) + b1)
        h = relu(mg.matmul(h, w2) + b2)
        return self.softmax_ce(mg.matmul(h, w3) + b3, y)

    def grads(self, x, y):
        loss = self._loss(x, y)
        loss.backward()
        return float(loss.item()), [p.grad.copy() for p in self.p]

    def step(self, x, y):
        self._loss(x, y).backward()
        for p in self.p:
            p.data -= self.lr * p.grad


def _loss_and_grad(r):
    """A step's (loss tensor, gradient array) as (float, ndarray)."""
    return float(r[0].item()), np.asarray(r[1])


if __name__ == "__main__":
    workloads.main("mygrad", setup)
