"""Information measures: SciPy's values, bits and nats, 0·log 0 = 0, H(p, q) = H(p) + KL(p‖q), Gibbs'
inequality under hypothesis, exact binary entropy near 0 and 1, gradients, errors."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

import softgrad as sg
from softgrad import info

RNG = np.random.default_rng(5)


def distributions(shape):
    p = RNG.uniform(0.01, 1, shape)
    return p / p.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("base", [math.e, 2, 10])
def test_values_match_scipy(base):
    p, q = distributions((3, 5)), distributions((3, 5))
    np.testing.assert_allclose(info.entropy(p, base=base).numpy(), stats.entropy(p, base=base, axis=-1), rtol=1e-13)
    np.testing.assert_allclose(info.kl_divergence(p, q, base=base).numpy(), stats.entropy(p, q, base=base, axis=-1),
                               rtol=1e-12)
    np.testing.assert_allclose(info.cross_entropy_between(p, q, base=base).numpy(),
                               -(p * np.log(q)).sum(-1) / math.log(base), rtol=1e-13)
    np.testing.assert_allclose(info.entropy(p.T, axis=0, base=base).numpy(), stats.entropy(p, base=base, axis=-1),
                               rtol=1e-13)


def test_bits_and_zero_log_zero():
    assert info.entropy([0.5, 0.5], base=2).item() == 1.0
    assert info.entropy([1.0, 0.0, 0.0]).item() == 0.0
    assert info.entropy([0.25, 0.25, 0.5, 0.0], base=2).item() == 1.5
    assert info.cross_entropy_between([0.0, 1.0], [0.0, 1.0]).item() == 0.0  # 0·log 0 = 0 on both sides
    assert info.kl_divergence([0.0, 1.0], [0.5, 0.5], base=2).item() == 1.0
    assert info.kl_divergence([0.5, 0.5], [0.0, 1.0]).item() == math.inf  # p > 0 = q: infinite, not NaN
    np.testing.assert_array_equal(info.binary_entropy([0.0, 0.5, 1.0], base=2).numpy(), [0.0, 1.0, 0.0])


def test_binary_entropy_is_exact_near_0_and_1():
    for p in (1e-300, 1e-20, 1e-9, 0.3):
        expected = -p * math.log(p) - math.log1p(-p) * (1 - p)
        assert info.binary_entropy(np.float64(p)).item() == pytest.approx(expected, rel=1e-14)
        mirrored = 1 - p
        if mirrored != 1:
            assert info.binary_entropy(np.float64(mirrored)).item() == pytest.approx(
                -mirrored * math.log(mirrored) - p * math.log(p), rel=1e-6)


def test_cross_entropy_is_entropy_plus_kl():
    p, q = distributions((4, 6)), distributions((4, 6))
    np.testing.assert_allclose(info.cross_entropy_between(p, q).numpy(),
                               info.entropy(p).numpy() + info.kl_divergence(p, q).numpy(), rtol=1e-13)


simplex = hnp.arrays(np.float64, st.integers(2, 6), elements=st.floats(0, 1)).filter(lambda a: a.sum() > 0.1).map(
    lambda a: a / a.sum())


@settings(max_examples=80, deadline=None)
@given(p=simplex, q_raw=hnp.arrays(np.float64, 6, elements=st.floats(1e-3, 1)))
def test_gibbs_inequality_and_the_identity(p, q_raw):
    q = q_raw[:p.size] / q_raw[:p.size].sum()
    kl = info.kl_divergence(p, q).item()
    assert kl >= -1e-15
    assert info.kl_divergence(p, p).item() == 0.0  # equality at p = q, exactly
    if not np.allclose(p, q, atol=1e-3):
        assert kl > 0
    np.testing.assert_allclose(info.cross_entropy_between(p, q).item(), info.entropy(p).item() + kl, rtol=1e-12,
                               atol=1e-14)


@pytest.mark.parametrize("base", [math.e, 2])
def test_gradients_match_finite_differences(base):
    p, q = distributions((2, 4)), distributions((2, 4))
    sg.check_grad(lambda a: info.entropy(a, base=base), p)
    sg.check_grad(lambda a, b: info.cross_entropy_between(a, b, base=base), p, q)
    sg.check_grad(lambda a, b: info.kl_divergence(a, b, base=base), p, q)
    sg.check_grad(lambda a: info.binary_entropy(a, base=base), RNG.uniform(0.05, 0.95, 5))
    sg.check_grad(sg.grad(lambda a, b: info.kl_divergence(a, b).sum(), (0, 1)), p, q)


def test_bad_input_raises_a_clear_error():
    with pytest.raises(ValueError, match=r"entropy: p must hold probabilities \(≥ 0\), got -0.5 at index \(1,\)"):
        info.entropy([0.5, -0.5])
    with pytest.raises(ValueError, match="kl_divergence: q must hold probabilities"):
        info.kl_divergence([0.5, 0.5], [1.5, -0.5])
    with pytest.raises(ValueError, match=r"binary_entropy: p must lie in \[0, 1\], got 1.5"):
        info.binary_entropy([1.5])
    with pytest.raises(ValueError, match="base must be positive and not 1, got 1"):
        info.entropy([0.5, 0.5], base=1)
