"""The registry of primitives drives one gradient test: every differentiable primitive declares samples, and at
each sample its rules agree with central finite differences in float64 — first order, second order unless the
sample says otherwise — and a batchable primitive's one-sweep Jacobian equals the row-by-row one. Its forward
rule agrees with its VJPs (⟨u, J·t⟩ = ⟨Jᵀu, t⟩), is itself differentiable (checked by finite differences), and
for a batchable primitive takes a batch of tangents (jacfwd = jacrev). A primitive added without samples, without
a forward rule, or with a wrong rule or flag, turns this file red."""

import zlib

import numpy as np
import pytest

import softgrad as sg
from softgrad.autodiff import _vjp_all
from softgrad.ops._primitive import In
from softgrad.trace import PRIMITIVES

REGISTERED = list(PRIMITIVES)  # softgrad's own: every module is imported with softgrad, before any test runs
CASES = [(prim, i, sample) for prim in REGISTERED if prim.differentiable for i, sample in enumerate(prim.samples)]
IDS = [f"{prim.name}[{i}]" for prim, i, _ in CASES]


def test_every_differentiable_primitive_declares_samples():
    assert len(REGISTERED) > 50
    missing = [prim.name for prim in REGISTERED if prim.differentiable and not prim.samples]
    assert not missing, f"primitives without samples: {missing}"


def test_primitive_names_are_unique():
    names = [prim.name for prim in REGISTERED]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def _case(prim, index, sample):
    """(f, xs): f maps the differentiated inputs xs (float64 arrays) to the primitive's output at the sample."""
    rng = np.random.default_rng(zlib.crc32(f"{prim.name}[{index}]".encode()))
    values = [a.draw(rng) if isinstance(a, In) else a for a in sample.args]
    positions = [i for i, a in enumerate(sample.args)
                 if isinstance(a, In) and (sample.build is not None or prim.vjps[i] is not None)]
    assert positions, f"{prim.name}: a sample must differentiate at least one input (an In with a rule)"

    def f(*xs):
        args = list(values)
        for position, x in zip(positions, xs):
            args[position] = x
        if sample.build is not None:
            return sample.build(*args)
        return prim.bind(*args, **sample.params)

    return f, [values[i] for i in positions]


@pytest.mark.parametrize("prim,index,sample", CASES, ids=IDS)
def test_first_order(prim, index, sample):
    f, xs = _case(prim, index, sample)
    tape = _vjp_all(f, xs)[2].tape
    assert prim in [entry[0] for entry in tape], f"the sample does not run {prim.name}"
    sg.check_grad(f, *xs)


SECOND_ORDER = [case for case in CASES if case[2].order >= 2]


@pytest.mark.parametrize("prim,index,sample", SECOND_ORDER, ids=[f"{p.name}[{i}]" for p, i, _ in SECOND_ORDER])
def test_second_order(prim, index, sample):
    f, xs = _case(prim, index, sample)
    u = np.random.default_rng(index).standard_normal(np.shape(f(*xs)))  # a fixed output cotangent
    gradient = sg.grad(lambda *ys: (f(*ys) * u).sum(), tuple(range(len(xs))))
    sg.check_grad(lambda *ys: gradient(*ys), *xs, rtol=1e-4, atol=1e-6)


BATCHABLE = [case for case in CASES if case[0].batchable]


@pytest.mark.parametrize("prim,index,sample", BATCHABLE, ids=[f"{p.name}[{i}]" for p, i, _ in BATCHABLE])
def test_batchable_rules_give_the_row_by_row_jacobian(prim, index, sample):
    f, xs = _case(prim, index, sample)
    for k in range(len(xs)):
        def of_one(v):
            return f(*xs[:k], v, *xs[k + 1:])

        assert _vjp_all(of_one, [xs[k]])[2].batchable()
        out, vjp_fn = sg.vjp(of_one, xs[k])
        eye = np.eye(out.size).reshape((out.size,) + out.shape)
        rows = np.stack([vjp_fn(e)[0].numpy() for e in eye]).reshape(out.shape + np.shape(xs[k]))
        np.testing.assert_allclose(sg.jacobian(of_one)(xs[k]).numpy(), rows, rtol=1e-12, atol=1e-14)


def test_every_differentiable_primitive_has_a_forward_rule():
    """(Forward mode would transpose the VJPs of one without: exact, but a reverse sweep per call.)"""
    missing = [prim.name for prim in REGISTERED if prim.differentiable and prim.jvp is None]
    assert not missing, f"primitives without a forward rule (jvp=): {missing}"


def _tangents(xs, index):
    rng = np.random.default_rng(1000 + index)
    return tuple(rng.standard_normal(np.shape(x)) for x in xs)


@pytest.mark.parametrize("prim,index,sample", CASES, ids=IDS)
def test_forward_rule_agrees_with_the_vjp(prim, index, sample):
    f, xs = _case(prim, index, sample)
    ts = _tangents(xs, index)
    out, jt = sg.jvp(f, tuple(xs), ts)
    u = np.random.default_rng(index).standard_normal(out.shape)
    _, vjp_fn = sg.vjp(f, *xs)
    jtu = vjp_fn(sg.Tensor(u))
    np.testing.assert_allclose(np.asarray(f(*xs)), out.numpy(), rtol=1e-12, atol=1e-14)
    forward = float((u * jt.numpy()).sum())
    reverse = float(sum((g.numpy() * t).sum() for g, t in zip(jtu, ts)))
    assert np.isclose(forward, reverse, rtol=1e-9, atol=1e-12), (forward, reverse)


@pytest.mark.parametrize("prim,index,sample", SECOND_ORDER, ids=[f"{p.name}[{i}]" for p, i, _ in SECOND_ORDER])
def test_forward_rule_second_order(prim, index, sample):
    f, xs = _case(prim, index, sample)
    ts = _tangents(xs, index)
    sg.check_grad(lambda *ys: sg.jvp(f, ys, ts)[1], *xs, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("prim,index,sample", BATCHABLE, ids=[f"{p.name}[{i}]" for p, i, _ in BATCHABLE])
def test_batched_forward_rule_gives_the_jacobian(prim, index, sample):
    f, xs = _case(prim, index, sample)
    positions = tuple(range(len(xs)))
    forward, reverse = sg.jacfwd(f, positions)(*xs), sg.jacrev(f, positions)(*xs)
    for a, b in zip(forward if len(xs) > 1 else (forward,), reverse if len(xs) > 1 else (reverse,)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)
