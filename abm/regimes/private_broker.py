r"""A private data broker: a profit-maximising intermediary between creators and the AI firm.

Each round, per type ``k`` (three layers, ``docs/regimes.md``, "Private data broker"):

1. the firm and the broker agree a per-unit resale price ``r_k`` by Nash bargaining with the
   broker's weight ``w`` (``[regime] broker_weight``), before supply is realised;
2. the broker posts the buying price ``t_k = argmax_t E_k(t) (r_k - t)`` that maximises its
   own margin given ``r_k`` (its monopsony problem);
3. creators enter and supply against ``t_k``; the firm pays ``r_k`` per unit delivered and
   the broker keeps ``r_k - t_k`` (booked as the round's ``intermediary_balance``).

Both prices come from :func:`abm.theory.broker_union.broker_terms`, against each type's supply
curve (the broker knows the distribution of outside options, not each creator's own).
"""

import numpy as np

from abm.regimes.base import Regime, RegimeOutcome
from abm.theory.broker_union import broker_terms, static_broker_shares, static_equilibrium
from abm.theory.static import effective_precision


def supply_curves(context, regime: str) -> tuple:
    """The supply curve behind each entry of ``context.margins``; ``ValueError`` naming the regime
    when there are none (per-creator margins) or a type's loading or cost is distributed."""
    types = tuple(context.types)
    if len(types) != 2 or len(context.margins) != 2 or not all(t.is_homogeneous for t in types):
        raise ValueError(f"the {regime} regime prices per type against each type's supply curve: it needs one "
                         "loading and one cost per type (this population's loadings or costs are distributed)")
    return types


class PrivateBroker(Regime):
    """Static: every creator is paid ``(1 + w) / 4`` of its marginal value ``v (1 - lambda beta_i)^2``
    and the firm pays the broker ``(1 + w) / 2`` of it (the per-unit bargain with unit-elastic
    supply). Dynamic: per type, the Nash resale price and the broker's monopsony buying price."""

    name = "private_broker"
    summary = "a profit-maximising broker: Nash-bargained resale price r, monopsony buying price t*(r)"

    def static(self, market, settings):
        resale_share, buying_share = static_broker_shares(settings.broker_weight)
        outcome = static_equilibrium(market, buying_share)
        resale = outcome.price * (resale_share / buying_share)
        precision = effective_precision(market, outcome.effort)
        broker = float((resale - outcome.price) @ outcome.effort)
        return RegimeOutcome(
            regime=self.name, effort=outcome.effort,
            creator_surplus=outcome.creator_payoff - settings.creator_outside, precision=precision,
            welfare=outcome.welfare - settings.creator_outside * market.n_creators,
            firm_profit=market.value * precision - float(resale @ outcome.effort), intermediary_balance=broker,
        )

    def _terms(self, context, settings) -> np.ndarray:
        """Rows ``(r_k, t_k)`` per type."""
        types = supply_curves(context, self.name)
        return np.array([broker_terms(creator, context.value * float(margin), settings.broker_weight)
                         for creator, margin in zip(types, np.asarray(context.margins, dtype=float))])

    def unit_prices(self, context, settings):
        return self._terms(context, settings)[:, 1]

    def resale_prices(self, context, settings):
        return self._terms(context, settings)[:, 0]


REGIME = PrivateBroker()
