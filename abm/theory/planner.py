r"""The dynamic planner and a forward-looking firm: optimal control of the data stocks.

Both problems choose unit prices ``t_k(t)`` over ``[0, T]`` to maximise a present value

.. math:: J = \int_0^T e^{-rt}\Big[s\,P(X(t)) - \sum_k C_k(t_k(t))\Big]dt + e^{-rT}\,\Phi(X(T), t(T)),
          \qquad \dot X_k = I_k(t_k) - \delta X_k,

with inflows ``I_k(t) = N_k(t) t / c_k`` (Eq. 8), ``P`` the fixed point of Eq. 11 and
``Phi`` the continuation under the final prices of :mod:`abm.theory.welfare`. They differ
in the cost and the price:

* **planner** -- one price per type and the *resource* cost
  ``C_k(t) = N_k c_k e_k^2 / 2 + M_k int_0^{u_k} omega dG_k = 2 N_k u_k - M_k int_0^{u_k} G_k``
  (effort plus the outside options the active give up; ``u = t^2 / (2c)``);
* **forward-looking firm** (strict IP) -- one uniform price for both types and its
  *payments* ``C_k(t) = t I_k(t)``.

**The planner's price.** With the current-value Hamiltonian
``H = s P(X) - sum_k C_k(t_k) + sum_k mu_k (I_k(t_k) - delta X_k)``, the condition
``C_k'(t_k) = mu_k I_k'(t_k)`` has a closed form because ``C_k' = t_k I_k'``: raising the
price a little costs ``c e = t`` per extra unit of effort of those already active, and a
marginal entrant, whose outside option is exactly ``t^2 / (2c)``, delivers ``t / c`` at
effort cost plus forgone option ``t^2 / c``, again ``t`` per unit. So **the planner's price
is the co-state**, ``t_k = mu_k``. The co-state follows
``mu_k' = (r + delta) mu_k - s m_k(X)``, so at a steady state ``mu_k = s m_k / (r + delta)``
and the steady state solves

.. math:: t_k = \frac{s\,m_k(X)}{r + \delta},\qquad X_k = \frac{I_k(t_k)}{\delta}
          \qquad (:func:`planner_steady_state`).

A unit of data is worth the precision it adds, ``m_k``, served at ``s`` per unit time
for as long as it lasts, discounted at ``r + delta``. The myopic firm of Eq. 12 values the
same unit at ``v m_k``; the intermediary's flow tariff pays ``v m_k``. A firm that serves
``s`` per unit time and discounts at ``r`` values a permanent unit of precision at ``s / r``,
so Eq. 12's firm is the limit ``r -> inf`` with ``s / r = v`` held fixed (tested).

**Numerics** (direct single shooting, first discretise then optimise). Time is cut into
rounds of length ``dt``; prices are piecewise constant on ``intervals`` blocks of rounds
(default: one block per round); stocks follow the exact round update
(:func:`abm.theory.fluid.round_factors`), which is linear in the inflows, so one
``scipy.signal.lfilter`` pass gives the whole path. The objective is exactly the
accounting of :func:`abm.theory.welfare.welfare_accounts` on that grid (trapezoid
service, exact discount weights, the same terminal value), so the optimum bounds every
trajectory of the same rounds, as far as the optimiser finds the global optimum. Its
gradient is the discrete adjoint
``lambda_j = s m(X_j) (w_{j-1} + w_j) / 2 + e^{-delta dt} lambda_{j+1}`` (one reverse
``lfilter``), exact except for the slope of the supply curves, taken by central
differences in the price. ``scipy.optimize.minimize(method="TNC")`` does the rest, with
prices in ``[0, 1.1 s / (r + delta)]`` (``m_k <= 1``: no unit of data is worth more),
from several starting paths. TNC rather than L-BFGS-B: both converge here, but
L-BFGS-B's small LAPACK calls cost 5-10 times more on a loaded machine (BLAS threads),
and TNC needs no BLAS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, signal

from abm.theory._validation import require_positive
from abm.theory.fluid import (
    TRAJECTORY_COLUMNS,
    model_state,
    myopic_price,
    price_trap,
    round_factors,
    trajectory_row,
)
from abm.theory.mechanism import RoundSettlement
from abm.theory.welfare import (
    WelfareSettings,
    batch_model_state,
    capitalisation_factor,
    continuation_value,
    round_weights,
)

__all__ = [
    "COST_KINDS",
    "inflows",
    "inflow_slopes",
    "resource_costs",
    "type_costs",
    "capitalisation_factor",
    "SteadyState",
    "planner_steady_state",
    "ControlGrid",
    "control_grid",
    "ControlProblem",
    "ControlSolution",
    "control_objective",
    "solve_control",
    "solve_planner",
    "planner_bound",
    "forward_looking_prices",
    "forward_looking_path",
    "control_trajectory",
]

#: Costs a control problem charges: the planner's resource costs, or a firm's payments.
COST_KINDS = ("resource", "payments")
#: Relative step of the central differences of the supply curves (error ~ 1e-12 relative).
SLOPE_STEP = 1e-6
#: Objective evaluations allowed per start of the optimiser.
MAX_EVALUATIONS = 20_000
#: Constant prices tried as starting paths of the forward-looking firm (a log grid).
START_GRID = 32


# --- supply, costs and their slopes -----------------------------------------------------------


def inflows(market, prices) -> np.ndarray:
    """``I_k(t_k) = N_k(t_k) t_k / c_k`` for prices of shape ``(..., 2)``."""
    prices = np.asarray(prices, dtype=float)
    return np.stack([creator.inflow(prices[..., k]) for k, creator in enumerate(market.types)], axis=-1)


def inflow_slopes(market, prices) -> np.ndarray:
    """``dI_k/dt_k`` by central differences (one-sided at ``t = 0``; the mean slope at a kink)."""
    prices = np.asarray(prices, dtype=float)
    step = SLOPE_STEP * np.maximum(prices, 1.0)
    upper, lower = prices + step, np.maximum(prices - step, 0.0)
    return (inflows(market, upper) - inflows(market, lower)) / (upper - lower)


def resource_costs(market, prices) -> np.ndarray:
    r"""Per type: effort cost plus outside options forgone, ``2 N_k u_k - M_k int_0^{u_k} G_k``."""
    prices = np.asarray(prices, dtype=float)
    columns = []
    for k, creator in enumerate(market.types):
        price = prices[..., k]
        payoff = price * price / (2.0 * creator.cost)
        columns.append(2.0 * creator.active_mass(price) * payoff - creator.surplus(price))
    return np.stack(columns, axis=-1)


def type_costs(market, prices, kind: str):
    """Per type: cost, its slope in the price, and the inflow slope, for a cost ``kind``.

    ``resource``: :func:`resource_costs`, slope ``t I'`` (module docstring);
    ``payments``: ``t I``, slope ``I + t I'``.
    """
    prices = np.asarray(prices, dtype=float)
    slopes = inflow_slopes(market, prices)
    if kind == "resource":
        return resource_costs(market, prices), prices * slopes, slopes
    if kind == "payments":
        flow = inflows(market, prices)
        return prices * flow, flow + prices * slopes, slopes
    raise ValueError(f"kind must be one of {COST_KINDS}, got {kind!r}")


# --- the planner's steady state ---------------------------------------------------------------


@dataclass(frozen=True)
class SteadyState:
    """The planner's steady state (:func:`planner_steady_state`).

    Attributes
    ----------
    prices, stocks, margins, costates, active : ndarray, shape (2,)
        ``t_k = mu_k = s m_k Gamma``, ``X_k = I_k(t_k) / delta``, ``m_k``, ``mu_k`` and ``N_k(t_k)``.
    precision, flow_welfare : float
        ``P(X)`` and ``s P - sum_k C_k(t_k)``.
    residual : float
        ``max_k |t_k - s m_k(X) Gamma| / max(1, t_k)`` at the solution.
    converged : bool
    """

    prices: np.ndarray
    stocks: np.ndarray
    margins: np.ndarray
    costates: np.ndarray
    active: np.ndarray
    precision: float
    flow_welfare: float
    residual: float
    converged: bool


def _steady_gap(market, service: float, factor: float, prices) -> np.ndarray:
    stocks = inflows(market, np.abs(prices)) / market.depreciation
    return prices - service * model_state(market, stocks)[1] * factor


def planner_steady_state(market, settings: WelfareSettings | None = None, dt: float | None = None) -> SteadyState:
    r"""Solve ``t_k = s m_k(X) Gamma``, ``X_k = I_k(t_k) / delta`` (module docstring).

    ``Gamma = 1 / (r + delta)`` in continuous time (``dt=None``), or the exact factor of
    rounds of length ``dt`` (:func:`capitalisation_factor`). Solved for the prices with
    ``scipy.optimize.root`` from several starts (the right side is non-negative, so any
    root has ``t >= 0``); among the roots found, the one of highest flow welfare.

    Raises
    ------
    ValueError
        If ``delta = 0`` (stocks never settle).
    RuntimeError
        If no start converges.
    """
    settings = settings or WelfareSettings()
    require_positive(market.depreciation, "depreciation (a steady state needs delta > 0)")
    service = settings.value(market)
    factor = capitalisation_factor(settings.discount_rate, market.depreciation, dt)
    top = service * factor
    starts = [top * model_state(market, market.initial_stocks)[1], np.array([top, top]),
              np.array([top, 1e-3 * top]), np.array([1e-3 * top, top])]
    found = []
    for start in starts:
        solution = optimize.root(lambda p: _steady_gap(market, service, factor, p), start, method="hybr",
                                 options={"xtol": 1e-13})
        if solution.success:
            found.append(_steady_state_at(market, service, factor, np.abs(solution.x)))
    if not found:
        raise RuntimeError("the planner's steady state was not found from any start")
    return max(found, key=lambda state: state.flow_welfare)


def _steady_state_at(market, service: float, factor: float, prices) -> SteadyState:
    stocks = inflows(market, prices) / market.depreciation
    current, margins = model_state(market, stocks)
    residual = float(np.max(np.abs(prices - service * factor * margins) / np.maximum(prices, 1.0)))
    return SteadyState(
        prices=prices, stocks=stocks, margins=margins, costates=service * factor * margins,
        active=np.array([c.active_mass(p) for c, p in zip(market.types, prices)], dtype=float),
        precision=float(current), flow_welfare=float(service * current - resource_costs(market, prices).sum()),
        residual=residual, converged=residual < 1e-9,
    )


# --- the discretised control problem ----------------------------------------------------------


@dataclass(frozen=True)
class ControlGrid:
    """Rounds of length ``dt`` and the blocks of rounds that share a price.

    Attributes
    ----------
    dt : float
    n_rounds : int
    intervals : int
        Number of blocks; block ``i`` holds rounds ``j`` with ``j * intervals // n_rounds == i``.
    """

    dt: float
    n_rounds: int
    intervals: int

    @property
    def times(self) -> np.ndarray:
        """Start of every round."""
        return np.arange(self.n_rounds) * self.dt

    @property
    def block(self) -> np.ndarray:
        """Block of every round."""
        return np.arange(self.n_rounds) * self.intervals // self.n_rounds

    @property
    def starts(self) -> np.ndarray:
        """First round of every block."""
        return np.searchsorted(self.block, np.arange(self.intervals))


def control_grid(horizon: float, dt: float, intervals: int | None = None) -> ControlGrid:
    """The grid of ``horizon / dt`` rounds (a whole number) in ``intervals`` blocks (default: one per round)."""
    horizon, dt = require_positive(horizon, "horizon"), require_positive(dt, "dt")
    n_rounds = int(round(horizon / dt))
    if n_rounds < 1 or abs(n_rounds * dt - horizon) > 1e-9 * horizon:
        raise ValueError(f"horizon / dt must be a whole number of rounds, got {horizon} / {dt}")
    intervals = n_rounds if intervals is None else int(intervals)
    if not 1 <= intervals <= n_rounds:
        raise ValueError(f"intervals must lie in [1, {n_rounds}] (the number of rounds), got {intervals}")
    return ControlGrid(dt=dt, n_rounds=n_rounds, intervals=intervals)


@dataclass(frozen=True)
class ControlProblem:
    """One discretised control problem (module docstring).

    Attributes
    ----------
    market : DynamicMarket
    settings : WelfareSettings
        ``s``, ``r`` and the terminal value.
    grid : ControlGrid
    stocks : ndarray
        Stocks at the start.
    kind : {"resource", "payments"}
        The planner's resource costs or a firm's payments (:func:`type_costs`).
    uniform : bool
        One price for both types (a firm under strict IP) or one per type.
    """

    market: object
    settings: WelfareSettings
    grid: ControlGrid
    stocks: np.ndarray
    kind: str
    uniform: bool

    @property
    def columns(self) -> int:
        """Prices per block: 1 (uniform) or 2."""
        return 1 if self.uniform else 2

    @property
    def price_bound(self) -> float:
        """No unit of data is worth more than ``s / (r + delta)`` (``m_k <= 1``); 10% headroom."""
        rate = self.settings.discount_rate + self.market.depreciation
        reach = 1.0 / rate if rate > 0 else self.grid.n_rounds * self.grid.dt
        return 1.1 * self.settings.value(self.market) * reach

    def round_prices(self, controls) -> np.ndarray:
        """Per-type prices of every round, ``(n_rounds, 2)``, from the blocks' controls."""
        per_round = np.asarray(controls, dtype=float).reshape(self.grid.intervals, self.columns)[self.grid.block]
        return np.repeat(per_round, 2, axis=1) if self.uniform else per_round


