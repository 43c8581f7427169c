"""Welfare in the dynamic market (abm.theory.welfare): identities, independent recomputations, exact values.

Tolerances, fixed before the numbers were looked at:

* identities (sums of the same floating-point terms): ``1e-12`` relative to the service;
* recomputation of resource costs by ``scipy.integrate.quad`` over quantile functions
  (quad asked for ``1e-12``): ``1e-9`` relative;
* the continuation rule (8-point Gauss--Legendre on panels no wider than the local time
  scale; error far below ``1e-10``) against adaptive ``quad`` on ``[0, inf)``: ``1e-9`` relative;
* central differences with step ``1e-6`` (truncation ``~1e-12``, rounding ``~1e-10`` at these
  magnitudes): ``1e-6`` relative.
"""

import warnings

import numpy as np
import pytest
from scipy import integrate

from abm.regimes import REGIMES, RegimeSettings
from abm.theory.fluid import RoundLengthWarning, fluid_rounds, model_state, solve_fluid
from abm.theory.planner import control_trajectory, inflows
from abm.theory.welfare import (
    PARTIES,
    WelfareSettings,
    batch_model_state,
    continuation_value,
    outside_option_check,
    round_weights,
    welfare_accounts,
    welfare_flows,
)
from tests.markets import curse_market

HORIZON, DT = 200.0, 0.5
TIMES = np.arange(int(HORIZON / DT)) * DT


@pytest.fixture(scope="module")
def market():
    return curse_market()


@pytest.fixture(scope="module")
def regime_paths(market):
    """Every regime's fluid limit on the round grid, and the intermediary with an operating cost."""
    paths = {name: solve_fluid(market, HORIZON, times=TIMES, regime=regime, settings=RegimeSettings())
             for name, regime in REGIMES.items()}
    costly = RegimeSettings(operating_cost=0.05)
    paths["intermediary_costly"] = solve_fluid(market, HORIZON, times=TIMES, regime=REGIMES["intermediary"],
                                               settings=costly)
    return paths


# --- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize("changes, field", [
    ({"service_value": 0.0}, "welfare.service_value"),
    ({"service_value": float("nan")}, "welfare.service_value"),
    ({"discount_rate": -0.1}, "welfare.discount_rate"),
    ({"terminal": "forever"}, "welfare.terminal"),
    ({"discount_rate": 0.0}, "welfare.discount_rate"),  # steady_state needs r > 0
])
def test_settings_reject_bad_values_naming_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        WelfareSettings(**changes)


def test_settings_default_service_value_is_v(market):
    assert WelfareSettings().value(market) == market.value
    assert WelfareSettings(service_value=3.0).value(market) == 3.0
    assert WelfareSettings(discount_rate=0.0, terminal="none").discount_rate == 0.0


# --- building blocks ---------------------------------------------------------------------------


def test_batch_model_state_matches_model_state_row_by_row(market):
    stocks = np.array([[2.0, 1.0], [0.0, 3.0], [700.0, 0.1], [0.3, 40.0], [0.0, 0.0]])
    current, margins = batch_model_state(market, stocks)
    for row, p, m in zip(stocks, current, margins):
        expected_p, expected_m = model_state(market, row)
        assert p == pytest.approx(expected_p, rel=1e-13, abs=1e-15)
        np.testing.assert_allclose(m, expected_m, rtol=1e-13)


@pytest.mark.parametrize("rate", [0.0, 0.05, 1.0])
def test_round_weights_add_up_to_the_exact_discount_integral(rate):
    weights = round_weights(TIMES, DT, rate)
    exact = HORIZON if rate == 0 else -np.expm1(-rate * HORIZON) / rate
    assert weights.sum() == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("rate", [0.01, 0.05, 1.0])
@pytest.mark.parametrize("stocks, flow", [((2.0, 1.0), (0.3, 1.5)), ((700.0, 0.1), (14.0, 0.07)),
                                          ((0.1, 3.0), (0.0, 0.0))])
def test_continuation_value_matches_adaptive_quadrature(market, rate, stocks, flow):
    stocks, flow = np.array(stocks), np.array(flow)
    delta, service = market.depreciation, 1.7

    def integrand(tau):
        path = stocks * np.exp(-delta * tau) + flow * (-np.expm1(-delta * tau)) / delta
        return np.exp(-rate * tau) * service * model_state(market, path)[0]

    exact, _ = integrate.quad(integrand, 0.0, np.inf, epsabs=0.0, epsrel=1e-12, limit=500)
    value, _, _ = continuation_value(market, service, rate, stocks, flow)
    assert value == pytest.approx(exact, rel=1e-9)


