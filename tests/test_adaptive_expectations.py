"""Adaptive expectations: creators commit on an expected price, the myopic firm holds them up.

The rule (abm.simulation.dynamic_market.behaviours.AdaptiveExpectations), its fluid map
(abm.theory.behaviour_limits.behaviour_rounds), the shipped scenario and the docking of the
two. Economics and derivations: docs/behaviours.md.
"""

import math

import numpy as np
import pandas as pd
import pytest

from abm.scenario import apply_overrides, default_scenario, keyword_paths, resolve_scenario, scenario_from_dict
from abm.simulation.dynamic_market.behaviours import BEHAVIOURS, AdaptiveExpectations
from abm.simulation.dynamic_market.model import DataMarketModel
from abm.theory.behaviour_limits import Behaviour, adaptive_expectation, behaviour_rounds
from abm.theory.fluid import model_state
from tests.test_behaviours import _close, _docking_slope, _fluid_and_best_response, _horizon

WEIGHT = 0.3
ADAPTIVE = dict(innovators_behaviour_rule="adaptive_expectations", innovators_behaviour_weight=WEIGHT,
                rank_and_file_behaviour_rule="adaptive_expectations", rank_and_file_behaviour_weight=WEIGHT)
MIXED_BEST = dict(rank_and_file_behaviour_rule="adaptive_expectations", rank_and_file_behaviour_weight=WEIGHT)
MIXED_SUNK = dict(innovators_behaviour_rule="sunk_entry", innovators_behaviour_entry_cost=1.0,
                  innovators_behaviour_discount_rate=0.05, **MIXED_BEST)
#: The firm's hold-up price is found by maximise_profit's bounded Brent search (xatol 1e-10) on an
#: exactly quadratic profit: its distance to the closed form is a few xatol.
PRICE_TOLERANCE = 1e-8


def _hold_up_price(worth, weights):
    """Closed form: ``argmax_p sum_k a_k (w_k - p) p = sum_k a_k w_k / (2 sum_k a_k)``."""
    worth, weights = np.asarray(worth, dtype=float), np.asarray(weights, dtype=float)
    return float(weights @ worth / (2.0 * weights.sum()))


def _power_law_cdf(u, scale, exponent):
    """The power-law outside options of the shipped markets: ``G(u) = min(1, (u / scale)^exponent)``."""
    return min(1.0, (max(u, 0.0) / scale) ** exponent)


def test_the_rule_is_registered_and_its_weight_validated():
    assert BEHAVIOURS["adaptive_expectations"] is AdaptiveExpectations
    scenario = apply_overrides(default_scenario(), {"rank_and_file.behaviour.rule": "adaptive_expectations",
                                                    "rank_and_file_behaviour_weight": 1.0})
    assert scenario.behaviours[1] == Behaviour("adaptive_expectations", (("weight", 1.0),))
    assert scenario_from_dict(scenario.to_dict()) == scenario
    assert "rank_and_file_behaviour_weight" in keyword_paths(scenario)
    for bad, message in ((0.0, "must be > 0"), (-0.1, "must be > 0"), (1.0 + 1e-12, r"must lie in \(0, 1\]"),
                         (math.nan, "must be finite"), ("0.2", "must be a number")):
        with pytest.raises(ValueError, match=f"rank_and_file.behaviour.weight {message}"):
            apply_overrides(scenario, {"rank_and_file_behaviour_weight": bad})
    with pytest.raises(ValueError, match="weight is required by rule 'adaptive_expectations'"):
        apply_overrides(default_scenario(), {"innovators_behaviour_rule": "adaptive_expectations"})


def test_the_expectation_moves_a_share_theta_of_the_way_to_the_posted_price():
    assert adaptive_expectation(math.nan, 0.4, 0.2) == 0.4  # no expectation yet: the posted price
    assert adaptive_expectation(0.5, 0.4, 0.2) == pytest.approx(0.5 + 0.2 * (0.4 - 0.5), abs=1e-15)
    assert adaptive_expectation(0.5, 0.4, 1.0) == 0.4  # theta = 1: static expectations
    np.testing.assert_array_equal(adaptive_expectation(np.array([np.nan, 1.0]), np.array([0.3, 0.5]), 0.5),
                                  [0.3, 0.75])


@pytest.mark.parametrize("rules", [ADAPTIVE, MIXED_BEST, MIXED_SUNK],
                         ids=["adaptive_expectations", "best_response+adaptive", "sunk_entry+adaptive"])
def test_agent_by_agent_and_array_paths_give_identical_trajectories(rules):
    models = [DataMarketModel(agents=80, horizon=4.0, dt=0.1, rng=7, stepping=s, **rules) for s in ("array", "agents")]
    runs = [model.run() for model in models]
    pd.testing.assert_frame_equal(runs[0], runs[1], check_exact=True)
    np.testing.assert_array_equal(models[0].population.active, models[1].population.active)
    for first, second in zip(models[0].behaviour.rules, models[1].behaviour.rules):
        if isinstance(first, AdaptiveExpectations):
            np.testing.assert_array_equal(first.expected_price, second.expected_price)


