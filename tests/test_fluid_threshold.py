"""Discontinuous supply: the sliding (Filippov) fluid limit, the round map, the agents, the scenario.

References independent of the code under test: the round map is recomputed by exhaustive
search over a price grid in plain numpy (:func:`analysis.threshold.brute_force_rounds`), with
no branches, events or Filippov weights.
"""

import numpy as np
import pytest

from abm.scenario import apply_overrides, default_scenario, resolve_scenario
from abm.simulation.run import simulate
from abm.theory.fluid import jump_prices, marginal_values, myopic_price, price_branches, profit_rate, solve_fluid
from abm.theory.supply import PointMass
from analysis.threshold import band, brute_force_rounds, paid_per_unit_effort, threshold_checks

THRESHOLD = resolve_scenario("threshold_entry")
#: Every threshold scenario must finish far below the default bound of 20,000 evaluations (the
#: LSODA solver used before was still chattering after 37,000 and 66,000 evaluations, a minute, on two).
EVALUATION_BOUND = 5_000


def threshold_markets():
    """The shipped threshold scenario and the default market with either type at a fixed threshold."""
    default = default_scenario()
    innovators = apply_overrides(default, {"innovators.outside_option": {"distribution": "point_mass", "value": 0.03}})
    rank_and_file = apply_overrides(default, {"rank_and_file.outside_option": {"distribution": "point_mass",
                                                                              "value": 0.001}})
    return {"threshold_entry": (THRESHOLD.market, 100.0), "innovators_at_0.03": (innovators.market, 200.0),
            "rank_and_file_at_0.001": (rank_and_file.market, 200.0)}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(threshold_markets()))
def test_threshold_scenarios_finish_within_a_small_evaluation_bound(name):
    market, horizon = threshold_markets()[name]
    frame = solve_fluid(market, horizon, max_evaluations=EVALUATION_BOUND)
    assert frame.attrs["evaluations"] <= EVALUATION_BOUND
    assert np.isfinite(frame.to_numpy()).all() and len(frame) == 201


def test_jump_prices_are_where_the_atom_enters():
    market = THRESHOLD.market
    (jump,) = jump_prices(market)
    assert jump == pytest.approx(np.sqrt(0.06), rel=1e-15)
    assert market.innovators.active_mass(jump) == 1.0 and market.innovators.active_mass(np.nextafter(jump, 0)) == 0.0
    assert jump_prices(default_scenario().market).size == 0


def test_branch_prices_maximise_profit_on_their_intervals():
    """Each branch's price beats a dense grid of its interval; the myopic price is the best branch's."""
    market = THRESHOLD.market
    (jump,) = jump_prices(market)
    for stocks in [(2.0, 1.0), (0.95, 2.87), (0.3, 5.0)]:
        margins = marginal_values(market, stocks)
        prices, profits = price_branches(market, margins)
        below = np.linspace(0.0, np.nextafter(jump, 0.0), 100_001)
        above = np.linspace(jump, market.value * margins.max(), 100_001)
        for price, profit, grid in zip(prices, profits, (below, above)):
            assert profit >= profit_rate(market, grid, margins).max() - 1e-12
            assert profit == pytest.approx(float(profit_rate(market, price, margins)), rel=1e-12)
        assert myopic_price(market, margins) == prices[int(np.argmax(profits))]


@pytest.mark.slow
def test_round_map_band_shrinks_onto_the_sliding_solution_at_order_one():
    """As dt halves, the round map's precision over [T/2, T] closes on the Filippov solution like dt.

    Tolerances fixed before the run: fitted order in [0.8, 1.2] (first-order scheme; the smooth
    scenario's measured order is 1.04); every band contains the sliding solution's range;
    the share of rounds at the innovators' entry price ends within 0.01 of the Filippov weight.
    """
    market, horizon, every = THRESHOLD.market, 100.0, 0.5
    times = np.arange(horizon / 2, horizon + every / 2, every)
    sliding = solve_fluid(market, horizon, times=times)
    steps, gaps, widths = (0.5, 0.25, 0.125, 0.0625), [], []
    for dt in steps:
        rounds = brute_force_rounds(market, dt, int(round(horizon / dt)) + 1)
        at = rounds["precision"].to_numpy()[np.round(times / dt).astype(int)]
        gaps.append(np.max(np.abs(at - sliding["precision"].to_numpy())))
        low, high = band(rounds, horizon / 2)
        widths.append(high - low)
        assert low <= sliding["precision"].min() and sliding["precision"].max() <= high
    order = np.polyfit(np.log(steps), np.log(gaps), 1)[0]
    assert 0.8 <= order <= 1.2, (order, gaps)
    assert all(np.diff(gaps) < 0) and all(np.diff(widths) < 0)
    late = rounds[rounds["time"] >= horizon / 2]
    share = float(np.mean(late["price"] >= jump_prices(market)[0]))
    alpha = float(sliding["active_innovators"].iloc[-1] / market.innovators.mass)
    assert share == pytest.approx(alpha, abs=0.01)


