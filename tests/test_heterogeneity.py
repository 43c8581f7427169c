"""Creators with their own loadings: distributions, the fluid limit over classes, Prop. 6 with a spread."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats

from abm.regimes import get_regime
from abm.scenario import apply_overrides, default_scenario, resolve_scenario
from abm.simulation.dynamic_market.model import DataMarketModel
from abm.simulation.run import simulate
from abm.theory.empirical import EmpiricalSupply
from abm.theory.fluid import ClassMarket, solve_fluid, split_into_classes
from abm.theory.heterogeneity import DiscreteValues, UniformValues, characteristic_from_value
from abm.theory.information import information_sums, precision_fixed_point

UNIFORM = {"distribution": "uniform", "low": 0.8, "high": 1.0}
#: Moments of beta ~ U[0.8, 1.0]: E[beta] = 0.9, E[beta^2] = 0.81 + 0.2^2 / 12 (closed form).
MEAN, SECOND = 0.9, 0.81 + 0.04 / 12


def continuum_precision(stock):
    """P of a rank-and-file stock spread over U[0.8, 1.0] (innovators absent): Eq. 11 depends on the
    loadings only through S1 = 0.9 X and S2 = E[beta^2] X (closed-form moments, no classes)."""
    return precision_fixed_point(stock, MEAN * stock, SECOND * stock, 0.5, 0.2)


def test_a_spread_of_one_value_gives_the_two_type_fluid_limit_to_rounding():
    # Two atoms at the same loading make a three-class market that must equal the two-type one.
    scenario = default_scenario()
    split = apply_overrides(scenario, {"rank_and_file_beta": {"distribution": "discrete", "values": [0.9, 0.9],
                                                              "weights": [0.3, 0.7]}})
    assert isinstance(split_into_classes(split.market), ClassMarket)
    times = np.linspace(0.0, 40.0, 41)
    one, classes = solve_fluid(scenario.market, 40.0, times), solve_fluid(split.market, 40.0, times)
    for column in ("precision", "price", "stock_rank_and_file", "active_rank_and_file", "welfare"):
        np.testing.assert_allclose(classes[column], one[column], rtol=1e-7, atol=1e-10)  # LSODA's rtol 1e-8


def test_the_class_fluid_limit_converges_at_the_midpoint_rules_rate():
    # Statutory licence: X_C does not depend on the loadings, so the continuum P(X_C) is exact.
    scenario = resolve_scenario("curse_with_diverse_imitators")
    errors = []
    for count in (4, 8, 16, 32):
        final = solve_fluid(scenario.market, 400.0, times=[0.0, 400.0], regime=get_regime("statutory_license"),
                            settings=scenario.regime, classes=count).iloc[-1]
        errors.append(abs(final["precision"] - continuum_precision(final["stock_rank_and_file"])))
    slope = np.polyfit(np.log([4, 8, 16, 32]), np.log(errors), 1)[0]
    assert slope == pytest.approx(-2.0, abs=0.05)  # midpoint rule on a smooth quantile function: O(k^-2)


@pytest.mark.slow
def test_agents_converge_to_the_continuum_as_the_population_grows():
    scenario = resolve_scenario("curse_with_diverse_imitators")
    rows = []
    for agents in (250, 1000, 4000, 16000):
        for seed in range(8):
            last = simulate(scenario, seed=seed, agents=agents, sampling="random", horizon=50.0,
                            fluid=False).agents.iloc[-1]
            rows.append((agents, abs(last["precision"] - continuum_precision(last["stock_rank_and_file"]))))
    rows = np.array(rows)
    fit = stats.linregress(np.log(rows[:, 0]), np.log(rows[:, 1]))
    # Sampling error of the active creators' loading moments: N^(-1/2); tolerance 3 standard errors.
    assert abs(fit.slope + 0.5) <= 3 * fit.stderr


@pytest.mark.slow
def test_the_scenario_shows_what_its_description_states():
    scenario = resolve_scenario("curse_with_diverse_imitators")
    result = simulate(scenario)
    fluid, agents = result.fluid, result.agents
    final = fluid.iloc[-1]
    # "X_C = 1 + 4.86 t" (20 x 0.81 creators active at 0.3, each supplying 0.3), "about 1,945 by t = 400".
    np.testing.assert_allclose(fluid["stock_rank_and_file"], 1 + 4.86 * fluid["time"], rtol=1e-6)
    assert 1 + 4.86 * 400 == pytest.approx(1945)
    crossing = fluid.loc[fluid["precision"] > final["precision_barrier"], "time"].iloc[0]
    assert crossing <= 5.0  # "passes 1.531 by t = 5"
    assert round(final["precision_barrier"], 3) == 1.531
    assert round(final["precision"], 1) == 8.5 and round(agents["precision"].iloc[-1], 1) == 8.5  # "reaches 8.5"
    assert 1 / ((SECOND - MEAN**2) / SECOND) == pytest.approx(244, abs=0.5)  # "about X_C / 244"
    # "With one common loading 0.9 precision would creep up to the barrier and never pass it."
    one = simulate(apply_overrides(scenario, {"rank_and_file_beta": 0.9}), fluid=False).agents
    assert (one["precision"] < one["precision_barrier"]).all()
    assert one["precision"].iloc[-1] > 0.99 * one["precision_barrier"].iloc[-1]


@given(stock=st.floats(1e3, 1e9), spread=st.floats(0.005, 0.1))
@settings(max_examples=50, deadline=None)
def test_precision_grows_like_the_loading_variance_over_its_second_moment(stock, spread):
    # Derived in docs/model.md: for two loadings 0.9 -+ spread (half each), P / X_C -> Var / E[beta^2].
    variance, second = spread**2, 0.81 + spread**2
    precision = precision_fixed_point(stock, 0.9 * stock, second * stock, 0.5, 0.2)
    # The next term of the expansion is O(1) (Taylor in 1/X_C): relative gap below 10 / (X_C Var / E[b^2]).
    assert precision / stock == pytest.approx(variance / second, rel=10 / (stock * variance / second))


def test_each_creator_keeps_its_own_loading_in_both_stepping_paths():
    scenario = apply_overrides(default_scenario(), {"rank_and_file_beta": UNIFORM, "agents": 60, "horizon": 3.0,
                                                     "dt": 0.1})
    for regime in ("strict_ip", "intermediary"):
        runs = [DataMarketModel(scenario, rng=3, stepping=path, regime=regime).run() for path in ("agents", "array")]
        pd.testing.assert_frame_equal(runs[0], runs[1], check_exact=True)
    model = DataMarketModel(scenario, rng=3)
    beta = model.population.beta[model.population.kind == 1]
    assert model.population.heterogeneous and beta.min() >= 0.8 and beta.max() <= 1.0 and np.unique(beta).size == 60


def test_precision_uses_every_creators_own_loading():
    scenario = apply_overrides(default_scenario(), {"rank_and_file_beta": UNIFORM, "agents": 40})
    model = DataMarketModel(scenario, rng=2)
    model.run(5)
    population = model.population
    # Independent reference: Sherman-Morrison's P from per-creator sums, as the static market computes it.
    s0, s1, s2 = information_sums(population.stock, population.beta)
    assert model.precision == pytest.approx(precision_fixed_point(s0, s1, s2, 0.5, 0.2), rel=1e-13)


@pytest.mark.slow
def test_myopic_price_with_own_loadings_is_the_brute_force_argmax():
    rng = np.random.default_rng(5)
    n = 200
    entry, weight, beta = rng.uniform(0, 1, n), rng.uniform(0.5, 2, n), rng.uniform(0, 1.2, n)
    supply = EmpiricalSupply(entry, weight, (beta > 0.5).astype(int), beta=beta)
    lam, feedback, value = 0.6, 1.3, 1.0
    margins = (1 - lam * beta) ** 2 / feedback

    def profit(p):
        active = entry <= p
        return float(np.sum(weight[active] * p * (value * margins[active] - p)))

    # Brute force: every entry price and a fine grid between (the profit is piecewise quadratic).
    grid = np.unique(np.concatenate([entry, np.linspace(0, value, 200_001)]))
    best = max(grid, key=profit)
    found = supply.best_price_for_loadings(lam, feedback, value)
    assert profit(found) >= profit(best) - 1e-12
    assert found == pytest.approx(best, abs=1e-5)


@pytest.mark.parametrize("spec, mean", [(UNIFORM, 0.9), ({"distribution": "beta", "a": 2, "b": 5, "scale": 1.0}, 2 / 7),
                                        ({"distribution": "discrete", "values": [0.88, 0.92], "weights": [1, 1]}, 0.9)])
def test_characteristic_draws_match_their_distribution(spec, mean):
    characteristic = characteristic_from_value(spec, "beta")
    draws = characteristic.draw(20_000, np.random.default_rng(0), "random")
    # Mean of 20,000 draws: standard error below 0.3 / sqrt(20,000) = 0.0021; allow 4 of them.
    assert draws.mean() == pytest.approx(mean, abs=0.0085)
    assert characteristic.mean() == pytest.approx(mean, rel=1e-9)
    quantiles = characteristic.draw(1000, np.random.default_rng(0), "quantile")
    assert quantiles.mean() == pytest.approx(mean, abs=2e-3)


def test_truncated_normal_loadings_stay_non_negative_and_bad_tables_are_named():
    values = characteristic_from_value({"distribution": "truncated_normal", "mean": 0.05, "sd": 0.1}, "beta")
    assert values.draw(5000, np.random.default_rng(1), "random").min() >= 0
    with pytest.raises(ValueError, match="rank_and_file.beta.*missing key"):
        characteristic_from_value({"distribution": "uniform", "low": 0.8}, "rank_and_file.beta")
    with pytest.raises(ValueError, match="distribution must be one of"):
        characteristic_from_value({"distribution": "gamma"}, "rank_and_file.beta")
