"""Creators who decide: entry rules per type (logit, sunk entry), their fluid maps, and the shipped scenarios."""

import numpy as np
import pandas as pd
import pytest

from abm.scenario import apply_overrides, default_scenario, keyword_paths, resolve_scenario, scenario_from_dict
from abm.simulation.dynamic_market.behaviours import BEHAVIOURS, EntryRule
from abm.simulation.dynamic_market.model import DataMarketModel
from abm.theory.behaviour_limits import RULE_PARAMETERS, Behaviour, behaviour_rounds, sunk_frontier

LOGIT = dict(innovators_behaviour_rule="logit", innovators_behaviour_temperature=0.01,
             rank_and_file_behaviour_rule="logit", rank_and_file_behaviour_temperature=0.01)
SUNK = dict(innovators_behaviour_rule="sunk_entry", innovators_behaviour_entry_cost=1.0,
            innovators_behaviour_discount_rate=0.05, rank_and_file_behaviour_rule="sunk_entry",
            rank_and_file_behaviour_entry_cost=1.0, rank_and_file_behaviour_discount_rate=0.05)
MIXED_BEST_LOGIT = dict(rank_and_file_behaviour_rule="logit", rank_and_file_behaviour_temperature=0.01)
MIXED_SUNK_LOGIT = dict(innovators_behaviour_rule="sunk_entry", innovators_behaviour_entry_cost=1.0,
                        innovators_behaviour_discount_rate=0.05, **MIXED_BEST_LOGIT)
BEST = dict(innovators_behaviour_rule="best_response", rank_and_file_behaviour_rule="best_response")


def test_registry_has_one_interface():
    assert set(BEHAVIOURS) == set(RULE_PARAMETERS) >= {"best_response", "logit", "sunk_entry"}
    assert all(issubclass(rule, EntryRule) for rule in BEHAVIOURS.values())


def test_behaviour_tables_parse_validate_and_override():
    scenario = apply_overrides(default_scenario(), {"rank_and_file.behaviour.rule": "logit",
                                                    "rank_and_file_behaviour_temperature": 0.02})
    assert scenario.behaviours == (Behaviour(), Behaviour("logit", (("temperature", 0.02),)))
    assert scenario_from_dict(scenario.to_dict()) == scenario
    assert "rank_and_file_behaviour_temperature" in keyword_paths(scenario)
    assert "behaviour" not in default_scenario().to_dict()["rank_and_file"]  # the default writes nothing
    switched = apply_overrides(scenario, {"rank_and_file_behaviour_rule": "sunk_entry",
                                          "rank_and_file_behaviour_entry_cost": 2.0,
                                          "rank_and_file_behaviour_discount_rate": 0.1})
    assert switched.behaviours[1]["entry_cost"] == 2.0
    assert keyword_paths(switched)["discount_rate"] == "market.discount_rate"  # the bare name stays the market's
    with pytest.raises(ValueError, match="rank_and_file.behaviour.temperature must be > 0"):
        apply_overrides(scenario, {"rank_and_file_behaviour_temperature": -1.0})
    with pytest.raises(ValueError, match="temperature is required"):
        apply_overrides(default_scenario(), {"innovators_behaviour_rule": "logit"})
    with pytest.raises(ValueError, match="rule must be one of"):
        apply_overrides(default_scenario(), {"innovators_behaviour_rule": "guess"})
    with pytest.raises(ValueError, match="entry_cost is not a parameter"):
        apply_overrides(scenario, {"rank_and_file_behaviour_entry_cost": 1.0})


def test_an_explicit_best_response_is_todays_model_bit_for_bit():
    runs = [DataMarketModel(agents=100, horizon=3.0, dt=0.1, rng=4, **extra).run() for extra in ({}, BEST)]
    pd.testing.assert_frame_equal(runs[0], runs[1], check_exact=True)


@pytest.mark.parametrize("rules", [LOGIT, SUNK, MIXED_BEST_LOGIT, MIXED_SUNK_LOGIT, dict(
    innovators_behaviour_rule="adaptive_expectations", innovators_behaviour_weight=0.3, **MIXED_BEST_LOGIT)],
    ids=["logit", "sunk_entry", "best_response+logit", "sunk_entry+logit", "adaptive_expectations+logit"])
def test_agent_by_agent_and_array_paths_give_identical_trajectories(rules):
    models = [DataMarketModel(agents=80, horizon=4.0, dt=0.1, rng=7, stepping=s, **rules) for s in ("array", "agents")]
    runs = [model.run() for model in models]
    pd.testing.assert_frame_equal(runs[0], runs[1], check_exact=True)
    np.testing.assert_array_equal(models[0].population.stock, models[1].population.stock)
    np.testing.assert_array_equal(models[0].population.active, models[1].population.active)


def test_logit_draws_from_the_model_rng_and_small_temperature_recovers_best_response():
    first, second = (DataMarketModel(agents=100, horizon=2.0, dt=0.1, rng=seed, **LOGIT).run() for seed in (1, 1))
    pd.testing.assert_frame_equal(first, second, check_exact=True)
    market = default_scenario().market
    cold = Behaviour("logit", (("temperature", 1e-7),))
    fluid = behaviour_rounds(market, (cold, cold), 0.1, 30)
    best = behaviour_rounds(market, (Behaviour(), Behaviour()), 0.1, 30)
    # the quadrature's resolution (1/200 of each type) bounds the difference in active share
    assert np.abs(fluid["active_innovators"] - best["active_innovators"]).max() < 1.5 / 200 * market.innovators.mass
    assert np.abs(fluid["precision"] - best["precision"]).max() < 5e-3


