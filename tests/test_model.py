"""The agent-based model: agent bookkeeping, reproducibility, and Props. 5 and 6 round by round."""

import numpy as np
import pandas as pd
import pytest

from abm.simulation.dynamic_market.agents import AIFirm, Innovator, RankAndFileCreator
from abm.simulation.dynamic_market.model import STEPPING, DataMarketModel
from abm.theory.fluid import TRAJECTORY_COLUMNS, precision, precision_barrier
from abm.theory.supply import PointMass
from abm.theory.fluid import CreatorType
from tests.markets import curse_market, priced_out_market, scenario


def small(**simulation):
    settings = dict(horizon=10.0, dt=0.1, agents=150) | simulation
    return scenario(curse_market(), **settings)


CREATOR_STATE = ("offered_price", "active", "effort", "stock", "payoff", "entry_price", "outside_option", "cost",
                 "beta", "mass")


def creator_states(model) -> list:
    """Every creator agent's id, class and state, in the order of ``model.agents``."""
    return [(agent.unique_id, type(agent).__name__, *(getattr(agent, name) for name in CREATOR_STATE))
            for agent in model.agents if isinstance(agent, (Innovator, RankAndFileCreator))]


@pytest.mark.parametrize("firm", ["myopic", "learning"])
def test_agent_by_agent_and_array_paths_give_identical_trajectories(firm):
    runs = [DataMarketModel(small(firm=firm), stepping=stepping, rng=3).run() for stepping in ("agents", "array")]
    pd.testing.assert_frame_equal(runs[0], runs[1], check_exact=True)


@pytest.mark.parametrize("regime", ["strict_ip", "intermediary"])
def test_agent_by_agent_and_array_paths_leave_every_creator_in_the_same_state(regime):
    """Bit for bit: each creator's entry, effort and stock, whether the agents stepped themselves or
    the array path worked them out from the price history on inspection (ids and order too)."""
    models = [DataMarketModel(small(regime=regime, agents=60), stepping=stepping, rng=5) for stepping in STEPPING]
    for rounds in (7, 1, 12):  # inspect mid-run too: later rounds must pick up where inspection left off
        for model in models:
            model.run(rounds)
        assert creator_states(models[0]) == creator_states(models[1])
        pd.testing.assert_frame_equal(models[0].trajectory(), models[1].trajectory(), check_exact=True)


def test_agents_are_real_mesa_agents_with_views_of_the_arrays():
    model = DataMarketModel(small(agents=20), rng=1)
    model.run(5)
    assert len(model.agents_by_type[Innovator]) == 20 and len(model.agents_by_type[RankAndFileCreator]) == 20
    assert len(model.agents_by_type[AIFirm]) == 1
    creator = model.agents_by_type[RankAndFileCreator][0]
    assert creator.beta == 0.9 and creator.mass == pytest.approx(20.0 / 20)
    assert creator.active == (model.firm.prices[1] >= creator.entry_price)
    assert creator.effort == (model.firm.prices[1] / creator.cost if creator.active else 0.0)
    if creator.active:
        assert creator.payoff == pytest.approx(model.firm.prices[1]**2 / (2 * creator.cost))
    total = sum(agent.stock for agent in model.agents_by_type[RankAndFileCreator])
    assert total == pytest.approx(model.stocks[1])


def test_creator_agents_are_created_on_first_look_with_the_ids_they_always_had():
    model = DataMarketModel(small(agents=30), rng=1)
    assert not model._agents_by_type.get(Innovator)  # nobody has asked yet
    model.run(3)
    assert model.firm.unique_id == 61 and not model._agents_by_type.get(Innovator)
    agents = list(model.agents)
    assert [agent.unique_id for agent in agents] == list(range(1, 62))
    assert [type(agent) for agent in agents] == [Innovator] * 30 + [RankAndFileCreator] * 30 + [AIFirm]
    assert list(model.agents_by_type) == [Innovator, RankAndFileCreator, AIFirm]
    assert [agent.index for agent in model.agents_by_type[RankAndFileCreator]] == list(range(30, 60))
    model.run(2)  # the array path goes on with the agents in place
    assert len(model.agents) == 61


