"""Outside-option distributions: CDFs, quantiles, surplus integrals and validation."""

import numpy as np
import pytest
from scipy import integrate, stats

from abm.theory.supply import (
    DISTRIBUTIONS,
    LogNormal,
    PointMass,
    PowerLaw,
    Uniform,
    entry_price,
    outside_options_from_dict,
)

CONTINUOUS = [PowerLaw(0.5, 1.5), LogNormal(0.3, 0.8), Uniform(0.1, 0.6)]
ALL = CONTINUOUS + [PointMass(0.2)]


@pytest.mark.parametrize("dist", ALL, ids=lambda d: type(d).__name__)
@pytest.mark.parametrize("payoff", [0.05, 0.3, 0.9])
def test_integrated_cdf_matches_quadrature(dist, payoff):
    kinks = [k for k in dist.kinks() if 0 < k < payoff] or None
    expected, _ = integrate.quad(lambda w: float(dist.cdf(w)), 0, payoff, points=kinks, epsabs=1e-13)
    assert float(dist.integrated_cdf(payoff)) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("dist", CONTINUOUS, ids=lambda d: type(d).__name__)
def test_quantiles_invert_the_cdf(dist):
    shares = np.linspace(0.01, 0.99, 50)
    np.testing.assert_allclose(dist.cdf(dist.ppf(shares)), shares, atol=1e-12)


@pytest.mark.parametrize("dist", CONTINUOUS, ids=lambda d: type(d).__name__)
def test_samples_follow_the_cdf(dist):
    # Kolmogorov-Smirnov at the 0.1% level: fails by chance once in a thousand seeds.
    sample = dist.sample(20_000, np.random.default_rng(7))
    assert stats.kstest(sample, lambda x: dist.cdf(x)).pvalue > 1e-3


def test_power_law_is_isoelastic_with_elasticity_twice_the_exponent():
    dist = PowerLaw(scale=10.0, exponent=0.7)
    prices = np.array([0.1, 0.2])
    supply = dist.cdf(prices**2 / 2)
    assert np.log(supply[1] / supply[0]) / np.log(2) == pytest.approx(1.4)


def test_entry_price_inverts_the_entry_condition():
    assert entry_price(0.125, 1.0) == pytest.approx(0.5)  # 0.5^2 / 2 = 0.125


def test_registry_round_trip():
    for dist in ALL:
        assert outside_options_from_dict(dist.to_dict()) == dist
    assert set(DISTRIBUTIONS) == {"power_law", "lognormal", "uniform", "point_mass", "isoelastic"}


@pytest.mark.parametrize(
    "spec,message",
    [
        ({"distribution": "pareto"}, "distribution must be one of"),
        ({"distribution": "uniform", "low": 0.1}, "missing key"),
        ({"distribution": "uniform", "low": 0.1, "high": 0.5, "mode": 1}, "unknown key"),
        ({"distribution": "uniform", "low": 0.5, "high": 0.1}, "high must exceed"),
        ({"distribution": "power_law", "scale": 0.0, "exponent": 1.0}, r"scale must be > 0.*power_law"),
        ({"distribution": "power_law", "scale": 1.0, "exponent": -1.0}, r"exponent must be > 0.*power_law"),
        ({"distribution": "lognormal", "median": 1.0, "sigma": float("nan")}, r"sigma must be finite.*lognormal"),
        ({"distribution": "point_mass", "value": -1.0}, r"value must be >= 0.*point_mass"),
    ],
)
def test_invalid_distributions_are_rejected(spec, message):
    with pytest.raises(ValueError, match=message):
        outside_options_from_dict(spec)
