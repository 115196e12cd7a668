"""vmap: every registered primitive's batching rule against a loop over the examples (values and per-example
gradients, each input batched alone and all together), the fallback for primitives without a rule, in_axes /
out_axes, nesting, and composition with grad both ways."""

import zlib

import numpy as np
import pytest

import softgrad as sg
from softgrad import ops
import sys
from softgrad.ops._primitive import In
from softgrad.ops.batching import batch_rule
from softgrad.trace import PRIMITIVES, Primitive

vmap = sg.vmap
EXAMPLES = 3

#: primitives without a batching rule, which run once per example under vmap, each with why
PER_EXAMPLE = {
    "conv2d_weight": "the weight gradient sums over N: per example it must not sum over the examples",
    "solve": "NumPy's solve reads a batched right-hand side of a shared matrix ambiguously",
}
#: primitives batched by their op, which composes the loss from batchable ops inside vmap
THROUGH_THEIR_OP = {"cross_entropy", "cross_entropy_grad", "nll_loss"}

OWN = [prim for prim in PRIMITIVES if getattr(prim.impl, "__module__", "").startswith(("softgrad", "numpy"))]
CASES = [(prim, i, sample) for prim in OWN if prim.differentiable and prim.name not in THROUGH_THEIR_OP
         for i, sample in enumerate(prim.samples)]
IDS = [f"{prim.name}[{i}]" for prim, i, _ in CASES]


def _drawn(prim, index, sample, examples):
    """The sample's arguments with ``examples`` draws of every In stacked on a leading axis, and the positions."""
    rng = np.random.default_rng(zlib.crc32(f"vmap {prim.name}[{index}]".encode()))
    stacks = [np.stack([a.draw(rng) for _ in range(examples)]) if isinstance(a, In) else a for a in sample.args]
    positions = [i for i, a in enumerate(sample.args) if isinstance(a, In)]
    return stacks, positions


def _function(prim, sample, fixed, positions):
    def f(*xs):
        args = list(fixed)
        for position, x in zip(positions, xs):
            args[position] = x
        if sample.build is not None:
            return sample.build(*args)
        return prim.bind(*args, **sample.params)

    return f


def _value(x):
    return np.asarray(x.numpy() if isinstance(x, sg.Tensor) else x)


@pytest.mark.parametrize("prim,index,sample", CASES, ids=IDS)
def test_batching_rule_equals_a_loop_over_examples(prim, index, sample):
    stacks, positions = _drawn(prim, index, sample, EXAMPLES)
    shared = [s[0] if isinstance(a, In) else s for a, s in zip(sample.args, stacks)]
    for mapped in [[p] for p in positions] + ([positions] if len(positions) > 1 else []):
        f = _function(prim, sample, shared, mapped)
        xs = [sg.Tensor(stacks[p]) for p in mapped]
        out = vmap(f)(*xs)
        expected = np.stack([_value(f(*[x[i] for x in xs])) for i in range(EXAMPLES)])
        np.testing.assert_allclose(_value(out), expected, rtol=1e-12, atol=1e-12, err_msg=f"batched {mapped}")
        # per-example gradients: the rules evaluated on batched values
        u = np.random.default_rng(index).standard_normal(np.shape(expected)[1:])
        differentiated = [k for k, p in enumerate(mapped) if prim.vjps[p] is not None]
        if not differentiated:
            continue
        grad = sg.grad(lambda *ys: (f(*ys) * u).sum(), tuple(differentiated))
        batched = vmap(grad)(*xs)
        for k, g in enumerate(batched if isinstance(batched, tuple) else (batched,)):
            loop = np.stack([_value((lambda r: r if isinstance(r, tuple) else (r,))(grad(*[x[i] for x in xs]))[k])
                             for i in range(EXAMPLES)])
            np.testing.assert_allclose(_value(g), loop, rtol=1e-10, atol=1e-12, err_msg=f"gradient {k}, {mapped}")