def _propagate(market, stocks, flow, dt: float) -> np.ndarray:
    """Stocks at the start of every round and after the last, ``(n + 1, 2)`` (exact round update)."""
    decay, growth = round_factors(market.depreciation, dt)
    after = signal.lfilter([growth], [1.0, -decay], flow, axis=0, zi=(decay * stocks)[None, :])[0]
    return np.vstack([stocks, after])


def _terminal(problem: ControlProblem, stocks_end, flow_end, costs_end, cost_slopes_end, inflow_slopes_end):
    """Terminal value, its gradient in the end stocks and in the last round's prices."""
    settings, grid = problem.settings, problem.grid
    if settings.terminal == "none":
        return 0.0, np.zeros(2), np.zeros(2)
    rate = settings.discount_rate
    factor = float(np.exp(-rate * grid.n_rounds * grid.dt))
    value, d_stocks, d_inflows = continuation_value(problem.market, settings.value(problem.market), rate,
                                                    stocks_end, flow_end)
    total = factor * (value - costs_end.sum() / rate)
    return total, factor * d_stocks, factor * (d_inflows * inflow_slopes_end - cost_slopes_end / rate)


def control_objective(problem: ControlProblem, controls) -> tuple[float, np.ndarray]:
    r"""``J`` and ``dJ/dcontrols`` by the discrete adjoint (module docstring)."""
    market, grid, settings = problem.market, problem.grid, problem.settings
    prices = problem.round_prices(controls)
    costs, cost_slopes, slopes = type_costs(market, prices, problem.kind)
    flow = inflows(market, prices)
    stocks = _propagate(market, problem.stocks, flow, grid.dt)
    current, margins = batch_model_state(market, stocks)
    service = settings.value(market)
    weights = round_weights(grid.times, grid.dt, settings.discount_rate)
    terminal, d_end, d_last = _terminal(problem, stocks[-1], flow[-1], costs[-1], cost_slopes[-1], slopes[-1])
    value = float(weights @ (0.5 * service * (current[:-1] + current[1:]) - costs.sum(axis=1))) + terminal
    # P_i counts in rounds i-1 and i (trapezoid): weight s (w_{i-1} + w_i) / 2, only w_{n-1} / 2 for P_n.
    # lambda_j = dJ/dX_j for j = n..1: lambda_n = d_end + s w_{n-1} m_n / 2,
    # lambda_j = s (w_{j-1} + w_j) m_j / 2 + decay lambda_{j+1}.
    decay, growth = round_factors(market.depreciation, grid.dt)
    counts = 0.5 * service * (weights + np.append(weights[1:], 0.0))
    sources = np.vstack([d_end + counts[-1] * margins[-1], (counts[:-1, None] * margins[1:-1])[::-1]])
    costate = signal.lfilter([1.0], [1.0, -decay], sources, axis=0)[::-1]
    gradient = growth * costate * slopes - weights[:, None] * cost_slopes
    gradient[-1] += d_last
    if problem.uniform:
        gradient = gradient.sum(axis=1, keepdims=True)
    return value, np.add.reduceat(gradient, grid.starts, axis=0).ravel()


