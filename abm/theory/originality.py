r"""Chosen originality: creators choose their style (loading and cost), and its fluid counterpart.

A creator type following the rule ``chosen_originality`` (``docs/behaviours.md``) has a menu
of styles :math:`j = 1..K`, each a loading :math:`\beta_j` on the common factor and an effort
cost :math:`c_j` (for instance original, :math:`\beta = 0,\ c = 1.5`, and conventional,
:math:`\beta = 0.9,\ c = 1`). Each round a creator of style :math:`j` offered the unit price
:math:`p_j` enters iff :math:`p_j^2 / (2 c_j) \ge \omega` and exerts :math:`p_j / c_j`
(best response with its style's cost). After the round a fraction :math:`\rho` of the type's
creators (a Calvo draw) revise their style to the one whose price this round pays most,

.. math:: j^* = \arg\max_j\ u_j,\qquad u_j = \frac{p_j^2}{2 c_j},

where :math:`p_j` is the price style :math:`j` fetches under the regime (the firm's uniform
price under strict IP; :math:`v m_j` under the intermediary, with
:math:`m_j = (1 - \lambda\beta_j)^2 / D` the marginal value of style-:math:`j` content,
Lemma 10 and Eq. 11 of Mantri, Sun and Lin, "Market Design for AI: Beyond the Copyright
Binary"; full reference in ``docs/model.md``). The outside option :math:`\omega` is the
same whatever the style, so every reviser of a type picks the same style, whatever its
outside option and whether or not it is active. A reviser whose style already pays the
most keeps it (ties keep the current style).

**The survival condition.** Under a uniform price :math:`u_j = p^2/(2 c_j)` is largest for
the cheapest style: conventional content wins whenever :math:`c_{conv} < c_{orig}`. Under
per-style marginal prices :math:`p_j = v m_j`, original content is chosen iff
:math:`v^2 m_{orig}^2 / (2 c_{orig}) > v^2 m_{conv}^2 / (2 c_{conv})`, that is

.. math:: \frac{m_{orig}}{m_{conv}} > \sqrt{\frac{c_{orig}}{c_{conv}}}
          \quad\Longleftrightarrow\quad (1 - \lambda\beta_{conv})^2 < \sqrt{c_{conv}/c_{orig}}
          \ \text{ when } \beta_{orig} = 0

(:func:`original_survives`). The more conventional data the model holds, the larger
:math:`\lambda\beta_{conv}`, the smaller :math:`m_{conv}`: the curse of precision itself
turns revisers back to originality under marginal pricing, and does nothing under a uniform
price.

**The fluid counterpart** (:func:`originality_rounds`). Calvo draws are independent of the
outside options and the initial styles are spread evenly over them, so in the continuum the
style of a creator is independent of its outside option. A type's state is its style
shares :math:`s_{k} \in \Delta_K` and one data stock per style (content keeps the loading it
was made with), plus the type's initial stock, which keeps the type's own loading. Each round

.. math:: N_{kj} = M_k s_{kj} G_k\!\big(p_j^2 / (2 c_j)\big),\qquad
          \text{inflow}_{kj} = N_{kj}\, p_j / c_j,\qquad
          s_{k,t+1} = s_{k,t} + \rho\,\big(\mathrm{BR}_k(s_t) - s_{k,t}\big),

with :math:`\mathrm{BR}_k` the vertex of the best style (the revision map: the discrete-time
form of :math:`ds/dt = \rho (\mathrm{BR}(s) - s)` per round); styles that pay as much as the
best keep their share. Stocks follow the exact round update of
:func:`abm.theory.fluid.round_factors`, precision and marginal values
:func:`abm.theory.fluid.model_state` over all the (type, style) stocks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from abm.theory._validation import describe, require_finite, require_nonnegative, require_positive
from abm.theory.information import information_sums, precision_fixed_point, recursive_weights

__all__ = ["StyleMenu", "require_revision_rate", "style_payoffs", "best_style", "revise_shares",
           "original_survives", "survival_ratio", "style_margins", "originality_rounds", "initial_styles",
           "STYLE_KEYS", "MAX_STYLE_BETA", "MIN_STYLE_COST"]

#: Keys of one style of the menu.
STYLE_KEYS = ("name", "beta", "cost")
#: Bounds of a style's loading and cost (as a scenario's other loadings and costs; larger values overflow).
MAX_STYLE_BETA = 1e6
MIN_STYLE_COST = 1e-12


@dataclass(frozen=True)
class StyleMenu:
    """The styles a creator may choose: a name, a loading ``beta >= 0`` and a cost ``c > 0`` each.

    Build it from a scenario file's list of tables with :meth:`from_value`; at least two
    styles, distinct names.
    """

    names: tuple
    betas: tuple
    costs: tuple

    def __post_init__(self) -> None:
        if not (len(self.names) == len(self.betas) == len(self.costs)) or len(self.names) < 2:
            raise ValueError("behaviour.styles must list at least two styles, each with a name, beta and cost")

    @classmethod
    def from_value(cls, value, name: str = "behaviour.styles") -> "StyleMenu":
        """A menu from itself or from a list of tables ``{name = "...", beta = B, cost = C}``.

        Raises
        ------
        ValueError
            Naming the field (``behaviour.styles[1].cost``) and the rule it breaks.
        """
        if isinstance(value, StyleMenu):
            return value
        if isinstance(value, (str, bytes, dict)) or not isinstance(value, (list, tuple)):
            raise ValueError(f"{name} must be a list of tables {{name, beta, cost}}, got {describe(value)}")
        if len(value) < 2:
            raise ValueError(f"{name} must list at least two styles (a menu to choose from), got {len(value)}")
        names, betas, costs = [], [], []
        for i, style in enumerate(value):
            where = f"{name}[{i}]"
            if not isinstance(style, dict):
                raise ValueError(f"{where} must be a table {{name, beta, cost}}, got {describe(style)}")
            unknown = sorted(set(style) - set(STYLE_KEYS), key=str)
            if unknown:
                raise ValueError(f"{where}.{unknown[0]} is not a key of a style (its keys: {list(STYLE_KEYS)})")
            missing = [key for key in STYLE_KEYS if key not in style]
            if missing:
                raise ValueError(f"{where}.{missing[0]} is required (a style has {list(STYLE_KEYS)})")
            label = style["name"]
            if not isinstance(label, str) or not label.isidentifier():
                raise ValueError(f"{where}.name must be a name of letters, digits and underscores, got "
                                 f"{describe(label)}")
            if label in names:
                raise ValueError(f"{where}.name {label!r} is given twice: style names must differ")
            beta = require_nonnegative(style["beta"], f"{where}.beta")
            if beta > MAX_STYLE_BETA:
                raise ValueError(f"{where}.beta must be <= {MAX_STYLE_BETA:g}, got {beta!r}")
            cost = require_positive(style["cost"], f"{where}.cost")
            if cost < MIN_STYLE_COST or cost > 1.0 / MIN_STYLE_COST:
                raise ValueError(f"{where}.cost must lie in [{MIN_STYLE_COST:g}, {1 / MIN_STYLE_COST:g}] "
                                 f"(the model divides by it), got {cost!r}")
            names.append(label)
            betas.append(beta)
            costs.append(cost)
        return cls(tuple(names), tuple(betas), tuple(costs))

    def __len__(self) -> int:
        return len(self.names)

    def to_list(self) -> list:
        """The scenario-file form: a list of tables."""
        return [{"name": n, "beta": b, "cost": c} for n, b, c in zip(self.names, self.betas, self.costs)]


def require_revision_rate(value, name: str) -> float:
    """``rho`` in ``(0, 1]``: the share of a type's creators who revise their style each round."""
    rate = require_finite(value, name)
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"{name} must lie in (0, 1] (the share of creators who revise each round), got {value!r}")
    return rate


