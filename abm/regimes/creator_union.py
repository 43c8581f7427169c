r"""A creator union: creators of the member types bargain collectively over a minimum unit price.

Each round, per member type ``k`` (``docs/regimes.md``, "Creator union"), the union and the
firm agree the members' unit price by Nash bargaining with the union's weight ``alpha``
(``[regime] union_weight``) between the members' surplus over their outside options and the
firm's profit on the type (:func:`abm.theory.broker_union.union_price`). Members cannot
undercut it; each decides entry against it; the firm buys from every entrant (the round's
value is linear in its flow, so at a price ``<= v m_k`` it wants every unit, and the
bargained price never exceeds ``v m_k``). Non-member types (``[regime] union_types``) are
priced by the firm: membership is public, so it posts them their own monopsony price, the
myopic price against their supply alone (the firm's round profit separates by type).
"""

import numpy as np

from abm.regimes.base import Regime, RegimeOutcome
from abm.regimes.private_broker import supply_curves
from abm.theory.broker_union import monopsony_price, static_equilibrium, static_union_share, union_price
from abm.theory.fluid import TYPE_NAMES
from abm.theory.static import MARKET_SHARE


def static_members(market, settings) -> np.ndarray:
    """Which static-market creators belong to the union: innovators are those with
    ``beta < innovator_beta``, the rest rank-and-file."""
    kind = np.where(market.beta < settings.innovator_beta, "innovators", "rank_and_file")
    return np.isin(kind, settings.union_types)


class CreatorUnion(Regime):
    """Static: members are paid ``(1 + alpha) / 2`` of their marginal value, non-members the
    firm's Stackelberg half. Dynamic: the union's Nash price for member types, the firm's
    per-type monopsony price for the others."""

    name = "creator_union"
    summary = "creators bargain collectively: a Nash-bargained minimum price (weight alpha) for union members"

    def static(self, market, settings):
        shares = np.where(static_members(market, settings), static_union_share(settings.union_weight), MARKET_SHARE)
        outcome = static_equilibrium(market, shares)
        return RegimeOutcome(
            regime=self.name, effort=outcome.effort,
            creator_surplus=outcome.creator_payoff - settings.creator_outside, precision=outcome.precision,
            welfare=outcome.welfare - settings.creator_outside * market.n_creators, firm_profit=outcome.firm_profit,
        )

    def unit_prices(self, context, settings):
        types = supply_curves(context, self.name)
        margins = context.value * np.asarray(context.margins, dtype=float)
        return np.array([union_price(creator, float(mu), settings.union_weight) if name in settings.union_types
                         else monopsony_price(creator, max(float(mu), 0.0))
                         for name, creator, mu in zip(TYPE_NAMES, types, margins)])


REGIME = CreatorUnion()