@pytest.mark.slow
def test_agents_stay_in_the_fluid_band_widened_for_their_number():
    """Agents vs fluid limit as bands over the second half, never path by path.

    Fluid band: the sliding solution and the round map at the agents' dt. Finite-population
    tolerance, fixed before the agents run: with quantile sampling the agents' rank-and-file
    CDF lies within 1/(2N) of G, so the band is widened by how far the round map's band
    moves when that CDF is shifted by +-1/(2N).
    """
    agents, market, dt = 2000, THRESHOLD.market, THRESHOLD.simulation.dt
    horizon, n_rounds = THRESHOLD.simulation.horizon, THRESHOLD.simulation.n_rounds
    start = horizon / 2
    bands = [band(brute_force_rounds(market, dt, n_rounds, shift), start) for shift in (-0.5 / agents, 0.0,
                                                                                      0.5 / agents)]
    widening = max(bands[1][0] - min(b[0] for b in bands), max(b[1] for b in bands) - bands[1][1])
    run = simulate(THRESHOLD, agents=agents, sampling="quantile")
    sliding = band(run.fluid, start)
    low, high = min(sliding[0], bands[1][0]) - widening, max(sliding[1], bands[1][1]) + widening
    observed = band(run.agents, start)
    assert low <= observed[0] and observed[1] <= high, (observed, (low, high))
    assert high - low < 0.06  # the bound bites: the dt = 0.5 band alone is 0.12 wide
    assert paid_per_unit_effort(run.agents, start) == pytest.approx(paid_per_unit_effort(run.fluid, start), abs=1e-3)


@pytest.mark.slow
def test_threshold_scenario_shows_what_its_description_states():
    """Every number in threshold_entry.toml's description, each within half a unit of its last
    stated digit (the description rounds), intervals as enclosing bounds within 0.01."""
    text = " ".join(THRESHOLD.description.split())
    market, start = THRESHOLD.market, THRESHOLD.simulation.horizon / 2
    assert market.innovators.outside_option == PointMass(0.03)
    (entry,) = jump_prices(market)
    assert "sqrt(2 * 0.03) = 0.245" in text and entry == pytest.approx(0.245, abs=5e-4)
    rounds = brute_force_rounds(market, THRESHOLD.simulation.dt, THRESHOLD.simulation.n_rounds)
    late = rounds[rounds["time"] >= start]
    assert np.isclose(late["price"], entry, rtol=1e-12, atol=0.0).any()
    low_prices = late.loc[late["price"] < entry, "price"]
    assert "between 0.042 and 0.044" in text
    assert low_prices.min() == pytest.approx(0.042, abs=5e-4) and low_prices.max() == pytest.approx(0.044, abs=5e-4)
    sliding = solve_fluid(market, 100.0, times=[start, 100.0])
    assert "bought 39% of the time" in text
    assert sliding["active_innovators"].iloc[-1] / market.innovators.mass == pytest.approx(0.39, abs=5e-3)
    assert "settles at 1.72 by t = 100" in text and sliding["precision"].iloc[-1] == pytest.approx(1.72, abs=5e-3)
    assert "barrier 1.30" in text and sliding["precision_barrier"].iloc[-1] == pytest.approx(1.30, abs=5e-3)
    assert "dt = 0.1 keep precision within [1.71, 1.75]" in text
    _assert_enclosed(band(rounds, start), (1.71, 1.75))
    coarse = brute_force_rounds(market, 0.5, int(round(THRESHOLD.simulation.horizon / 0.5)))
    assert "dt = 0.5 within [1.68, 1.81]" in text
    _assert_enclosed(band(coarse, start), (1.68, 1.81))
    assert "5,000 agents per type" in text and THRESHOLD.simulation.agents == 5000
    assert THRESHOLD.simulation.sampling == "quantile"
    _assert_enclosed(band(simulate(THRESHOLD).agents, start), (1.71, 1.75))
    assert "about 9 rank-and-file agents" in text
    active = 5000 * market.rank_and_file.outside_option.cdf(low_prices.mean() ** 2 / 2)
    assert active == pytest.approx(9, abs=0.5)


def _assert_enclosed(observed, stated):
    """``stated`` encloses ``observed`` and rounds it outwards to two decimals."""
    assert stated[0] <= observed[0] < stated[0] + 0.01 and stated[1] - 0.01 < observed[1] <= stated[1], observed


def test_rank_and_file_threshold_slides_with_partial_entry():
    """At a rank-and-file threshold the firm is indifferent between buying the whole group and none
    of it: the sliding solution buys a fraction, strictly between 0 and the group's mass."""
    market, _ = threshold_markets()["rank_and_file_at_0.001"]
    frame = solve_fluid(market, 60.0, times=[60.0])
    active = frame["active_rank_and_file"].iloc[-1]
    assert 0.0 < active < market.rank_and_file.mass
    assert frame["price"].iloc[-1] == pytest.approx(jump_prices(market)[0], rel=1e-9)


@pytest.mark.slow
def test_validation_checks_pass_and_draw_their_figure(tmp_path):
    checks = threshold_checks(tmp_path, quick=True)
    assert len(checks) == 4 and all(check.passed for check in checks), [c.observed for c in checks]
    assert "threshold_entry.png" in {check.figure for check in checks}
    assert (tmp_path / "threshold_entry.png").stat().st_size > 10_000
