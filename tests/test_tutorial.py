"""The autodiff tutorial reproduced exactly, against the closed forms: with g = (σ(z) − y)/3,
∂loss/∂w = outer(x, g) and ∂loss/∂b = g."""

import importlib.util
from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "autodiff_tutorial.py"


def load_example():
    spec = importlib.util.spec_from_file_location("autodiff_tutorial", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tutorial_numbers():
    t = load_example()
    r = t.run()
    x, y, w, b = (v.numpy().astype(np.float64) for v in (t.x, t.y, t.w, t.b))
    z = x @ w + b
    s = 1 / (1 + np.exp(-z))
    loss = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    g = (s - y) / 3
    np.testing.assert_allclose(float(r["loss"]), loss, rtol=1e-6)
    dw, db = (v.numpy() for v in r["grads"])
    np.testing.assert_allclose(dw, np.outer(x, g), rtol=1e-5)
    np.testing.assert_allclose(db, g, rtol=1e-5)
    assert dw.dtype == np.float32 and dw.shape == (5, 3)

    dw1, db1 = (v.numpy() for v in r["grads_with_logits"])
    np.testing.assert_allclose(dw1, np.outer(x, g) + 1, rtol=1e-5)
    np.testing.assert_allclose(db1, g + 1, rtol=1e-5)

    for got, want in zip(r["grads_stop_gradient"], r["grads"]):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    for got, want in zip(r["grads_has_aux"], r["grads"]):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_allclose(r["aux_z"].numpy(), z, rtol=1e-5)

    np.testing.assert_allclose(float(r["cell_loss"]), loss, rtol=1e-6)
    for got, want in zip(r["cell_grads"], r["grads"]):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_tutorial_runs_as_a_script(capsys):
    load_example().main()
    out = capsys.readouterr().out
    assert "loss:" in out and "has_aux" in out
