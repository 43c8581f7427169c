"""Creators who decide: the behaviour a creator type follows, and its fluid counterparts.

A scenario chooses, per creator type, the rule its creators use to decide entry
(``[rank_and_file.behaviour]`` with ``rule = ...`` and the rule's parameters; see
``docs/behaviours.md``). :class:`Behaviour` is that table; :data:`RULE_PARAMETERS` lists the
rules and their parameters. The agents' side lives in
:mod:`abm.simulation.dynamic_market.behaviours`; this module holds what both sides share:

* the firm's myopic price against an expected supply that is not a step function
  (:func:`maximise_profit`: a grid then a bounded Brent search, the same code for the
  agents and the fluid maps);
* the fluid round maps (:func:`behaviour_rounds`), the deterministic counterparts of the
  behaviours on the schedule of :func:`abm.theory.fluid.fluid_rounds`:

  ``best_response``
      ``N_k(p) = M_k G_k(p^2 / (2 c))``, today's rule.
  ``logit`` (temperature ``tau > 0``)
      each creator enters with probability ``sigma((u - omega) / tau)``, ``u = p^2 / (2c)``,
      so the expected active mass is ``N_k(p) = M_k E_omega[sigma((u - omega) / tau)]``. The
      expectation is a midpoint rule over :data:`QUADRATURE_POINTS` quantiles of the type's
      outside options, ``omega_j = G^{-1}((j + 1/2) / J)``; as ``tau -> 0`` the map recovers
      best response (up to the quadrature's resolution ``1/J`` in the active share).
  ``sunk_entry`` (entry cost ``F >= 0``, discount rate ``r > 0``)
      an inactive creator enters when ``u >= omega + r F`` (the flow equivalent of paying
      ``F`` once), an active one stays while ``u >= omega``. If the active set was the
      interval ``[0, a_{t-1}]`` of outside options, this round's is
      ``{omega <= u - rF} U {omega <= min(u, a_{t-1})} = [0, a_t]`` with
      ``a_t = max(u_t - rF, min(u_t, a_{t-1}))``: a map with memory; the active mass is
      ``M_k G_k(a_t)``. Nobody is active before the first round (``a_{-1} = -inf``).
  ``adaptive_expectations`` (weight ``theta`` in (0, 1])
      creators commit to the round on their expected price ``e_k`` (enter iff
      ``e_k^2 / (2c) >= omega``) before the firm posts, exert ``p / c`` at the posted price, then
      revise ``e_k <- e_k + theta (p - e_k)`` (:func:`adaptive_expectation`). One more state per
      type: the committed mass ``M_k G_k(e_k^2 / (2c))`` does not depend on this round's price
      (hold-up). Before the first round there is no expectation: creators take the first posted
      price as theirs, so the first round is best response (``e_k = nan`` until then).
  ``chosen_originality`` (a menu of ``styles``, loading and cost each; ``revision_rate rho``)
      style shares and one stock per style: :func:`abm.theory.originality.originality_rounds`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import expit

from abm.theory._validation import require_nonnegative, require_positive
from abm.theory.originality import StyleMenu, originality_rounds, require_revision_rate

__all__ = ["Behaviour", "RULE_PARAMETERS", "DEFAULT_RULE", "QUADRATURE_POINTS", "PRICE_GRID", "maximise_profit",
           "behaviour_from_dict", "behaviour_rounds", "BEHAVIOUR_COLUMNS", "logit_share", "sunk_frontier",
           "require_weight", "adaptive_expectation"]


def require_weight(value, name: str) -> float:
    """Return ``float(value)``; it must lie in (0, 1] (the weight of adaptive expectations)."""
    number = require_positive(value, name)
    if number > 1.0:
        raise ValueError(f"{name} must lie in (0, 1], got {value!r}")
    return number


DEFAULT_RULE = "best_response"
#: Each rule's parameters and how each is checked.
RULE_PARAMETERS = {
    "best_response": {},
    "logit": {"temperature": require_positive},
    "sunk_entry": {"entry_cost": require_nonnegative, "discount_rate": require_positive},
    "adaptive_expectations": {"weight": require_weight},
    "chosen_originality": {"styles": StyleMenu.from_value, "revision_rate": require_revision_rate},
}
#: Quantiles of the outside options over which the fluid logit map takes its expectation.
QUADRATURE_POINTS = 200
#: Grid points of the firm's price search before the Brent refinement (:func:`maximise_profit`).
PRICE_GRID = 64
#: Columns of :func:`behaviour_rounds` (those of the agents' trajectory used for docking).
BEHAVIOUR_COLUMNS = ("time", "price", "precision", "stock_innovators", "stock_rank_and_file",
                     "active_innovators", "active_rank_and_file")


@dataclass(frozen=True)
class Behaviour:
    """How the creators of one type decide entry: a rule of :data:`RULE_PARAMETERS` and its parameters.

    Parameters
    ----------
    rule : str
    parameters : tuple of (name, value)
        Exactly the rule's parameters (sorted by name).
    """

    rule: str = DEFAULT_RULE
    parameters: tuple = ()

    def __post_init__(self) -> None:
        if not isinstance(self.rule, str) or self.rule not in RULE_PARAMETERS:
            raise ValueError(f"behaviour.rule must be one of {list(RULE_PARAMETERS)}, got {self.rule!r}")
        given = dict(self.parameters)
        expected = RULE_PARAMETERS[self.rule]
        unknown = sorted(set(given) - set(expected))
        if unknown:
            raise ValueError(f"behaviour.{unknown[0]} is not a parameter of rule {self.rule!r} "
                             f"(its parameters: {sorted(expected) or 'none'})")
        missing = sorted(set(expected) - set(given))
        if missing:
            raise ValueError(f"behaviour.{missing[0]} is required by rule {self.rule!r}")
        checked = tuple(sorted((name, check(given[name], f"behaviour.{name}"))  # numbers, or a StyleMenu
                               for name, check in expected.items()))
        object.__setattr__(self, "parameters", checked)

    @property
    def is_default(self) -> bool:
        return self.rule == DEFAULT_RULE

    def __getitem__(self, name: str) -> float:
        return dict(self.parameters)[name]

    def to_dict(self) -> dict:
        return {"rule": self.rule, **{name: value.to_list() if isinstance(value, StyleMenu) else value
                                      for name, value in self.parameters}}


def behaviour_from_dict(table, where: str) -> Behaviour:
    """A :class:`Behaviour` from a scenario file's ``[<type>.behaviour]`` table."""
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a table with a rule, got {table!r}")
    table = dict(table)
    rule = table.pop("rule", DEFAULT_RULE)
    try:
        return Behaviour(rule, tuple(table.items()))
    except ValueError as error:
        raise ValueError(f"{where}.{str(error).removeprefix('behaviour.')}") from None