@dataclass(frozen=True)
class ControlSolution:
    """The optimum of a control problem on its grid.

    Attributes
    ----------
    times : ndarray, shape (n,)
        Start of every round.
    prices : ndarray, shape (n, 2)
        Unit prices per round and type.
    controls : ndarray, shape (intervals, 1 or 2)
        One price (uniform) or two per block.
    stocks : ndarray, shape (n + 1, 2)
        Stocks at the start of every round and after the last.
    objective : float
        ``J`` at the optimum (present value at the first round).
    converged : bool
        L-BFGS-B's success flag for the best start.
    message : str
    starts : int
        Starting paths tried.
    """

    times: np.ndarray
    prices: np.ndarray
    controls: np.ndarray
    stocks: np.ndarray
    objective: float
    converged: bool
    message: str
    starts: int

    @property
    def first_price(self) -> float:
        """The first round's price (innovators'; the uniform price of a firm)."""
        return float(self.prices[0, 0])


def solve_control(problem: ControlProblem, starts) -> ControlSolution:
    """Maximise :func:`control_objective` with L-BFGS-B from every start; keep the best."""
    top = problem.price_bound
    bounds = [(0.0, top)] * (problem.grid.intervals * problem.columns)
    best = None
    for start in starts:
        start = np.clip(np.asarray(start, dtype=float).ravel(), 0.0, top)
        scale = max(1.0, abs(control_objective(problem, start)[0]))

        def negative(x, scale=scale):
            value, gradient = control_objective(problem, x)
            return -value / scale, -gradient / scale

        result = optimize.minimize(negative, start, jac=True, method="TNC", bounds=bounds,
                                   options={"maxfun": MAX_EVALUATIONS, "ftol": 1e-13, "gtol": 1e-10})
        value = -result.fun * scale
        if best is None or value > best[0]:
            best = (value, result)
    value, result = best
    prices = problem.round_prices(result.x)
    stocks = _propagate(problem.market, problem.stocks, inflows(problem.market, prices), problem.grid.dt)
    return ControlSolution(times=problem.grid.times, prices=prices,
                           controls=result.x.reshape(problem.grid.intervals, problem.columns), stocks=stocks,
                           objective=float(value), converged=bool(result.success), message=str(result.message),
                           starts=len(starts))


