"""The dynamic planner and the forward-looking firm (abm.theory.planner).

Tolerances, fixed before the numbers were looked at:

* gradients against central differences (step 1e-6 in prices away from supply kinks):
  ``1e-6`` relative to the largest component;
* the planner's plateau against its steady state on the same grid: ``1e-6`` relative (the
  optimiser's tolerance); against the continuous-time steady state, the grid's own bias, the
  capitalisation factor's ``r (r - delta) dt^2 / 12`` (derived in ``capitalisation_factor``),
  doubled; stocks relax at rate ``delta``, so at time ``t`` they are within
  ``2 |X0 - X*| e^{-delta t}`` of ``X*``;
* bounds on trajectories of the *same rounds* (round maps, the planner's own paths): the
  optimiser's ``1e-9`` relative; on trajectories of the continuous-time fluid limit sampled
  every ``dt``, the left-point error of reading a continuously moving price as a round's:
  ``sum_j w_j |f_{j+1} - f_j|`` for the welfare flow ``f`` and the rounds' discount weights;
* the forward-looking firm's first price as ``r -> inf`` with ``s = r v`` (Eq. 12's firm):
  to first order its value of a unit of data is ``v r/(r + delta) * m`` averaged over the next
  ``1/r`` of time, so the relative gap to the myopic price is ``~ g1 / r`` with
  ``g1 = delta + |d ln m_bar / dt|`` (``m_bar`` the inflow-weighted marginal value under the
  myopic price); we allow ``2 g1 / r + 2e-3`` (the last term: block averaging over ``0.4/r``
  and the trapezoid's ``O((r dt)^2)``), and require the gap to fall with ``r``.
"""

import warnings

import numpy as np
import pytest

from abm.regimes import REGIMES, RegimeSettings
from abm.theory.fluid import RoundLengthWarning, fluid_rounds, model_state, myopic_price, solve_fluid
from abm.theory.planner import (
    ControlProblem,
    capitalisation_factor,
    control_grid,
    control_objective,
    control_trajectory,
    forward_looking_path,
    forward_looking_prices,
    inflow_slopes,
    inflows,
    planner_bound,
    planner_steady_state,
    resource_costs,
    solve_planner,
)
from abm.theory.welfare import WelfareSettings, welfare_accounts
from tests.markets import curse_market

HORIZON, DT = 200.0, 0.5


@pytest.fixture(scope="module")
def market():
    return curse_market()


# --- the economics of the planner's price ---------------------------------------------------


@pytest.mark.parametrize("price", [0.05, 0.2, 0.5, 0.8, 2.0])
def test_marginal_resource_cost_per_unit_of_inflow_is_the_price(market, price):
    """The planner's first-order condition rests on C_k'(t) = t I_k'(t): raising the price buys
    effort at marginal cost t per unit, at the intensive and at the extensive margin."""
    step, prices = 1e-6, np.array([price, price])
    cost_slope = (resource_costs(market, prices + step) - resource_costs(market, prices - step)) / (2 * step)
    inflow_slope = (inflows(market, prices + step) - inflows(market, prices - step)) / (2 * step)
    np.testing.assert_allclose(cost_slope, price * inflow_slope, rtol=1e-6)


def test_inflow_slopes_match_the_power_law_derivative(market):
    prices = np.array([[0.2, 0.2], [0.7, 0.25]])
    slopes = inflow_slopes(market, prices)
    for k, creator in enumerate(market.types):
        scale, a = creator.outside_option.scale, creator.outside_option.exponent
        u = prices[:, k] ** 2 / (2 * creator.cost)
        exact = creator.mass / creator.cost * (u / scale) ** a * (1 + 2 * a)  # (M/c)(G + 2 u g), u < scale
        np.testing.assert_allclose(slopes[:, k], exact, rtol=1e-8)


def test_capitalisation_factor_tends_to_one_over_r_plus_delta_at_second_order():
    rate, delta = 0.2, 0.02
    assert capitalisation_factor(0.0, delta, 0.7) == pytest.approx(1 / delta, rel=1e-14)
    for dt in (0.1, 0.05):
        bias = capitalisation_factor(rate, delta, dt) * (rate + delta) - 1
        assert bias / dt**2 == pytest.approx(rate * (rate - delta) / 12, rel=0.02)


