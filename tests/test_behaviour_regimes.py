"""Creator behaviours under every market regime: the agents dock with their fluid map under the same regime.

Each behaviour of the registry with a shipped scenario runs, on that scenario's market, under
every regime of :data:`abm.regimes.REGIMES`. Where the regime posts prices independent of the
firm, creators answer the posted per-type price with their rule; the fluid map
(:func:`abm.theory.behaviour_limits.behaviour_rounds`) follows the same regime prices.
"""

import functools

import numpy as np
import pytest

from abm.regimes import REGIMES
from abm.scenario import resolve_scenario
from abm.simulation.dynamic_market.behaviours import BEHAVIOURS
from abm.simulation.dynamic_market.model import DataMarketModel
from abm.simulation.run import simulate, sup_distances
from abm.theory.behaviour_limits import behaviour_rounds
from analysis.comparison import behaviour_scenario, with_behaviour

RULES = [rule for rule in BEHAVIOURS if rule != "best_response" and behaviour_scenario(rule)]
#: Creators per type, horizon and seed of the docking runs.
AGENTS, HORIZON, SEED = 1000, 15.0, 1
#: Relative sup-distance allowed between the agents' precision and the fluid map's, fixed in advance:
#: an active share among N independent creators has a standard error of at most 0.5 / sqrt(N) (a
#: Bernoulli variance is at most 1/4); precision moves less than proportionally with the stocks it is
#: built from (it is concave in them), and four standard errors leave room for the price's response
#: to the state: 4 * 0.5 / sqrt(N).
DOCKING_TOLERANCE = 2.0 / np.sqrt(AGENTS)


#: The regime each rule docks under in the quick subset; every other pair is marked slow.
QUICK_REGIME = "intermediary"


@functools.lru_cache(maxsize=None)
def _run(rule: str, regime: str):
    """One docking run (cached: several tests read the same run; none modifies it)."""
    scenario = resolve_scenario(behaviour_scenario(rule))
    return simulate(scenario.with_regime(regime), agents=AGENTS, horizon=HORIZON, seed=SEED)


def _pairs():
    return [pytest.param(rule, regime, marks=() if regime == QUICK_REGIME else pytest.mark.slow)
            for rule in RULES for regime in REGIMES]


def _relative_distance(result) -> float:
    merged = result.agents.merge(result.fluid, on="time", suffixes=("_agents", "_fluid"))
    return float(np.max(np.abs(merged["precision_agents"] - merged["precision_fluid"]) / merged["precision_fluid"]))


@pytest.mark.parametrize("rule, regime", _pairs())
def test_agents_dock_with_their_fluid_map_under_every_regime(rule, regime):
    """Or the model refuses the pair with an error naming the regime (a rule that needs prices per style
    from marginal values, chosen_originality, refuses the regimes that price against supply curves)."""
    try:
        result = _run(rule, regime)
    except ValueError as error:
        assert "simulation.regime" in str(error) and regime in str(error)
        return
    assert result.fluid is not None and len(result.fluid) > 1
    assert _relative_distance(result) <= DOCKING_TOLERANCE
    if REGIMES[regime].settles_by_tariff:  # the rule decides who enters; the tariff settles over them
        agents = result.agents  # rounding of sums over 2N creators, each relative 2.2e-16, on the transfer's scale
        tolerance = 2 * AGENTS * np.finfo(float).eps * np.maximum(1.0, agents["firm_transfer"].abs())
        assert (agents["intermediary_balance"].abs() <= tolerance).all()
    if regime == "free_for_all":  # price 0 every round: nobody delivers, both stocks only depreciate
        assert (result.agents["price"] == 0).all()
        np.testing.assert_allclose(result.agents["precision"], result.fluid["precision"], rtol=1e-12)


def test_the_fluid_map_follows_the_regime_prices():
    """Sensitivity of the docking test: under the intermediary the strict-IP fluid map is far from the
    agents (farther than the tolerance by an order of magnitude), the intermediary's map is within it."""
    result = _run("logit", "intermediary")
    scenario = result.scenario
    strict = behaviour_rounds(scenario.market, scenario.behaviours, scenario.simulation.dt,
                              scenario.simulation.n_rounds)
    assert abs(strict["precision"].iloc[-1] / result.agents["precision"].iloc[-1] - 1) > 10 * DOCKING_TOLERANCE
    assert _relative_distance(result) <= DOCKING_TOLERANCE
    # the intermediary posts v m_k to each type: the agents' per-type prices are the marginal values
    agents = result.agents[result.agents["price"] > 0]
    np.testing.assert_allclose(agents["price_innovators"], agents["marginal_value_innovators"], rtol=1e-12)
    np.testing.assert_allclose(agents["price_rank_and_file"], agents["marginal_value_rank_and_file"], rtol=1e-12)