# --- the planner --------------------------------------------------------------------------------


def solve_planner(market, settings: WelfareSettings | None = None, horizon: float = 200.0, dt: float = 0.5,
                  intervals: int | None = None, stocks=None) -> ControlSolution:
    """The planner's prices per type maximising present-value welfare (module docstring).

    Parameters
    ----------
    market : DynamicMarket
    settings : WelfareSettings, optional
    horizon, dt : float
        ``horizon / dt`` rounds.
    intervals : int, optional
        Blocks of piecewise-constant prices (default: a price per round).
    stocks : array_like, optional
        Initial stocks (default: the market's).

    Notes
    -----
    Starts: the steady-state prices (when ``delta > 0``) and the co-state guess
    ``s m_k(X_0) / (r + delta)`` held constant.
    """
    settings = settings or WelfareSettings()
    stocks = market.initial_stocks if stocks is None else np.asarray(stocks, dtype=float)
    grid = control_grid(horizon, dt, intervals)
    problem = ControlProblem(market, settings, grid, stocks, "resource", uniform=False)
    reach = problem.price_bound / 1.1 / settings.value(market)
    starts = [settings.value(market) * reach * model_state(market, stocks)[1]]
    if market.depreciation > 0:
        try:
            starts.append(planner_steady_state(market, settings, dt).prices)
        except RuntimeError:  # no steady state found: the co-state guess alone
            pass
    return solve_control(problem, [np.tile(start, (problem.grid.intervals, 1)) for start in starts])