def initial_styles(count: int, styles: int) -> np.ndarray:
    """Creator ``j`` of a type (in outside-option order) starts with style ``j mod K``: equal
    shares, spread evenly over the outside options, no random draw."""
    return (np.arange(count) % styles).astype(np.int64)


def style_payoffs(prices, costs) -> np.ndarray:
    """``u_j = p_j^2 / (2 c_j)``: what entering in style ``j`` pays before the outside option."""
    prices = np.asarray(prices, dtype=float)
    return prices * prices / (2.0 * np.asarray(costs, dtype=float))


def best_style(payoffs) -> int:
    """The style that pays the most (the first of equals)."""
    return int(np.argmax(payoffs))


def revise_shares(shares, payoffs, rate: float) -> np.ndarray:
    """One round of the revision map: a share ``rho`` of every style paying less than the best
    moves to the best; styles paying as much as the best keep their share."""
    shares, payoffs = np.asarray(shares, dtype=float), np.asarray(payoffs, dtype=float)
    best = best_style(payoffs)
    losing = payoffs < payoffs[best]
    moved = rate * shares * losing
    revised = shares - moved
    revised[best] += moved.sum()
    return revised


def style_margins(lam: float, feedback: float, betas) -> np.ndarray:
    """``m_j = (1 - lambda beta_j)^2 / D``: the marginal value of one more unit of style-``j`` content."""
    gap = 1.0 - lam * np.asarray(betas, dtype=float)
    return gap * gap / feedback


