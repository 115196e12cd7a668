"""Taylor mode (jet, derivative): every registered primitive's Taylor coefficients — by its rule in
ops/taylor_rules.py, or by the nested-jvp fallback — against K nested jvps of the primitive (the definition),
at order 4 with every input moving along a random curve; and the work grows as K², not 2^K."""

import sys
import zlib

import numpy as np
import pytest

import softgrad as sg
from softgrad import ops
from softgrad.ops._primitive import In
from softgrad.ops.taylor_rules import TAYLOR_RULES, taylor_rule
from softgrad.trace import PRIMITIVES

taylor = sys.modules["softgrad.autodiff.taylor"]
ORDER = 4
OWN = [prim for prim in PRIMITIVES if getattr(prim.impl, "__module__", "").startswith(("softgrad", "numpy"))]
CASES = [(prim, i, sample) for prim in OWN if prim.differentiable
         for i, sample in enumerate(prim.samples) if sample.build is None]


@pytest.mark.parametrize("prim,index,sample", CASES, ids=[f"{p.name}[{i}]" for p, i, _ in CASES])
def test_taylor_coefficients_equal_nested_jvps(prim, index, sample):
    rng = np.random.default_rng(zlib.crc32(f"taylor {prim.name}[{index}]".encode()))
    values = [a.draw(rng) if isinstance(a, In) else a for a in sample.args]
    moving = [i for i, a in enumerate(sample.args) if isinstance(a, In) and prim.vjps[i] is not None]

    def f(*xs):
        args = list(values)
        for i, x in zip(moving, xs):
            args[i] = x
        return prim.bind(*args, **sample.params)

    primals = [sg.Tensor(values[i]) for i in moving]
    series = [[sg.Tensor(0.3 * rng.standard_normal(np.shape(values[i]))) for _ in range(ORDER)] for i in moving]
    _, out, fast = taylor._taylor_mode(f, primals, series, ORDER)
    _, out_ref, reference = taylor._taylor(f, primals, series, ORDER)
    for k in range(ORDER):
        np.testing.assert_allclose(fast[k][0].numpy(), reference[k][0].numpy(), rtol=1e-9, atol=1e-10,
                                   err_msg=f"order {k + 1} ({'rule' if taylor_rule(prim) else 'nested jvps'})")


def test_the_rules_cover_the_common_primitives():
    assert {"add", "mul", "matmul", "exp", "log", "tanh", "sin", "cos", "div", "sum"} <= set(TAYLOR_RULES)


def _calls(fn, x, order):
    from softgrad import trace

    calls, binds = [], trace.Primitive.bind

    def counted(prim, *args, **params):
        calls.append(prim.name)
        return binds(prim, *args, **params)

    trace.Primitive.bind = counted
    try:
        sg.derivative(fn, x, order)
    finally:
        trace.Primitive.bind = binds
    return len(calls)


def test_the_work_grows_polynomially_in_the_order():
    w = sg.Tensor(np.random.default_rng(0).standard_normal((4, 4)))
    mlp = lambda x: (ops.tanh(ops.tanh(x @ w) @ w) * ops.exp(x)).sum()  # noqa: E731
    x = sg.Tensor(np.ones(4))
    low, high = _calls(mlp, x, 2), _calls(mlp, x, 8)
    assert high < 16 * low, (low, high)  # K² would give 16×; nested jvps gave 2^6 = 64× and more


def test_jet_of_grad_and_grad_of_jet():
    x = sg.Tensor(np.array([0.3, -0.2]))
    f = lambda a: ops.sin(a) * ops.exp(a)  # noqa: E731
    _, series = sg.jet(sg.grad(lambda a: f(a).sum()), x, sg.Tensor(np.ones((3, 2))))
    _, _, reference = taylor._taylor(sg.grad(lambda a: f(a).sum()), [x], [[sg.Tensor(np.ones(2))] * 3], 3)
    np.testing.assert_allclose(series.numpy(), np.stack([r[0].numpy() for r in reference]), rtol=1e-12)
    g = sg.grad(lambda a: sg.jet(f, a, sg.Tensor(np.ones((2, 2))))[1].sum())(x)
    h = sg.grad(lambda a: sum(r[0].sum() for r in taylor._taylor(f, [a], [[sg.Tensor(np.ones(2))] * 2], 2)[2]))(x)
    np.testing.assert_allclose(g.numpy(), h.numpy(), rtol=1e-12)
