"""Peer "softgrad": this project, used through its public functional API
(``softgrad.value_and_grad``, ``softgrad.ops``, ``softgrad.jvp``,
``softgrad.hessian``).

softgrad is still being written, so every piece of API is looked up before
use: a missing module or op makes that case "unavailable: <reason>" instead of
crashing the run. Where a documented fallback exists it is used and said so
in the case's note (cross-entropy through ``ops.logsumexp`` while
``ops.cross_entropy`` is missing; HVP by reverse-over-reverse while ``jvp`` is
missing).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import workloads  # noqa: E402
from common import Unavailable  # noqa: E402


def need(obj, name: str, where: str):
    fn = getattr(obj, name, None)
    if fn is None:
        raise Unavailable(f"{where}.{name} is missing")
    return fn


def setup(ctx):
    try:
        import softgrad as sg
    except Exception as exc:
        raise Unavailable(f"import softgrad failed ({type(exc).__name__}: {exc})")
    try:
        from softgrad import ops
    except Exception as exc:
        raise Unavailable(f"softgrad.ops failed to import ({type(exc).__name__}: {exc})")
    need(sg, "Tensor", "softgrad")
    need(sg, "value_and_grad", "softgrad")
    return {"version": getattr(sg, "__version__", "?"), "threads": ctx.threads,
            "source": str(Path(sg.__file__).parent),
            "impl": SoftgradImpl(sg, ops)}


class SoftgradImpl:
    def __init__(self, sg, ops):
        self.sg, self.ops = sg, ops

    # -- cross-entropy, with the fallback ----------------------------------
    def _ce_fn(self):
        """(fn(logits, labels) -> mean CE, note)."""
        ops = self.ops
        ce = getattr(ops, "cross_entropy", None)
        if ce is not None:
            return (lambda z, y: ce(z, y, reduction="mean")), None
        lse = need(ops, "logsumexp", "softgrad.ops")
        mean = need(ops, "mean", "softgrad.ops")
        take = getattr(ops, "take_along_axis", None)
        if take is not None:
            def fn(z, y):
                logp = z - lse(z, axis=1, keepdims=True)
                return -mean(take(logp, _label_array(y)[:, None], axis=1))
        else:
            def fn(z, y):
                logp = z - lse(z, axis=1, keepdims=True)
                yy = _label_array(y)
                return -mean(logp[np.arange(yy.shape[0]), yy])
        return fn, ("ops.cross_entropy missing: log_softmax from ops.logsumexp"
                    " + take_along_axis + mean")

    def ce(self, logits, labels):
        sg = self.sg
        fn, note = self._ce_fn()
        y = sg.Tensor(labels)
        vg = sg.value_and_grad(lambda z: fn(z, y), grad_position=0)
        z = sg.Tensor(logits)

        def step():
            return vg(z)

        step.note = note
        return step, lambda r: (float(_np(r[0])), _np(r[1]))

    # -- mlp ---------------------------------------------------------------
    def mlp(self, params, lr):
        nn, optim = getattr(self.sg, "nn", None), getattr(self.sg, "optim", None)
        if all(hasattr(nn, a) for a in ("Dense", "SequentialCell")) and hasattr(optim, "SGD"):
            return _SoftgradNNMLP(self, params, lr)
        return _SoftgradMLP(self, params, lr)

    # -- overhead ----------------------------------------------------------
    def overhead(self, x0, chain):
        sg, ops = self.sg, self.ops
        sin = need(ops, "sin", "softgrad.ops")
        exp = need(ops, "exp", "softgrad.ops")
        total = need(ops, "sum", "softgrad.ops")
        steps = workloads.chain_steps(chain, sin, exp)

        def chain_fn(x):
            return total(workloads.run_chain(steps, x))

        vg = sg.value_and_grad(chain_fn, grad_position=0)
        x = sg.Tensor(x0)
        return (lambda: vg(x)), lambda r: (float(_np(r[0])), _np(r[1]))

    # -- second order ------------------------------------------------------
    def _f(self, a):
        ops = self.ops
        lse = need(ops, "logsumexp", "softgrad.ops")
        matmul = need(ops, "matmul", "softgrad.ops")
        at = self.sg.Tensor(a)
        return lambda x: lse(matmul(at, x), axis=0)

    def hvp(self, a, x, v):
        sg = self.sg
        f = self._f(a)
        grad = need(sg, "grad", "softgrad")
        xt, vt = sg.Tensor(x), sg.Tensor(v)
        jvp = getattr(sg, "jvp", None)
        if jvp is not None:
            gf = grad(f)

            def step():
                return jvp(gf, (xt,), (vt,))[1]
            step.note = "jvp(grad(f))"
        else:
            total = need(self.ops, "sum", "softgrad.ops")
            hv = grad(lambda x: total(grad(f)(x) * vt))

            def step():
                return hv(xt)
            step.note = "sg.jvp missing: reverse-over-reverse grad(<grad f, v>)"
        return step, _np

    def hessian(self, a, x):
        sg = self.sg
        h = need(sg, "hessian", "softgrad")(self._f(a))
        xt = sg.Tensor(x)
        return (lambda: h(xt)), _np


class _SoftgradNNMLP:
    """The idiomatic training step: ``nn.Dense`` layers in a ``SequentialCell``,
    ``value_and_grad(loss, None, weights=optimizer.parameters)``,
    ``optim.SGD(...)(grads)`` - what ``nn.TrainOneStepCell`` does."""

    def __init__(self, impl: SoftgradImpl, params, lr):
        sg = impl.sg
        nn = sg.nn
        ce, ce_note = impl._ce_fn()
        sizes = workloads.MLP_SIZES
        layers = []
        for k in range(1, 4):
            layers.append(nn.Dense(sizes[k - 1], sizes[k],
                                   weight_init=np.ascontiguousarray(params[f"W{k}"].T),
                                   bias_init=params[f"b{k}"].copy(),
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
        self.vg = sg.value_and_grad(lambda x, y: ce(model(x), y), None,
                                    weights=self.opt.parameters)
        self.note = "; ".join(n for n in ("nn.Dense + optim.SGD", ce_note) if n)

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

    def sync(self):
        pass


class _SoftgradMLP:
    """Functional training step: value_and_grad over the six parameters,
    then an in-place SGD update of the NumPy arrays the Tensors wrap."""

    def __init__(self, impl: SoftgradImpl, params, lr):
        sg, ops = impl.sg, impl.ops
        matmul = need(ops, "matmul", "softgrad.ops")
        relu = need(ops, "relu", "softgrad.ops")
        ce, ce_note = impl._ce_fn()
        self.note = "; ".join(n for n in ("functional (nn.Dense / optim.SGD missing)", ce_note) if n)
        self.sg = sg
        self.arrays = [params[k] for k in workloads.PARAM_NAMES]
        self.tensors = [sg.Tensor(p) for p in self.arrays]
        # If Tensor copied its input, update the Tensor's own arrays instead.
        self.arrays = [_np(t) for t in self.tensors]
        self.lr = np.float32(lr)

        def loss_fn(w1, b1, w2, b2, w3, b3, x, y):
            h = relu(matmul(x, w1) + b1)
            h = relu(matmul(h, w2) + b2)
            return ce(matmul(h, w3) + b3, y)

        self.vg = sg.value_and_grad(loss_fn, grad_position=(0, 1, 2, 3, 4, 5))

    def grads(self, x, y):
        loss, g = self.vg(*self.tensors, self.sg.Tensor(x), y)
        return float(_np(loss)), [_np(gi) for gi in g]

    def step(self, x, y):
        _, g = self.vg(*self.tensors, self.sg.Tensor(x), y)
        lr = self.lr
        for p, gi in zip(self.arrays, g):
            p -= lr * _np(gi)

    def sync(self):
        pass


def _label_array(y):
    return y.numpy() if hasattr(y, "numpy") else np.asarray(y)


def _np(t):
    return t.numpy() if hasattr(t, "numpy") else np.asarray(t)


if __name__ == "__main__":
    workloads.main("softgrad", setup)
