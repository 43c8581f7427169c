"""Recording every k-th round (``simulation.record_every``): bounded rows, unchanged summaries.

The trajectory keeps rounds ``0, k, 2k, ...`` and the last; the run-wide outputs of
``summarise`` come from the model's running totals over every round, so they must not depend
on ``k``. The references below are independent of the running totals: a ``k = 1`` run's full
trajectory summed, averaged and maximised by pandas, and ``round_length_check`` on all of its
rows at once.
"""

import math

import numpy as np
import pandas as pd
import pytest

from abm.scenario import (
    SCENARIO_DIR, Simulation, apply_overrides, keyword_paths, load_scenario, memory_estimate, resolve_scenario,
)
from abm.simulation.dynamic_market.model import DataMarketModel, RunningTotals
from abm.simulation.run import MAX_FLUID_POINTS, RunResult, fluid_times, simulate, summarise
from abm.theory.fluid import TRAJECTORY_COLUMNS, round_length_check

#: Summations of the same 300 rates in another order differ by a few ulps (about 1e-16
#: relative each, at most n * eps ~ 7e-14 in the worst case); 1e-12 is fixed from that bound.
RELATIVE = 1e-12
#: 300 rounds: four full buffers of 64 rounds (``small_chunks``) and a partial one.
SHORT_RUN = dict(horizon=15.0, dt=0.05, agents=40, fluid=False, seed=11)


@pytest.fixture
def small_chunks(monkeypatch):
    """Fold the running totals every 64 rounds, so short runs fold several times."""
    monkeypatch.setattr(RunningTotals, "CHUNK", 64)


def _pandas_reference(result) -> dict:
    """The run-wide outputs of a trajectory holding every round, by pandas and one call of
    round_length_check over all rows."""
    run, dt, market = result.agents, result.scenario.simulation.dt, result.scenario.market
    reference = {
        "rounds": len(run),
        "precision_mean": run["precision"].mean(),
        "welfare_cumulative": run["welfare"].sum() * dt,
        "trade_surplus_cumulative": run["trade_surplus"].sum() * dt,
        "firm_profit_cumulative": run["firm_profit"].sum() * dt,
        "firm_trade_profit_cumulative": (run["firm_profit"] + run["trade_surplus"] - run["welfare"]).sum() * dt,
        "surplus_innovators_cumulative": run["surplus_innovators"].sum() * dt,
        "surplus_rank_and_file_cumulative": run["surplus_rank_and_file"].sum() * dt,
        "intermediary_balance_max_abs": run["intermediary_balance"].abs().max(),
    }
    if market.is_homogeneous:
        change, suggested = round_length_check(market, dt, run[["stock_innovators", "stock_rank_and_file"]].to_numpy(),
                                               run[["price_innovators", "price_rank_and_file"]].to_numpy())
        reference.update(round_change_max=change, dt_suggested=suggested)
    return reference


@pytest.mark.parametrize("regime", ["strict_ip", "intermediary"])
def test_summaries_over_every_round_do_not_depend_on_record_every(regime, small_chunks):
    every = simulate("curse_of_precision", regime=regime, **SHORT_RUN)
    tenth = simulate("curse_of_precision", regime=regime, record_every=10, **SHORT_RUN)
    assert len(every.agents) == 300 and len(tenth.agents) == 31  # rounds 0, 10, ..., 290 and 299
    reference, thinned = _pandas_reference(every), summarise(tenth)
    assert reference["round_change_max"] > 0
    if regime == "intermediary":
        assert reference["intermediary_balance_max_abs"] > 0
    for name, value in reference.items():
        assert thinned[name] == pytest.approx(value, rel=RELATIVE, abs=1e-300), name
    # The same thinned trajectory summed by pandas would be wrong by far more than that:
    # the check above is not passing because the rates are flat.
    wrong = tenth.agents["welfare"].sum() * SHORT_RUN["dt"]
    assert abs(wrong - reference["welfare_cumulative"]) > 100 * RELATIVE * abs(reference["welfare_cumulative"])
    # Final values come from the last round, which every k records.
    full = summarise(every)
    for name in ("precision_final", "price_final", "stock_rank_and_file_final", "below_barrier_final"):
        assert thinned[name] == full[name], name


def test_a_heterogeneous_market_has_no_round_length_check_whatever_k(small_chunks):
    # Loadings per creator: the population's arrays every round, and no round-length check.
    every = simulate("curse_with_diverse_imitators", horizon=5.0, agents=40, fluid=False, seed=2)
    tenth = simulate("curse_with_diverse_imitators", horizon=5.0, agents=40, fluid=False, seed=2, record_every=10)
    assert math.isnan(summarise(every)["round_change_max"]) and math.isnan(summarise(tenth)["dt_suggested"])
    assert summarise(tenth)["welfare_cumulative"] == pytest.approx(_pandas_reference(every)["welfare_cumulative"],
                                                                  rel=RELATIVE)


@pytest.mark.parametrize("rounds,k", [(10, 1), (10, 3), (10, 9), (10, 10), (10, 20), (1, 4), (37, 6)])
def test_the_trajectory_keeps_every_kth_round_and_the_last(rounds, k):
    model = DataMarketModel("curse_of_precision", horizon=rounds * 0.5, dt=0.5, agents=10, rng=0, record_every=k)
    frame = model.run()
    expected = sorted(set(range(0, rounds, k)) | {rounds - 1})
    assert len(frame) == len(expected) == math.ceil(rounds / k) + ((rounds - 1) % k != 0)
    assert frame["time"].tolist() == [r * 0.5 for r in expected]
    assert len(model.datacollector.model_vars["seed"]) == len(expected)
    assert model.running_totals.rounds == rounds
    assert model.scenario.simulation.n_recorded == len(expected)


