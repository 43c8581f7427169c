"""The intermediary's mechanisms (market-design paper, Section 5): the worked example, and IC, IR, BB as properties."""

import numpy as np
import pytest
from hypothesis import given, strategies as st
from scipy import integrate, optimize

from abm.theory.mechanism import (
    aumann_shapley_weights,
    flow_tariff,
    linear_pricing,
    settle_round,
    two_part_tariff,
)
from abm.theory.static import InformationMarket, effective_precision, marginal_precision, social_optimum
from tests.strategies import markets


def test_worked_example_of_the_two_part_tariff():
    # Re-derived by direct computation (matrix inversion for P, quad for the weights):
    # Delta ~ 0.83531, T ~ 1.92497.
    market = InformationMarket([0, 0.1, 0.5, 0.9, 0.9, 0.9])
    result = two_part_tariff(market, operating_cost=0.1, firm_outside=0.2, creator_outside=0.05,
                             bargaining_power=0.5)
    assert result.surplus == pytest.approx(0.83531, abs=5e-6)
    np.testing.assert_allclose(result.weights, [0.34836, 0.30319, 0.15733, 0.06371, 0.06371, 0.06371], atol=5e-6)
    assert result.firm_transfer == pytest.approx(1.92497, abs=5e-6)


def test_weights_match_adaptive_quadrature():
    market = InformationMarket([0, 0.3, 0.8, 1.4], sigma2=2.0, cost=0.7)
    effort = social_optimum(market).effort
    welfare = market.value * effective_precision(market, effort) - 0.5 * market.cost * effort @ effort

    def integrand(s, i):
        return market.value * marginal_precision(market, s * effort)[i] - market.cost * s * effort[i]

    expected = [effort[i] * integrate.quad(integrand, 0, 1, args=(i,), epsabs=1e-14)[0] / welfare
                for i in range(4)]
    np.testing.assert_allclose(aumann_shapley_weights(market, effort), expected, rtol=1e-12)


def _quad_weights(market, effort, indices):
    """Reference Aumann-Shapley weights by adaptive quadrature, split at the boundary layer s ~ 1/(sigma^2 S2)."""
    s1, s2 = float(effort @ market.beta), float(effort @ market.beta**2)
    b = market.sigma2 * s2
    welfare = market.value * effective_precision(market, effort) - 0.5 * market.cost * effort @ effort
    breaks = sorted({min(1.0, k / b) for k in (0.1, 1.0, 10.0, 100.0)} - {1.0})

    def integrand(s, beta_i, e_i):
        lam = market.sigma2 * s * s1 / (1.0 + b * s)
        return market.value * (1.0 - lam * beta_i) ** 2 - market.cost * s * e_i

    return np.array([effort[i] * integrate.quad(integrand, 0, 1, args=(market.beta[i], effort[i]), points=breaks,
                                                epsabs=0, epsrel=1e-13, limit=200)[0] / welfare
                     for i in indices])


def test_weights_stay_exact_when_the_boundary_layer_is_thin():
    # Regression: a 64-node Gauss rule was off by 3.6e-6 here (sigma^2 S2 ~ 1e4); quad split at 1/b decides.
    rng = np.random.default_rng(7)
    market = InformationMarket(rng.uniform(0, 1.5, 10_000), sigma2=4.0, value=4.0)
    effort = social_optimum(market).effort
    assert market.sigma2 * float(effort @ market.beta**2) > 1e4
    indices = [0, 1, 2, int(np.argmin(market.beta)), int(np.argmax(market.beta))]
    weights = aumann_shapley_weights(market, effort)
    np.testing.assert_allclose(weights[indices], _quad_weights(market, effort, indices), rtol=1e-10)
    # The shares sum to one to rounding (n additions of O(1/n) terms: a few n eps).
    assert abs(weights.sum() - 1.0) < 1e-12


def test_tariff_balances_exactly_when_the_boundary_layer_is_thin():
    rng = np.random.default_rng(8)
    market = InformationMarket(rng.uniform(0, 1.5, 10_000), sigma2=4.0, value=4.0)
    result = two_part_tariff(market, operating_cost=0.3, firm_outside=0.1, creator_outside=1e-6)
    # Budget from the booked payments, summed independently of the tariff's own balance field.
    paid = float(np.sum(result.base_payment + result.unit_price * result.effort))
    assert abs(result.firm_transfer - paid - 0.3) <= 1e-12 * result.firm_transfer


@pytest.mark.parametrize("b", [1e-8, 1e-4, 1e-3, 0.0999, 0.1001, 0.5, 3.0, 1e4, 1e9])
def test_closed_form_lambda_integrals_match_quadrature(b):
    from abm.theory.information import diagonal_lambda_integrals

    a = 1.7
    first = integrate.quad(lambda s: a * s / (1 + b * s), 0, 1, epsabs=0, epsrel=1e-13,
                           points=[min(0.5, 1 / b)], limit=200)[0]
    second = integrate.quad(lambda s: (a * s / (1 + b * s)) ** 2, 0, 1, epsabs=0, epsrel=1e-13,
                            points=[min(0.5, 1 / b)], limit=200)[0]
    np.testing.assert_allclose(diagonal_lambda_integrals(a, b), (first, second), rtol=1e-12)