@pytest.mark.parametrize("stepping", ["array", "agents"])
def test_agents_commit_on_their_expectation_and_the_firm_holds_them_up(stepping):
    """Each round, checked against arithmetic done here: who is active (entry price <= own
    expectation, the posted price in round one), their effort (posted price / c), every
    creator's revised expectation, and from round two the closed-form hold-up price."""
    model = DataMarketModel(agents=150, horizon=2.0, dt=0.1, rng=3, stepping=stepping, **ADAPTIVE)
    population, rules = model.population, model.behaviour.rules
    first_price = DataMarketModel(agents=150, horizon=2.0, dt=0.1, rng=3).run()["price"].iloc[0]
    expected = [math.nan, math.nan]  # each type's expectation, by the recursion
    for round_ in range(model.n_rounds):
        worth = model.market.value * np.asarray(model.margins, dtype=float)
        committed = [int(np.count_nonzero(population.entry_price[r.start:r.stop] <= e)) for r, e in zip(rules, expected)]
        model.step()
        price = float(population.offered[0])
        np.testing.assert_array_equal(population.offered, price)  # strict IP: one price for all
        if round_ == 0:
            assert price == pytest.approx(first_price, rel=1e-12)  # round one is best response
        else:
            weights = [n * population.type_mass[k] / population.type_cost[k] for k, n in enumerate(committed)]
            assert price == pytest.approx(_hold_up_price(worth, weights), abs=PRICE_TOLERANCE)
        for k, rule in enumerate(rules):
            segment = slice(rule.start, rule.stop)
            belief = price if math.isnan(expected[k]) else expected[k]
            np.testing.assert_array_equal(population.active[segment], population.entry_price[segment] <= belief)
            np.testing.assert_array_equal(population.effort[segment],
                                          np.where(population.active[segment], price / rule.cost, 0.0))
            expected[k] = price if math.isnan(expected[k]) else expected[k] + WEIGHT * (price - expected[k])
            np.testing.assert_allclose(rule.expected_price[segment], expected[k], rtol=1e-15)
            assert rule.committed == np.count_nonzero(population.entry_price[segment] <= rule.expected_price[segment])


def test_the_fluid_map_commits_the_mass_its_expectation_buys_and_pays_the_hold_up_price():
    """The fluid rounds against the recursion done here: active mass ``M_k G_k(e_k^2 / 2)`` with
    the closed-form power-law G, and from round two the hold-up price at the round's margins."""
    scenario = resolve_scenario("adaptive_expectations")
    market, dt = scenario.market, scenario.simulation.dt
    fluid = behaviour_rounds(market, scenario.behaviours, dt, 40)
    weight = scenario.behaviours[0]["weight"]
    types = (market.innovators, market.rank_and_file)
    expected = [math.nan, math.nan]
    for row in fluid.itertuples():
        if not math.isnan(expected[0]):
            masses = [t.mass * _power_law_cdf(e * e / (2.0 * t.cost), t.outside_option.scale, t.outside_option.exponent)
                      for t, e in zip(types, expected)]
            assert (row.active_innovators, row.active_rank_and_file) == pytest.approx(masses, rel=1e-12)
            _, margins = model_state(market, np.array([row.stock_innovators, row.stock_rank_and_file]))
            weights = [m / t.cost for m, t in zip(masses, types)]
            assert row.price == pytest.approx(_hold_up_price(market.value * np.asarray(margins), weights),
                                              abs=PRICE_TOLERANCE)
        expected = [row.price if math.isnan(e) else e + weight * (row.price - e) for e in expected]


@pytest.mark.slow
def test_adaptive_expectations_scenario_states_its_numbers():
    scenario, fluid, best = _fluid_and_best_response("adaptive_expectations")
    assert fluid["price"].iloc[:2].tolist() == pytest.approx([0.584, 0.398], abs=1e-3)
    held_up, best = np.array(_horizon(fluid)), np.array(_horizon(best))  # price, precision, active masses
    _close(held_up, (0.423, 4.46, 0.179, 0.064), atol=(1e-3, 5e-3, 1e-3, 1e-3))
    _close(best, (0.500, 7.25, 0.250, 0.125), atol=(1e-3, 5e-3, 1e-3, 1e-3))
    _close(held_up / best - 1.0, (-0.15, -0.38, -0.28, -0.49), atol=5e-3)
    agents = DataMarketModel(scenario, rng=scenario.simulation.seed).run()
    _close(_horizon(agents)[:3], (0.424, 4.46, 0.1795), atol=(1e-3, 5e-3, 1e-4))


@pytest.mark.slow
def test_adaptive_agents_dock_with_the_expectation_map_at_rate_one_half():
    """Random outside options: the committed masses are sample shares, error ~ N^(-1/2)."""
    slope, se, means = _docking_slope("adaptive_expectations", (500, 2000, 8000), (1, 2, 3, 4), horizon=25.0)
    assert means[0] > means[1] > means[2]
    assert abs(slope + 0.5) < 3 * se and slope < 0