def test_runs_are_reproducible_from_the_seed():
    first, again = (DataMarketModel(small(), rng=11).run() for _ in range(2))
    other = DataMarketModel(small(), rng=12).run()
    pd.testing.assert_frame_equal(first, again, check_exact=True)
    assert not first["price"].equals(other["price"])


def test_trajectory_has_every_column_and_consistent_accounting():
    trajectory = DataMarketModel(small(), rng=2).run()
    assert list(trajectory.columns) == list(TRAJECTORY_COLUMNS)
    assert len(trajectory) == 100
    np.testing.assert_allclose(trajectory["time"], np.arange(100) * 0.1, atol=1e-9)
    welfare = trajectory["firm_profit"] + trajectory["surplus_innovators"] + trajectory["surplus_rank_and_file"]
    np.testing.assert_allclose(trajectory["welfare"], welfare)
    assert (trajectory[["surplus_innovators", "surplus_rank_and_file"]] >= 0).all().all()
    recomputed = [precision(curse_market(), row) for row in
                  trajectory[["stock_innovators", "stock_rank_and_file"]].to_numpy()]
    np.testing.assert_allclose(trajectory["precision"], recomputed, rtol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_every_price_is_below_the_cap(seed):
    """Prop. 5 (beta_O = 0): the myopic firm's price never exceeds p_bar(g_t), every round."""
    trajectory = DataMarketModel(small(horizon=50.0, dt=0.25, agents=400), rng=seed).run()
    assert np.all(trajectory["price"] <= trajectory["price_cap"] * (1 + 1e-12))
    assert trajectory["price_cap"].iloc[-1] < trajectory["price_cap"].iloc[0]


def test_precision_converges_to_the_barrier_when_innovators_are_priced_out():
    """Prop. 6: innovators never enter, kappa > 0, no depreciation: P rises to P_bar, never past it."""
    market = priced_out_market()
    trajectory = DataMarketModel(scenario(market, horizon=2e5, dt=1000.0, agents=200), rng=0).run()
    barrier = precision_barrier(market.sigma0_sq, market.kappa, market.rank_and_file.beta)
    assert (trajectory["active_innovators"] == 0).all()
    assert np.all(np.diff(trajectory["precision"]) >= 0)
    assert np.all(trajectory["precision"] < barrier)
    # Its limit is the precision of the final stock alone, which is within 1e-3 of P_bar.
    assert barrier - trajectory["precision"].iloc[-1] < 1e-3 * barrier


def test_without_recursive_bias_or_exit_precision_does_not_stall():
    """kappa = 0 and nobody exits (zero outside options): precision keeps growing past any barrier."""
    no_exit = dict(outside_option=PointMass(0.0))
    market = curse_market(kappa=0.0, depreciation=0.0,
                          innovators=CreatorType(mass=1.0, beta=0.0, **no_exit),
                          rank_and_file=CreatorType(mass=20.0, beta=0.9, **no_exit))
    trajectory = DataMarketModel(scenario(market, horizon=400.0, dt=1.0, agents=10), rng=0).run()
    barrier_with_bias = precision_barrier(market.sigma0_sq, 0.2, 0.9)
    halves = np.array_split(trajectory["precision"].to_numpy(), 2)
    assert trajectory["precision"].iloc[-1] > 5 * barrier_with_bias
    assert halves[1][-1] - halves[1][0] > 0.5 * (halves[0][-1] - halves[0][0])  # growth is not slowing to a stop
    assert (trajectory["active_innovators"] == 1.0).all()


def test_invalid_stepping_is_rejected():
    with pytest.raises(ValueError, match="stepping must be one of"):
        DataMarketModel(small(), stepping="parallel")