def test_every_primitive_has_a_batching_rule_or_is_listed():
    missing = sorted({p.name.partition("[")[0] for p in OWN if batch_rule(p) is None} - set(PER_EXAMPLE))
    assert not missing, f"primitives without a batching rule (add one in ops/batching.py, or list why): {missing}"


def test_a_primitive_without_a_rule_runs_once_per_example(monkeypatch):
    calls = []
    cube = Primitive("cube_for_vmap", lambda x: calls.append(x.shape) or x ** 3,
                     (lambda g, ans, x: g * 3 * x * x,), register=False)
    out = vmap(lambda x: cube.bind(x) + 1)(sg.Tensor(np.arange(6.0).reshape(3, 2)))
    np.testing.assert_array_equal(out.numpy(), np.arange(6.0).reshape(3, 2) ** 3 + 1)
    assert calls == [(2,)] * 3


def test_per_example_gradients_of_an_mlp_match_a_loop():
    rng = np.random.default_rng(0)
    params = {"w1": sg.Tensor(rng.standard_normal((5, 8)) * 0.3), "b1": sg.Tensor(np.zeros(8)),
              "w2": sg.Tensor(rng.standard_normal((8, 3)) * 0.3)}
    x, y = rng.standard_normal((16, 5)), rng.integers(0, 3, 16)

    def loss(p, xi, yi):
        hidden = ops.relu(xi @ p["w1"] + p["b1"])
        return ops.cross_entropy(hidden @ p["w2"], yi)

    per_example = vmap(sg.grad(loss), in_axes=(None, 0, 0))(params, sg.Tensor(x), sg.Tensor(y))
    for i in (0, 7, 15):
        one = sg.grad(loss)(params, sg.Tensor(x[i]), sg.Tensor(y[i]))
        for name in params:
            np.testing.assert_allclose(per_example[name].numpy()[i], one[name].numpy(), rtol=1e-12, atol=1e-14)


def test_in_axes_out_axes_and_shared_outputs():
    a = np.arange(24.0).reshape(2, 3, 4)
    out = vmap(lambda x, c: x * c, in_axes=(1, None), out_axes=2)(sg.Tensor(a), 2.0)
    np.testing.assert_array_equal(out.numpy(), np.moveaxis(a * 2, 1, 2))
    pair = vmap(lambda x: (x.sum(), sg.Tensor(5.0)), out_axes=(0, None))(sg.Tensor(a))
    np.testing.assert_array_equal(pair[0].numpy(), a.sum(axis=(1, 2)))
    assert pair[1].item() == 5.0
    repeated = vmap(lambda x: sg.Tensor([1.0, 2.0]))(sg.Tensor(a))  # independent of the examples: repeated
    assert repeated.shape == (2, 2)
    tree = vmap(lambda d: d["u"] + d["v"], in_axes=({"u": 0, "v": None},))({"u": sg.Tensor(a[0]), "v": 1.0})
    np.testing.assert_array_equal(tree.numpy(), a[0] + 1)


def test_nested_vmap_and_grad_of_vmap():
    a = np.random.default_rng(1).standard_normal((2, 3, 4))
    nested = vmap(vmap(lambda r: ops.logsumexp(r, axis=0)))(sg.Tensor(a))
    np.testing.assert_allclose(nested.numpy(), ops.logsumexp(a, axis=2).numpy(), rtol=1e-12)
    w = sg.Tensor(np.random.default_rng(2).standard_normal(4))
    g = sg.grad(lambda w: vmap(lambda r: ops.tanh(r @ w))(sg.Tensor(a[0])).sum())(w)
    expected = sg.grad(lambda w: ops.tanh(sg.Tensor(a[0]) @ w).sum())(w)
    np.testing.assert_allclose(g.numpy(), expected.numpy(), rtol=1e-12)
    hessians = vmap(sg.hessian(lambda r: ops.logsumexp(r, axis=0)))(sg.Tensor(a[0]))
    for i in range(3):
        np.testing.assert_allclose(hessians.numpy()[i], sg.hessian(lambda r: ops.logsumexp(r, axis=0))(
            sg.Tensor(a[0, i])).numpy(), rtol=1e-10)


