"""Statutory licence: a regulator fixes a rate per unit of effort, collected from the firm
and paid through a pool to the creators in proportion to their effort."""

import numpy as np

from abm.regimes.base import Regime, from_outcome
from abm.theory.static import outcome_at


class StatutoryLicense(Regime):
    """Every creator receives the statutory rate ``r`` per unit of effort, so it exerts
    ``r / c`` whatever its originality; the firm must take and pay for everything."""

    name = "statutory_license"
    summary = "a regulated rate r per unit of effort, paid by the firm into a pool"

    def static(self, market, settings):
        effort = np.full(market.n_creators, settings.statutory_rate / market.cost)
        return from_outcome(self.name, market, outcome_at(market, effort), settings)

    def unit_prices(self, context, settings):
        return np.broadcast_to(float(settings.statutory_rate), np.shape(context.margins))


REGIME = StatutoryLicense()
