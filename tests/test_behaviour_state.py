"""Each creator's behaviour state is readable from its Mesa agent (issue: creators who decide).

The agent's ``behaviour_state`` is checked against what the trajectory implies, computed here
from the posted prices and the agent's own fixed characteristics, not read back from the rule.
"""

import math

import numpy as np

from abm.scenario import resolve_scenario
from abm.simulation.dynamic_market.model import DataMarketModel

ROUNDS = 6


def _model(name, **keywords):
    return DataMarketModel(scenario=resolve_scenario(name), agents=60, seed=3, **keywords)


def _run(model, rounds=ROUNDS):
    for _ in range(rounds):
        model.step()
    return model


def test_best_response_creators_remember_nothing():
    model = _run(_model("curse_of_precision"))
    assert all(agent.behaviour_state == {} for agent in list(model.agents)[:20])


def test_a_sunk_entry_incumbent_is_a_creator_active_last_round():
    model = _run(_model("sunk_entry"))
    creators = [a for a in model.agents if hasattr(a, "outside_option")]
    incumbents = [a.behaviour_state["incumbent"] for a in creators]
    assert incumbents == [a.active for a in creators]
    assert 0 < sum(incumbents) < len(creators)


def test_an_adaptive_expectation_follows_the_posted_prices():
    model = _model("adaptive_expectations")
    weight = dict(model.scenario.behaviours[1].parameters)["weight"]
    expected = math.nan
    for _ in range(ROUNDS):
        model.step()
        posted = float(model.trajectory()["price"].iloc[-1])
        expected = posted if math.isnan(expected) else expected + weight * (posted - expected)
    rank_and_file = [a for a in model.agents if type(a).__name__ == "RankAndFileCreator"]
    values = np.array([a.behaviour_state["expected_price"] for a in rank_and_file])
    np.testing.assert_allclose(values, expected, rtol=1e-12)


def test_a_creator_style_carries_its_loading_and_cost():
    model = _run(_model("chosen_originality"))
    styles = dict(model.scenario.behaviours[1].parameters)["styles"]
    menu = dict(zip(styles.names, zip(styles.betas, styles.costs)))
    rank_and_file = [a for a in model.agents if type(a).__name__ == "RankAndFileCreator"]
    styles = {a.behaviour_state["style"] for a in rank_and_file}
    assert styles and all(isinstance(s, str) for s in styles)
    by_style = {}
    for agent in rank_and_file:
        by_style.setdefault(agent.behaviour_state["style"], set()).add((agent.beta, agent.cost))
    assert all(len(pairs) == 1 for pairs in by_style.values())  # one loading and cost per style
    assert all(pairs == {menu[name]} for name, pairs in by_style.items())
