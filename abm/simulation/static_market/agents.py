"""Mesa agents of the static market in rounds: creators (views of the model's arrays) and the
learning firm.
"""

from __future__ import annotations

import mesa
import numpy as np

from abm.theory.static import marginal_precision

__all__ = ["StaticCreator", "StaticFirm", "PROBE"]

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
