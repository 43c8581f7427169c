"""Chosen originality: creators choose their style (loading, cost); its revision map, the agents, and the scenario."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from scipy.stats import linregress

from abm.regimes import get_regime
from abm.scenario import apply_overrides, keyword_paths, resolve_scenario, scenario_from_dict
from abm.simulation.dynamic_market.agents import RankAndFileCreator
from abm.simulation.dynamic_market.model import DataMarketModel
from abm.simulation.dynamic_market.originality import style_history
from abm.theory.behaviour_limits import Behaviour, behaviour_rounds
from abm.theory.originality import (
    StyleMenu, best_style, original_survives, revise_shares, style_payoffs, survival_ratio,
)

MENU = [{"name": "original", "beta": 0.0, "cost": 1.5}, {"name": "conventional", "beta": 0.9, "cost": 1.0}]
BOTH = dict(innovators_behaviour_rule="chosen_originality", innovators_behaviour_styles=MENU,
            innovators_behaviour_revision_rate=0.3, rank_and_file_behaviour_rule="chosen_originality",
            rank_and_file_behaviour_styles=MENU, rank_and_file_behaviour_revision_rate=0.2)
RANK_AND_FILE = dict(rank_and_file_behaviour_rule="chosen_originality", rank_and_file_behaviour_styles=MENU,
                     rank_and_file_behaviour_revision_rate=0.2)


def _fluid(scenario):
    simulation = scenario.simulation
    return behaviour_rounds(scenario.market, scenario.behaviours, simulation.dt, simulation.n_rounds,
                            get_regime(simulation.regime), scenario.regime)


def _precision(stocks, betas, sigma0_sq, kappa):
    """Eq. 11's fixed point by root finding (independent of the closed form the model uses)."""
    stocks, betas = np.asarray(stocks), np.asarray(betas)
    s0, s1, s2 = stocks.sum(), stocks @ betas, stocks @ betas**2

    def gap(p):
        sigma = sigma0_sq + kappa * p
        return p - (s0 - sigma * s1 * s1 / (1.0 + sigma * s2))

    return brentq(gap, 0.0, s0 + 1.0, xtol=1e-14, rtol=1e-14)


# --- the menu and the rule's parameters ---------------------------------------------------------


def test_the_styles_table_parses_round_trips_and_overrides():
    scenario = resolve_scenario("chosen_originality")
    behaviour = scenario.behaviours[1]
    assert behaviour["styles"] == StyleMenu(("original", "conventional"), (0.0, 0.9), (1.5, 1.0))
    assert behaviour["revision_rate"] == 0.1
    assert scenario_from_dict(scenario.to_dict()) == scenario
    assert scenario.to_dict()["rank_and_file"]["behaviour"]["styles"] == MENU
    assert "rank_and_file_behaviour_styles" in keyword_paths(scenario)
    faster = apply_overrides(scenario, {"rank_and_file_behaviour_revision_rate": 0.5})
    assert faster.behaviours[1]["revision_rate"] == 0.5
    cheaper = apply_overrides(scenario, {"rank_and_file.behaviour.styles": [dict(MENU[0], cost=1.0), MENU[1]]})
    assert cheaper.behaviours[1]["styles"].costs == (1.0, 1.0)


@pytest.mark.parametrize("styles,message", [
    ("original", "rank_and_file.behaviour.styles must be a list of tables"),
    ([MENU[0]], "rank_and_file.behaviour.styles must list at least two styles"),
    ([MENU[0], 3.0], r"rank_and_file.behaviour.styles\[1\] must be a table"),
    ([MENU[0], {"name": "conventional", "beta": 0.9}], r"rank_and_file.behaviour.styles\[1\].cost is required"),
    ([MENU[0], dict(MENU[1], cost=0.0)], r"rank_and_file.behaviour.styles\[1\].cost must be > 0"),
    ([MENU[0], dict(MENU[1], beta=-0.1)], r"rank_and_file.behaviour.styles\[1\].beta must be >= 0"),
    ([MENU[0], dict(MENU[1], beta="high")], r"rank_and_file.behaviour.styles\[1\].beta must be a number"),
    ([MENU[0], dict(MENU[1], loading=0.9)], r"rank_and_file.behaviour.styles\[1\].loading is not a key"),
    ([MENU[0], dict(MENU[1], name="original")], r"styles\[1\].name 'original' is given twice"),
    ([MENU[0], dict(MENU[1], name="")], r"styles\[1\].name must be a name"),
])
def test_a_malformed_menu_is_refused_naming_the_field(styles, message):
    with pytest.raises(ValueError, match=message):
        apply_overrides(resolve_scenario("chosen_originality"), {"rank_and_file_behaviour_styles": styles})


