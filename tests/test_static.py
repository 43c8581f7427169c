"""Exact checks of the static market (market-design paper, Section 3) against independent computations."""

import numpy as np
import pytest
from scipy import optimize

from abm.theory.static import (
    InformationMarket,
    effective_precision,
    free_for_all,
    gls_estimate,
    marginal_precision,
    originality_penalty,
    simulate_signals,
    social_optimum,
    stackelberg,
)

BETA = np.array([0.0, 0.1, 0.5, 0.9, 0.9, 1.3])


def explicit_precision(market, effort):
    """1' Sigma^-1 1 with Sigma = diag(1/e) + sigma2 beta beta' inverted by numpy."""
    covariance = np.diag(1.0 / effort) + market.sigma2 * np.outer(market.beta, market.beta)
    return np.ones(len(effort)) @ np.linalg.solve(covariance, np.ones(len(effort)))


def test_precision_matches_matrix_inversion():
    rng = np.random.default_rng(1)
    for _ in range(20):
        n = rng.integers(1, 12)
        market = InformationMarket(rng.uniform(0, 2, n), sigma2=rng.uniform(0.1, 3))
        effort = rng.uniform(0.05, 3, n)
        assert effective_precision(market, effort) == pytest.approx(
            explicit_precision(market, effort), rel=1e-10
        )


def test_gradient_matches_central_differences():
    market = InformationMarket(BETA, sigma2=1.7)
    effort = np.array([0.4, 0.9, 0.3, 1.2, 0.2, 0.7])
    step = 1e-6
    numeric = [
        (effective_precision(market, effort + step * unit) - effective_precision(market, effort - step * unit))
        / (2 * step)
        for unit in np.eye(len(effort))
    ]
    # Central differences: truncation O(step^2) ~ 1e-12, rounding ~ eps * P / step ~ 1e-9.
    np.testing.assert_allclose(marginal_precision(market, effort), numeric, rtol=1e-7, atol=1e-8)


def _direct_maximiser(market, cost_weight):
    """Maximise value*P(e) - cost_weight*cost*sum(e^2) over all n efforts (L-BFGS-B)."""
    def negative(effort):
        return -(market.value * effective_precision(market, effort) - cost_weight * market.cost * effort @ effort)

    def gradient(effort):
        return -(market.value * marginal_precision(market, effort) - 2 * cost_weight * market.cost * effort)

    start = np.full(market.n_creators, 0.5)
    result = optimize.minimize(negative, start, jac=gradient, method="L-BFGS-B",
                               bounds=[(0, None)] * market.n_creators, options={"ftol": 1e-15, "gtol": 1e-12})
    return result.x


@pytest.mark.parametrize("sigma2,cost,value", [(1.0, 1.0, 1.0), (2.5, 0.7, 1.8), (0.3, 2.0, 0.5)])
def test_equilibria_match_direct_n_dimensional_optimisation(sigma2, cost, value):
    market = InformationMarket(BETA, cost=cost, sigma2=sigma2, value=value)
    # The firm pays c*e_i per unit, so its profit is vP - c*sum(e^2) (weight 1); welfare has weight 1/2.
    np.testing.assert_allclose(stackelberg(market).effort, _direct_maximiser(market, 1.0), atol=1e-6)
    np.testing.assert_allclose(social_optimum(market).effort, _direct_maximiser(market, 0.5), atol=1e-6)


def test_outcome_accounting_is_consistent():
    market = InformationMarket(BETA, cost=1.3, value=2.0)
    outcome = stackelberg(market)
    assert outcome.converged and outcome.residual < 1e-12
    np.testing.assert_allclose(outcome.price, market.cost * outcome.effort)
    assert outcome.welfare == pytest.approx(outcome.firm_profit + outcome.creator_surplus)


def test_free_for_all_gives_zero_effort_and_precision():
    outcome = free_for_all(InformationMarket(BETA))
    assert np.all(outcome.effort == 0) and outcome.precision == 0 and outcome.welfare == 0


@pytest.mark.slow
def test_homogeneous_limit_of_the_penalty():
    # Checked independently by direct optimisation (L-BFGS-B over all n efforts): beta = 0.8, sigma2 = c = 1 gives
    # r = 0.757 at n = 100 and 0.790 at n = 1e5; the limit is 2^(-1/3) (proof of Prop. 4).
    ratios = [originality_penalty(InformationMarket(np.full(n, 0.8)))[0] for n in (10, 100, 10**3, 10**5, 10**7)]
    assert ratios[1] == pytest.approx(0.757, abs=5e-4)
    assert ratios[3] == pytest.approx(0.790, abs=5e-4)
    assert np.all(np.diff(ratios) > 0)
    gaps = np.abs(np.array(ratios) - 2 ** (-1 / 3))
    assert np.all(np.diff(gaps) < 0) and gaps[-1] < 1e-3