# --- the firm's price against a smooth (or state-dependent) expected supply ------------------


def maximise_profit(profit, upper: float, grid: int = PRICE_GRID, vectorised: bool = False, candidates=()) -> float:
    """The price in ``(0, upper]`` maximising ``profit(p)``; 0 when no price is profitable.

    ``grid`` evenly spaced prices, then a bounded Brent search (``xatol = 1e-10``) between
    the neighbours of the best grid price; the better of the two is kept. ``grid + ~30``
    evaluations of ``profit`` (with ``vectorised``, ``profit`` takes the whole grid at once).
    ``candidates`` (kinks of the supply curve in ``(0, upper]``) are tried too.
    """
    if not upper > 0.0:
        return 0.0
    prices = np.linspace(0.0, upper, grid + 1)[1:]
    values = (np.asarray(profit(prices), dtype=float) if vectorised
              else np.array([profit(float(p)) for p in prices]))
    j = int(np.argmax(values))
    low = float(prices[j - 1]) if j > 0 else 0.0
    high = float(prices[min(j + 1, grid - 1)])
    best, best_value = float(prices[j]), float(values[j])
    for price in candidates:
        if 0.0 < price <= upper:
            value = float(profit(np.array([price]))[0] if vectorised else profit(float(price)))
            if value > best_value:
                best, best_value = float(price), value
    if high > low:
        found = minimize_scalar(lambda p: -profit(p), bounds=(low, high), method="bounded",
                                options={"xatol": 1e-10})
        if -float(found.fun) > best_value:
            best, best_value = float(found.x), -float(found.fun)
    return best if best_value > 0.0 else 0.0