@pytest.mark.parametrize("rate", [0.0, -0.1, 1.5, float("nan")])
def test_the_revision_rate_lies_in_the_unit_interval_open_at_zero(rate):
    with pytest.raises(ValueError, match="rank_and_file.behaviour.revision_rate must"):
        apply_overrides(resolve_scenario("chosen_originality"), {"rank_and_file_behaviour_revision_rate": rate})


@pytest.mark.parametrize("override,message", [
    ({"regime": "private_broker"}, "chosen_originality runs under simulation.regime in"),
    ({"firm": "forward_looking"}, "chosen_originality runs with simulation.firm"),
    ({"innovators_behaviour_rule": "logit", "innovators_behaviour_temperature": 0.01},
     "beside best_response only, not beside rule 'logit'"),
])
def test_unsupported_combinations_are_refused(override, message):
    with pytest.raises(ValueError, match=message):
        DataMarketModel("chosen_originality", agents=20, rng=0, **override)


# --- the economics ------------------------------------------------------------------------------


def test_uniform_prices_pick_the_cheapest_style_and_marginal_prices_follow_the_survival_condition():
    costs = np.array([1.5, 1.0])
    for price in (0.01, 0.3, 2.0):  # u_j = p^2 / (2 c_j): the cheapest style pays most at any uniform price
        assert best_style(style_payoffs([price, price], costs)) == 1
    threshold = survival_ratio(1.5, 1.0)
    assert threshold == pytest.approx(math.sqrt(1.5), rel=1e-15)
    for lam in np.linspace(0.0, 1.0, 41):  # m_j = (1 - lam beta_j)^2 (D cancels), prices v m_j with v = 2
        m_orig, m_conv = 1.0, (1.0 - 0.9 * lam) ** 2
        chosen = best_style(style_payoffs(2.0 * np.array([m_orig, m_conv]), costs))
        assert (chosen == 0) == (m_orig / m_conv > threshold) == original_survives(m_orig, m_conv, 1.5, 1.0)


def test_the_revision_map_moves_a_share_rho_of_the_losers_to_the_best_style():
    shares = np.array([0.2, 0.5, 0.3])
    revised = revise_shares(shares, payoffs=[1.0, 3.0, 2.0], rate=0.25)
    np.testing.assert_allclose(revised, [0.15, 0.5 + 0.25 * 0.5, 0.225], rtol=1e-15)
    assert revised.sum() == pytest.approx(1.0, rel=1e-15)
    # ties keep their share; rho = 1 moves every loser at once
    np.testing.assert_array_equal(revise_shares(shares, [3.0, 3.0, 1.0], 1.0), [0.5, 0.5, 0.0])


def test_fluid_shares_follow_the_closed_form_under_each_regime():
    """Strict IP: conventional is best every round, s_orig = 0.5 (1 - rho)^t; the intermediary
    (this market): original is best every round, s_orig = 1 - 0.5 (1 - rho)^t."""
    scenario = apply_overrides(resolve_scenario("chosen_originality"), {"horizon": 10.0})
    rounds = np.arange(scenario.simulation.n_rounds)
    strict = _fluid(scenario)
    np.testing.assert_allclose(strict["share_rank_and_file_original"], 0.5 * 0.9**rounds, rtol=1e-12)
    brokered = _fluid(scenario.with_regime("intermediary"))
    np.testing.assert_allclose(brokered["share_rank_and_file_original"], 1.0 - 0.5 * 0.9**rounds, rtol=1e-12)


