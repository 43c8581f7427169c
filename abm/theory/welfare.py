r"""Welfare in the dynamic market: a level criterion, discounted, split by party.

The myopic firm of the market-design paper ("Market Design for AI: Beyond the Copyright
Binary", Section 4, Eq. 12) maximises ``v dP/dt`` minus its payments. Summed over time
that rate is ``v (P_T - P_0)`` minus costs: it counts the *change* of precision and never
the service a precise model renders while it is used, so it cannot rank regimes. This
module values the model by its level instead. A model of precision ``P`` renders
``s P`` per unit of time (``s``, the *service value*, defaults to ``v``: the value one
period of the static market's use of the model is worth, once per unit of time), and

.. math:: W(t) = s\,P(X(t)) - \sum_k \Big[N_k(t_k)\,\tfrac{c_k e_k^2}{2}
          + \underbrace{M_k\!\int_0^{u_k}\!\omega\,dG_k(\omega)}_{\text{outside options forgone}}\Big] - K,
          \qquad u_k = \frac{t_k^2}{2 c_k},\ e_k = \frac{t_k}{c_k},

is the flow of welfare: service of the model minus real resource costs (effort, the
outside options the active creators give up, the intermediary's operating cost ``K``;
payments are transfers and cancel). Stocks follow Eq. 8 and ``P`` is Eq. 11's fixed point.

**The accounting identity.** Every trajectory table
(:data:`abm.theory.fluid.TRAJECTORY_COLUMNS`) records the firm's payments ``T``
(``firm_transfer``), each type's surplus ``S_k`` (``surplus_*`` = payments received minus
effort cost minus the outside options of the active) and the intermediary's balance
``B = T - payments - K``. Money leaves the firm, what creators and the intermediary keep
net of their costs stays with them, and the rest was used up, so

.. math:: \text{resource cost} = T - S_O - S_C - B,\qquad
          W = \underbrace{(sP - T)}_{\text{firm}} + \underbrace{S_O + S_C}_{\text{creators}}
            + \underbrace{B}_{\text{intermediary}} .

**Present values.** A row of a trajectory is a round ``[t_j, t_j + dt)`` whose prices are
held for ``dt`` (the agent-based model and :func:`~abm.theory.fluid.fluid_rounds`; a
:func:`~abm.theory.fluid.solve_fluid` table sampled every ``dt`` is read the same way, an
``O(dt)`` approximation of its continuously moving prices). Payments and costs are
constant within a round; precision moves with the stocks, so the round's service is
taken by the trapezoid rule, ``s (P(t_j) + P(t_j + dt)) / 2`` (``P(t_j + dt)`` is the next
row's, or after the last round that of the stocks the round leaves). A round is then
discounted with the exact weight ``w_j = int_{t_j}^{t_j+dt} e^{-r tau} dtau``. The
trapezoid matters: with the start-of-round precision, data delivered in a round would
first count a round later, a bias of ``-r dt / 2`` in the value of data.

**Terminal value** (``terminal="steady_state"``). After the last round, at
``T_end = t_last + dt``, the final round's prices and payments are held for ever: inflows
``I_k`` stay constant, so stocks move along
``X(tau) = X_end e^{-delta tau} + I (1 - e^{-delta tau}) / delta`` to the steady state
``I / delta`` of those prices, each creator type keeps ``S_k``, the intermediary ``B``,
and the firm gets ``s P(X(tau)) - T``. Discounted to time 0:

.. math:: V_{\text{firm}} = e^{-r T_{end}}\Big[\int_0^\infty e^{-r\tau} s P(X(\tau))\,d\tau - \frac{T}{r}\Big],\qquad
          V_k = e^{-r T_{end}} \frac{S_k}{r},\qquad V_{\text{int}} = e^{-r T_{end}}\frac{B}{r}.

This is the value of the continuation in which the regime's final prices become
permanent; for a regime that has settled into its steady state it is that steady state's
value, and for a planner who chooses the final prices it is self-consistent. It needs
``r > 0``. ``terminal="none"`` stops the count at the horizon.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from abm.theory._validation import require_nonnegative, require_positive
from abm.theory.information import information_sums, precision_fixed_point, recursive_marginal_values

__all__ = [
    "PARTIES",
    "TERMINALS",
    "WelfareSettings",
    "WelfareAccounts",
    "batch_model_state",
    "round_weights",
    "resource_costs",
    "round_service",
    "welfare_flows",
    "round_inflows",
    "end_stocks",
    "continuation_rule",
    "continuation_value",
    "capitalisation_factor",
    "terminal_values",
    "welfare_accounts",
    "rival_welfare_accounts",
    "outside_option_check",
]

#: The parties whose flows add up to welfare, in the order of every table.
PARTIES = ("firm", "innovators", "rank_and_file", "intermediary")
#: Terminal-value rules of :class:`WelfareSettings`.
TERMINALS = ("steady_state", "none")
#: Gauss--Legendre nodes per panel of the continuation rule, panels per e-fold of the
#: fastest time scale, and how many e-folds of discounting the rule covers (e^-50 ~ 2e-22).
PANEL_NODES, PANELS_PER_SCALE, DISCOUNT_EFOLDS = 8, 16, 50.0


@dataclass(frozen=True)
class WelfareSettings:
    """How welfare is valued over time.

    Parameters
    ----------
    service_value : float or None
        ``s > 0``, value of a unit of precision per unit of time the model is in use;
        ``None`` takes the market's ``v`` (one period of the static market per unit time).
    discount_rate : float
        ``r >= 0``.
    terminal : {"steady_state", "none"}
        Value of the state at the horizon (module docstring); ``"steady_state"`` needs ``r > 0``.
    """

    service_value: float | None = None
    discount_rate: float = 0.05
    terminal: str = "steady_state"

    def __post_init__(self) -> None:
        if self.service_value is not None:
            object.__setattr__(self, "service_value", require_positive(self.service_value, "welfare.service_value"))
        object.__setattr__(self, "discount_rate", require_nonnegative(self.discount_rate, "welfare.discount_rate"))
        if self.terminal not in TERMINALS:
            raise ValueError(f"welfare.terminal must be one of {TERMINALS}, got {self.terminal!r}")
        if self.terminal == "steady_state" and self.discount_rate == 0.0:
            raise ValueError("welfare.discount_rate must be > 0 when welfare.terminal = 'steady_state' "
                             "(an undiscounted continuation for ever has no finite value); use terminal = 'none'")

    def value(self, market) -> float:
        """``s``: the service value, or the market's ``v`` when unset."""
        return float(market.value if self.service_value is None else self.service_value)


