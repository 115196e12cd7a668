"""Parity with PyTorch 2.13: every loss × option and every activation, value and gradient, float32 and float64.

The reference values were computed once by scripts/golden/losses.py (``make golden``) and stored in
tests/golden/losses*.npz; this file replays each stored case with softgrad. No torch here.
"""

import json
from pathlib import Path

import numpy as np
import pytest

import softgrad as sg
from softgrad import ops

GOLDEN = Path(__file__).parent / "golden"
TOLERANCE = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=2e-5, atol=2e-6)}


def load(name: str):
    with np.load(GOLDEN / name) as stored:
        manifest = json.loads(str(stored["manifest"]))
        buffers = {key: stored[key] for key in stored.files if key != "manifest"}
    arrays = {key: buffers[dtype][offset:offset + int(np.prod(shape))].reshape(shape)
              for key, (dtype, offset, shape) in manifest["arrays"].items()}
    return manifest["cases"], arrays


def seed(shape) -> np.ndarray:
    """The cotangent the generator used (scripts/golden/losses.py: ``seed``)."""
    return (1 + 0.5 * np.sin(1.0 + np.arange(int(np.prod(shape))))).reshape(shape)


# ops whose differentiated arguments do not lead their signature: cases pass those first, the rest by keyword
DIFFERENTIATED_FIRST = {
    "einsum": lambda *operands, equation: ops.einsum(equation, *operands),
    "scatter_add": lambda input, src, dim, index: ops.scatter_add(input, dim, index, src),
    "index_add": lambda x, y, indices, axis: ops.index_add(x, indices, y, axis),
}

# quantities of a factorization that do not depend on its sign choices (LAPACK's differ between libraries)
SIGN_FREE = {
    "linalg.svd|U*U": lambda A, full_matrices: _squared(ops.linalg.svd(A, full_matrices)[0]),
    "linalg.svd|Vh*Vh": lambda A, full_matrices: _squared(ops.linalg.svd(A, full_matrices)[2]),
    "linalg.svd|U S^3 Vh": lambda A, full_matrices: _cubed(*ops.linalg.svd(A, full_matrices)),
}


def _squared(x):
    return x * x


def _cubed(U, S, Vh):
    return (U * S[..., None, :] ** 3) @ Vh


def function(name: str):
    """The softgrad function a case names: ``ops.<name>``, ``softgrad.nn.functional.<name>`` for 'F.<name>',
    ``ops.linalg.<name>`` for 'linalg.<name>', the layer ``softgrad.nn.<name>(**kwargs)`` called on x for
    'nn.<name>'; '<name>[i]' is output i of a function that returns a tuple (``sort``'s values)."""
    if name in DIFFERENTIATED_FIRST or name in SIGN_FREE:
        return {**DIFFERENTIATED_FIRST, **SIGN_FREE}[name]
    if name.endswith("]"):
        name, output = name[:-1].split("[")
        fn = function(name)
        return lambda *args, **kwargs: fn(*args, **kwargs)[int(output)]
    if name.startswith("linalg."):
        return getattr(ops.linalg, name[len("linalg."):])
    if name.startswith("nn."):  # a layer: built from the keyword arguments, called on the input
        return lambda x, **kwargs: getattr(sg.nn, name[len("nn."):])(**kwargs)(x)
    return getattr(sg.nn.functional, name[2:]) if name.startswith("F.") else getattr(ops, name)


def replay(case, arrays):
    """softgrad's value and gradients for a stored case."""
    fn = function(case["fn"])
    kwargs = {k: arrays[v[1:]] if isinstance(v, str) and v.startswith("@") else v
              for k, v in case["kwargs"].items()}
    names = list(case["args"])
    inputs = [arrays[key] for key in case["args"].values()]
    diff = [names.index(name) for name in case["diff"]]

    def call(*differentiated):
        args = list(inputs)
        for i, value in zip(diff, differentiated):
            args[i] = value
        return fn(*args, **kwargs)

    value, vjp_fn = sg.vjp(call, *[sg.Tensor(inputs[i]) for i in diff])
    grads = vjp_fn(sg.Tensor(seed(value.shape).astype(value.dtype)))
    return value.numpy(), grads if isinstance(grads, tuple) else (grads,)


def check(case, arrays, tolerances=TOLERANCE):
    value, grads = replay(case, arrays)
    expected = arrays[case["value"]]
    tolerance = tolerances[expected.dtype.name]
    assert value.dtype == expected.dtype and value.shape == expected.shape
    np.testing.assert_allclose(value, expected, **scaled(tolerance, expected), err_msg=f"{case['id']}: value")
    for name, grad in zip(case["diff"], grads):
        reference = arrays[case["grads"][name]]
        assert grad.dtype == reference.dtype and grad.shape == reference.shape
        np.testing.assert_allclose(grad.numpy(), reference, **scaled(tolerance, reference),
                                   err_msg=f"{case['id']}: gradient w.r.t. {name}")


def scaled(tolerance, reference):
    """atol relative to the largest reference entry (a float32 gradient entry of 1e-9 next to 1 is noise)."""
    finite = np.abs(reference[np.isfinite(reference)])
    size = float(finite.max()) if finite.size else 1.0
    return dict(rtol=tolerance["rtol"], atol=tolerance["atol"] * max(size, 1.0))


LOSS_CASES, LOSS_ARRAYS = load("losses.npz")
ACTIVATION_CASES, ACTIVATION_ARRAYS = load("losses_activations.npz")


@pytest.mark.parametrize("case", LOSS_CASES, ids=[c["id"] for c in LOSS_CASES])
def test_loss_matches_pytorch(case):
    check(case, LOSS_ARRAYS)


@pytest.mark.parametrize("case", ACTIVATION_CASES, ids=[c["id"] for c in ACTIVATION_CASES])
def test_activation_matches_pytorch(case):
    check(case, ACTIVATION_ARRAYS)


def test_the_golden_files_cover_the_issue():
    """The option combinations the acceptance criteria name are all in the stored cases."""
    ids = [c["id"] for c in LOSS_CASES]

    def has(*parts):
        return any(all(p in i for p in parts) for i in ids)

    assert has("cross_entropy/", "/w/", "some_ignored")
    assert has("cross_entropy/", "all_ignored", "mean")
    assert has("cross_entropy/", "ls0.25", "/w/", "some_ignored")
    assert has("cross_entropy/", "probabilities", "spatial")
    assert has("cross_entropy/", "empty")
    assert has("nll_loss/", "spatial", "some_ignored")
    assert has("binary_cross_entropy_with_logits/", "/pw")
    assert has("kl_div/", "batchmean")
    for fn in ("cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
               "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div"):
        for dtype in ("float32", "float64"):
            for reduction in ("mean", "sum", "none"):
                assert has(f"{fn}/{dtype}/", reduction), (fn, dtype, reduction)