def test_sunk_entry_frontier_and_hysteresis():
    assert sunk_frontier(0.5, -np.inf, 0.2) == pytest.approx(0.3)  # nobody active: enter up to u - rF
    assert sunk_frontier(0.45, 0.3, 0.2) == 0.3  # a small rise: nobody new enters, nobody leaves
    assert sunk_frontier(0.1, 0.3, 0.2) == 0.1  # a fall: those with omega > u leave
    assert sunk_frontier(0.6, 0.3, 0.2) == pytest.approx(0.4)  # a large rise: entry resumes
    # with no entry cost, sunk entry is best response
    free = Behaviour("sunk_entry", (("entry_cost", 0.0), ("discount_rate", 0.05)))
    market = default_scenario().market
    sunk = behaviour_rounds(market, (free, free), 0.1, 40)
    best = behaviour_rounds(market, (Behaviour(), Behaviour()), 0.1, 40)
    np.testing.assert_allclose(sunk["precision"], best["precision"], rtol=1e-6)


def _docking_slope(name: str, sizes, seeds, horizon: float):
    """OLS slope (and its standard error) of log sup_t |P_agents - P_fluid| on log N, and the mean distance per N."""
    scenario = apply_overrides(resolve_scenario(name), {"horizon": horizon, "sampling": "random"})
    fluid = behaviour_rounds(scenario.market, scenario.behaviours, scenario.simulation.dt, scenario.simulation.n_rounds)
    x, y = [], []
    for n in sizes:
        for seed in seeds:
            agents = DataMarketModel(scenario, agents=n, rng=seed).run()
            x.append(np.log(n))
            y.append(np.log(np.abs(agents["precision"].to_numpy() - fluid["precision"].to_numpy()).max()))
    x, y = np.array(x), np.array(y)
    design = np.column_stack([np.ones_like(x), x])
    coefficients = np.linalg.lstsq(design, y, rcond=None)[0]
    residuals = y - design @ coefficients
    se = np.sqrt(residuals @ residuals / (x.size - 2) / np.sum((x - x.mean()) ** 2))
    means = [float(np.exp(y[x == np.log(n)].mean())) for n in sizes]
    return coefficients[1], se, means


@pytest.mark.slow
def test_logit_agents_dock_with_the_smoothed_fluid_map_at_rate_one_half():
    slope, se, means = _docking_slope("logit_entry", (500, 2000, 8000), (1, 2, 3, 4), horizon=25.0)
    assert means[0] > means[1] > means[2]
    assert abs(slope + 0.5) < 3 * se and slope < 0


@pytest.mark.slow
def test_sunk_entry_agents_dock_with_the_frontier_map():
    """The firm's first price is the argmax of an empirical profit curve (error ~ N^(-1/3), cube-root
    asymptotics), and hysteresis freezes the entry set it buys: the distance falls at least as N^(-1/3)."""
    slope, se, means = _docking_slope("sunk_entry", (500, 2000, 8000), tuple(range(1, 9)), horizon=25.0)
    assert means[0] > means[2]
    assert slope < 0 and slope < -1.0 / 3.0 + 3 * se


def _close(measured, expected, atol):
    measured, expected, atol = (np.asarray(x, dtype=float) for x in (measured, expected, atol))
    assert np.all(np.abs(measured - expected) <= atol), (measured, expected)


def _fluid_and_best_response(name: str):
    """A shipped scenario, its behaviours' fluid rounds and best response's, over its horizon."""
    scenario = resolve_scenario(name)
    dt, n = scenario.simulation.dt, scenario.simulation.n_rounds
    return (scenario, behaviour_rounds(scenario.market, scenario.behaviours, dt, n),
            behaviour_rounds(scenario.market, (Behaviour(), Behaviour()), dt, n))


def _horizon(frame):
    row = frame.iloc[-1]
    return row["price"], row["precision"], row["active_innovators"], row["active_rank_and_file"]


@pytest.mark.slow
def test_sunk_entry_scenario_states_its_numbers():
    scenario, fluid, best = _fluid_and_best_response("sunk_entry")
    assert fluid["price"].iloc[0] == pytest.approx(0.744, abs=1e-3)
    assert fluid["price"].iloc[1] == pytest.approx(0.442, abs=1e-3)
    assert fluid["active_innovators"].iloc[0] == pytest.approx(0.154, abs=1e-3)
    assert fluid["active_rank_and_file"].iloc[0] / scenario.market.rank_and_file.mass == pytest.approx(0.024, abs=1e-3)
    _close(_horizon(fluid)[:3], (0.441, 3.93, 0.154), atol=(1e-3, 5e-3, 1e-3))
    _close(_horizon(best)[:3], (0.500, 7.25, 0.250), atol=(1e-3, 5e-3, 1e-3))
    agents = DataMarketModel(scenario, rng=scenario.simulation.seed).run()
    _close(_horizon(agents)[:3], (0.443, 3.88, 0.151), atol=(1e-3, 5e-3, 1e-3))


@pytest.mark.slow
def test_logit_entry_scenario_states_its_numbers():
    scenario, fluid, best = _fluid_and_best_response("logit_entry")
    _close(_horizon(fluid), (0.051, 1.390, 0.0152, 1.39), atol=(1e-3, 1e-3, 1e-4, 5e-3))
    _close(_horizon(best), (0.121, 1.333, 0.0147, 0.43), atol=(1e-3, 1e-3, 1e-4, 5e-3))
    agents = DataMarketModel(scenario, rng=scenario.simulation.seed).run()
    _close(_horizon(agents)[:2], (0.051, 1.397), atol=(1e-3, 1e-3))