def test_a_convolutional_net_batches():
    rng = np.random.default_rng(3)
    w = sg.Tensor(rng.standard_normal((4, 2, 3, 3)))
    x = rng.standard_normal((3, 5, 2, 8, 8))

    def net(w, xi):
        return ops.max_pool2d(ops.relu(ops.conv2d(xi, w, padding=1)), 2).sum()

    grads = vmap(sg.grad(net), in_axes=(None, 0))(w, sg.Tensor(x))
    for i in range(3):
        np.testing.assert_allclose(grads.numpy()[i], sg.grad(net)(w, sg.Tensor(x[i])).numpy(), rtol=1e-10)


def test_python_control_flow_on_a_batched_value_raises():
    with pytest.raises(TypeError, match="differs from example to example"):
        vmap(lambda x: x * 2 if float(x.sum()) > 0 else x)(sg.Tensor(np.ones((2, 3))))
    with pytest.raises(ValueError, match="out_axes is None"):
        vmap(lambda x: x * 2, out_axes=None)(sg.Tensor(np.ones((2, 3))))


def test_the_fallback_is_counted(monkeypatch):
    """The batchable MLP runs without the per-example fallback."""
    calls = []
    vmap_module = sys.modules["softgrad.autodiff.vmap"]
    real = vmap_module._per_example
    monkeypatch.setattr(vmap_module, "_per_example", lambda *a: calls.append(a[0].name) or real(*a))
    w = sg.Tensor(np.ones((3, 2)))
    vmap(sg.grad(lambda w, x: ops.softmax(ops.tanh(x @ w), -1).sum()), in_axes=(None, 0))(w, sg.Tensor(np.ones((4, 3))))
    assert calls == []


@pytest.mark.parametrize("options", [
    {}, {"reduction": "sum"}, {"reduction": "none"}, {"weight": np.array([0.5, 2.0, 1.0])},
    {"ignore_index": 1}, {"label_smoothing": 0.1, "weight": np.array([0.5, 2.0, 1.0]), "ignore_index": 2},
    {"probabilities": True, "label_smoothing": 0.2, "weight": np.array([0.5, 2.0, 1.0])}])
def test_cross_entropy_and_nll_inside_vmap_equal_a_loop(options):
    options = dict(options)
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((3, 4, 3))  # 3 examples of a batch of 4, 3 classes
    if options.pop("probabilities", False):
        target = rng.dirichlet(np.ones(3), (3, 4))
    else:
        target = rng.integers(0, 3, (3, 4))
    loss = lambda x, t: ops.cross_entropy(x, t, **options)  # noqa: E731
    for f in [loss, sg.grad(loss)] + ([] if target.dtype.kind == "f" or "label_smoothing" in options else [
            lambda x, t: ops.nll_loss(ops.log_softmax(x, 1), t, **options)]):
        batched = vmap(f)(sg.Tensor(logits), sg.Tensor(target))
        loop = np.stack([_value(f(sg.Tensor(logits[i]), sg.Tensor(target[i]))) for i in range(3)])
        np.testing.assert_allclose(_value(batched), loop, rtol=1e-12, atol=1e-14)


def test_a_loss_primitive_bound_directly_under_vmap_says_to_use_its_op():
    from softgrad.ops.cross_entropy import nll_p

    with pytest.raises(TypeError, match="call its op"):
        vmap(lambda x: nll_p.bind(x, targets=None, reduction="mean"))(sg.Tensor(np.ones((2, 3, 4))))


def test_losses_inside_vmap_keep_the_float32_of_their_inputs():
    x, y = sg.Tensor(np.ones((4, 3), np.float32)), sg.Tensor(np.array([0, 1, 2, 0]))
    for reduction in ("mean", "sum", "none"):
        assert vmap(lambda a, b: ops.cross_entropy(a, b, reduction=reduction))(x, y).dtype == np.float32
    assert vmap(sg.grad(ops.cross_entropy))(x, y).dtype == np.float32


