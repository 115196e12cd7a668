"""Peer "jax": JAX on the CPU, ``--mode jit`` (the user function wrapped in
``jax.jit``) or ``--mode eager`` (the same function, not jitted: dispatched
op by op). The runner reports them as rows "jax-jit" and "jax-eager".

Every timed call blocks on its result (``jax.block_until_ready``); the MLP
loop blocks once per timed chunk of steps, as a real training loop would.
float64 workloads need ``jax_enable_x64``, which is switched on here; float32
inputs stay float32.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import workloads  # noqa: E402
from common import require  # noqa: E402


def row_name(args) -> str:
    return f"jax-{args.mode or 'jit'}"


def setup(ctx):
    mode = ctx.mode or "jit"
    if mode not in ("jit", "eager"):
        raise ValueError(f"--mode must be jit or eager, not {mode!r}")
    jax = require("jax")
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")
    import jaxlib
    return {"version": f"{jax.__version__} (jaxlib {jaxlib.__version__})",
            "impl": JaxImpl(jax, mode == "jit")}


def _sgd_step(jax, impl, loss_fn, lr):
    """(value_and_grad of loss_fn, one SGD step p − lr·∇), both compiled as ``impl`` compiles (jit or eager)."""
    vg = jax.value_and_grad(loss_fn)

    def train_step(p, x, y):
        _, g = vg(p, x, y)
        return [pi - lr * gi for pi, gi in zip(p, g)]

    return impl._compile(vg), impl._compile(train_step)


class JaxImpl:
    def __init__(self, jax, use_jit: bool):
        import jax.numpy as jnp
        self.jax, self.jnp, self.use_jit = jax, jnp, use_jit

    def _compile(self, fn, **kw):
        return self.jax.jit(fn, **kw) if self.use_jit else fn

    def _blocking(self, fn, *args):
        block = self.jax.block_until_ready
        return lambda: block(fn(*args))

    def ce(self, logits, labels):
        jax, jnp = self.jax, self.jnp

        def loss_fn(z, y):
            logp = jax.nn.log_softmax(z, axis=1)
            return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

        f = self._compile(jax.value_and_grad(loss_fn))
        z, y = jnp.asarray(logits), jnp.asarray(labels)
        return self._blocking(f, z, y), workloads.loss_and_grad

    def mlp(self, params, lr):
        return _JaxMLP(self, params, lr)

    def cnn(self, params, lr, case):
        if case != "ops":
            raise workloads.Unavailable("JAX has no layer library of its own (flax is not a peer): see case ops")
        return _JaxCNN(self, params, lr)

    def overhead(self, x0, chain):
        jax, jnp = self.jax, self.jnp
        steps = workloads.chain_steps(chain, jnp.sin, jnp.exp)

        def chain_fn(x):
            return jnp.sum(workloads.run_chain(steps, x))

        f = self._compile(jax.value_and_grad(chain_fn))
        return self._blocking(f, jnp.asarray(x0)), workloads.loss_and_grad

    def _f(self, a):
        from jax.scipy.special import logsumexp
        a = self.jnp.asarray(a)
        return lambda x: logsumexp(a @ x)

    def hvp(self, a, x, v):
        jax = self.jax
        f = self._f(a)
        hvp = self._compile(lambda x, v: jax.jvp(jax.grad(f), (x,), (v,))[1])
        return self._blocking(hvp, self.jnp.asarray(x), self.jnp.asarray(v)), np.asarray

    def hessian(self, a, x):
        h = self._compile(self.jax.hessian(self._f(a)))
        return self._blocking(h, self.jnp.asarray(x)), np.asarray


class _CompiledSteps:
    """grads / step / sync over ``self._vg`` and ``self._step`` (``_sgd_step``'s pair) and ``self.params``."""

    def grads(self, x, y):
        loss, g = self._vg(self.params, x, y)
        return float(loss), [np.asarray(gi) for gi in g]

    def step(self, x, y):
        self.params = self._step(self.params, x, y)

    def sync(self):
        self.jax.block_until_ready(self.params)


class _JaxMLP(_CompiledSteps, workloads.MLPTrainer):
    def __init__(self, impl: JaxImpl, params, lr):
        jax, jnp = impl.jax, impl.jnp
        self.jax = jax
        self.params = [jnp.asarray(params[k]) for k in workloads.PARAM_NAMES]

        def loss_fn(p, x, y):
            w1, b1, w2, b2, w3, b3 = p
            h = jax.nn.relu(x @ w1 + b1)
            h = jax.nn.relu(h @ w2 + b2)
            logp = jax.nn.log_softmax(h @ w3 + b3, axis=1)
            return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

        self._vg, self._step = _sgd_step(jax, impl, loss_fn, lr)


class _JaxCNN(_CompiledSteps, workloads.CNNTrainer):
    """The net from ``lax.conv_general_dilated`` (NCHW, OIHW), ``jax.nn.relu``, ``lax.reduce_window`` (max) and
    matmuls; ``value_and_grad`` and the SGD update in one (jitted) step."""

    def __init__(self, impl: JaxImpl, params, lr):
        jax, jnp = impl.jax, impl.jnp
        lax = jax.lax
        self.jax = jax
        self.params = [jnp.asarray(params[name]) for name, _ in workloads.CNN_PARAMS]

        def conv(x, w, b):
            y = lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW"))
            return jax.nn.relu(y + b[None, :, None, None])

        def loss_fn(p, x, y):
            w1, b1, w2, b2, w3, b3, w4, b4 = p
            h = conv(conv(x, w1, b1), w2, b2)
            h = lax.reduce_window(h, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
            h = jax.nn.relu(h.reshape(h.shape[0], -1) @ w3.T + b3)
            logp = jax.nn.log_softmax(h @ w4.T + b4, axis=1)
            return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

        self._vg, self._step = _sgd_step(jax, impl, loss_fn, lr)
        self.note = "lax.conv_general_dilated, lax.reduce_window; the whole step jitted"


if __name__ == "__main__":
    workloads.main(row_name, setup)