@pytest.mark.parametrize("rate", [0.01, 0.05, 0.5])
def test_steady_state_prices_are_the_capitalised_marginal_values(market, rate):
    settings = WelfareSettings(discount_rate=rate)
    state = planner_steady_state(market, settings)
    _, margins = model_state(market, state.stocks)
    np.testing.assert_allclose(state.prices, margins / (rate + market.depreciation), rtol=1e-10)
    np.testing.assert_allclose(state.stocks, inflows(market, state.prices) / market.depreciation, rtol=1e-12)
    assert state.converged
    fine = planner_steady_state(market, settings, dt=0.001)  # the grid's steady state tends to it
    np.testing.assert_allclose(fine.prices, state.prices, rtol=1e-6)


def test_steady_state_needs_depreciation(market):
    with pytest.raises(ValueError, match="depreciation"):
        planner_steady_state(curse_market(depreciation=0.0))


@pytest.mark.parametrize("horizon, dt, intervals, message", [(10.0, 0.3, None, "whole number"),
                                                             (10.0, 0.5, 0, "intervals"),
                                                             (10.0, 0.5, 21, "intervals")])
def test_control_grid_is_validated(horizon, dt, intervals, message):
    with pytest.raises(ValueError, match=message):
        control_grid(horizon, dt, intervals)


# --- the discretised problem ------------------------------------------------------------------


@pytest.mark.parametrize("kind, uniform", [("resource", False), ("payments", True), ("payments", False)])
@pytest.mark.parametrize("terminal", ["steady_state", "none"])
def test_adjoint_gradient_matches_finite_differences(market, kind, uniform, terminal):
    settings = WelfareSettings(discount_rate=0.05, terminal=terminal)
    problem = ControlProblem(market, settings, control_grid(20.0, 0.5, 8), market.initial_stocks, kind, uniform)
    controls = np.random.default_rng(1).uniform(0.4, 0.9, 8 * problem.columns)  # between the kinks 0.316 and 1
    _, gradient = control_objective(problem, controls)
    step = 1e-6
    numeric = [(control_objective(problem, controls + step * e)[0] - control_objective(problem, controls - step * e)[0])
               / (2 * step) for e in np.eye(controls.size)]
    np.testing.assert_allclose(gradient, numeric, rtol=0, atol=1e-6 * np.abs(numeric).max())

@pytest.mark.slow

def test_planner_objective_is_the_welfare_accounting_of_its_own_path(market):
    settings = WelfareSettings(discount_rate=0.1)
    solution = solve_planner(market, settings, 40.0, DT, intervals=20)
    path = control_trajectory(market, solution.times, solution.prices, solution.stocks)
    assert welfare_accounts(path, market, settings, DT).present_value["welfare"] == pytest.approx(
        solution.objective, rel=1e-12)


@pytest.mark.parametrize("rate", [0.05, 0.2])
def test_long_horizon_plateau_is_the_analytic_steady_state(market, rate):
    settings, dt, middle = WelfareSettings(discount_rate=rate), 1.0, 400
    solution = solve_planner(market, settings, 800.0, dt, intervals=80)
    on_grid = planner_steady_state(market, settings, dt=dt)
    continuous = planner_steady_state(market, settings)
    np.testing.assert_allclose(solution.prices[middle], on_grid.prices, rtol=1e-6)
    start_gap = np.abs(market.initial_stocks - on_grid.stocks)
    assert np.all(np.abs(solution.stocks[middle] - on_grid.stocks)
                  <= 2 * start_gap * np.exp(-market.depreciation * middle * dt))
    grid_bias = 2 * rate * abs(rate - market.depreciation) * dt**2 / 12
    assert abs(solution.prices[middle, 0] / continuous.prices[0] - 1) <= grid_bias + 1e-6


# --- the planner bounds every regime -------------------------------------------------------------


@pytest.fixture(scope="module")
def fluid_limits(market):
    times = np.arange(int(HORIZON / DT)) * DT
    paths = {name: solve_fluid(market, HORIZON, times=times, regime=regime, settings=RegimeSettings())
             for name, regime in REGIMES.items()}
    paths["myopic"] = solve_fluid(market, HORIZON, times=times)
    return paths


def left_point_allowance(accounts, dt: float) -> float:
    """``sum_j w_j |f_{j+1} - f_j|`` for the welfare flow ``f``: what reading a continuously
    moving policy as rounds of length ``dt`` (flow held at its value at the round's start,
    each round discounted exactly) can be off by, when ``f`` is monotone within a round."""
    flows = accounts.flows
    return float(flows["weight"].iloc[:-1] @ np.abs(np.diff(flows["welfare"])))


