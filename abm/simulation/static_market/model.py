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
from abm.theory.static import InformationMarket, effective_precision, marginal_precision, stackelberg

__all__ = ["StaticCreator", "StaticFirm", "StaticMarketModel", "learn_static_prices"]

#: Relative price change of the probing round that identifies each creator's response.
PROBE = 0.01


class StaticCreator(mesa.Agent):
    """A creator of the static market; its state lives in the model's arrays at ``index``."""

    def __init__(self, model, index: int) -> None:
        super().__init__(model)
        self.index = index

    @property
    def beta(self) -> float:
        """Loading on the common factor."""
        return float(self.model.market.beta[self.index])

    @property
    def effort(self) -> float:
        """Effort delivered this round."""
        return float(self.model.effort[self.index])

    def step(self) -> None:
        """Best response to the posted price (the array path does the same for everyone)."""
        self.model.effort[self.index] = self.model.firm.prices[self.index] / self.model.market.cost


class StaticFirm(mesa.Agent):
    """The buyer; learns prices by tatonnement on its observed marginal profit."""

    def __init__(self, model, initial_prices: np.ndarray, adjustment: float) -> None:
        super().__init__(model)
        self.prices = initial_prices.copy()
        self.adjustment = adjustment
        self._last: tuple[np.ndarray, np.ndarray] | None = None
        self.response: np.ndarray | None = None

    def learn(self, effort: np.ndarray) -> None:
        """Update the response estimates and move every price."""
        market = self.model.market
        if self._last is None:
            self._last = (self.prices.copy(), effort.copy())
            self.prices = self.prices * (1.0 + PROBE)
            return
        last_prices, last_effort = self._last
        moved = np.abs(self.prices - last_prices) > 1e-12 * np.maximum(self.prices, 1e-300)
        slopes = np.divide(effort - last_effort, self.prices - last_prices, out=np.zeros_like(effort), where=moved)
        self.response = np.where(moved & (slopes > 0), slopes, self.response if self.response is not None else 0.0)
        self._last = (self.prices.copy(), effort.copy())
        marginal_value = market.value * marginal_precision(market, effort)
        with np.errstate(divide="ignore", invalid="ignore"):
            marginal_cost = self.prices + np.where(self.response > 0, effort / self.response, 0.0)
        self.prices = np.maximum(self.prices + self.adjustment * (marginal_value - marginal_cost), 0.0)


class StaticMarketModel(mesa.Model):
    """Creators and a learning firm in the static market of MODEL.md A1.

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
