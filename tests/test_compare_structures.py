"""abm compare with every market structure: rival AI firms beside the regimes, their welfare
accounts (each firm's model serves 1/F of the consumers), their recording every k-th round,
and structures a population refuses recorded instead of stopping the comparison."""

import numpy as np
import pytest

from abm.regimes import REGIMES
from abm.scenario import default_scenario, resolve_scenario
from abm.simulation.dynamic_market.rivals import RivalFirmsModel
from abm.simulation.run import simulate, summarise
from abm.theory.fluid import round_factors
from abm.theory.welfare import PARTIES, WelfareSettings, continuation_value, round_inflows, welfare_accounts
from analysis.comparison import (
    STRUCTURE_COLUMNS,
    compare_dynamic,
    format_dynamic_comparison,
    present_values,
    refusal,
    rival_welfare_accounts,
    structure_table,
)
from tests.test_rival_firms import SMALL, _monopsonist

SETTINGS = WelfareSettings()


def _rivals(licensing, firms=2, seed=3, **settings):
    return RivalFirmsModel(rng=seed, firms=firms, licensing=licensing, **{**SMALL, **settings})


# --- recording every k-th round ----------------------------------------------------------------


@pytest.mark.parametrize("licensing", ["non_exclusive", "exclusive"])
def test_rival_firms_summaries_do_not_depend_on_record_every(licensing):
    """Every round feeds the running totals, recorded or not: k = 10 and k = 1 summarise the same
    run (same seed, same rounds) to rounding of a sum in another order, 1e-12."""
    runs = {k: simulate(firms=2, licensing=licensing, record_every=k, seed=4, fluid=False, **SMALL) for k in (1, 10)}
    every, sparse = runs[1], runs[10]
    assert len(sparse.agents) == len(every.agents[::10]) + 1  # every 10th round and the last (60 rounds)
    kept = every.agents.iloc[list(range(0, len(every.agents), 10)) + [len(every.agents) - 1]].reset_index(drop=True)
    assert np.array_equal(sparse.agents["time"].to_numpy(), kept["time"].to_numpy())
    assert np.allclose(sparse.agents["precision_firm_2"], kept["precision_firm_2"], rtol=0, atol=0)
    one, ten = summarise(every), summarise(sparse)
    assert one.keys() == ten.keys() and one["rounds"] == ten["rounds"] == 60
    for name, value in one.items():
        if np.isfinite(value):
            assert ten[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name
        else:
            assert not np.isfinite(ten[name]), name


# --- welfare with F firms ----------------------------------------------------------------------


def test_one_rival_firms_accounts_are_the_monopsonists():
    """At F = 1 the rival-firms trajectory is the monopsonist's bit for bit (tests/test_rival_firms.py)
    and its accounts must be welfare_accounts of the monopsonist's run."""
    reference = _monopsonist()
    rivals = _rivals("exclusive", firms=1).run()
    market = default_scenario().market
    expected = welfare_accounts(reference, market, SETTINGS, SMALL["dt"]).present_value
    measured = rival_welfare_accounts(rivals, market, 1, SETTINGS, SMALL["dt"]).present_value
    for party in (*PARTIES, "welfare"):
        assert measured[party] == pytest.approx(expected[party], rel=1e-12, abs=1e-12), party


def test_non_exclusive_accounts_value_the_firms_mean_precision_not_their_sum():
    """Non-exclusive firms train on all content from the same start, so each firm's stocks and
    precision are the market's; the firms then serve the consumers as one firm of that precision
    would: the accounts equal welfare_accounts of the market columns (independent of the per-firm
    views), not twice its service."""
    model = _rivals("non_exclusive")
    trajectory = model.run()
    assert np.array_equal(trajectory["precision_firm_1"], trajectory["precision_firm_2"])
    market = model.market
    expected = welfare_accounts(trajectory, market, SETTINGS, SMALL["dt"])
    measured = rival_welfare_accounts(trajectory, market, 2, SETTINGS, SMALL["dt"])
    for party in (*PARTIES, "welfare"):
        assert measured.present_value[party] == pytest.approx(expected.present_value[party], rel=1e-12), party
    service = float(expected.flows["weight"] @ expected.flows["service"])
    assert measured.present_value["firm"] < expected.present_value["firm"] + 0.5 * service  # not the sum


def test_exclusive_firms_each_keep_their_share_of_the_inflows_after_the_horizon():
    """Tied exclusive firms split the creators: after the horizon each firm's stocks grow with half
    the inflows. Recomputed directly: the terminal firms' value is
    e^{-r T_end} [ sum_f (s/2) C(X_f', I/2) - T / r ] with X_f' = e^{-delta dt} X_f + growth I/2 and
    C the continuation integral (abm.theory.welfare.continuation_value)."""
    model = _rivals("exclusive")
    trajectory = model.run()
    last = trajectory.iloc[-1]
    assert last["share_firm_1"] == last["share_firm_2"] == 0.5  # a tie in the last round
    market, dt, rate = model.market, SMALL["dt"], SETTINGS.discount_rate
    decay, growth = round_factors(market.depreciation, dt)
    inflow = round_inflows(trajectory.iloc[[-1]], market)[0] / 2
    service = 0.0
    for f in (1, 2):
        stocks = np.array([last[f"stock_innovators_firm_{f}"], last[f"stock_rank_and_file_firm_{f}"]])
        value, _, _ = continuation_value(market, SETTINGS.value(market) / 2, rate, decay * stocks + growth * inflow,
                                         inflow)
        service += value
    expected = np.exp(-rate * (last["time"] + dt)) * (service - last["firm_transfer"] / rate)
    measured = rival_welfare_accounts(trajectory, market, 2, SETTINGS, dt)
    assert measured.terminal["firm"] == pytest.approx(expected, rel=1e-12)
    market_columns = welfare_accounts(trajectory, market, SETTINGS, dt)  # the mean firm fed every inflow
    assert measured.terminal["firm"] < market_columns.terminal["firm"]


# --- the comparison ------------------------------------------------------------------------------


def test_refusal_names_what_a_structure_needs_and_is_empty_when_it_runs():
    diverse = resolve_scenario("curse_with_diverse_imitators").with_simulation(agents=20, horizon=1.0)
    assert refusal(diverse.with_regime("strict_ip")) == ""
    assert refusal(default_scenario().with_simulation(agents=20, horizon=1.0, firms=2)) == ""
    for name in ("private_broker", "creator_union"):
        assert f"the {name} regime prices per type" in refusal(diverse.with_regime(name))
    assert refusal(structure_for(diverse, "rival_firms_exclusive")).startswith(
        "rival firms need one loading and one cost per type")


@pytest.mark.slow
def test_the_comparison_records_structures_a_population_refuses():
    """curse_with_diverse_imitators spreads the imitators' loadings: the private broker and the
    creator union (per-type supply curves) and rival firms (one loading per type) refuse it; the
    comparison keeps their messages and runs every other regime."""
    scenario = resolve_scenario("curse_with_diverse_imitators").with_simulation(agents=60, horizon=5.0)
    comparison = compare_dynamic(scenario)
    table = comparison.summary
    refused = {"private_broker", "creator_union", "rival_firms_non_exclusive", "rival_firms_exclusive"}
    assert set(table.index) == set(REGIMES) | refused
    for name in refused:
        note = table.loc[name, "note"]
        assert note.startswith("refused: ") and "one loading and one cost per type" in note, name
        assert note.removeprefix("refused: ") == refusal(structure_for(scenario, name))
        assert np.isnan(table.loc[name, "precision_final"])
    ran = table.drop(index=list(refused))
    assert ran["precision_final"].notna().all() and (ran["note"] == "").all()
    assert "Structures this population refuses: " in format_dynamic_comparison(comparison)
    assert "private_broker (refused: " in format_dynamic_comparison(comparison)
    structures = structure_table(comparison)
    assert list(structures.columns) == list(STRUCTURE_COLUMNS) and len(structures) == len(table)


def structure_for(scenario, name):
    from analysis.comparison import structures

    return structures(scenario)[name]


@pytest.mark.slow
def test_the_comparison_puts_rival_firms_beside_the_regimes_under_the_planners_bound(tmp_path):
    """Every regime and two rival firms under each licence on the same agents; present values add
    up by party, no structure beats the dynamic planner, the job writes the structures' table and figure."""
    from abm.jobs.compare import write_dynamic_comparison

    scenario = default_scenario().with_simulation(agents=100, horizon=5.0, dt=0.1)
    comparison = compare_dynamic(scenario)
    table = comparison.summary
    assert set(table.index) == set(REGIMES) | {"rival_firms_non_exclusive", "rival_firms_exclusive"}
    assert table["pv_welfare"].notna().all() and (table["note"] == "").all()
    assert not table["exceeds_planner"].any()
    parts = table[["pv_firm", "pv_innovators", "pv_rank_and_file", "pv_intermediary"]].sum(axis=1)
    assert parts.to_numpy() == pytest.approx(table["pv_welfare"].to_numpy(), rel=1e-9)
    for name in ("rival_firms_non_exclusive", "rival_firms_exclusive"):
        run = simulate(structure_for(scenario, name))
        assert present_values(run)["pv_welfare"] == pytest.approx(table.loc[name, "pv_welfare"], rel=1e-12)
    paths = write_dynamic_comparison(comparison, tmp_path)
    assert (tmp_path / "structures.csv").exists() and (tmp_path / "structures.png") in paths
