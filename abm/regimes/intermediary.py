"""The data intermediary with a two-part tariff (Prop. 9), static and round by round."""

import numpy as np

from abm.regimes.base import Regime, RegimeOutcome
from abm.theory.mechanism import two_part_tariff


class IntermediaryRegime(Regime):
    """Static: Prop. 9's tariff. Dynamic (this project's extension, ``docs/regimes.md``):
    unit prices at the marginal social value ``v m_k`` of each type's effort, every creator
    whose outside option the surplus covers is kept in, and a flow two-part tariff balances
    the intermediary's budget every round."""

    name = "intermediary"
    summary = "a regulated intermediary's two-part tariff: efficient efforts, IC, IR and budget balance"
    settles_by_tariff = True

    def static(self, market, settings):
        result = two_part_tariff(market, settings.operating_cost, settings.firm_outside,
                                 settings.creator_outside, settings.bargaining_power)
        return RegimeOutcome(
            regime=self.name, effort=result.effort,
            creator_surplus=result.creator_utility - settings.creator_outside,
            precision=result.precision,
            welfare=result.welfare - settings.creator_outside * market.n_creators if result.feasible else 0.0,
            firm_profit=result.firm_profit, intermediary_balance=result.intermediary_balance,
            feasible=result.feasible, message=result.message,
        )

    def unit_prices(self, context, settings):
        return context.value * np.asarray(context.margins, dtype=float)


REGIME = IntermediaryRegime()
