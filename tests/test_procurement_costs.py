"""Cost distributions of the procurement market, against a 50-digit reference (mpmath).

Tolerances were fixed before the comparisons were run, from double precision: every
quantity is a short chain of operations on correctly rounded special functions, so
1e-12 relative leaves a margin of about 100 ulp-level errors times the chain's
amplification. Standardised bounds are made exact by ``loc = 128, scale = 1`` (``c - 128``
is exact for every cost used), so the reference sees the same inputs as the code.
"""

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from abm.theory.procurement import ProcurementMarket, TruncatedNormalCost, UniformCost, mechanism_round

mpmath.mp.dps = 50
LOC = 128.0
RTOL = 1e-12
SCIPY_RTOL = 1e-11  # scipy.stats.truncnorm, where its own formulas are accurate (|z| <= 5)


def _mass(a, b):
    """Standard normal mass of [a, b], without cancellation at 50 digits."""
    root = mpmath.sqrt(2)
    if a >= 0:
        return (mpmath.erfc(a / root) - mpmath.erfc(b / root)) / 2
    if b <= 0:
        return (mpmath.erfc(-b / root) - mpmath.erfc(-a / root)) / 2
    return (mpmath.erf(b / root) - mpmath.erf(a / root)) / 2


def reference(distribution, c):
    """pdf, cdf, F/f at ``c`` and the standardised mean, at 50 digits."""
    loc, scale = mpmath.mpf(distribution.loc), mpmath.mpf(distribution.scale)
    a, b = (mpmath.mpf(distribution.low) - loc) / scale, (mpmath.mpf(distribution.high) - loc) / scale
    z = (mpmath.mpf(c) - loc) / scale
    mass, below = _mass(a, b), _mass(a, z)
    return {"pdf": mpmath.npdf(z) / (mass * scale), "cdf": below / mass, "ratio": scale * below / mpmath.npdf(z),
            "mean": (mpmath.npdf(a) - mpmath.npdf(b)) / mass}


def relative_error(value, exact) -> float:
    exact = mpmath.mpf(exact)
    return float(abs((mpmath.mpf(float(value)) - exact) / exact)) if exact != 0 else abs(float(value))


def representable(exact) -> bool:
    return 1e-300 < abs(exact) < 1e300


supports = st.tuples(st.floats(-40.0, 40.0), st.floats(np.log(1e-3), np.log(10.0)).map(np.exp))


@given(supports, st.floats(0.0, 1.0))
def test_truncated_normal_matches_50_digits_far_in_both_tails(support, share):
    low, width = support
    distribution = TruncatedNormalCost(LOC, 1.0, LOC + low, LOC + low + width)
    c = min(distribution.low + share * (distribution.high - distribution.low), distribution.high)
    exact = reference(distribution, c)
    for name in ("pdf", "cdf", "ratio"):
        value = getattr(distribution, name)(c)
        if exact[name] == 0:
            assert value == 0.0
        elif representable(exact[name]):
            assert relative_error(value, exact[name]) <= RTOL, name
    mean = (distribution.mean() - LOC) / distribution.scale
    assert abs(mean - float(exact["mean"])) <= RTOL * max(1.0, abs(float(exact["mean"])))


@settings(max_examples=25)
@given(supports, st.floats(1e-12, 1.0 - 1e-12))
def test_truncated_normal_quantiles_invert_the_50_digit_cdf(support, share):
    low, width = support
    distribution = TruncatedNormalCost(LOC, 1.0, LOC + low, LOC + low + width)
    a, b = mpmath.mpf(distribution.low) - LOC, mpmath.mpf(distribution.high) - LOC
    mass = _mass(a, b)
    exact = mpmath.findroot(lambda z: _mass(a, z) / mass - share, (a, b), solver="anderson")
    z = distribution.ppf(share) - LOC
    assert abs(z - float(exact)) <= RTOL * max(1.0, abs(float(exact)))


@given(st.tuples(st.floats(-5.0, 4.0), st.floats(0.05, 1.0)), st.floats(0.0, 1.0))
def test_truncated_normal_matches_scipy_where_scipy_is_accurate(support, share):
    low, width = support
    distribution = TruncatedNormalCost(LOC, 1.0, LOC + low, LOC + low + width)
    c = min(distribution.low + share * width, distribution.high)
    frozen = stats.truncnorm(distribution.low - LOC, distribution.high - LOC, loc=LOC, scale=1.0)
    np.testing.assert_allclose(distribution.pdf(c), frozen.pdf(c), rtol=SCIPY_RTOL)
    if share >= 1e-3:  # scipy's CDF is a difference of CDFs: only absolutely accurate near the lower end
        np.testing.assert_allclose(distribution.cdf(c), frozen.cdf(c), rtol=SCIPY_RTOL)
    np.testing.assert_allclose(distribution.mean(), frozen.mean(), rtol=SCIPY_RTOL)
    np.testing.assert_allclose(distribution.ppf(share), frozen.ppf(share), rtol=SCIPY_RTOL)


def test_the_upper_tail_defect_is_gone():
    """N(0, 1) on [8, 9]: the mass 1.2e-15 used to come from ndtr(9) - ndtr(8), both 1 - 1e-15."""
    distribution = TruncatedNormalCost(0.0, 1.0, 8.0, 9.0)
    exact = reference(distribution, 8.5)
    assert relative_error(distribution.mean(), exact["mean"]) <= RTOL  # was 7.58, outside the support
    assert relative_error(distribution.virtual_cost(8.5), 8.5 + exact["ratio"]) <= RTOL  # was 7% off
    assert relative_error(distribution.pdf(8.5), exact["pdf"]) <= RTOL
    # M6 weighs domains by E[c]; its allocation was 33% off.
    market = ProcurementMarket([3.0, 3.0], [1.3, 1.3], np.full((2, 2), 0.2), np.full((2, 2), 0.85),
                               (distribution, UniformCost(0.0, 1.0)))
    correct = ProcurementMarket(market.demand, market.rho, market.mu, market.gamma,
                                (UniformCost(8.0, 2 * float(exact["mean"]) - 8.0), UniformCost(0.0, 1.0)))
    np.testing.assert_allclose(mechanism_round(market, "M6", [[8.5, 0.5]])[0],
                               mechanism_round(correct, "M6", [[8.5, 0.5]])[0], rtol=1e-9)


def test_virtual_cost_is_increasing_and_sampling_uses_the_quantiles():
    distribution = TruncatedNormalCost(0.0, 1.0, 0.0, 10.0)
    grid = np.linspace(0.0, 10.0, 2001)
    assert np.all(np.diff(distribution.virtual_cost(grid)) > 0)
    rng = np.random.default_rng(0)
    uniforms = np.random.default_rng(1).uniform(size=5)
    np.testing.assert_array_equal(distribution.sample(5, rng=1), distribution.ppf(uniforms))
    assert np.all((distribution.sample(1000, rng) >= 0) & (distribution.sample(1000, rng) <= 10))


@pytest.mark.parametrize("kwargs,message", [
    ({"scale": 0.0}, "scale must be > 0"),
    ({"low": -1.0}, "0 <= low < high"),
    ({"low": 2.0, "high": 1.0}, "0 <= low < high"),
    ({"loc": float("nan")}, "loc must be finite"),
])
def test_truncated_normal_parameters_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TruncatedNormalCost(**({"loc": 0.0, "scale": 1.0, "low": 0.0, "high": 10.0} | kwargs))


def test_uniform_parameters_are_validated():
    with pytest.raises(ValueError, match="0 <= low < high"):
        UniformCost(1.0, 1.0)
