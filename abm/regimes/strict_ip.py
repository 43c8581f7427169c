"""Strict intellectual property: the firm prices creators directly as a monopsonist."""

import numpy as np

from abm.regimes.base import Regime, from_outcome
from abm.theory.static import stackelberg


class StrictIP(Regime):
    """Static: the Stackelberg equilibrium (Lemma 10). Dynamic: the firm's own uniform price
    (myopic, Eq. 12, or learned), the market of the curse of precision."""

    name = "strict_ip"
    summary = "the firm sets prices (Stackelberg; myopic uniform price in the dynamic market)"
    firm_prices = True

    def static(self, market, settings):
        return from_outcome(self.name, market, stackelberg(market), settings)

    def unit_prices(self, context, settings):
        return np.broadcast_to(float(context.best_uniform_price()), np.shape(context.margins))


REGIME = StrictIP()
