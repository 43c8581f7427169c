"""abm compare ranks regimes by present-value welfare, and no regime beats the dynamic planner."""

import pytest

from abm.scenario import apply_overrides, default_scenario
from analysis.comparison import compare_dynamic, format_dynamic_comparison


@pytest.mark.slow
def test_present_value_ranks_the_intermediary_first_and_no_regime_beats_the_planner():
    scenario = apply_overrides(default_scenario(), {"agents": 300, "dt": 0.5})
    comparison = compare_dynamic(scenario)
    table = comparison.summary
    # The old flow sum (Eq. 12) ranked free-for-all first; the level criterion must not.
    assert table.loc["intermediary", "pv_welfare"] > table.loc["strict_ip", "pv_welfare"]
    assert table.loc["intermediary", "pv_welfare"] > table.loc["free_for_all", "pv_welfare"]
    assert table.loc["free_for_all", "welfare_cumulative"] > table.loc["intermediary", "welfare_cumulative"]
    # The planner's present value bounds every regime on the same round grid (a check that can fail).
    assert (table["pv_welfare"] <= table["pv_planner"]).all() and not table["exceeds_planner"].any()
    # Each party's present values add up to the total: an identity of the accounting, shown for completeness.
    parts = table[["pv_firm", "pv_innovators", "pv_rank_and_file", "pv_intermediary"]].sum(axis=1)
    assert parts.to_numpy() == pytest.approx(table["pv_welfare"].to_numpy(), rel=1e-9)
    assert "Ranking: intermediary" in format_dynamic_comparison(comparison)