def test_penalty_beyond_the_weight_sign_change():
    """A found counterexample to reading Prop. 4 without its sign condition.

    With beta = (2, 0.5, 0.75) and cost 0.5, lambda^S * 2 > 1: the most conformist creator's
    efficient GLS weight is negative, and its ratio (0.1497) falls below the others'.
    Direct n-dimensional optimisation confirms the efforts, so this is the model, not the solver.
    """
    market = InformationMarket([2.0, 0.5, 0.75], cost=0.5)
    assert social_optimum(market).lam * 2.0 > 1
    direct = _direct_maximiser(market, 1.0) / _direct_maximiser(market, 0.5)
    np.testing.assert_allclose(originality_penalty(market), direct, rtol=1e-5)
    assert originality_penalty(market)[0] < 0.5 < originality_penalty(market)[1]


def test_all_innovators_get_exactly_half():
    market = InformationMarket(np.zeros(7), cost=2.0, value=3.0)
    np.testing.assert_allclose(originality_penalty(market), 0.5)
    np.testing.assert_allclose(stackelberg(market).effort, 0.75)  # v / (2c)


@pytest.mark.slow
def test_gls_monte_carlo_mse_matches_inverse_precision():
    market = InformationMarket(BETA, sigma2=1.5, common_mean=0.7)
    effort = stackelberg(market).effort
    draws = 200_000
    sample = simulate_signals(market, effort, draws, np.random.default_rng(20261122))
    errors = gls_estimate(market, effort, sample.signals) - sample.theta
    mse = float(np.mean(errors**2))
    expected = 1.0 / effective_precision(market, effort)
    # The squared error of a Gaussian estimate is expected * chi2_1: its sample mean has
    # standard deviation expected * sqrt(2 / draws). Allow 4 standard deviations; the mean
    # error (unbiasedness) has standard deviation sqrt(expected / draws).
    assert abs(mse - expected) < 4 * expected * np.sqrt(2 / draws)
    assert abs(errors.mean()) < 4 * np.sqrt(expected / draws)


def test_gls_ignores_creators_without_effort():
    market = InformationMarket(np.array([0.0, 0.5, 0.9]))
    effort = np.array([1.0, 0.0, 2.0])
    sample = simulate_signals(market, effort, 5, np.random.default_rng(0))
    assert np.all(np.isnan(sample.signals[:, 1]))
    assert np.all(np.isfinite(gls_estimate(market, effort, sample.signals)))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"beta": []}, "non-empty 1-D"),
        ({"beta": [[0.1, 0.2]]}, "non-empty 1-D"),
        ({"beta": [0.1, -0.2]}, "beta must be >= 0"),
        ({"beta": [0.1, np.nan]}, "beta must contain only finite"),
        ({"beta": ["a"]}, "beta must contain only numbers"),
        ({"beta": [0.1], "cost": 0}, "cost must be > 0"),
        ({"beta": [0.1], "sigma2": -1}, "sigma2 must be > 0"),
        ({"beta": [0.1], "value": np.inf}, "value must be finite"),
        ({"beta": [0.1], "common_mean": np.nan}, "common_mean must be finite"),
    ],
)
def test_invalid_markets_are_rejected_with_a_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        InformationMarket(**kwargs)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda m: effective_precision(m, [1.0]), "one entry per creator"),
        (lambda m: effective_precision(m, [1.0, -1.0]), "finite and >= 0"),
        (lambda m: simulate_signals(m, [1.0, 1.0], 0, 1), "n_draws must be >= 1"),
        (lambda m: gls_estimate(m, [0.0, 0.0], np.zeros((1, 2))), "precision 0"),
    ],
)
def test_invalid_calls_are_rejected_with_a_message(call, message):
    with pytest.raises(ValueError, match=message):
        call(InformationMarket([0.0, 0.5]))


def test_market_arrays_are_read_only():
    market = InformationMarket([0.0, 0.5])
    with pytest.raises(ValueError):
        market.beta[0] = 1.0
    with pytest.raises(ValueError):
        stackelberg(market).effort[0] = 1.0