# --- the model's state along many stocks at once --------------------------------------------


def batch_model_state(market, stocks) -> tuple[np.ndarray, np.ndarray]:
    """Precision (Eq. 11) and marginal values ``m_k`` for an array of stock pairs ``(..., 2)``.

    The same closed forms as :func:`abm.theory.fluid.model_state`, broadcast over rows.
    """
    stocks = np.asarray(stocks, dtype=float)
    s0, s1, s2 = information_sums(stocks, market.betas)
    current = np.asarray(precision_fixed_point(s0, s1, s2, market.sigma0_sq, market.kappa), dtype=float)
    margins = recursive_marginal_values(s1[..., None], s2[..., None], current[..., None], market.sigma0_sq,
                                        market.kappa, market.betas)
    return current, margins


# --- flows -----------------------------------------------------------------------------------


def round_weights(times, dt: float, rate: float) -> np.ndarray:
    r"""``int_{t_j}^{t_j + dt} e^{-r tau} dtau = e^{-r t_j} (1 - e^{-r dt}) / r`` (``dt`` when ``r = 0``)."""
    times = np.asarray(times, dtype=float)
    length = -np.expm1(-rate * dt) / rate if rate > 0 else dt
    return np.exp(-rate * times) * length


def resource_costs(trajectory: pd.DataFrame) -> np.ndarray:
    """Effort costs, outside options forgone and operating cost per round: ``T - S_O - S_C - B``."""
    return (trajectory["firm_transfer"] - trajectory["surplus_innovators"] - trajectory["surplus_rank_and_file"]
            - trajectory["intermediary_balance"]).to_numpy(dtype=float)