def test_the_survival_ratio_at_the_start_of_the_shipped_market():
    """At t = 0 the stocks are the innovators' 2 (beta 0) and the rank-and-file creators' 1 (beta 0.9):
    m_orig / m_conv = 1 / (1 - lambda 0.9)^2 = 3.31 > sqrt(1.5), by root finding on Eq. 11."""
    market = resolve_scenario("chosen_originality").market
    precision = _precision([2.0, 1.0], [0.0, 0.9], market.sigma0_sq, market.kappa)
    sigma = market.sigma0_sq + market.kappa * precision
    lam = sigma * 0.9 / (1.0 + sigma * 0.81)
    ratio = 1.0 / (1.0 - 0.9 * lam) ** 2
    assert ratio == pytest.approx(3.31, abs=5e-3) and ratio > math.sqrt(1.5)
    assert precision == pytest.approx(_fluid(resolve_scenario("chosen_originality").with_simulation(horizon=0.25))
                                      ["precision"].iloc[0], rel=1e-12)


# --- the agents -----------------------------------------------------------------------------------


@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "compiled"])
@pytest.mark.parametrize("regime", ["strict_ip", "intermediary"])
@pytest.mark.parametrize("rules", [BOTH, RANK_AND_FILE], ids=["both types choose", "rank-and-file choose"])
def test_agent_by_agent_and_array_paths_give_identical_trajectories(rules, regime, compiled):
    """Bit for bit, with and without the compiled loops (each path sums the round its own way:
    numpy over the arrays, or in creator order in the decision pass and over what the agents wrote)."""
    models = [DataMarketModel(agents=80, horizon=4.0, dt=0.1, rng=7, stepping=s, regime=regime, compiled=compiled,
                              **rules) for s in ("array", "agents")]
    runs = [model.run() for model in models]
    pd.testing.assert_frame_equal(runs[0], runs[1], check_exact=True)
    pd.testing.assert_frame_equal(style_history(models[0]), style_history(models[1]), check_exact=True)
    np.testing.assert_array_equal(models[0].population.style, models[1].population.style)
    np.testing.assert_array_equal(models[0].population.stock, models[1].population.stock)
    creator = models[1].agents_by_type[RankAndFileCreator][5]
    style = models[1].population.style[creator.index]  # the agent's style gives its loading and cost
    assert (creator.beta, creator.cost) == (MENU[style]["beta"], MENU[style]["cost"])


def test_old_content_keeps_the_loading_it_was_made_with():
    """The model's precision (loading moments accumulated round by round) equals Eq. 11 solved
    by root finding on the per-style stocks the rule keeps plus the initial stocks (which keep
    the types' own loadings), after styles have switched."""
    model = DataMarketModel("chosen_originality", agents=300, horizon=5.0, rng=3)
    model.run()
    history = model.behaviour.history[-1]
    market, decay = model.market, model.population.decay ** model.round
    stocks = [history["stock_innovators_own"], history["stock_rank_and_file_original"],
              history["stock_rank_and_file_conventional"], 2.0 * decay, 1.0 * decay]
    assert 0.0 < history["share_rank_and_file_original"] < 0.5  # styles did switch
    expected = _precision(stocks, [0.0, 0.0, 0.9, 0.0, 0.9], market.sigma0_sq, market.kappa)
    assert model.precision == pytest.approx(expected, rel=1e-10)


def test_calvo_draws_come_from_the_model_rng():
    runs = [style_history(m) for m in (DataMarketModel("chosen_originality", agents=100, horizon=3.0, rng=seed)
                                       for seed in (5, 5, 6)) if m.run() is not None]
    pd.testing.assert_frame_equal(runs[0], runs[1], check_exact=True)
    assert not runs[0].equals(runs[2])


def _share_bound(n: int, rate: float, rounds: int, alpha: float = 1e-6) -> float:
    """Largest deviation of the agents' style share from the fluid map over ``rounds`` rounds,
    with probability ``1 - alpha``, while both pick the same best style each round.

    e_{t+1} = (1 - rho) e_t - xi_t with xi_t = (B_t - rho n_t)/N, B_t ~ Bin(n_t, rho): sub-Gaussian with
    variance proxy n_t / (4 N^2) <= 1 / (4N) (Hoeffding), so e_t has proxy at most
    sum_j (1 - rho)^(2j) / (4N) = 1 / (4 N rho (2 - rho)) (Azuma); a union bound over the rounds.
    """
    sigma = 1.0 / math.sqrt(4.0 * n * rate * (2.0 - rate))
    return sigma * math.sqrt(2.0 * math.log(2.0 * rounds / alpha))