def survival_ratio(cost_original: float, cost_conventional: float) -> float:
    """``sqrt(c_orig / c_conv)``: the ratio ``m_orig / m_conv`` marginal prices must exceed for
    original content to be chosen."""
    return math.sqrt(cost_original / cost_conventional)


def original_survives(margin_original: float, margin_conventional: float, cost_original: float,
                      cost_conventional: float) -> bool:
    """Whether revisers choose the original style at prices ``v m_j`` (``v`` cancels):
    ``m_orig / m_conv > sqrt(c_orig / c_conv)``, i.e. ``m_orig^2 / c_orig > m_conv^2 / c_conv``."""
    return margin_original ** 2 / cost_original > margin_conventional ** 2 / cost_conventional


# --- the fluid map ----------------------------------------------------------------------------


class _FluidClasses:
    """Per (type, style) class: loading, cost, type; plus one legacy class per type (its initial stock)."""

    def __init__(self, market, behaviours) -> None:
        self.market = market
        self.menus, self.rates = [], []
        for creator, behaviour in zip(market.types, behaviours):
            if behaviour.rule == "chosen_originality":
                menu = behaviour["styles"]
                self.menus.append((np.array(menu.betas), np.array(menu.costs), tuple(menu.names)))
                self.rates.append(behaviour["revision_rate"])
            elif behaviour.rule == "best_response":
                self.menus.append((np.array([creator.beta]), np.array([creator.cost]), ("own",)))
                self.rates.append(0.0)
            else:
                raise ValueError(f"chosen_originality runs beside best_response only, got rule {behaviour.rule!r}")
        self.kind = np.concatenate([[k] * len(m[0]) for k, m in enumerate(self.menus)])
        self.betas = np.concatenate([m[0] for m in self.menus])
        self.costs = np.concatenate([m[1] for m in self.menus])
        self.stock_betas = np.concatenate([self.betas, market.betas])  # styles, then each type's legacy stock
        self.shares = [np.full(len(m[0]), 1.0 / len(m[0])) for m in self.menus]

    def masses(self) -> np.ndarray:
        return np.concatenate([creator.mass * s for creator, s in zip(self.market.types, self.shares)])

    def active_mass(self, prices) -> np.ndarray:
        """``N_kj = M_k s_kj G_k(p_j^2 / (2 c_j))`` for an array of class prices (or a grid, last axis classes)."""
        payoff = style_payoffs(prices, self.costs)
        share = np.empty_like(payoff)
        for k, creator in enumerate(self.market.types):
            members = self.kind == k
            share[..., members] = creator.outside_option.cdf(payoff[..., members])
        return share * self.masses()

    def aggregates(self, prices) -> tuple:
        """Per class: effort, active mass, cost, mean outside option of the active (``settle_round``'s order)."""
        active = self.active_mass(prices)
        payoff = style_payoffs(prices, self.costs)
        masses = self.masses()
        surplus = np.array([masses[j] * self.market.types[self.kind[j]].outside_option.integrated_cdf(payoff[j])
                            for j in range(len(prices))])
        outside_total = active * payoff - surplus
        mean_outside = np.divide(outside_total, active, out=np.zeros_like(active), where=active > 0)
        return np.asarray(prices, dtype=float) / self.costs, active, self.costs, mean_outside

    def kinks(self) -> list:
        from abm.theory.supply import entry_price

        found = []
        for j, cost in enumerate(self.costs):
            options = self.market.types[self.kind[j]].outside_option.kinks()
            found += [float(p) for p in entry_price(np.array(options, dtype=float), cost)]
        return found


