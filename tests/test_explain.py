"""``softgrad explain``: every topic's numeric claim, asserted; the figures written; the command."""

import math

import numpy as np
import pytest

from softgrad import explain
from softgrad.cli.main import main


@pytest.fixture(scope="module")
def results():
    return {topic: explain.run(topic, out=None) for topic in explain.topics()}


def test_softmax_overflow(results):
    n = results["softmax-overflow"].numbers
    for dtype in ("float16", "float32", "float64"):
        assert n[f"naive finite ({dtype})"] is False  # (1000, 1001, 1002) overflows exp in every float type
        assert n[f"shifted error ({dtype})"] < {"float16": 1e-3, "float32": 1e-6, "float64": 1e-15}[dtype]
    assert math.isclose(n["overflow threshold ln(max float32)"], 88.72, abs_tol=0.01)
    assert n["max |naive − shifted| on (1, 2, 3), float64"] < 1e-15  # the same function where both are finite
    assert n["max |softmax(x) − softmax(x − 5)|"] < 1e-15


def test_softmax_jacobian(results):
    n = results["softmax-jacobian"].numbers
    assert n["max |autodiff − (diag(p) − p pᵀ)|"] < 1e-15
    assert n["max |row sum| of the Jacobian"] < 1e-15
    assert n["max |J − Jᵀ| (symmetric)"] < 1e-15


def test_cross_entropy_gradient(results):
    n = results["cross-entropy-gradient"].numbers
    assert n["max |autodiff − (p − t)/N| (class indices)"] < 1e-15
    assert n["max |autodiff − (p − t)/N| (probabilities)"] < 1e-15


def test_mse_vs_ce(results):
    n = results["mse-vs-ce"].numbers
    assert n["steps until the output is below 0.5 (cross-entropy)"] * 3 < n["steps until the output is below 0.5 (MSE (a − y)²)"]
    assert n["output after 300 steps (cross-entropy)"] < n["output after 300 steps (MSE (a − y)²)"]
    lines = "\n".join(results["mse-vs-ce"].lines)
    assert "0.0177" in lines  # σ'(z) at the start, printed step by step


def test_multi_label(results):
    n = results["multi-label"].numbers
    terms = -np.log([0.9, 0.7, 0.8])
    assert math.isclose(n["BCE (mean over classes)"], terms.mean(), rel_tol=1e-6)
    assert math.isclose(n["BCE (sum over classes)"], terms.sum(), rel_tol=1e-6)
    assert n["sets exactly right, sigmoid + BCE (p > ½)"] > max(n["sets exactly right, softmax + CE (p > 0.25)"],
                                                                n["sets exactly right, softmax + CE (p > 0.4)"])
    assert n["mean probability of a present digit, sigmoid"] > n["mean probability of a present digit, softmax"]


def test_entropy_kl(results):
    n = results["entropy-kl"].numbers
    assert abs(n["H(p,q) - H(p) - KL(p||q)"]) < 1e-12
    assert all(v >= 0 for k, v in n.items() if k.startswith("KL("))  # Gibbs
    assert n["KL(p||q) (p vs itself)"] == 0.0
    assert n["KL(p||q) (p vs uniform q)"] != n["KL(q||p) (p vs uniform q)"]  # not symmetric
    assert math.isclose(n["bits / nats (p vs uniform q)"], 1 / math.log(2))


def test_mle(results):
    n = results["mle"].numbers
    assert math.isclose(n["θ maximising the coin's likelihood (by gradient descent on the cross-entropy)"], 0.7,
                        abs_tol=1e-6)
    assert abs(n["mean BCE at θ = 0.7 + ln L(0.7) / n"]) < 1e-12  # cross-entropy = −log-likelihood / n
    assert abs(n["logistic regression: fitted w (data made with w = 2)"] - 2) < 0.2
    assert abs(n["logistic regression: fitted b (data made with b = −1)"] + 1) < 0.2
    assert n["max |dF/dx (autodiff) − F(1 − F)/s|"] < 1e-12


def test_activations(results):
    for name, value in results["activations"].numbers.items():
        assert value < 1e-12, name


def test_every_topic_saves_its_figures(tmp_path):
    for topic in explain.topics():
        result = explain.run(topic, out=tmp_path)
        assert result.figures and all(p.exists() and p.stat().st_size > 10_000 for p in result.figures)
        assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in result.figures)


def test_the_command_lists_and_runs_topics(tmp_path, capsys):
    assert main(["explain", "--list"]) == 0
    assert "softmax-jacobian" in capsys.readouterr().out
    assert main(["explain", "entropy-kl", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "H(p, q) = H(p) + KL(p‖q)" in out and (tmp_path / "entropy-kl-decomposition.png").exists()
    assert main(["explain", "nope"]) == 1
    assert "unknown topic 'nope'" in capsys.readouterr().err


def test_regularization(results):
    n = results["regularization"].numbers
    assert n["zero coefficients, ridge at the largest α"] == 0  # ridge shrinks, never to exactly 0
    assert n["largest |ridge coefficient| at the largest α"] < 0.01
    assert n["zero coefficients, lasso at α = 0.1"] == 4  # the four uninformative features, exactly 0
    assert n["zero coefficients, lasso at the largest α"] == 8
    assert n["log-likelihood at the fit − the best on a 61×61 grid (≥ 0)"] >= 0  # the fit is the maximum