@pytest.mark.slow
@pytest.mark.parametrize("regime", ["strict_ip", "intermediary"])
def test_agents_dock_with_the_revision_map(regime):
    """Shares within the Azuma bound for every seed and size; precision: the mean sup-distance
    falls with N at least as fast as N^(-1/3) (the firm's argmax of an empirical profit curve,
    cube-root asymptotics; N^(-1/2) from the shares), OLS slope within 3 SE."""
    scenario = apply_overrides(resolve_scenario("chosen_originality"), {"horizon": 25.0, "regime": regime})
    fluid = _fluid(scenario)
    rounds, rate = scenario.simulation.n_rounds, 0.1
    x, y = [], []
    for n in (500, 2000, 8000):
        for seed in (1, 2, 3, 4):
            model = DataMarketModel(scenario, agents=n, rng=seed)
            agents = model.run()
            shares = style_history(model)["share_rank_and_file_original"].to_numpy()
            gap = np.abs(shares - fluid["share_rank_and_file_original"].to_numpy()).max()
            assert gap <= _share_bound(n, rate, rounds), (n, seed, gap)
            x.append(math.log(n))
            y.append(math.log(np.abs(agents["precision"].to_numpy() - fluid["precision"].to_numpy()).max()))
    x, y = np.array(x), np.array(y)
    fit = linregress(x, y)  # OLS slope and its standard error
    means = [float(np.exp(y[x == math.log(n)].mean())) for n in (500, 2000, 8000)]
    assert means[0] > means[2]
    assert fit.slope < 0 and fit.slope < -1.0 / 3.0 + 3 * fit.stderr, (fit.slope, fit.stderr, means)


@pytest.mark.slow
def test_the_scenario_states_its_numbers():
    scenario = resolve_scenario("chosen_originality")
    strict, brokered = _fluid(scenario), _fluid(scenario.with_regime("intermediary"))
    at_10 = int(round(10.0 / scenario.simulation.dt))
    assert strict["share_rank_and_file_original"].iloc[at_10] == pytest.approx(0.0074, abs=5e-5)
    assert brokered["share_rank_and_file_original"].iloc[at_10] == pytest.approx(0.9926, abs=5e-5)
    assert strict["share_rank_and_file_original"].iloc[-1] < 1e-18
    assert brokered["share_rank_and_file_original"].iloc[-1] == pytest.approx(1.0, abs=1e-15)
    assert strict["precision"].iloc[-1] == pytest.approx(1.47, abs=5e-3)
    assert strict["precision"].iloc[-1] < strict_barrier(scenario)
    assert brokered["precision"].iloc[-1] == pytest.approx(617.0, abs=0.5)
    for regime, share, precision, tolerance in (("strict_ip", 0.0, 1.52, 5e-3), ("intermediary", 1.0, 617.0, 0.05)):
        model = DataMarketModel(scenario.with_regime(regime), rng=scenario.simulation.seed)
        agents = model.run()
        assert model.behaviour.history[-1]["share_rank_and_file_original"] == share
        assert agents["precision"].iloc[-1] == pytest.approx(precision, abs=tolerance)


def strict_barrier(scenario) -> float:
    """Prop. 6's barrier for the conventional loading 0.9: 2 / (s b^2 + sqrt(s^2 b^4 + 4 kappa b^2))."""
    s, kappa, b = scenario.market.sigma0_sq, scenario.market.kappa, 0.9
    return 2.0 / (s * b * b + math.sqrt(s * s * b**4 + 4.0 * kappa * b * b))


def test_a_best_responding_type_is_unchanged_by_the_choosing_one():
    """Behaviour('best_response') beside chosen_originality is the type's own loading and cost."""
    scenario = resolve_scenario("chosen_originality")
    assert scenario.behaviours[0] == Behaviour()
    fluid = _fluid(scenario.with_simulation(horizon=1.0))
    assert list(fluid.filter(like="share_innovators").columns) == ["share_innovators_own"]
    assert (fluid["share_innovators_own"] == 1.0).all()