def planner_bound(market, settings: WelfareSettings | None = None, horizon: float = 200.0, dt: float = 0.5,
                  intervals: int | None = None) -> float:
    """Present-value welfare of the planner on the grid (:func:`solve_planner`).

    An upper bound on the welfare of every trajectory of the same rounds, as far as the
    optimiser finds the global optimum from its starts (the tests hold every regime to it).
    """
    return solve_planner(market, settings, horizon, dt, intervals).objective


# --- the forward-looking firm -------------------------------------------------------------------


def forward_looking_prices(market, stocks, settings: WelfareSettings | None = None, horizon: float = 200.0,
                           dt: float = 0.5, intervals: int | None = None, initial=None) -> ControlSolution:
    r"""Strict IP with a firm that looks ahead: one uniform price path maximising the PV of profit.

    Profit flow ``s P(X) - sum_k t I_k(t)`` (what it serves minus what it pays every active
    creator), discounted at ``r``, with the terminal value of ``settings``, planned from
    ``stocks`` over ``horizon``. For model-predictive control, post ``first_price`` and plan
    again next round.

    Parameters
    ----------
    initial : array_like, optional
        A starting path of ``intervals`` prices (e.g. the previous plan, shifted).

    Notes
    -----
    The firm's problem is not concave in its one price (keeping innovators in is a jump),
    so it starts from the best ``3`` of :data:`START_GRID` constant prices on a log grid
    over ``(0, s / (r + delta)]`` and the myopic price (Eq. 12). Given ``initial`` (a
    warm start in model-predictive control) it starts from that alone if it beats every
    constant price, else from it and the best constant price.
    """
    settings = settings or WelfareSettings()
    stocks = np.asarray(stocks, dtype=float)
    grid = control_grid(horizon, dt, intervals)
    problem = ControlProblem(market, settings, grid, stocks, "payments", uniform=True)
    size = problem.grid.intervals
    candidates = np.append(np.geomspace(1e-4, 1.0, START_GRID) * problem.price_bound / 1.1,
                           myopic_price(market, model_state(market, stocks)[1]))
    values = [control_objective(problem, np.full(size, price))[0] for price in candidates]
    starts = [np.full(size, candidates[i]) for i in np.argsort(values)[::-1][:3]]
    if initial is not None:
        initial = np.asarray(initial, dtype=float).reshape(size)
        warm = control_objective(problem, initial)[0]
        starts = [initial] if warm >= max(values) else [initial, starts[0]]
    return solve_control(problem, starts)


