r"""The data intermediary's mechanisms (market-design paper, Section 5).

A regulated intermediary with operating cost ``K`` buys every creator's signal and sells
the bundle to the firm. Linear prices alone (Lemmas 7 and 8) make efforts efficient but
leave the firm with ``v P(e^S) - c sum (e^S)^2 - K``; the two-part tariff of Prop. 9 adds
base payments and a lump sum so that incentive compatibility (IC), individual rationality
(IR) and budget balance (BB) hold together, splitting the net surplus ``Delta`` by Nash
bargaining with the creators' power ``alpha`` and among creators by Aumann--Shapley weights.

:func:`flow_tariff` is this project's round-by-round version for the dynamic market
(documented in ``docs/regimes.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abm.theory._validation import frozen_array, require_finite, require_nonnegative, require_unit_interval
from abm.theory.information import diagonal_lambda_integrals, information_sums
from abm.theory.static import (
    InformationMarket,
    effective_precision,
    social_optimum,
)

__all__ = [
    "MechanismResult",
    "aumann_shapley_weights",
    "linear_pricing",
    "two_part_tariff",
    "FlowTariff",
    "flow_tariff",
    "RoundSettlement",
    "settle_round",
]

@dataclass(frozen=True)
class MechanismResult:
    """What a mechanism pays and what everyone ends up with.

    Attributes
    ----------
    effort, unit_price, base_payment, weights, creator_utility : ndarray
        Per creator. ``creator_utility`` includes the base payment and is net of effort cost.
    surplus : float
        Net surplus ``Delta = W(e^S) - K - Pi0 - sum(u0)``.
    firm_transfer : float
        ``T(e^S)``, what the firm pays the intermediary.
    lump_sum : float
        ``A = T(e^S) - sum(t e^S)``, the firm's licence fee on top of the unit prices.
    firm_profit : float
        ``v P(e) - T``.
    intermediary_balance : float
        ``T - sum(payments) - K``; zero under budget balance.
    precision, welfare : float
    feasible : bool
        ``False`` when the mechanism cannot run efficiently (``Delta < 0``): no trade
        takes place, every party keeps its outside option, and ``message`` says why.
    message : str
    """

    effort: np.ndarray
    unit_price: np.ndarray
    base_payment: np.ndarray
    weights: np.ndarray
    creator_utility: np.ndarray
    surplus: float
    firm_transfer: float
    lump_sum: float
    firm_profit: float
    intermediary_balance: float
    precision: float
    welfare: float
    feasible: bool = True
    message: str = ""

    def __post_init__(self) -> None:
        for name in ("effort", "unit_price", "base_payment", "weights", "creator_utility"):
            object.__setattr__(self, name, frozen_array(getattr(self, name), name))


def aumann_shapley_weights(market: InformationMarket, effort) -> np.ndarray:
    r"""Aumann--Shapley shares of welfare along the diagonal from 0 to ``effort`` (Prop. 9).

    .. math:: w_i = \frac{e_i \int_0^1 \partial W/\partial e_i(s e)\, ds}{W(e)},\qquad
              \partial W/\partial e_i = v (1 - \lambda(s e)\beta_i)^2 - c\, s\, e_i .

    Expanding the square, the path integral is
    ``v (1 - 2 beta_i int lambda + beta_i^2 int lambda^2) - c e_i / 2`` with the two
    integrals of ``lambda`` along the ray in closed form
    (:func:`~abm.theory.information.diagonal_lambda_integrals`), so the weights are exact
    however large ``sigma^2 S2`` is. They sum to 1 because ``W(0) = 0``.

    Raises
    ------
    ValueError
        If ``W(effort) <= 0`` (the shares are undefined).
    """
    effort = np.asarray(effort, dtype=float)
    welfare = market.value * effective_precision(market, effort) - 0.5 * market.cost * float(effort @ effort)
    if welfare <= 0:
        raise ValueError(f"Aumann-Shapley weights need positive welfare, got W = {welfare}")
    _, s1, s2 = information_sums(effort, market.beta)
    mean_lambda, mean_lambda_sq = diagonal_lambda_integrals(market.sigma2 * s1, market.sigma2 * s2)
    beta = market.beta
    path_marginal = market.value * (1.0 - 2.0 * beta * mean_lambda + beta * beta * mean_lambda_sq)
    return effort * (path_marginal - 0.5 * market.cost * effort) / welfare


def nash_split(data_value: float, outside, weights, effort_cost, surplus: float, firm_outside: float,
               bargaining_power: float) -> tuple[np.ndarray, float]:
    r"""Base payments and the firm's transfer that split the net surplus (Prop. 9).

    Creator ``i`` gets its outside option plus ``w_i alpha Delta``, so its base payment is
    ``a_i = u_i^0 + w_i alpha Delta - (effort cost)_i`` on top of the unit prices that
    cover its effort cost; the firm keeps ``Pi0 + (1 - alpha) Delta`` of the data's value,
    so it pays ``T = value - Pi0 - (1 - alpha) Delta``. Shared by the static tariff and
    the dynamic market's flow tariff.

    Returns
    -------
    base : ndarray
        Per creator.
    transfer : float
        ``T``.
    """
    base = np.asarray(outside, dtype=float) + np.asarray(weights) * bargaining_power * surplus - effort_cost
    transfer = data_value - firm_outside - (1.0 - bargaining_power) * surplus
    return base, float(transfer)


def linear_pricing(market: InformationMarket, operating_cost: float = 0.0) -> MechanismResult:
    r"""The unique linear mechanism with IC and BB (Lemmas 7 and 8).

    Unit prices ``t_i = c e_i^S = v (1 - lam^S beta_i)^2``; creator ``i`` gets
    ``c (e_i^S)^2 / 2``; the firm pays ``sum t e^S`` and keeps
    ``v P(e^S) - c sum (e^S)^2 - K`` (``-K`` when every ``beta`` is 0: it walks away).
    """
    operating_cost = require_nonnegative(operating_cost, "operating_cost")
    optimum = social_optimum(market)
    effort = optimum.effort
    unit_price = market.cost * effort
    transfer = float(unit_price @ effort)
    return MechanismResult(
        effort=effort,
        unit_price=unit_price,
        base_payment=np.zeros_like(effort),
        weights=np.full_like(effort, np.nan) if optimum.welfare <= 0 else aumann_shapley_weights(market, effort),
        creator_utility=0.5 * market.cost * effort**2,
        surplus=optimum.welfare - operating_cost,
        firm_transfer=transfer,
        lump_sum=0.0,
        firm_profit=market.value * optimum.precision - transfer - operating_cost,
        intermediary_balance=0.0,
        precision=optimum.precision,
        welfare=optimum.welfare - operating_cost,
    )


def two_part_tariff(market: InformationMarket, operating_cost: float = 0.0, firm_outside: float = 0.0,
                    creator_outside=0.0, bargaining_power: float = 0.5) -> MechanismResult:
    r"""The intermediary's two-part tariff (Prop. 9).

    Creator ``i`` is paid ``a_i + t_i e_i`` with ``t_i = c e_i^S`` (so IC gives ``e^S``) and
    ``a_i = u_i^0 + w_i alpha Delta - c (e_i^S)^2 / 2``; the firm pays
    ``T(e^S) = v P(e^S) - Pi0 - (1 - alpha) Delta``. Then creator ``i`` gets
    ``u_i^0 + w_i alpha Delta``, the firm ``Pi0 + (1 - alpha) Delta`` and the intermediary
    exactly covers ``K``.

    Parameters
    ----------
    market : InformationMarket
    operating_cost : float
        ``K >= 0``, the intermediary's fixed cost.
    firm_outside : float
        ``Pi0``, the firm's outside option.
    creator_outside : float or array_like
        ``u_i^0 >= 0``, one value for all creators or one per creator.
    bargaining_power : float
        ``alpha`` in [0, 1], the creators' share of the net surplus.

    Returns
    -------
    MechanismResult
        With ``feasible=False`` and a message when ``Delta < 0``: then nobody trades.
    """
    operating_cost = require_nonnegative(operating_cost, "operating_cost")
    firm_outside = require_finite(firm_outside, "firm_outside")
    alpha = require_unit_interval(bargaining_power, "bargaining_power")
    outside = np.broadcast_to(np.asarray(creator_outside, dtype=float), market.beta.shape).copy()
    if not np.all(np.isfinite(outside)) or np.any(outside < 0):
        raise ValueError("creator_outside must be finite and >= 0 for every creator")
    optimum = social_optimum(market)
    effort, unit_price = optimum.effort, market.cost * optimum.effort
    surplus = optimum.welfare - operating_cost - firm_outside - float(outside.sum())
    if surplus < 0:
        return _no_trade(market, outside, firm_outside, surplus)
    weights = aumann_shapley_weights(market, effort)
    base, transfer = nash_split(market.value * optimum.precision, outside, weights, 0.5 * market.cost * effort**2,
                                surplus, firm_outside, alpha)
    paid = float(np.sum(base + unit_price * effort))
    return MechanismResult(
        effort=effort,
        unit_price=unit_price,
        base_payment=base,
        weights=weights,
        creator_utility=base + unit_price * effort - 0.5 * market.cost * effort**2,
        surplus=surplus,
        firm_transfer=transfer,
        lump_sum=transfer - float(unit_price @ effort),
        firm_profit=market.value * optimum.precision - transfer,
        intermediary_balance=transfer - paid - operating_cost,
        precision=optimum.precision,
        welfare=optimum.welfare - operating_cost,
    )


def _no_trade(market: InformationMarket, outside: np.ndarray, firm_outside: float, surplus: float):
    zeros = np.zeros(market.n_creators)
    return MechanismResult(
        effort=zeros, unit_price=zeros, base_payment=zeros, weights=zeros, creator_utility=outside,
        surplus=surplus, firm_transfer=0.0, lump_sum=0.0, firm_profit=firm_outside,
        intermediary_balance=0.0, precision=0.0, welfare=0.0, feasible=False,
        message=(f"the market cannot be run efficiently: net surplus Delta = {surplus:.6g} < 0 "
                 "(efficient welfare does not cover the operating cost and the outside options); "
                 "no trade takes place"),
    )


@dataclass(frozen=True)
class FlowTariff:
    """One round of the dynamic intermediary (see :func:`flow_tariff`).

    Attributes
    ----------
    base_payment, creator_utility, weights : ndarray
        Per admitted creator (rates per unit time, already times the creator's mass).
    surplus : float
        ``Delta_t``; negative means the round cannot be efficient.
    firm_transfer, firm_net : float
        What the firm pays, and the value of the round's data minus that.
    balance : float
        Intermediary's ``T - payments - K``.
    feasible : bool
    """

    base_payment: np.ndarray
    creator_utility: np.ndarray
    weights: np.ndarray
    surplus: float
    firm_transfer: float
    firm_net: float
    balance: float
    feasible: bool


def flow_tariff(unit_price, effort, mass, cost, outside_option, operating_cost: float = 0.0,
                firm_outside: float = 0.0, bargaining_power: float = 0.5) -> FlowTariff:
    r"""The two-part tariff for one round of the dynamic market (this project's extension).

    Every admitted creator supplies ``effort = unit_price / cost``, where the unit price is
    the marginal social value of its data, so the value of the round's data to the firm is
    ``V = sum mass * unit_price * effort`` and a creator's gross surplus is
    ``mass * unit_price^2 / (2 cost)`` (its Aumann--Shapley value when value is linear in
    the round's flow). With ``W = sum gross surplus``,
    ``Delta = W - sum mass*omega - K - Pi0``, weights ``w_i = gross_i / W``, base payments
    ``a_i = mass_i omega_i + w_i alpha Delta - mass_i c_i e_i^2 / 2`` and the firm's
    transfer ``T = V - Pi0 - (1 - alpha) Delta`` give every creator
    ``mass omega + w alpha Delta``, the firm ``Pi0 + (1 - alpha) Delta``, and the
    intermediary exactly ``K``: IC, IR and BB in every round, as in Prop. 9.
    """
    unit_price, effort, mass, cost, outside_option = (
        np.asarray(x, dtype=float) for x in (unit_price, effort, mass, cost, outside_option)
    )
    gross = mass * unit_price * effort - 0.5 * mass * cost * effort**2
    total_gross = float(gross.sum())
    value = float(np.sum(mass * unit_price * effort))
    surplus = total_gross - float(np.sum(mass * outside_option)) - operating_cost - firm_outside
    if total_gross <= 0 or surplus < 0:
        none = np.zeros_like(gross)
        return FlowTariff(none, mass * outside_option, none, surplus, 0.0, 0.0, 0.0, False)
    weights = gross / total_gross
    base, transfer = nash_split(value, mass * outside_option, weights, 0.5 * mass * cost * effort**2, surplus,
                                firm_outside, bargaining_power)
    paid = float(np.sum(base + mass * unit_price * effort))
    return FlowTariff(
        base_payment=base,
        creator_utility=base + mass * unit_price * effort - 0.5 * mass * cost * effort**2,
        weights=weights,
        surplus=surplus,
        firm_transfer=transfer,
        firm_net=value - transfer,
        balance=transfer - paid - operating_cost,
        feasible=True,
    )


@dataclass(frozen=True)
class RoundSettlement:
    """Who paid whom in one round of the dynamic market (rates per unit time).

    Attributes
    ----------
    firm_transfer : float
        Everything the firm paid (unit prices, or the intermediary's transfer ``T``).
    creator_surplus : ndarray, shape (2,)
        Per type: payments minus effort costs minus the outside options of active creators.
    intermediary_balance : float
        Intermediary's net; zero under budget balance and for regimes without one.
    feasible : bool
        ``False`` when a tariff round could not be efficient (then nobody traded).
    """

    firm_transfer: float
    creator_surplus: np.ndarray
    intermediary_balance: float = 0.0
    feasible: bool = True


def settle_round(unit_price, effort, mass, cost, outside_option, kind, *, tariff: bool = False,
                 operating_cost: float = 0.0, firm_outside: float = 0.0,
                 bargaining_power: float = 0.5, firm_price=None) -> RoundSettlement:
    """Payments of one round, from per-creator (or per-type aggregate) arrays of the active.

    Without a tariff every active creator is paid its unit price per unit of effort. With
    ``tariff=True`` the round is settled by :func:`flow_tariff`. With ``firm_price`` (a
    reseller's price per unit, the private broker's) the firm pays ``firm_price`` per unit
    delivered and the reseller keeps the difference as its ``intermediary_balance``.
    """
    unit_price, effort, mass, cost, outside_option = (
        np.asarray(x, dtype=float) for x in (unit_price, effort, mass, cost, outside_option)
    )
    kind = np.asarray(kind)
    if tariff:
        round_tariff = flow_tariff(unit_price, effort, mass, cost, outside_option, operating_cost, firm_outside,
                                   bargaining_power)
        surplus = round_tariff.creator_utility - mass * outside_option
        return RoundSettlement(
            firm_transfer=round_tariff.firm_transfer,
            creator_surplus=np.bincount(kind, weights=surplus, minlength=2),
            intermediary_balance=round_tariff.balance,
            feasible=round_tariff.feasible,
        )
    payments = mass * unit_price * effort
    surplus = payments - mass * (0.5 * cost * effort**2 + outside_option)
    creator_surplus = np.bincount(kind, weights=surplus, minlength=2)
    if firm_price is None:
        return RoundSettlement(firm_transfer=float(payments.sum()), creator_surplus=creator_surplus)
    firm_transfer = float(np.sum(mass * np.asarray(firm_price, dtype=float) * effort))
    return RoundSettlement(firm_transfer=firm_transfer, creator_surplus=creator_surplus,
                           intermediary_balance=firm_transfer - float(payments.sum()))