alphas = st.floats(0.0, 1.0)
small_costs = st.floats(0.0, 0.05)


@given(markets(), small_costs, small_costs, st.floats(0.0, 0.01), alphas)
def test_two_part_tariff_is_ic_ir_and_bb(market, operating_cost, firm_outside, creator_outside, alpha):
    result = two_part_tariff(market, operating_cost, firm_outside, creator_outside, alpha)
    if not result.feasible:
        assert result.surplus < 0 and "cannot be run efficiently" in result.message
        assert np.all(result.effort == 0) and result.firm_profit == firm_outside
        return
    scale = max(1.0, social_optimum(market).welfare)
    # IC: each creator's best response to a_i + t_i e_i is t_i / c, the efficient effort.
    np.testing.assert_allclose(result.unit_price / market.cost, social_optimum(market).effort, rtol=1e-12)
    # IR: creators get u0 + w alpha Delta >= u0; the firm Pi0 + (1 - alpha) Delta >= Pi0.
    np.testing.assert_allclose(result.creator_utility, creator_outside + result.weights * alpha * result.surplus,
                               atol=1e-12 * scale)
    assert np.all(result.creator_utility >= creator_outside - 1e-12 * scale)
    assert result.firm_profit == pytest.approx(firm_outside + (1 - alpha) * result.surplus, abs=1e-12 * scale)
    # BB: the intermediary nets exactly zero after its operating cost.
    assert abs(result.intermediary_balance) < 1e-12 * scale
    assert result.weights.sum() == pytest.approx(1.0, abs=1e-12)


@given(markets())
def test_ic_by_direct_optimisation_of_each_creator(market):
    result = two_part_tariff(market)
    for i in range(min(market.n_creators, 3)):
        best = optimize.minimize_scalar(
            lambda e: -(result.base_payment[i] + result.unit_price[i] * e - 0.5 * market.cost * e * e),
            bounds=(0, 10 * result.effort[i] + 1), method="bounded", options={"xatol": 1e-12})
        assert best.x == pytest.approx(result.effort[i], abs=1e-6)


def test_linear_pricing_leaves_the_firm_at_minus_k_without_common_factor():
    # Lemma 8: with every beta = 0, v P(e^S) = c sum (e^S)^2, so the firm nets -K.
    result = linear_pricing(InformationMarket(np.zeros(5), cost=1.3, value=2.0), operating_cost=0.25)
    assert result.firm_profit == pytest.approx(-0.25, abs=1e-12)
    np.testing.assert_allclose(result.creator_utility, 0.5 * 1.3 * result.effort**2)


def test_infeasible_tariff_says_so():
    result = two_part_tariff(InformationMarket([0.0, 0.5]), operating_cost=100.0)
    assert not result.feasible and result.surplus < 0
    assert "Delta" in result.message and result.firm_transfer == 0.0


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"operating_cost": -1.0}, "operating_cost must be >= 0"),
        ({"bargaining_power": 1.5}, r"bargaining_power must lie in \[0, 1\]"),
        ({"creator_outside": [-0.1, 0.0]}, "creator_outside must be finite and >= 0"),
        ({"firm_outside": np.inf}, "firm_outside must be finite"),
    ],
)
def test_invalid_tariff_inputs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        two_part_tariff(InformationMarket([0.0, 0.5]), **kwargs)


@given(st.integers(1, 40), st.floats(0.0, 0.2), st.floats(0.0, 0.2), alphas, st.integers(0, 10**6))
def test_flow_tariff_balances_and_keeps_everyone_whole(n, operating_cost, firm_outside, alpha, seed):
    rng = np.random.default_rng(seed)
    unit_price, cost = rng.uniform(0.1, 1, n), rng.uniform(0.5, 2, n)
    mass, effort = rng.uniform(0.01, 1, n), unit_price / cost
    outside = rng.uniform(0, 1, n) * unit_price**2 / (2 * cost)  # all covered: admitted
    result = flow_tariff(unit_price, effort, mass, cost, outside, operating_cost, firm_outside, alpha)
    if not result.feasible:
        assert result.surplus < 0
        return
    assert abs(result.balance) < 1e-12 * max(1.0, float(np.sum(mass * unit_price * effort)))
    assert np.all(result.creator_utility >= mass * outside - 1e-12)
    assert result.firm_net == pytest.approx(firm_outside + (1 - alpha) * result.surplus, abs=1e-12)


def test_settle_round_linear_payments():
    settlement = settle_round([0.5, 0.5, 0.2], [0.5, 0.0, 0.2], [1.0, 1.0, 2.0], [1.0, 1.0, 1.0],
                              [0.1, 0.0, 0.0], [0, 0, 1])
    assert settlement.firm_transfer == pytest.approx(0.25 + 0.08)
    np.testing.assert_allclose(settlement.creator_surplus, [0.25 - 0.125 - 0.1, 0.08 - 0.04])
