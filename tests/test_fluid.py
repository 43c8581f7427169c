"""The dynamic market's theory (MODEL.md A2): exact checks against independent computations."""

import warnings

import numpy as np
import pytest
from scipy import optimize

from abm.theory.fluid import (
    CreatorType,
    SupplyAssumptionWarning,
    check_supply_ratio,
    marginal_values,
    myopic_price,
    precision,
    precision_barrier,
    price_cap,
    price_trap,
    profit_rate,
    supply_ratio,
)
from abm.theory.static import InformationMarket, effective_precision
from abm.theory.supply import PowerLaw
from analysis.validation import round_length_convergence
from tests.markets import curse_market


def fixed_point_by_root_finding(market, stocks):
    """Solve P = F(X, sigma0^2 + kappa P) with brentq, F from the static market's Lemma 11."""
    def gap(p):
        static = InformationMarket(market.betas, sigma2=market.sigma0_sq + market.kappa * p)
        return p - effective_precision(static, stocks)

    return optimize.brentq(gap, 0.0, float(np.sum(stocks)) + 1.0, xtol=1e-14)


@pytest.mark.parametrize("stocks", [(2.0, 0.0), (0.0, 3.0), (1.0, 1.0), (0.3, 40.0), (5.0, 0.01)])
@pytest.mark.parametrize("kappa", [0.0, 0.2, 3.0])
def test_precision_fixed_point_matches_root_finding(stocks, kappa):
    market = curse_market(kappa=kappa, innovators=CreatorType(1.0, 0.2, PowerLaw(0.5, 1.0)))
    assert precision(market, stocks) == pytest.approx(fixed_point_by_root_finding(market, np.array(stocks)),
                                                      rel=1e-11)


@pytest.mark.parametrize("stocks", [(2.0, 0.5), (0.4, 3.0), (1.0, 10.0)])
def test_marginal_values_match_finite_differences(stocks):
    market = curse_market(innovators=CreatorType(1.0, 0.3, PowerLaw(0.5, 1.0)))
    stocks, step = np.array(stocks), 1e-6
    numeric = [(precision(market, stocks + step * e) - precision(market, stocks - step * e)) / (2 * step)
               for e in np.eye(2)]
    np.testing.assert_allclose(marginal_values(market, stocks), numeric, rtol=1e-7)


def test_barrier_matches_the_stated_example_and_closed_forms():
    # MODEL.md A2: sigma0^2 = 0.5, kappa = 0.2, beta_C = 0.9 gives P_bar ~ 1.53125.
    assert precision_barrier(0.5, 0.2, 0.9) == pytest.approx(1.53125, abs=5e-5)
    assert precision_barrier(0.0, 0.2, 0.9) == pytest.approx(1 / (0.9 * np.sqrt(0.2)))
    assert precision_barrier(0.5, 0.0, 0.9) == pytest.approx(1 / (0.5 * 0.81))
    assert precision_barrier(0.0, 0.0, 0.9) == np.inf


def test_barrier_is_the_limit_of_precision_without_innovators():
    """Prop. 6: with X_O = 0, P(X_C) rises to P_bar as X_C grows and never passes it."""
    market = curse_market()
    barrier = precision_barrier(market.sigma0_sq, market.kappa, market.rank_and_file.beta)
    values = np.array([precision(market, (0.0, x)) for x in np.geomspace(1, 1e8, 30)])
    assert np.all(np.diff(values) > 0) and np.all(values < barrier)
    assert barrier - values[-1] < 1e-6


def test_myopic_price_maximises_profit_on_a_dense_grid():
    market = curse_market()
    for stocks in [(2.0, 1.0), (0.5, 3.0), (0.1, 0.1)]:
        margins = marginal_values(market, stocks)
        price = myopic_price(market, margins)
        grid = np.linspace(0, market.value * margins.max(), 200_001)
        assert profit_rate(market, price, margins) >= profit_rate(market, grid, margins).max() - 1e-12


def test_price_cap_solves_its_equation_and_bounds_the_myopic_price():
    """Prop. 5 with beta_O = 0: p (1 + R) = v (1 + g R) at the cap, and p_t <= p_bar(g_t)."""
    market = curse_market()
    for stocks in [(2.0, 0.2), (0.5, 3.0), (0.05, 30.0)]:
        sigma_sq = market.sigma0_sq + market.kappa * precision(market, stocks)
        discount = (1 + sigma_sq * 0.81 * stocks[1]) ** -2
        cap = price_cap(market, discount)
        ratio = supply_ratio(market, cap)
        assert cap * (1 + ratio) == pytest.approx(market.value * (1 + discount * ratio), rel=1e-10)
        assert myopic_price(market, marginal_values(market, stocks)) <= cap
    trap = price_trap(market)
    assert trap * (1 + supply_ratio(market, trap)) == pytest.approx(market.value, rel=1e-10)


def test_supply_ratio_check_warns_only_when_eq7_fails():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_supply_ratio(curse_market(), 0.01, 0.3)
    inelastic = curse_market(rank_and_file=CreatorType(20.0, 0.9, PowerLaw(0.05, 0.5)))
    with pytest.warns(SupplyAssumptionWarning, match="Eq. 7"):
        assert not check_supply_ratio(inelastic, 0.01, 0.3)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"value": 0.0}, "value must be > 0"),
        ({"kappa": -0.1}, "kappa must be >= 0"),
        ({"depreciation": np.nan}, "depreciation must be finite"),
        ({"rank_and_file": CreatorType(1.0, 0.0, PowerLaw(1.0, 1.0))}, "rank_and_file.beta must exceed"),
    ],
)
def test_invalid_dynamic_markets_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        curse_market(**kwargs)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"mass": 0.0}, "mass must be > 0"),
        ({"beta": -1.0}, "beta must be >= 0"),
        ({"cost": 0.0}, "cost must be > 0"),
        ({"initial_stock": -1.0}, "initial_stock must be >= 0"),
        ({"outside_option": 0.3}, "outside_option must be an OutsideOptions"),
    ],
)
def test_invalid_creator_types_are_rejected(kwargs, message):
    params = dict(mass=1.0, beta=0.1, outside_option=PowerLaw(1.0, 1.0)) | kwargs
    with pytest.raises(ValueError, match=message):
        CreatorType(**params)


@pytest.mark.slow
def test_rounds_converge_to_the_ode_at_rate_dt():
    """The round schedule holds the price for dt: its error against the ODE is O(dt)."""
    measured = round_length_convergence(curse_market())
    # First order: halving dt halves the error; the fit over four halvings lands near 1.
    assert 0.8 < measured["slope"] < 1.2, measured