def test_continuation_gradients_match_finite_differences(market):
    stocks, flow, step = np.array([3.0, 2.0]), np.array([0.4, 1.2]), 1e-6
    _, d_stocks, d_flow = continuation_value(market, 1.0, 0.05, stocks, flow)
    for k, unit in enumerate(np.eye(2)):
        up = continuation_value(market, 1.0, 0.05, stocks + step * unit, flow)[0]
        down = continuation_value(market, 1.0, 0.05, stocks - step * unit, flow)[0]
        assert d_stocks[k] == pytest.approx((up - down) / (2 * step), rel=1e-6)
        up = continuation_value(market, 1.0, 0.05, stocks, flow + step * unit)[0]
        down = continuation_value(market, 1.0, 0.05, stocks, flow - step * unit)[0]
        assert d_flow[k] == pytest.approx((up - down) / (2 * step), rel=1e-6)


# --- the accounting identity and the independent recomputation ------------------------------


@pytest.mark.parametrize("name", [*REGIMES, "intermediary_costly"])
def test_IDENTITY_parties_add_up_to_flow_welfare(market, regime_paths, name):
    """IDENTITY (by construction of the accounts): firm + creators + intermediary = flow welfare,
    round by round and in present value. It guards the bookkeeping, not the economics."""
    settings = WelfareSettings()
    accounts = welfare_accounts(regime_paths[name], market, settings, DT)
    flows = accounts.flows
    scale = flows["service"].abs().max()
    np.testing.assert_allclose(flows[list(PARTIES)].sum(axis=1), flows["welfare"], rtol=0, atol=1e-12 * scale)
    total = sum(accounts.present_value[p] for p in PARTIES)
    assert total == pytest.approx(accounts.present_value["welfare"], rel=1e-12)
    assert sum(accounts.terminal[p] for p in PARTIES) == pytest.approx(accounts.terminal["welfare"], rel=1e-12,
                                                                       abs=1e-12)


def forgone_by_quantiles(creator, price) -> float:
    """Outside options of the active, ``M int_0^{G(u)} G^{-1}(q) dq``, from the quantile function alone."""
    share = float(creator.outside_option.cdf(price * price / (2 * creator.cost)))
    if share == 0.0:
        return 0.0
    value, _ = integrate.quad(lambda q: float(creator.outside_option.ppf(q)), 0.0, share, epsabs=0.0,
                              epsrel=1e-12, limit=200)
    return creator.mass * value


@pytest.mark.parametrize("name", [*REGIMES, "intermediary_costly"])
def test_resource_costs_match_an_independent_recomputation_from_the_supply_curves(market, regime_paths, name):
    """Welfare's costs, derived from the transfers (T - S_O - S_C - B), against effort costs and
    forgone outside options recomputed from the supply curves at the recorded prices, plus the
    operating cost K of every round the intermediary runs."""
    path = regime_paths[name]
    operating = 0.05 if name == "intermediary_costly" else 0.0
    expected = []
    for _, row in path.iterrows():
        total = 0.0
        for creator, kind in zip(market.types, ("innovators", "rank_and_file")):
            price = row[f"price_{kind}"]
            effort = price / creator.cost
            total += float(creator.active_mass(price)) * creator.cost * effort**2 / 2
            total += forgone_by_quantiles(creator, price)
        ran = row["price_innovators"] > 0 or row["price_rank_and_file"] > 0
        expected.append(total + (operating if ran else 0.0))
    flows = welfare_flows(path, market, WelfareSettings(), DT)
    np.testing.assert_allclose(flows["resource_cost"], expected, rtol=1e-9, atol=1e-12)
    assert (flows["service"] > 0).all()


#: The regimes whose order the flow criterion gets wrong: the market-design paper's four, the
#: intermediary, and the intermediary at the planner's steady-state shadow prices. The private
#: broker and the creator union are this project's additions; where they rank is a measurement
#: (docs/regimes.md), not part of this claim.
PAPER_REGIMES = ("intermediary_shadow", "intermediary", "collective_pool", "statutory_license", "strict_ip",
                 "free_for_all")


def test_the_level_criterion_reverses_the_flow_criterion(market, regime_paths):
    """Eq. 12's accounting summed over time ranks free-for-all above the intermediary; the
    discounted level criterion ranks the paper's regimes as a planner would: the intermediary at
    shadow prices first, then the intermediary, free-for-all last, and the collective pool and the
    statutory licence above strict IP (:data:`PAPER_REGIMES`, the order of docs/welfare.md)."""
    flow_sum = {name: regime_paths[name]["welfare"].sum() * DT for name in PAPER_REGIMES}
    assert flow_sum["free_for_all"] > flow_sum["intermediary"]
    present = {name: welfare_accounts(regime_paths[name], market, WelfareSettings(), DT).present_value["welfare"]
               for name in PAPER_REGIMES}
    ranking = sorted(present, key=present.get, reverse=True)
    assert ranking == list(PAPER_REGIMES)


# --- terminal value and discounting --------------------------------------------------------------