def forward_looking_path(market, settings: WelfareSettings | None = None, horizon: float = 200.0,
                         dt: float = 0.5, replan_every: float = 2.0, lookahead: float | None = None
                         ) -> pd.DataFrame:
    """The forward-looking firm by model-predictive control in the fluid limit.

    Every ``replan_every`` the firm plans from the current stocks over ``lookahead``
    (default ``horizon``) in blocks of ``replan_every`` (:func:`forward_looking_prices`,
    warm-started from its previous plan), posts the first block's price for that block,
    and stocks follow the exact round update.

    Returns
    -------
    DataFrame
        The rounds with :data:`abm.theory.fluid.TRAJECTORY_COLUMNS` (:func:`control_trajectory`).
    """
    settings = settings or WelfareSettings()
    grid = control_grid(horizon, dt)
    block = control_grid(replan_every, dt).n_rounds
    plan_grid = control_grid(lookahead or horizon, dt, None)
    if plan_grid.n_rounds % block:
        raise ValueError(f"lookahead must be a whole number of replan_every periods, got "
                         f"{lookahead or horizon} / {replan_every}")
    intervals = plan_grid.n_rounds // block
    stocks, prices, previous = market.initial_stocks, [], None
    for start in range(0, grid.n_rounds, block):
        plan = forward_looking_prices(market, stocks, settings, plan_grid.n_rounds * dt, dt, intervals, previous)
        rounds = min(block, grid.n_rounds - start)
        price = np.full((rounds, 2), plan.first_price)
        stocks = _propagate(market, stocks, inflows(market, price), dt)[-1]
        prices.append(price)
        previous = np.append(plan.controls[1:, 0], plan.controls[-1, 0])
    prices = np.vstack(prices)
    return control_trajectory(market, grid.times, prices,
                              _propagate(market, market.initial_stocks, inflows(market, prices), dt))


def control_trajectory(market, times, prices, stocks) -> pd.DataFrame:
    """Rounds of a price path as a trajectory table (:data:`~abm.theory.fluid.TRAJECTORY_COLUMNS`).

    Settled by unit prices: the firm pays ``t_k`` per unit of effort to every active
    creator, creators keep ``M_k int_0^u G_k`` (:meth:`~abm.theory.fluid.CreatorType.surplus`),
    no intermediary. ``stocks`` has one row per round (more are ignored).
    """
    prices, stocks = np.asarray(prices, dtype=float), np.asarray(stocks, dtype=float)
    trap, rows = price_trap(market), []
    flow = inflows(market, prices)
    for time, price, stock, delivered in zip(times, prices, stocks, flow):
        current, margins = model_state(market, stock)
        active = np.array([c.active_mass(p) for c, p in zip(market.types, price)], dtype=float)
        surplus = np.array([c.surplus(p) for c, p in zip(market.types, price)], dtype=float)
        settlement = RoundSettlement(firm_transfer=float(price @ delivered), creator_surplus=surplus)
        rows.append(trajectory_row(market, float(time), price, stock, current, margins, delivered, active,
                                   settlement, trap=trap))
    return pd.DataFrame(rows, columns=list(TRAJECTORY_COLUMNS))