def logit_share(payoff, options, temperature: float):
    """``mean_j sigma((payoff - omega_j) / tau)`` over outside options ``omega_j``."""
    return float(np.mean(expit((payoff - options) / temperature)))


def sunk_frontier(payoff: float, previous: float, threshold: float) -> float:
    """``a_t = max(u - rF, min(u, a_{t-1}))``: the largest outside option active this round."""
    return max(payoff - threshold, min(payoff, previous))


def adaptive_expectation(expected, price, weight: float):
    """``p^e + theta (p - p^e)``: the expected price after a round posted at ``price``.

    Adaptive expectations (Cagan 1956; Nerlove 1958) with weight ``theta`` in (0, 1];
    ``theta = 1`` is static expectations (next round's price is this round's). Where there is
    no expectation yet (``nan``: before the first round) the posted price becomes the
    expectation. Elementwise over arrays (the agents' per-creator expectations).
    """
    expected = np.asarray(expected, dtype=float)
    return np.where(np.isnan(expected), price, expected + weight * (price - expected))


# --- fluid round maps -------------------------------------------------------------------------


class _FluidType:
    """One type's expected active mass at a price, with the rule's memory."""

    def __init__(self, creator, behaviour: Behaviour) -> None:
        self.creator, self.behaviour = creator, behaviour
        self.frontier = -math.inf
        if behaviour.rule == "logit":
            self.options = creator.outside_option.ppf((np.arange(QUADRATURE_POINTS) + 0.5) / QUADRATURE_POINTS)

    def _frontier(self, payoff: float) -> float:
        rent = self.behaviour["discount_rate"] * self.behaviour["entry_cost"]
        return sunk_frontier(payoff, self.frontier, rent)

    def active_mass(self, price):
        """Expected active mass at ``price`` (a number or an array of prices)."""
        creator, rule = self.creator, self.behaviour.rule
        price = np.asarray(price, dtype=float)
        payoff = price * price / (2.0 * creator.cost)
        if rule == "best_response":
            return creator.active_mass(price)
        if rule == "logit":
            shares = expit((payoff[..., None] - self.options) / self.behaviour["temperature"])
            return creator.mass * shares.mean(axis=-1)
        rent = self.behaviour["discount_rate"] * self.behaviour["entry_cost"]
        frontier = np.maximum(payoff - rent, np.minimum(payoff, self.frontier))
        return np.where(frontier >= 0.0, creator.mass * creator.outside_option.cdf(np.maximum(frontier, 0.0)), 0.0)

    def kinks(self) -> list:
        """Prices where the sunk-entry supply bends: ``sqrt(2c a_{t-1})`` and ``sqrt(2c (a_{t-1} + rF))``."""
        if self.behaviour.rule != "sunk_entry" or not self.frontier >= 0.0:
            return []
        rent = self.behaviour["discount_rate"] * self.behaviour["entry_cost"]
        return [math.sqrt(2.0 * self.creator.cost * (self.frontier + extra)) for extra in (0.0, rent)]

    def inflow(self, price):
        return self.active_mass(price) * price / self.creator.cost

    def settle(self, price: float) -> None:
        if self.behaviour.rule == "sunk_entry":
            self.frontier = self._frontier(price * price / (2.0 * self.creator.cost))


class _AdaptiveType:
    """One type under adaptive expectations: committed on its expected price ``e_k``, effort on the posted one.

    Before the first round ``e_k`` is ``nan`` and supply is best response (creators see the
    first price); afterwards the committed mass ``M_k G_k(e_k^2 / (2c))`` is the same at every
    price the firm might post this round.
    """

    def __init__(self, creator, behaviour: Behaviour) -> None:
        self.creator, self.weight = creator, behaviour["weight"]
        self.expected = math.nan

    def active_mass(self, price):
        price = np.asarray(price, dtype=float)
        if math.isnan(self.expected):
            return self.creator.active_mass(price)
        return np.full(price.shape, float(self.creator.active_mass(self.expected)))

    def kinks(self) -> list:
        return []

    def inflow(self, price):
        return self.active_mass(price) * price / self.creator.cost

    def settle(self, price: float) -> None:
        self.expected = float(adaptive_expectation(self.expected, price, self.weight))