def round_service(trajectory: pd.DataFrame, market, settings: WelfareSettings, dt: float) -> np.ndarray:
    """``s (P(t_j) + P(t_j + dt)) / 2`` per round; after the last round, the precision of :func:`end_stocks`."""
    precision = trajectory["precision"].to_numpy(dtype=float)
    final, _ = batch_model_state(market, end_stocks(trajectory, market, dt))
    return settings.value(market) * 0.5 * (precision + np.append(precision[1:], final))


def welfare_flows(trajectory: pd.DataFrame, market, settings: WelfareSettings, dt: float) -> pd.DataFrame:
    """Per round: the service (:func:`round_service`), resource cost, flow welfare and each party's flow.

    Columns ``time, service, resource_cost, welfare`` and :data:`PARTIES`; by construction
    ``firm + innovators + rank_and_file + intermediary = welfare`` (module docstring).
    """
    service = round_service(trajectory, market, settings, dt)
    return pd.DataFrame({
        "time": trajectory["time"].to_numpy(dtype=float),
        "service": service,
        "resource_cost": resource_costs(trajectory),
        "welfare": service - resource_costs(trajectory),
        "firm": service - trajectory["firm_transfer"].to_numpy(dtype=float),
        "innovators": trajectory["surplus_innovators"].to_numpy(dtype=float),
        "rank_and_file": trajectory["surplus_rank_and_file"].to_numpy(dtype=float),
        "intermediary": trajectory["intermediary_balance"].to_numpy(dtype=float),
    })


def round_inflows(trajectory: pd.DataFrame, market) -> np.ndarray:
    """Effort delivered per unit time in each round, ``N_k t_k / c_k`` (rows, 2).

    Exact when every active creator of a type is paid the type's price (every regime of the
    fluid limit and of the agents with per-type prices).
    """
    names = ("innovators", "rank_and_file")
    costs = np.array([creator.cost for creator in market.types])
    active = trajectory[[f"active_{n}" for n in names]].to_numpy(dtype=float)
    prices = trajectory[[f"price_{n}" for n in names]].to_numpy(dtype=float)
    return active * prices / costs


def end_stocks(trajectory: pd.DataFrame, market, dt: float) -> np.ndarray:
    """Stocks after the last round: ``X' = e^{-delta dt} X + (1 - e^{-delta dt}) / delta * inflow``."""
    from abm.theory.fluid import round_factors  # fluid is the home of the round update

    decay, growth = round_factors(market.depreciation, dt)
    last = trajectory.iloc[-1]
    stocks = np.array([last["stock_innovators"], last["stock_rank_and_file"]], dtype=float)
    return decay * stocks + growth * round_inflows(trajectory.iloc[[-1]], market)[0]


# --- the continuation after the horizon ------------------------------------------------------


