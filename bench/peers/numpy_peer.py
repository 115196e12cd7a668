"""Peer "numpy": backprop written by hand in NumPy (the reference line).

Also measures the machine limits (``--workload limits``).
Run by bench/run.py; by hand: ``python bench/peers/numpy_peer.py --workload ce``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import workloads  # noqa: E402


class NumpyImpl:
    limits = True

    # -- ce ----------------------------------------------------------------
    def ce(self, logits: np.ndarray, labels: np.ndarray):
        n = logits.shape[0]
        rows = np.arange(n)
        inv_n = np.float32(1.0 / n)

        def step():
            m = logits.max(axis=1, keepdims=True)
            e = logits - m
            np.exp(e, out=e)
            s = e.sum(axis=1, keepdims=True)
            loss = np.mean(np.log(s[:, 0]) + m[:, 0] - logits[rows, labels])
            e *= inv_n / s  # gradient: (softmax - onehot) / N, in place
            e[rows, labels] -= inv_n
            return loss, e

        return step, workloads.loss_and_grad

    # -- mlp ---------------------------------------------------------------
    def mlp(self, params: dict, lr: float):
        return _NumpyMLP(params, lr)

    # -- overhead ----------------------------------------------------------
    def overhead(self, x0: np.ndarray, chain):
        def step():
            # forward, saving what the backward pass needs
            x = x0
            saved = []
            for op, c in chain:
                if op == "sin":
                    saved.append(x)
                    x = np.sin(x)
                elif op == "exp":
                    x = np.exp(x)
                    saved.append(x)
                elif op == "mul":
                    x = x * c
                elif op == "add":
                    x = x + c
            value = x.sum()
            g = np.ones_like(x)
            for op, c in reversed(chain):
                if op == "sin":
                    g = g * np.cos(saved.pop())
                elif op == "exp":
                    g = g * saved.pop()
                elif op == "mul":
                    g = g * c
            return value, g

        return step, workloads.loss_and_grad

    # -- second order ------------------------------------------------------
    def hvp(self, a: np.ndarray, x: np.ndarray, v: np.ndarray):
        def step():
            z = a @ x
            p = np.exp(z - z.max())
            p /= p.sum()
            u = a @ v
            return a.T @ (p * u - p * (p @ u))

        return step, np.asarray

    def hessian(self, a: np.ndarray, x: np.ndarray):
        def step():
            z = a @ x
            p = np.exp(z - z.max())
            p /= p.sum()
            pa = p[:, None] * a
            return a.T @ pa - np.outer(p @ a, p @ a)

        return step, np.asarray


class _NumpyMLP(workloads.MLPTrainer):
    def __init__(self, params: dict, lr: float):
        self.p = params  # updated in place
        self.lr = np.float32(lr)

    def _forward_backward(self, x, y):
        p = self.p
        n = x.shape[0]
        z1 = x @ p["W1"]
        z1 += p["b1"]
        h1 = np.maximum(z1, 0, out=z1)
        z2 = h1 @ p["W2"]
        z2 += p["b2"]
        h2 = np.maximum(z2, 0, out=z2)
        z3 = h2 @ p["W3"]
        z3 += p["b3"]
        m = z3.max(axis=1, keepdims=True)
        z3 -= m
        e = np.exp(z3)
        s = e.sum(axis=1, keepdims=True)
        rows = np.arange(n)
        loss = float(np.mean(np.log(s[:, 0]) - z3[rows, y]))
        e *= np.float32(1.0 / n) / s
        e[rows, y] -= np.float32(1.0 / n)
        d3 = e
        dW3 = h2.T @ d3
        db3 = d3.sum(0)
        d2 = d3 @ p["W3"].T
        d2 *= h2 > 0
        dW2 = h1.T @ d2
        db2 = d2.sum(0)
        d1 = d2 @ p["W2"].T
        d1 *= h1 > 0
        dW1 = x.T @ d1
        db1 = d1.sum(0)
        return loss, [dW1, db1, dW2, db2, dW3, db3]

    def grads(self, x, y):
        return self._forward_backward(x, y)

    def step(self, x, y):
        _, grads = self._forward_backward(x, y)
        for name, g in zip(workloads.PARAM_NAMES, grads):
            g *= self.lr
            self.p[name] -= g


def setup(ctx):
    return {"version": np.__version__, "impl": NumpyImpl()}


if __name__ == "__main__":
    workloads.main("numpy", setup)
