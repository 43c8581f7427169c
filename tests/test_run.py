"""The one run function and the models' keyword constructors, as Mesa's own tools use them."""

import mesa
import numpy as np
import pandas as pd
import pytest

from abm.regimes import REGIMES
from abm.scenario import apply_overrides, default_scenario, keyword_paths
from abm.simulation.dynamic_market.model import DataMarketModel
from abm.simulation.run import confidence_interval, replicate, replication_seeds, simulate, summarise


@pytest.mark.parametrize("regime", list(REGIMES))
def test_agents_dock_with_the_fluid_limit_of_their_own_regime(regime):
    # Regression: the fluid limit used to be strict IP's whatever the regime (intermediary: 14.6).
    # Tolerance: 5% of the fluid precision's range, decided before the run; finite-population
    # gaps at 2,000 agents per type are ~1% of it (docs/validation.md), a wrong regime is >100%.
    result = simulate("curse_of_precision", regime=regime, agents=2000, horizon=20.0, seed=1)
    summary = summarise(result)
    scale = max(float(result.fluid["precision"].max()), 1.0)
    assert summary["sup_distance_precision"] <= 0.05 * scale
    assert set(result.fluid["time"]) <= set(result.agents["time"])
    assert result.fluid["time"].iloc[-1] == result.agents["time"].iloc[-1]


def test_keyword_constructor_validates_like_a_scenario_file():
    model = DataMarketModel(scenario="curse_of_precision", kappa=0.3, agents=50, rng=1,
                            rank_and_file_outside_option_exponent=3.0, **{"innovators.mass": 2.0})
    assert model.market.kappa == 0.3 and model.scenario.simulation.agents == 50
    assert model.market.rank_and_file.outside_option.exponent == 3.0 and model.market.innovators.mass == 2.0
    with pytest.raises(ValueError, match="unknown scenario parameter 'kapa'.*kappa"):
        DataMarketModel(kapa=0.3, rng=1)
    with pytest.raises(ValueError, match="kappa"):
        DataMarketModel(kappa=-1.0, rng=1)
    with pytest.raises(ValueError, match="either rng or seed"):
        DataMarketModel(rng=1, seed=2)


def test_every_keyword_reaches_its_field():
    scenario = default_scenario()
    for keyword, path in keyword_paths(scenario).items():
        if path.endswith(("outside_option", "description", "name", "firm", "regime", "sampling", "service_value",
                          "licensing", "union_types")):
            continue  # strings, name lists, whole tables, and service_value (unset: it follows market.value)
        old = scenario.to_dict()
        for key in path.split("."):
            old = old[key]
        changed = old + 1 if isinstance(old, int) else 0.9 * old + 0.01  # stays inside every field's rule
        new = apply_overrides(scenario, {keyword: changed}).to_dict()
        for key in path.split("."):
            new = new[key]
        assert new != old, keyword


def test_the_model_stops_at_its_horizon_and_records_its_seed():
    model = DataMarketModel(horizon=1.0, dt=0.1, agents=20, rng=5)
    trajectory = model.run()
    assert not model.running and len(trajectory) == 10 and model.seed == 5
    assert model.scenario.simulation.seed == 5
    assert np.allclose(trajectory["time"], np.arange(10) * 0.1, rtol=0, atol=0)


def test_without_a_seed_every_model_draws_and_records_its_own():
    first, second = DataMarketModel(agents=20, horizon=1.0, dt=0.1), DataMarketModel(agents=20, horizon=1.0, dt=0.1)
    assert first.seed != second.seed
    again = DataMarketModel(agents=20, horizon=1.0, dt=0.1, rng=first.seed)
    np.testing.assert_array_equal(first.population.outside_option, again.population.outside_option)


def test_mesa_batch_run_drives_the_model_with_a_keyword_grid():
    results = pd.DataFrame(mesa.batch_run(
        DataMarketModel, {"scenario": "curse_of_precision", "agents": [20, 40], "kappa": [0.0, 0.2],
                          "horizon": 2.0, "dt": 0.1},
        iterations=3, max_steps=1000, number_processes=1, display_progress=False, data_collection_period=-1))
    assert len(results) == 2 * 2 * 3
    # 20 rounds, stopped by the model at its horizon (not by max_steps); Step is the 0-based row collected.
    assert (results["Step"] == 19).all() and np.allclose(results["time"], 1.9)
    for _, group in results.groupby(["agents", "kappa"]):
        assert group["seed"].nunique() == 3 and group["precision"].nunique() == 3
    row = results.iloc[0]
    again = DataMarketModel(agents=int(row["agents"]), kappa=float(row["kappa"]), horizon=2.0, dt=0.1,
                            rng=int(row["seed"])).run()
    assert again["precision"].iloc[-1] == row["precision"]


def test_replications_have_their_own_seeds_and_share_the_fluid_limit():
    runs = replicate(replications=3, agents=50, horizon=2.0, dt=0.1, seed=4)
    assert runs.seeds == replication_seeds(4, 3) and len(set(runs.seeds)) == 3
    assert all(result.fluid is runs.fluid for result in runs.results)
    single = simulate(agents=50, horizon=2.0, dt=0.1, seed=runs.seeds[1], fluid=False)
    pd.testing.assert_frame_equal(single.agents, runs.results[1].agents)
    long = runs.long()
    assert list(long.columns) == ["seed", "replication", "time", "variable", "value"]
    assert len(long) == 3 * 20 * (len(runs.results[0].agents.columns) - 1)
    table = runs.distances()
    assert (table["absolute_low"] <= table["absolute"]).all() and (table["absolute"] <= table["absolute_high"]).all()


def test_confidence_interval_matches_the_t_quantile_by_hand():
    values = [1.0, 2.0, 4.0]
    mean, low, high = confidence_interval(values)
    # t_{0.975, 2} = 4.302652729911275 (tables); sd = 1.5275252316519468.
    assert mean == pytest.approx(7 / 3) and high - mean == pytest.approx(4.302652729911275 * 1.5275252316519468 / 3 ** 0.5)


def test_a_stiff_scenario_is_flagged_with_a_round_length_that_would_not_be():
    # Rank-and-file mass 20,000 at dt = 0.1: the first round moves their stock from 1 to ~160.
    summary = summarise(simulate(rank_and_file_mass=20000.0, dt=0.1, horizon=2.0, agents=100, fluid=False))
    assert summary["round_change_max"] > 100 and summary["dt_suggested"] < 1e-3
    calm = summarise(simulate(dt=0.05, horizon=2.0, agents=100, fluid=False))
    assert calm["round_change_max"] < 0.25 and calm["dt_suggested"] == 0.05
