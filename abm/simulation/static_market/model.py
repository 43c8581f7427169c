"""The static market played in rounds: a firm that learns per-creator prices.

The firm has no data stocks and does not know the creators' costs. Each round it posts a
price per unit of effort to every creator, the creators best-respond with
``effort = price / cost``, and the firm values what it received with its own model (the
GLS precision of Lemma 11, whose gradient it can compute). It then moves every price by
tatonnement on its observed marginal profit:

    p_i <- p_i + adjustment * (v dP/de_i - p_i - e_i / s_i),

where ``s_i`` is creator ``i``'s response ``de_i/dp_i``, estimated from the last two rounds
(the first two rounds probe with a 1% price change). The rest point is the Stackelberg
first-order condition ``p_i = v (1 - lam beta_i)^2 / 2``, so the efforts must settle at
:func:`abm.theory.static.stackelberg`'s; the gap is reported every round.
"""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd

from abm.theory._validation import require_positive
from abm.simulation.static_market.agents import StaticCreator, StaticFirm
from abm.theory.static import InformationMarket, effective_precision, stackelberg

__all__ = ["StaticMarketModel", "learn_static_prices"]

class StaticMarketModel(mesa.Model):
    """Creators and a learning firm in the static market (market-design paper, Section 3).

    Parameters
    ----------
    market : InformationMarket
    rng : int or numpy.random.Generator
        Draws the firm's initial prices, uniform on ``[0.1 v, v]``.
    adjustment : float
        Tatonnement step, ``> 0`` (0.3 converges for every market tried; see the tests).
    """

    def __init__(self, market: InformationMarket, *, rng=0, adjustment: float = 0.3) -> None:
        super().__init__(rng=rng)
        self.market = market
        self.effort = np.zeros(market.n_creators)
        for index in range(market.n_creators):
            StaticCreator(self, index)
        initial = self.rng.uniform(0.1, 1.0, market.n_creators) * market.value
        self.firm = StaticFirm(self, initial, require_positive(adjustment, "adjustment"))
        self.target = stackelberg(market)
        self.round = 0
        self.datacollector = mesa.DataCollector(model_reporters={
            "round": "round",
            "precision": lambda m: effective_precision(m.market, m.effort),
            "firm_profit": lambda m: m.market.value * effective_precision(m.market, m.effort)
            - float(m.posted @ m.effort),
            "effort_gap": lambda m: float(np.max(np.abs(m.effort - m.target.effort)) / np.max(m.target.effort)),
            "price_gap": lambda m: float(np.max(np.abs(m.posted - m.target.price)) / np.max(m.target.price)),
        })

    def step(self) -> None:
        """Post prices, collect best responses, record, learn."""
        self.posted = self.firm.prices.copy()
        self.effort = self.posted / self.market.cost
        self.datacollector.collect(self)
        self.firm.learn(self.effort)
        self.round += 1


def learn_static_prices(market: InformationMarket, rounds: int = 200, *, rng=0,
                        adjustment: float = 0.3) -> pd.DataFrame:
    """Run :class:`StaticMarketModel` for ``rounds`` rounds; one row per round.

    Columns: ``round``, ``precision``, ``firm_profit``, ``effort_gap`` and ``price_gap``
    (largest deviation from the Stackelberg efforts / prices, relative to their maximum).
    """
    model = StaticMarketModel(market, rng=rng, adjustment=adjustment)
    for _ in range(int(rounds)):
        model.step()
    return model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
