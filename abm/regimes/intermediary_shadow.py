"""The regulated intermediary at shadow prices: the dynamic planner's steady-state co-states.

The dynamic intermediary (:mod:`abm.regimes.intermediary`) posts the marginal value of a
round's data, ``v m_k``: the myopic value of one period. Data are a stock that renders
service for as long as it lasts, so the planner values a unit of type-``k`` data at its
co-state, ``v m_k / (r + delta)`` at a steady state (``docs/welfare.md``). This regime posts
that shadow price, with the regulator's discount rate ``regime.shadow_discount_rate``, and
settles every round with the same flow two-part tariff (IC, IR and budget balance each round).
Statically it is the two-part tariff of Prop. 9, as the intermediary's.
"""

import numpy as np

from abm.regimes.intermediary import IntermediaryRegime


class ShadowIntermediary(IntermediaryRegime):
    """The intermediary posting the planner's steady-state shadow prices ``v m_k / (r + delta)``."""

    name = "intermediary_shadow"
    summary = "the regulated intermediary at shadow prices v m_k / (r + delta): the planner's co-states"

    def unit_prices(self, context, settings):
        factor = 1.0 / (settings.shadow_discount_rate + context.depreciation)
        return factor * context.value * np.asarray(context.margins, dtype=float)


REGIME = ShadowIntermediary()
