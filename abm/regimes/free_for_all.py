"""Free-for-all: the firm scrapes content without paying (Remark 2)."""

import numpy as np

from abm.regimes.base import Regime, from_outcome
from abm.theory.static import free_for_all


class FreeForAll(Regime):
    """Nobody is paid, so nobody exerts effort; the firm learns nothing new."""

    name = "free_for_all"
    summary = "no payment for training data: effort and new data are zero (Remark 2)"

    def static(self, market, settings):
        return from_outcome(self.name, market, free_for_all(market), settings)

    def unit_prices(self, context, settings):
        return np.broadcast_to(0.0, np.shape(context.margins))


REGIME = FreeForAll()