def test_vmap_composes_with_forward_mode_and_jacobians_both_ways():
    x = sg.Tensor(np.random.default_rng(5).standard_normal((4, 3)))
    f = lambda r: ops.tanh(r) * ops.sin(r).sum()  # noqa: E731
    v = sg.Tensor(np.ones(3))
    for transform in (sg.jacfwd, sg.jacrev, lambda g: (lambda r: sg.jvp(g, r, v)[1])):
        batched = vmap(transform(f))(x)
        np.testing.assert_allclose(batched.numpy(), np.stack([transform(f)(x[i]).numpy() for i in range(4)]),
                                   rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(sg.jacfwd(vmap(f))(x).numpy(), sg.jacobian(vmap(f))(x).numpy(), rtol=1e-12)


def test_ops_reading_concrete_values_stay_per_example_inside_vmap():
    """Constants made from concrete values (masks, one-hot codes, stop_gradient, *_like) keep the examples apart;
    a gather by per-example indices (no rule yet) is refused, never a silently wrong number."""
    x = np.random.default_rng(6).standard_normal((3, 4, 5))
    labels = np.array([[0, 4, 2, 1], [3, 3, 0, 2], [1, 0, 4, 4]])
    cases = [(lambda a: ops.masked_fill(a, a > 0, 0.0), x), (lambda a: ops.stop_gradient(a) * 2, x),
             (lambda a: ops.zeros_like(a) + ops.ones_like(a) * a + ops.full_like(a, 2.0), x),
             (lambda a: (a > 0).all(axis=1) | (a > 1).any(axis=1), x), (lambda i: ops.one_hot(i, 5), labels)]
    for f, value in cases:
        np.testing.assert_array_equal(vmap(f)(sg.Tensor(value)).numpy(),
                                      np.stack([f(sg.Tensor(v)).numpy() for v in value]))
    w = sg.Tensor(np.ones((5, 2)))
    for f in (lambda i: w[i[:2], i[2:]],):
        with pytest.raises(NotImplementedError, match="indices that differ from example to example"):
            vmap(f)(sg.Tensor(labels))


def test_gathers_along_an_axis_batch_with_per_example_indices():
    rng = np.random.default_rng(7)
    x, table = rng.standard_normal((3, 4, 5)), sg.Tensor(rng.standard_normal((4, 5)))
    labels = rng.integers(0, 5, (3, 4, 2))
    cases = [(lambda i: ops.take_along_axis(table, i, 1), (labels,)),
             (lambda i: ops.embedding(i, table.T) + table.T[i[0, 0]] + ops.take(table, i[1], 1).sum(), (labels,)),
             (lambda i: ops.embedding(i, table.T, padding_idx=2), (labels,)),
             (lambda a, i: ops.take_along_axis(a, i, 1), (x, labels)),
             (lambda a: ops.sort(a, axis=-1)[0] * ops.topk(a, 2)[0].sum(), (x,)),
             (sg.grad(lambda a: (ops.sort(a, axis=0)[0] * np.arange(5.0)).sum()), (x,)),
             (sg.grad(lambda t, i: (ops.take_along_axis(t, i, 1) ** 2).sum()), (table.numpy()[None].repeat(3, 0), labels))]
    for f, args in cases:
        batched = vmap(f)(*map(sg.Tensor, args))
        np.testing.assert_allclose(batched.numpy(), np.stack([f(*[sg.Tensor(a[k]) for a in args]).numpy()
                                                               for k in range(3)]), rtol=1e-12)
    per_example_table = vmap(sg.grad(lambda t, i: ops.take_along_axis(t, i, 1).sum()), in_axes=(None, 0))
    np.testing.assert_array_equal(per_example_table(table, sg.Tensor(labels)).numpy()[1],
                                  sg.grad(lambda t: ops.take_along_axis(t, sg.Tensor(labels[1]), 1).sum())(table).numpy())