@pytest.mark.slow
@pytest.mark.parametrize("rate", [0.05, 1.0])
def test_planner_bounds_every_regimes_fluid_limit(market, fluid_limits, rate):
    settings = WelfareSettings(discount_rate=rate)
    bound = planner_bound(market, settings, HORIZON, DT)
    for name, path in fluid_limits.items():
        accounts = welfare_accounts(path, market, settings, DT)
        assert accounts.present_value["welfare"] <= bound + left_point_allowance(accounts, DT), name


@pytest.mark.slow
@pytest.mark.parametrize("rate", [0.05, 1.0])
def test_planner_bounds_round_maps_of_the_same_grid(market, rate):
    """Sharp: the round map of every regime is a path of the planner's own problem."""
    settings, horizon = WelfareSettings(discount_rate=rate), 50.0
    bound = planner_bound(market, settings, horizon, DT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RoundLengthWarning)
        for name, regime in REGIMES.items():
            path = fluid_rounds(market, DT, int(horizon / DT), regime=regime, settings=RegimeSettings())
            value = welfare_accounts(path, market, settings, DT).present_value["welfare"]
            assert value <= bound * (1 + 1e-9), name


# --- the forward-looking firm ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("rate", [0.01, 0.05])
def test_forward_looking_firm_earns_at_least_the_myopic_firms_profit(market, rate):
    """Same rounds, same accounting (the firm's party of welfare_accounts)."""
    settings, horizon = WelfareSettings(discount_rate=rate), 50.0
    plan = forward_looking_prices(market, market.initial_stocks, settings, horizon, DT)
    path = control_trajectory(market, plan.times, plan.prices, plan.stocks)
    firm = welfare_accounts(path, market, settings, DT).present_value["firm"]
    assert firm == pytest.approx(plan.objective, rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RoundLengthWarning)
        myopic = fluid_rounds(market, DT, int(horizon / DT))
    assert firm >= welfare_accounts(myopic, market, settings, DT).present_value["firm"] * (1 - 1e-9)

@pytest.mark.slow

def test_model_predictive_firm_beats_the_myopic_fluid_limit(market):
    settings, horizon = WelfareSettings(discount_rate=0.05), 40.0
    path = forward_looking_path(market, settings, horizon, DT, replan_every=4.0)
    myopic = solve_fluid(market, horizon, times=np.arange(int(horizon / DT)) * DT)
    mine = welfare_accounts(path, market, settings, DT)
    theirs = welfare_accounts(myopic, market, settings, DT)
    assert mine.present_value["firm"] >= theirs.present_value["firm"] - left_point_allowance(theirs, DT)
    assert len(path) == horizon / DT
    # the firm's path is a path of the planner's problem on the same rounds: sharp bound
    assert mine.present_value["welfare"] <= planner_bound(market, settings, horizon, DT) * (1 + 1e-9)


def mean_margin_drift(market, stocks) -> float:
    """``delta + |d ln m_bar / dt|`` at ``stocks`` under the myopic price."""
    margins = model_state(market, stocks)[1]
    flow = inflows(market, np.full(2, myopic_price(market, margins)))
    drift, step = flow - market.depreciation * stocks, 1e-6

    def mean(x):
        return model_state(market, x)[1] @ flow / flow.sum()

    slope = (mean(stocks + step * drift) - mean(stocks - step * drift)) / (2 * step)
    return market.depreciation + abs(slope / mean(stocks))


@pytest.mark.slow
def test_forward_looking_price_tends_to_the_myopic_price_as_r_grows(market):
    """Eq. 12's firm values a permanent unit of precision at v: the limit r -> inf with s = r v."""
    stocks = market.initial_stocks
    myopic = myopic_price(market, model_state(market, stocks)[1])
    drift = mean_margin_drift(market, stocks)
    gaps = []
    for rate in (1.0, 10.0, 100.0, 1000.0):
        settings = WelfareSettings(service_value=rate * market.value, discount_rate=rate)
        plan = forward_looking_prices(market, stocks, settings, 20.0 / rate, 0.1 / rate, intervals=50)
        gaps.append(abs(plan.first_price / myopic - 1))
        assert gaps[-1] <= 2 * drift / rate + 2e-3, (rate, gaps)
    assert np.all(np.diff(gaps) < 0), gaps
    # with s held at v instead, a firm this impatient values data at v m / r: it pays almost nothing
    impatient = forward_looking_prices(market, stocks, WelfareSettings(discount_rate=1000.0), 0.02, 1e-4,
                                       intervals=50)
    assert impatient.first_price < 0.1 * myopic