def test_steady_state_terminal_equals_running_the_final_prices_for_ever(market):
    """A short path with the terminal value against the same constant prices run for 40/r more
    (e^-40 of the tail left out) without one. Both exact rounds; the long one's trapezoid service
    differs from the terminal's exact integral by O(dt^2): with dt = 0.1 and precision moving at
    rate ~delta = 0.02, below 1e-6 relative."""
    rate, dt, price = 0.5, 0.1, np.array([0.6, 0.2])
    settings = WelfareSettings(discount_rate=rate)
    short, long = 100, int(round(40 / rate / dt))
    decay = np.exp(-market.depreciation * dt)
    stocks = [market.initial_stocks]
    flow = inflows(market, price)
    for _ in range(long):
        stocks.append(decay * stocks[-1] + (1 - decay) / market.depreciation * flow)
    stocks = np.array(stocks)
    path = control_trajectory(market, np.arange(long) * dt, np.tile(price, (long, 1)), stocks[:long])
    with_terminal = welfare_accounts(path.iloc[:short], market, settings, dt)
    running = welfare_accounts(path, market, WelfareSettings(discount_rate=rate, terminal="none"), dt)
    for party in (*PARTIES, "welfare"):
        assert with_terminal.present_value[party] == pytest.approx(running.present_value[party], rel=1e-6, abs=1e-9)


def test_annuity_of_a_path_from_time_zero_with_terminal_is_one_over_r(market, regime_paths):
    accounts = welfare_accounts(regime_paths["strict_ip"], market, WelfareSettings(discount_rate=0.05), DT)
    assert accounts.annuity() == pytest.approx(1 / 0.05, rel=1e-12)


def test_outside_option_check_flags_a_firm_below_its_outside_option(market, regime_paths):
    accounts = welfare_accounts(regime_paths["intermediary"], market, WelfareSettings(), DT)
    table = outside_option_check(accounts)
    assert not table["below"].any()  # the intermediary's balanced budget (+-1e-16) is not a shortfall
    firm_flow = accounts.present_value["firm"] / accounts.annuity()
    table = outside_option_check(accounts, firm_outside=1.01 * firm_flow)
    assert table["below"].tolist() == [True, False, False, False]
    assert table.loc["firm", "outside_value"] == pytest.approx(1.01 * accounts.present_value["firm"], rel=1e-12)


def test_present_values_under_no_discounting_are_plain_sums(market, regime_paths):
    path = regime_paths["collective_pool"]
    settings = WelfareSettings(discount_rate=0.0, terminal="none")
    accounts = welfare_accounts(path, market, settings, DT)
    assert accounts.present_value["welfare"] == pytest.approx(accounts.flows["welfare"].sum() * DT, rel=1e-12)


def test_a_wrong_round_length_is_refused(market, regime_paths):
    with pytest.raises(ValueError, match="dt"):
        welfare_accounts(regime_paths["strict_ip"], market, WelfareSettings(), dt=2 * DT)
    with pytest.raises(ValueError, match="at least one round"):
        welfare_accounts(regime_paths["strict_ip"].iloc[:0], market, WelfareSettings(), DT)


@pytest.mark.slow
def test_round_trajectories_and_sampled_ode_agree_to_first_order(market):
    """The same accounting read on the round map (prices held for dt) and on the ODE sampled
    every dt: the two policies differ by O(dt), so from dt = 0.1 to dt = 0.05 (rounds short enough
    for the round map to follow the ODE) the gap should shrink by about half (we require a factor
    below 0.7)."""
    gaps = []
    for dt in (0.1, 0.05):
        n = int(round(20 / dt))
        with warnings.catch_warnings():  # dt = 0.1 is flagged as long for the first rounds; that is the point
            warnings.simplefilter("ignore", RoundLengthWarning)
            rounds = fluid_rounds(market, dt, n)
        sampled = solve_fluid(market, 20.0, times=np.arange(n) * dt)
        settings = WelfareSettings(discount_rate=0.05)
        gaps.append(abs(welfare_accounts(rounds, market, settings, dt).present_value["welfare"]
                        - welfare_accounts(sampled, market, settings, dt).present_value["welfare"]))
    assert gaps[1] < 0.7 * gaps[0]


def test_agent_based_trajectories_satisfy_the_IDENTITY():
    """IDENTITY on the agents' own accounts (finite population, intermediary with K > 0)."""
    import dataclasses

    from abm.simulation.dynamic_market.model import DataMarketModel
    from tests.markets import scenario

    run = dataclasses.replace(scenario(curse_market(), horizon=20.0, dt=0.5, agents=300, regime="intermediary"),
                              regime=RegimeSettings(operating_cost=0.02))
    model = DataMarketModel(run, rng=3)
    path = model.run()
    flows = welfare_accounts(path, model.market, WelfareSettings(), 0.5).flows
    np.testing.assert_allclose(flows[list(PARTIES)].sum(axis=1), flows["welfare"], rtol=0,
                               atol=1e-12 * flows["service"].abs().max())
    assert (flows["resource_cost"] > 0).all()