def _fluid_type(creator, behaviour: Behaviour):
    """The fluid state of one type following ``behaviour``."""
    if behaviour.rule == "adaptive_expectations":
        return _AdaptiveType(creator, behaviour)
    return _FluidType(creator, behaviour)


def _posted_prices(market, margins, regime, settings, firm_price) -> np.ndarray:
    """One round's per-type unit prices ``(t_O, t_C)`` under ``regime`` when creators follow a behaviour.

    Where the firm prices (``regime`` is ``None`` or has ``firm_prices``) both types get
    ``firm_price()``, the myopic price against the behaviours' expected supply. Otherwise the
    regime posts its prices from the marginal values (:func:`abm.theory.fluid.round_prices`),
    whatever the creators will do; a tariff round whose surplus would be negative with the
    creators the intermediary would keep (those whose outside option the round's surplus
    covers: best-response entry) is called off (prices 0). The behaviour then decides who
    enters at the posted prices (``docs/behaviours.md``).
    """
    if regime is None or getattr(regime, "firm_prices", False):
        return np.full(2, firm_price())
    from abm.theory.fluid import round_prices

    prices, _ = round_prices(market, margins, regime, settings, firm_price)
    return np.asarray(prices, dtype=float)


def behaviour_rounds(market, behaviours, dt: float, n_rounds: int, regime=None, settings=None) -> pd.DataFrame:
    """The fluid counterpart of creators following ``behaviours`` under a regime (default: strict IP, myopic firm).

    The schedule of :func:`abm.theory.fluid.fluid_rounds`: each round the firm reads
    precision and marginal values off the stocks (:func:`~abm.theory.fluid.model_state`),
    the regime posts its per-type prices (:func:`_posted_prices`: where the firm prices, the
    price maximising Eq. 12's profit against the expected supply this round,
    :func:`maximise_profit`, for sunk entry the supply given the frontier ``a_{t-1}``; else the
    regime's own prices from the marginal values, with a tariff round called off exactly as in
    :func:`~abm.theory.fluid.round_prices`), each type responds to its own price with its rule,
    and the stocks follow :func:`~abm.theory.fluid.round_factors`. Types must share one
    loading and one cost.

    Parameters
    ----------
    market : DynamicMarket
    behaviours : pair of Behaviour
        Innovators', rank-and-file creators'.
    dt : float
    n_rounds : int
    regime : Regime, optional
        Any object with ``unit_prices``, ``firm_prices`` and ``settles_by_tariff`` (the regimes
        of :mod:`abm.regimes`); ``None`` is strict IP.
    settings : RegimeSettings, optional
        The regime's settings (required with a regime that does not let the firm price).

    Returns
    -------
    DataFrame with :data:`BEHAVIOUR_COLUMNS` (state at the start of each round, the round's
    price and active masses).
    """
    from abm.theory.fluid import _mean_price, model_state, round_factors

    if any(b.rule == "chosen_originality" for b in behaviours):  # style shares and per-style stocks
        return originality_rounds(market, behaviours, dt, n_rounds, regime, settings)
    if not market.is_homogeneous:
        raise ValueError("behaviour_rounds needs types that share one loading and one cost")
    types = [_fluid_type(creator, behaviour) for creator, behaviour in zip(market.types, behaviours)]
    decay, growth = round_factors(market.depreciation, dt)
    stocks = np.asarray(market.initial_stocks, dtype=float)
    rows = []
    for step in range(int(n_rounds)):
        current, margins = model_state(market, stocks)
        worth = market.value * np.asarray(margins, dtype=float)

        def profit(p: float) -> float:
            return sum(t.inflow(p) * (w - p) for t, w in zip(types, worth))

        kinks = [k for t in types for k in t.kinks()]
        prices = _posted_prices(market, margins, regime, settings, lambda: maximise_profit(
            profit, float(np.max(worth)), vectorised=True, candidates=kinks))
        masses = [float(t.active_mass(p)) for t, p in zip(types, prices)]
        inflows = np.array([float(t.inflow(p)) for t, p in zip(types, prices)])
        rows.append((step * dt, _mean_price(prices, inflows), current, stocks[0], stocks[1], masses[0], masses[1]))
        for t, p in zip(types, prices):
            t.settle(float(p))
        stocks = decay * stocks + growth * inflows
    return pd.DataFrame(rows, columns=list(BEHAVIOUR_COLUMNS))
