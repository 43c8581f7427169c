r"""Supply of a finite population of creators, and the myopic price against it.

The agent-based model's firm faces its actual agents, not the smooth curves ``N_k(p)``:
creator ``i`` of type ``k`` enters at prices ``p >= t_i`` (its entry price
``sqrt(2 c_i omega_i)``) and then supplies ``w_i p`` units of effort, ``w_i = mass_i / c_i``.
Between consecutive entry prices the active set is fixed and the myopic profit rate
(Eq. 12)

.. math:: \pi(p) = p\,\big(v\,A_j - p\,B_j\big),\quad
          A_j = \sum_k m_k \sum_{i \in k,\ t_i \le t_j} w_i,\quad B_j = \sum_{t_i \le t_j} w_i

is a concave quadratic, so the exact maximiser over all prices is the best of the clipped
vertices ``v A_j / (2 B_j)``, one per piece: ``O(n)`` array work per round after one sort.

When creators carry their own loadings ``beta_i`` their marginal values are
``m_i = (1 - lambda beta_i)^2 / D``, so ``A_j = (W0_j - 2 lambda W1_j + lambda^2 W2_j) / D``
with the prefix sums ``W_r = sum_{t_i <= t_j} w_i beta_i^r`` built once: the price stays
exact and costs no more per round (:meth:`EmpiricalSupply.best_price_for_loadings`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["EmpiricalSupply"]


class EmpiricalSupply:
    """Entry prices and effort weights of a finite population, sorted once.

    Parameters
    ----------
    entry_price : ndarray
        Price at which each creator enters, ``>= 0``.
    weight : ndarray
        Effort supplied per unit of price once active, ``mass_i / cost_i > 0``.
    kind : ndarray of int
        Type of each creator (0 innovator, 1 rank-and-file).
    n_kinds : int
        Number of types.
    beta : ndarray, optional
        Each creator's loading; needed by :meth:`best_price_for_loadings`.
    """

    def __init__(self, entry_price, weight, kind, n_kinds: int = 2, beta=None) -> None:
        entry_price = np.asarray(entry_price, dtype=float)
        order = np.argsort(entry_price, kind="stable")
        self.thresholds = entry_price[order]
        weight = np.asarray(weight, dtype=float)[order]
        kind = np.asarray(kind)[order]
        # cumulative[k, j]: effort weight of type k among the first j + 1 creators by entry price.
        self.cumulative = np.cumsum(np.where(kind[None, :] == np.arange(n_kinds)[:, None], weight, 0.0), axis=1)
        # Pieces start at the last creator of each group of equal entry prices.
        last_of_group = np.append(self.thresholds[1:] > self.thresholds[:-1], True)
        self._piece_start = self.thresholds[last_of_group]
        self._piece_end = np.append(np.nextafter(self._piece_start[1:], 0.0), np.inf)
        self._piece_weight = self.cumulative[:, last_of_group]
        self._piece_total = self._piece_weight.sum(axis=0)
        self._piece_moments = None
        if beta is not None:
            beta = np.asarray(beta, dtype=float)[order]
            moments = np.cumsum(np.stack([weight, weight * beta, weight * beta * beta]), axis=1)
            self._piece_moments = moments[:, last_of_group]

    def supply(self, price: float) -> np.ndarray:
        """Effort supplied by each type at ``price``: ``p * sum of active weights``."""
        active = np.searchsorted(self.thresholds, price, side="right")
        if active == 0:
            return np.zeros(self.cumulative.shape[0])
        return price * self.cumulative[:, active - 1]

    def best_price(self, margins, value: float) -> float:
        """The exact myopic price: maximise ``sum_k E_k(p) (v m_k - p)`` over ``p >= 0``.

        Returns 0 when no price earns a positive profit rate.
        """
        return self._best_on_pieces(np.asarray(margins, dtype=float) @ self._piece_weight * value)

    def best_price_for_loadings(self, lam: float, feedback: float, value: float) -> float:
        """The exact myopic price when every creator has its own loading: marginal values
        ``(1 - lam beta_i)^2 / feedback`` (needs ``beta`` at construction)."""
        if self._piece_moments is None:
            raise ValueError("best_price_for_loadings needs the creators' loadings (beta) at construction")
        weights = np.array([1.0, -2.0 * lam, lam * lam]) * (value / feedback)
        return self._best_on_pieces(weights @ self._piece_moments)

    def _best_on_pieces(self, valuable: np.ndarray) -> float:
        """Best clipped vertex of ``p (valuable_j - p B_j)`` over the pieces; 0 if none earns."""
        with np.errstate(divide="ignore", invalid="ignore"):
            vertex = valuable / (2.0 * self._piece_total)
        candidate = np.clip(vertex, self._piece_start, self._piece_end)
        profit = candidate * (valuable - candidate * self._piece_total)
        best = int(np.argmax(profit))
        return float(candidate[best]) if profit[best] > 0.0 else 0.0