def test_record_every_one_records_the_same_rows_as_before():
    default = DataMarketModel("curse_of_precision", horizon=5.0, agents=20, rng=4).run()
    explicit = DataMarketModel("curse_of_precision", horizon=5.0, agents=20, rng=4, record_every=1).run()
    thinned = DataMarketModel("curse_of_precision", horizon=5.0, agents=20, rng=4, record_every=7).run()
    assert len(default) == 100 and default.equals(explicit)
    assert list(default.columns) == list(TRAJECTORY_COLUMNS)
    # Thinning only drops rows: the rows kept are the same numbers, bit for bit.
    kept = default[default.index % 7 == 0].reset_index(drop=True)
    assert thinned.iloc[:-1].reset_index(drop=True).equals(kept)
    assert thinned.iloc[-1].equals(default.iloc[-1])


def test_memory_is_bounded_by_the_recorded_rows(small_chunks):
    # Rows held by the collector follow ceil(rounds / k) (+ the last), whatever the run length;
    # the running totals hold one fixed buffer of CHUNK rounds.
    model = DataMarketModel("curse_of_precision", horizon=15.0, dt=0.05, agents=10, rng=1, record_every=100)
    frame = model.run()
    assert frame["time"].tolist() == pytest.approx([0.0, 5.0, 10.0, 299 * 0.05], rel=1e-15)
    assert model.running_totals._buffer.shape == (64, len(RunningTotals.COLUMNS))
    assert model.running_totals.rounds == 300


@pytest.mark.slow  # 4,000 rounds: ~8 s on a loaded two-core machine
def test_a_long_run_keeps_five_rows_and_folds_at_the_real_chunk_size():
    model = DataMarketModel("curse_of_precision", horizon=200.0, dt=0.05, agents=10, rng=1, record_every=1000)
    frame = model.run()
    assert len(frame) == 5 and frame["time"].iloc[-1] == pytest.approx(3999 * 0.05)
    assert model.running_totals._buffer.shape[0] == RunningTotals.CHUNK and model.running_totals.rounds == 4000
    reference = DataMarketModel("curse_of_precision", horizon=200.0, dt=0.05, agents=10, rng=1).run()
    assert model.running_totals.summary()["welfare_cumulative"] == pytest.approx(
        reference["welfare"].sum() * 0.05, rel=1e-12)


def test_the_memory_guard_counts_recorded_rows(monkeypatch):
    monkeypatch.setenv("ABM_MEMORY_LIMIT", str(10**9))
    columns = len(TRAJECTORY_COLUMNS) + 1
    # 1e6 rounds x 23 values x 80 bytes = 1.84 GB > 1 GB: refused when every round is recorded ...
    with pytest.raises(ValueError, match="simulation.record_every"):
        Simulation(horizon=1e5, dt=0.1)
    # ... and accepted when every other round is (0.92 GB of rows + 7 MB of agents).
    accepted = Simulation(horizon=1e5, dt=0.1, record_every=2)
    assert memory_estimate(accepted)[1] == 500_001 * columns * 80  # rounds 0, 2, ..., 999998 and 999999


def test_record_every_is_reachable_by_every_keyword_path(tmp_path):
    paths = keyword_paths(resolve_scenario(None))
    assert paths["record_every"] == paths["simulation_record_every"] == "simulation.record_every"
    assert apply_overrides(resolve_scenario(None), {"simulation.record_every": 4}).simulation.record_every == 4
    assert DataMarketModel(record_every=3, agents=10, rng=0).scenario.simulation.record_every == 3
    assert resolve_scenario(None).to_dict()["simulation"]["record_every"] == 1
    file = tmp_path / "thinned.toml"
    source = (SCENARIO_DIR / "curse_of_precision.toml").read_text()
    assert source.count("[simulation]") == 1
    file.write_text(source.replace("[simulation]", "[simulation]\nrecord_every = 5"))
    assert load_scenario(file).simulation.record_every == 5
    assert len(simulate(file, horizon=2.0, agents=10, fluid=False).agents) == 9  # rounds 0, 5, ..., 35 and 39


def test_the_fluid_limit_is_reported_at_recorded_rounds():
    result = simulate("curse_of_precision", horizon=20.0, agents=40, seed=5, record_every=3)
    assert result.fluid_stride % 3 == 0
    assert set(result.fluid["time"]) <= set(result.agents["time"])
    assert result.fluid["time"].iloc[-1] == result.agents["time"].iloc[-1]
    assert np.isfinite(summarise(result)["sup_distance_precision"])


@pytest.mark.parametrize("rounds,k", [(4000, 1), (4000, 3), (4001, 10), (100, 7)])
def test_fluid_times_stride_is_a_multiple_of_record_every(rounds, k):
    recorded = sorted(set(range(0, rounds, k)) | {rounds - 1})
    times, stride = fluid_times(np.array(recorded, dtype=float), k)
    assert stride % k == 0 and len(times) <= MAX_FLUID_POINTS
    # Every stride-th round (all recorded) and the last.
    assert times.tolist() == sorted(set(range(0, rounds, stride)) | {rounds - 1})


def test_a_thinned_trajectory_without_totals_is_not_summed():
    result = simulate("curse_of_precision", horizon=5.0, agents=10, fluid=False, record_every=4)
    bare = RunResult(result.scenario, result.agents, None)
    with pytest.raises(ValueError, match="simulation.record_every"):
        summarise(bare)
    full = simulate("curse_of_precision", horizon=5.0, agents=10, fluid=False)
    # A complete trajectory is folded the same way as the model's own rounds (nan: no fluid limit).
    assert pd.Series(summarise(RunResult(full.scenario, full.agents, None))).equals(pd.Series(summarise(full)))