def originality_rounds(market, behaviours, dt: float, n_rounds: int, regime=None, settings=None) -> pd.DataFrame:
    """The fluid counterpart of ``chosen_originality`` on the schedule of :func:`abm.theory.fluid.fluid_rounds`.

    Each round: precision and marginal values from the (type, style) stocks (Eq. 11 with each
    stock's loading); the regime's prices per class (``None`` or strict IP: the myopic
    firm's uniform price, maximising Eq. 12's profit ``sum_kj N_kj(p) (p / c_j)(v m_j - p)`` by
    :func:`~abm.theory.behaviour_limits.maximise_profit`; otherwise ``regime.unit_prices`` on the
    classes' marginal values, and a tariff round that cannot be efficient is called off);
    entry and inflow per class; the revision map on each type's shares at the prices each
    style fetched; the exact stock update. A type following ``best_response`` is one class with
    its own loading and cost.

    Parameters
    ----------
    market : DynamicMarket
    behaviours : pair of Behaviour
        At least one ``chosen_originality``; the other ``best_response`` or ``chosen_originality``.
    dt : float
    n_rounds : int
    regime : Regime, optional
        Default strict IP (myopic firm).
    settings : RegimeSettings, optional

    Returns
    -------
    DataFrame with the columns of :data:`~abm.theory.behaviour_limits.BEHAVIOUR_COLUMNS` and,
    per type ``k`` and style ``name``, ``share_<k>_<name>`` and ``stock_<k>_<name>`` (state at the
    start of the round; ``price`` the effort-weighted mean price of the round, the uniform
    price under strict IP).
    """
    from abm.theory.behaviour_limits import BEHAVIOUR_COLUMNS, maximise_profit
    from abm.theory.fluid import PricingContext, round_factors
    from abm.theory.mechanism import settle_round

    if not market.is_homogeneous:
        raise ValueError("originality_rounds needs the scenario's types to have one loading and one cost each")
    classes = _FluidClasses(market, behaviours)
    n_classes = classes.betas.size
    decay, growth = round_factors(market.depreciation, dt)
    stocks = np.concatenate([np.zeros(n_classes), market.initial_stocks])
    tariff = bool(getattr(regime, "settles_by_tariff", False))
    terms = {} if not tariff else dict(operating_cost=settings.operating_cost, firm_outside=settings.firm_outside,
                                        bargaining_power=settings.bargaining_power)
    type_names = ("innovators", "rank_and_file")
    labels = [f"{type_names[k]}_{name}" for k, m in enumerate(classes.menus) for name in m[2]]
    rows = []
    for step in range(int(n_rounds)):
        s0, s1, s2 = information_sums(stocks, classes.stock_betas)
        current = float(precision_fixed_point(s0, s1, s2, market.sigma0_sq, market.kappa))
        lam, feedback = recursive_weights(s1, s2, current, market.sigma0_sq, market.kappa)
        margins = style_margins(lam, feedback, classes.betas)
        worth = market.value * margins

        def profit(p):
            p = np.asarray(p, dtype=float)[..., None]
            return np.sum(classes.active_mass(np.broadcast_to(p, p.shape[:-1] + (n_classes,)))
                          * (p / classes.costs) * (worth - p), axis=-1)

        def uniform() -> float:
            return maximise_profit(profit, float(np.max(worth)), vectorised=True, candidates=classes.kinks())

        if regime is None or getattr(regime, "firm_prices", False):
            prices = np.full(n_classes, uniform())
        else:
            prices = np.asarray(regime.unit_prices(PricingContext(market.value, margins, uniform,
                                                                  market.depreciation), settings), dtype=float)
        if tariff and not settle_round(prices, *classes.aggregates(prices), kind=classes.kind, tariff=True,
                                       **terms).feasible:
            prices = np.zeros(n_classes)
        active = classes.active_mass(prices)
        inflows = active * prices / classes.costs
        row = {"time": step * dt,
               "price": float(prices @ inflows / inflows.sum()) if inflows.sum() > 0 else float(prices.mean()),
               "precision": current}
        for k, name in enumerate(type_names):
            members = classes.kind == k
            row[f"stock_{name}"] = float(stocks[:n_classes][members].sum() + stocks[n_classes + k])
            row[f"active_{name}"] = float(active[members].sum())
        for j, label in enumerate(labels):
            k = classes.kind[j]
            row[f"share_{label}"] = float(classes.shares[k][j - np.flatnonzero(classes.kind == k)[0]])
            row[f"stock_{label}"] = float(stocks[j])
        rows.append(row)
        for k in range(len(classes.menus)):
            members = classes.kind == k
            if classes.rates[k] > 0.0:
                payoffs = style_payoffs(prices[members], classes.costs[members])
                classes.shares[k] = revise_shares(classes.shares[k], payoffs, classes.rates[k])
        stocks = decay * stocks + growth * np.concatenate([inflows, np.zeros(2)])
    columns = list(BEHAVIOUR_COLUMNS) + [f"{kind}_{label}" for label in labels for kind in ("share", "stock")]
    return pd.DataFrame(rows)[columns] if rows else pd.DataFrame(columns=columns)
