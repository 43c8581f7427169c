"""The interface every market regime implements, and the settings and results they share."""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from abm.theory._validation import (
    describe, frozen_array, require_finite, require_nonnegative, require_positive, require_unit_interval,
)
from abm.theory.fluid import TYPE_NAMES, PricingContext
from abm.theory.static import InformationMarket, Outcome

__all__ = ["RegimeSettings", "RegimeOutcome", "PricingContext", "Regime", "from_outcome"]


@dataclass(frozen=True)
class RegimeSettings:
    """Parameters of the institutions (one set for every regime, each uses its own).

    Parameters
    ----------
    operating_cost : float
        Intermediary's cost ``K >= 0`` (static: once; dynamic: per unit time).
    firm_outside : float
        Firm's outside option ``Pi0`` (static: once; dynamic: per unit time).
    creator_outside : float
        Creators' outside option ``u0 >= 0`` in the static market (in the dynamic market
        every agent has its own, drawn from the scenario).
    bargaining_power : float
        Creators' share ``alpha`` in [0, 1] of the intermediary's net surplus.
    statutory_rate : float
        Rate per unit of effort a regulator sets under the statutory licence, ``>= 0``.
    pool_share : float
        Share ``phi`` in [0, 1] of the value of the data a collecting society collects.
    innovator_beta : float
        In the static market, creators with ``beta`` below this count as innovators.
    shadow_discount_rate : float
        ``r > 0`` of the intermediary at shadow prices: it posts ``v m_k / (r + delta)``, the
        co-state of a unit of type-``k`` data at the planner's steady state (``docs/welfare.md``).
    broker_weight : float
        The private broker's Nash bargaining weight ``w`` in [0, 1] over its per-unit resale
        price (``docs/regimes.md``, "Private data broker"; 1: it sells at the firm's marginal value).
    union_weight : float
        The creator union's Nash bargaining weight ``alpha`` in [0, 1] over its members' unit
        price (``docs/regimes.md``, "Creator union"; 1: the firm's marginal value, 0: its monopsony price).
    union_types : tuple of str
        The types whose creators belong to the union: a non-empty subset of
        ``("innovators", "rank_and_file")``, each named once.
    """

    operating_cost: float = 0.0
    firm_outside: float = 0.0
    creator_outside: float = 0.0
    bargaining_power: float = 0.5
    statutory_rate: float = 0.25
    pool_share: float = 0.5
    innovator_beta: float = 0.5
    shadow_discount_rate: float = 0.05
    broker_weight: float = 0.5
    union_weight: float = 0.5
    union_types: tuple = TYPE_NAMES

    def __post_init__(self) -> None:
        object.__setattr__(self, "operating_cost", require_nonnegative(self.operating_cost, "regime.operating_cost"))
        object.__setattr__(self, "firm_outside", require_finite(self.firm_outside, "regime.firm_outside"))
        object.__setattr__(self, "creator_outside",
                           require_nonnegative(self.creator_outside, "regime.creator_outside"))
        object.__setattr__(self, "bargaining_power",
                           require_unit_interval(self.bargaining_power, "regime.bargaining_power"))
        object.__setattr__(self, "statutory_rate", require_nonnegative(self.statutory_rate, "regime.statutory_rate"))
        object.__setattr__(self, "pool_share", require_unit_interval(self.pool_share, "regime.pool_share"))
        object.__setattr__(self, "innovator_beta", require_nonnegative(self.innovator_beta, "regime.innovator_beta"))
        object.__setattr__(self, "shadow_discount_rate",
                           require_positive(self.shadow_discount_rate, "regime.shadow_discount_rate"))
        object.__setattr__(self, "broker_weight", require_unit_interval(self.broker_weight, "regime.broker_weight"))
        object.__setattr__(self, "union_weight", require_unit_interval(self.union_weight, "regime.union_weight"))
        object.__setattr__(self, "union_types", _type_names(self.union_types, "regime.union_types"))


def _type_names(names, field: str) -> tuple:
    """``names`` as a tuple in the order of :data:`TYPE_NAMES`; a non-empty list of distinct type names."""
    if not isinstance(names, (list, tuple)) or not names:
        raise ValueError(f"{field} must be a non-empty list of creator types {list(TYPE_NAMES)}, got {describe(names)}")
    for name in names:
        if name not in TYPE_NAMES:
            raise ValueError(f"{field} must list creator types among {list(TYPE_NAMES)}, got {describe(name)}")
    if len(set(names)) != len(names):
        raise ValueError(f"{field} must name each creator type once, got {list(names)}")
    return tuple(name for name in TYPE_NAMES if name in names)


@dataclass(frozen=True)
class RegimeOutcome:
    """A regime's result in the static market.

    Attributes
    ----------
    regime : str
    effort : ndarray
    creator_surplus : ndarray
        Per creator: what it is paid minus effort cost minus its outside option.
    precision, welfare, firm_profit, intermediary_balance : float
        ``welfare = firm_profit + sum(creator_surplus) + intermediary_balance``.
    feasible : bool
    message : str
    """

    regime: str
    effort: np.ndarray
    creator_surplus: np.ndarray
    precision: float
    welfare: float
    firm_profit: float
    intermediary_balance: float = 0.0
    feasible: bool = True
    message: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "effort", frozen_array(self.effort, "effort"))
        object.__setattr__(self, "creator_surplus", frozen_array(self.creator_surplus, "creator_surplus"))


def from_outcome(regime: str, market: InformationMarket, outcome: Outcome, settings: RegimeSettings) -> RegimeOutcome:
    """A :class:`RegimeOutcome` from a linear-price :class:`~abm.theory.static.Outcome`."""
    return RegimeOutcome(
        regime=regime,
        effort=outcome.effort,
        creator_surplus=outcome.creator_payoff - settings.creator_outside,
        precision=outcome.precision,
        welfare=outcome.welfare - settings.creator_outside * market.n_creators,
        firm_profit=outcome.firm_profit,
    )


class Regime:
    """A market institution: how effort is priced and paid for.

    Subclasses set ``name`` and ``summary`` and implement :meth:`static` and
    :meth:`unit_prices`; ``settles_by_tariff`` marks the regime whose round is settled by
    the intermediary's two-part tariff (:func:`abm.theory.mechanism.flow_tariff`), and
    ``firm_prices`` the regime in which the firm sets its own price (so a learning firm
    learns from the round's profit).
    """

    name: str = ""
    summary: str = ""
    settles_by_tariff: bool = False
    firm_prices: bool = False

    def static(self, market: InformationMarket, settings: RegimeSettings) -> RegimeOutcome:
        """The regime's outcome in the static market (market-design paper, Section 3)."""
        raise NotImplementedError

    def unit_prices(self, context: PricingContext, settings: RegimeSettings) -> np.ndarray:
        """Prices per unit of effort for one round of the dynamic market, one per entry of
        ``context.margins`` (per type, per fluid class, or per creator when loadings differ)."""
        raise NotImplementedError

    def resale_prices(self, context: PricingContext, settings: RegimeSettings) -> np.ndarray | None:
        """What the firm pays per unit of each entry's data when someone stands between it and
        the creators and resells (the private broker); ``None``: the firm pays the creators'
        unit prices (or the intermediary's tariff)."""
        return None