@lru_cache(maxsize=64)
def continuation_rule(rate: float, depreciation: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes ``tau_q`` and weights ``w_q`` with ``sum_q w_q f(tau_q) ~ int_0^inf e^{-r tau} f(tau) dtau``.

    Composite Gauss--Legendre (``PANEL_NODES`` per panel) on geometrically growing panels
    ``[0, h], [h, 2h], [2h, 4h], ...`` with ``h = min(1/r, 1/delta) / PANELS_PER_SCALE``,
    up to ``DISCOUNT_EFOLDS / r``; the weights include ``e^{-r tau}``. The integrands
    used here (``P`` along stocks relaxing as ``e^{-delta tau}``) are smooth on each
    panel's own scale, and the rule is fixed, so the objective and its gradient are
    exactly consistent. Cached; the returned arrays are read-only.
    """
    rate = require_positive(rate, "welfare.discount_rate")
    scale = min(1.0 / rate, 1.0 / depreciation) if depreciation > 0 else 1.0 / rate
    step, end = scale / PANELS_PER_SCALE, DISCOUNT_EFOLDS / rate
    n_panels = int(np.ceil(np.log2(end / step))) + 1
    edges = np.concatenate([[0.0], step * 2.0 ** np.arange(n_panels)])
    nodes, weights = np.polynomial.legendre.leggauss(PANEL_NODES)
    low, width = edges[:-1, None], np.diff(edges)[:, None]
    taus = (low + 0.5 * width * (nodes + 1.0)).ravel()
    weights = (0.5 * width * weights).ravel() * np.exp(-rate * taus)
    taus.setflags(write=False)
    weights.setflags(write=False)
    return taus, weights


def continuation_value(market, service_value: float, rate: float, stocks, inflows):
    r"""``int_0^inf e^{-r tau} s P(X(tau)) dtau`` with ``X(tau) = X e^{-delta tau} + I phi(tau)``.

    ``phi(tau) = (1 - e^{-delta tau}) / delta`` (``tau`` when ``delta = 0``): stocks fed a
    constant inflow ``I`` (Eq. 8). Also returns the gradients with respect to ``X`` and
    ``I``, ``int e^{-r tau} s m_k(X(tau)) e^{-delta tau}`` and ``... phi(tau)``, which
    the optimal-control solvers of :mod:`abm.theory.planner` use.

    Returns
    -------
    value : float
    d_stocks, d_inflows : ndarray, shape (2,)
    """
    taus, weights = continuation_rule(rate, market.depreciation)
    decay = np.exp(-market.depreciation * taus)
    phi = -np.expm1(-market.depreciation * taus) / market.depreciation if market.depreciation > 0 else taus
    path = decay[:, None] * np.asarray(stocks, dtype=float) + phi[:, None] * np.asarray(inflows, dtype=float)
    current, margins = batch_model_state(market, path)
    weighted = service_value * weights
    return (float(weighted @ current), (weighted * decay) @ margins, (weighted * phi) @ margins)


def terminal_values(trajectory: pd.DataFrame, market, settings: WelfareSettings, dt: float) -> dict:
    """Each party's discounted continuation value after the horizon (module docstring), and ``welfare``."""
    if settings.terminal == "none":
        return {name: 0.0 for name in (*PARTIES, "welfare")}
    rate, last = settings.discount_rate, trajectory.iloc[-1]
    factor = np.exp(-rate * (float(last["time"]) + dt))
    service, _, _ = continuation_value(market, settings.value(market), rate, end_stocks(trajectory, market, dt),
                                      round_inflows(trajectory.iloc[[-1]], market)[0])
    factor = float(factor)
    values = {
        "firm": factor * (service - float(last["firm_transfer"]) / rate),
        "innovators": factor * float(last["surplus_innovators"]) / rate,
        "rank_and_file": factor * float(last["surplus_rank_and_file"]) / rate,
        "intermediary": factor * float(last["intermediary_balance"]) / rate,
    }
    values["welfare"] = sum(values[name] for name in PARTIES)
    return values


# --- the value of a unit of data -------------------------------------------------------------


def capitalisation_factor(rate: float, depreciation: float, dt: float | None = None) -> float:
    r"""``Gamma``: present value, per unit of ``s m_k``, of a unit of data delivered now.

    A unit of type-``k`` data adds ``m_k`` to precision, which serves ``s m_k`` per unit
    time while the unit depreciates at ``delta``: in continuous time it is worth
    ``s m_k / (r + delta)`` (the planner's steady-state price, :mod:`abm.theory.planner`).
    On rounds of length ``dt`` with this module's trapezoid service (a round's data counts
    half in its own round):
    ``Gamma = (1 - e^{-delta dt}) / delta * (1 + e^{-r dt}) / (2 (1 - e^{-(r + delta) dt}))``,
    exactly ``1 / delta`` at ``r = 0`` and ``1 / (r + delta)`` up to a relative
    ``r (r - delta) dt^2 / 12``.
    """
    if rate + depreciation <= 0:
        raise ValueError("capitalisation needs r + delta > 0")
    if dt is None:
        return 1.0 / (rate + depreciation)
    growth = -np.expm1(-depreciation * dt) / depreciation if depreciation > 0 else dt
    return float(growth * (1.0 + np.exp(-rate * dt)) / (-2.0 * np.expm1(-(rate + depreciation) * dt)))


# --- the accounts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class WelfareAccounts:
    """A trajectory's welfare, round by round and in present value.

    Attributes
    ----------
    flows : DataFrame
        :func:`welfare_flows` plus ``weight``, each round's discount weight ``w_j``.
    present_value : dict
        Per party of :data:`PARTIES` and ``welfare``: discounted flows plus terminal value.
    terminal : dict
        The terminal values included in ``present_value``.
    end_time : float
        ``t_last + dt``, where the terminal value starts.
    end_stocks : ndarray
        Stocks at ``end_time``.
    settings : WelfareSettings
    """

    flows: pd.DataFrame = field(repr=False)
    present_value: dict
    terminal: dict
    end_time: float
    end_stocks: np.ndarray
    settings: WelfareSettings

    def annuity(self) -> float:
        """Present value of 1 per unit time over the rounds and, with a terminal value, for ever after."""
        tail = 0.0
        if self.settings.terminal == "steady_state":
            tail = np.exp(-self.settings.discount_rate * self.end_time) / self.settings.discount_rate
        return float(self.flows["weight"].sum() + tail)


def _check_step(times: np.ndarray, dt: float) -> float:
    dt = require_positive(dt, "dt")
    if times.size > 1 and not np.allclose(np.diff(times), dt, rtol=1e-6, atol=1e-12):
        raise ValueError(f"dt = {dt} does not match the trajectory's time step "
                         f"(differences between {np.diff(times).min():.6g} and {np.diff(times).max():.6g})")
    return dt


def welfare_accounts(trajectory: pd.DataFrame, market, settings: WelfareSettings | None = None,
                     dt: float | None = None) -> WelfareAccounts:
    r"""Flow welfare, its split by party and present values of a trajectory (module docstring).

    Parameters
    ----------
    trajectory : DataFrame
        Rounds with :data:`abm.theory.fluid.TRAJECTORY_COLUMNS` (fluid limit or agents),
        equally spaced in ``time``.
    market : DynamicMarket
    settings : WelfareSettings, optional
    dt : float, optional
        Round length; defaults to the step of the ``time`` column.

    Returns
    -------
    WelfareAccounts
        ``present_value[p] = sum_j w_j flow_p(j) + terminal[p]`` with
        ``w_j = int_{t_j}^{t_j+dt} e^{-r tau} dtau`` and the trapezoid service.

    Raises
    ------
    ValueError
        For an empty trajectory or a ``dt`` that is not its time step.
    """
    settings = settings or WelfareSettings()
    if len(trajectory) == 0:
        raise ValueError("trajectory must have at least one round")
    times = trajectory["time"].to_numpy(dtype=float)
    if dt is None:
        if times.size < 2:
            raise ValueError("dt is needed for a trajectory of one round")
        dt = float(times[1] - times[0])
    dt = _check_step(times, dt)
    flows = welfare_flows(trajectory, market, settings, dt)
    flows["weight"] = round_weights(times, dt, settings.discount_rate)
    terminal = terminal_values(trajectory, market, settings, dt)
    present = {name: float(flows["weight"] @ flows[name]) + terminal[name] for name in (*PARTIES, "welfare")}
    return WelfareAccounts(flows=flows, present_value=present, terminal=terminal, end_time=float(times[-1] + dt),
                           end_stocks=end_stocks(trajectory, market, dt), settings=settings)


def outside_option_check(accounts: WelfareAccounts, firm_outside: float = 0.0,
                         tolerance: float = 1e-9) -> pd.DataFrame:
    """Each party's present value against that of its outside option; ``below`` flags a shortfall.

    The firm's outside option is ``firm_outside`` per unit time (a regime's ``Pi0``),
    discounted like the flows (:meth:`WelfareAccounts.annuity`). Creators' surpluses and
    the intermediary's balance are already net of their outside options, so theirs is 0.
    A party is flagged when it falls short by more than ``tolerance`` times the present
    value of the service ``s P`` plus that of the outside option (rounding of a balanced
    budget is not a shortfall).

    Returns
    -------
    DataFrame
        Indexed by party: ``present_value``, ``outside_value``, ``margin`` (the difference)
        and ``below`` (``margin < 0``).
    """
    outside = {name: 0.0 for name in PARTIES}
    outside["firm"] = float(firm_outside) * accounts.annuity()
    table = pd.DataFrame({"present_value": [accounts.present_value[n] for n in PARTIES],
                          "outside_value": [outside[n] for n in PARTIES]}, index=pd.Index(PARTIES, name="party"))
    table["margin"] = table["present_value"] - table["outside_value"]
    scale = float(accounts.flows["weight"] @ accounts.flows["service"].abs()) + abs(outside["firm"])
    table["below"] = table["margin"] < -tolerance * scale
    return table


def rival_welfare_accounts(trajectory: pd.DataFrame, market, firms: int, settings=None, dt: float | None = None):
    r"""Present-value welfare of a rival-firms trajectory (``docs/welfare.md``, rival AI firms).

    The consumers of AI services are one market, shared equally by the ``F`` firms (the
    duopoly in the product market behind the myopic firm of the market-design paper,
    footnote 18): firm ``f``'s model serves ``1/F`` of them, so the service is
    ``(s / F) sum_f P_f``, the firms' mean precision, never their sum (which would count
    every consumer ``F`` times). Costs and transfers are the market's. Computed as the sum
    over firms of :func:`welfare_accounts` of firm ``f``'s view of the
    market: its own precision and stocks, its share of each round's inflows (1 under
    non-exclusive licences, the winners' split under exclusive ones, which also feeds its
    stocks after the horizon), service value ``s / F`` and ``1/F`` of every transfer and
    surplus. Every term is linear in those, so the sum is the market's accounts; at
    ``F = 1`` it is :func:`welfare_accounts` itself.

    Parameters
    ----------
    trajectory : DataFrame
        Every round of a rival-firms run (:func:`~abm.theory.rivals.rival_columns`).
    market : DynamicMarket
    firms : int
    settings : WelfareSettings, optional
    dt : float, optional

    Returns
    -------
    WelfareAccounts
        Flows, present values and terminal values summed over the firms' views; ``end_stocks``
        the firms' mean.
    """
    settings = settings or WelfareSettings()
    scaled = dataclasses.replace(settings, service_value=settings.value(market) / firms)
    shared = ["firm_transfer", "surplus_innovators", "surplus_rank_and_file", "intermediary_balance"]
    views = []
    for f in range(1, firms + 1):
        share = trajectory[f"share_firm_{f}"]
        view = trajectory.assign(
            precision=trajectory[f"precision_firm_{f}"],
            stock_innovators=trajectory[f"stock_innovators_firm_{f}"],
            stock_rank_and_file=trajectory[f"stock_rank_and_file_firm_{f}"],
            active_innovators=trajectory["active_innovators"] * share,  # firm f's inflows: its share
            active_rank_and_file=trajectory["active_rank_and_file"] * share,
            **{column: trajectory[column] / firms for column in shared})
        views.append(welfare_accounts(view, market, scaled, dt))
    first = views[0]
    summed = [name for name in first.flows.columns if name not in ("time", "weight")]
    flows = first.flows.copy()
    flows[summed] = sum(view.flows[summed] for view in views)
    total = {name: sum(view.present_value[name] for view in views) for name in (*PARTIES, "welfare")}
    terminal = {name: sum(view.terminal[name] for view in views) for name in (*PARTIES, "welfare")}
    return WelfareAccounts(flows=flows, present_value=total, terminal=terminal, end_time=first.end_time,
                           end_stocks=np.mean([view.end_stocks for view in views], axis=0), settings=settings)