def test_under_strict_ip_the_regime_argument_changes_nothing():
    """The default (``regime=None``) and strict IP given explicitly are the same map, bit for bit."""
    scenario = resolve_scenario("sunk_entry")
    args = (scenario.market, scenario.behaviours, scenario.simulation.dt, 40)
    default = behaviour_rounds(*args)
    explicit = behaviour_rounds(*args, regime=REGIMES["strict_ip"], settings=scenario.regime)
    assert default.equals(explicit)


@pytest.mark.parametrize("rule", RULES)
def test_agent_by_agent_and_array_paths_agree_under_a_posted_price_regime(rule):
    scenario = resolve_scenario(behaviour_scenario(rule)).with_regime("collective_pool")
    runs = [DataMarketModel(scenario, agents=60, horizon=5.0, rng=3, stepping=s).run() for s in ("array", "agents")]
    assert runs[0].equals(runs[1])


def test_a_forward_looking_firm_is_refused_only_where_the_firm_prices():
    scenario = with_behaviour(resolve_scenario("logit_entry"), "logit").with_simulation(firm="forward_looking")
    with pytest.raises(ValueError, match="simulation.firm"):
        DataMarketModel(scenario, agents=20, horizon=1.0, rng=0)
    DataMarketModel(scenario.with_regime("collective_pool"), agents=20, horizon=1.0, rng=0).run()


def test_sup_distances_are_small_for_the_price_too_under_posted_prices():
    """Under a statutory licence the posted price is the rate itself, for agents and fluid map alike."""
    result = _run("logit", "statutory_license")
    assert sup_distances(result.agents, result.fluid, ["price"])["price"] == 0.0
    assert (result.agents["price"] == result.scenario.regime.statutory_rate).all()


def test_compare_runs_the_regimes_with_any_behaviour_by_keyword():
    """``abm compare --set KEY=VALUE``: values read as TOML, bare words as strings, reaching the scenario."""
    from abm.jobs.compare import parse_overrides
    from abm.scenario import apply_overrides, default_scenario

    overrides = parse_overrides(["rank_and_file.behaviour.rule=logit", "rank_and_file.behaviour.temperature=0.02",
                                 "agents = 40"])
    assert overrides == {"rank_and_file.behaviour.rule": "logit", "rank_and_file.behaviour.temperature": 0.02,
                         "agents": 40}
    scenario = apply_overrides(default_scenario(), overrides)
    assert scenario.behaviours[1].rule == "logit" and scenario.behaviours[1]["temperature"] == 0.02
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(["temperature"])


def test_compare_behaviours_table_has_one_row_per_behaviour_and_regime():
    from analysis.comparison import compare_behaviours

    scenario = resolve_scenario("logit_entry").with_simulation(agents=40, horizon=2.0)
    table = compare_behaviours(scenario, rules=["best_response", "logit"], regimes=["strict_ip", "free_for_all"])
    assert list(zip(table["behaviour"], table["regime"])) == [("best_response", "strict_ip"),
                                                             ("best_response", "free_for_all"),
                                                             ("logit", "strict_ip"), ("logit", "free_for_all")]
    free = table[table["regime"] == "free_for_all"]
    assert (free["price_final"] == 0).all() and (free["innovator_participation_final_fluid"].iloc[0] == 0)
    # the same agents: best response here is the plain scenario's run
    plain = simulate(with_behaviour(scenario, "best_response"))
    assert table["precision_final"].iloc[0] == plain.agents["precision"].iloc[-1]


def test_validate_has_a_section_per_behaviour_of_the_registry():
    """``abm validate`` covers every rule with a shipped scenario, and its convergence fit reads the runs."""
    from analysis.comparison import behaviour_rules
    from analysis.validation import behaviour_convergence

    assert [rule for rule, _ in behaviour_rules()] == RULES
    fit = behaviour_convergence("logit_entry", populations=(40, 160), replications=2, seed=5, horizon=2.0)
    table = fit["table"]
    assert list(table["agents"]) == [40, 40, 160, 160] and (table["precision"] > 0).all()
    design = np.log(table["agents"].to_numpy(dtype=float))
    expected = np.polyfit(design, np.log(table["precision"].to_numpy()), 1)[0]  # OLS slope, computed apart
    assert fit["slope"] == pytest.approx(expected, rel=1e-9) and fit["dof"] == 2
