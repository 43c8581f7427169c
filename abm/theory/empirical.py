r"""Supply of a finite population of creators, and the myopic price against it.

The agent-based model's firm faces its actual agents, not the smooth curves ``N_k(p)``:
creator ``i`` of type ``k`` enters at prices ``p >= t_i`` (its entry price
``sqrt(2 c_i omega_i)``) and then supplies ``w_i p`` units of effort, ``w_i = mass_i / c_i``.
Between consecutive entry prices the active set is fixed and the myopic profit rate
(Eq. 12)

.. math:: \pi(p) = p\,\big(v\,A_j - p\,B_j\big),\quad
          A_j = \sum_k m_k \sum_{i \in k,\ t_i \le t_j} w_i,\quad B_j = \sum_{t_i \le t_j} w_i

is a concave quadratic, so the exact maximiser over all prices is the best of the clipped
vertices ``v A_j / (2 B_j)``, one per piece.

When creators carry their own loadings ``beta_i`` their marginal values are
``m_i = (1 - lambda beta_i)^2 / D``, so ``A_j = (W0_j - 2 lambda W1_j + lambda^2 W2_j) / D``
with the prefix sums ``W_r = sum_{t_i <= t_j} w_i beta_i^r`` built once: the price stays
exact and costs no more per round (:meth:`EmpiricalSupply.best_price_for_loadings`).

Everything is a prefix sum. Each type's creators are sorted once by entry price; at any
price the active creators of a type are a prefix of that order, so what they supply, the
mass they hold and the outside options they give up are cumulative sums looked up by one
binary search (:meth:`EmpiricalSupply.active_counts`, :meth:`EmpiricalSupply.cumulative`).

The best price is found by branch and bound over a tree of blocks of consecutive pieces
instead of scanning all ``n`` pieces: since ``A`` and ``B`` only grow with the price, on
the block of pieces ``j1..j2`` the profit is at most ``p (v A_{j2} - p B_{j1})``, a
quadratic maximised in closed form. Blocks whose bound falls short of a profit already
achieved are dropped; the pieces that survive are evaluated exactly with the same
arithmetic as the exhaustive scan, which is kept (``exhaustive=True``) as the reference.
The result, ties included (the cheapest of equally profitable pieces), is bit for bit the
exhaustive scan's; the work per round grows like ``sqrt(n)`` rather than ``n``.
"""

from __future__ import annotations

import bisect
import math

import numpy as np

__all__ = ["EmpiricalSupply"]

#: Pieces per block of the branch-and-bound tree.
BRANCHING = 32
#: Below this many pieces the exhaustive scan is cheaper than the tree.
SCAN_BELOW = 2048
#: The search starts from the coarsest level of the tree with at most this many blocks.
TOP_BLOCKS = 1024
#: Up to this many pieces a compiled scanner (when given) scans them all instead of searching the tree.
SCANNER_BELOW = 50_000
#: Up to this many pieces the entry prices are also kept as Python lists, so that the supply
#: at one price (what the price cap's root finder asks for) costs a ``bisect``.
LIST_BELOW = 200_000
#: Relative margin by which a block's bound must fall short of the best profit to be dropped
#: (the bounds and the profits are rounded; this is some 4,500 times the unit roundoff).
PRUNE_MARGIN = 1e-12


class _Cumulative:
    """Sums of one per-creator column over the first ``count`` creators of one type.

    A column shared by the whole type is kept as its value (the sum is ``count * value``);
    a per-creator column as its running sum (``sums[count]``, ``sums[0] = 0``).
    """

    __slots__ = ("value", "sums")

    def __init__(self, column) -> None:
        column = np.asarray(column, dtype=float)
        if column.ndim == 0:
            self.value, self.sums = float(column), None
            return
        self.value = None
        self.sums = np.empty(column.size + 1)
        self.sums[0] = 0.0
        np.cumsum(column, out=self.sums[1:])

    def __call__(self, count):
        if self.sums is None:
            return count * self.value
        return self.sums[count]



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
        weight = np.broadcast_to(np.asarray(weight, dtype=float), entry_price.shape)
        kind = np.asarray(kind)
        thresholds, columns = [], {"weight": []}
        if beta is not None:
            beta = np.broadcast_to(np.asarray(beta, dtype=float), entry_price.shape)
            columns.update(weight_beta=[], weight_beta_sq=[])
        for k in range(n_kinds):
            members = np.flatnonzero(kind == k)
            members = members[np.argsort(entry_price[members], kind="stable")]
            thresholds.append(entry_price[members])
            w = weight[members]
            columns["weight"].append(w)
            if beta is not None:
                b = beta[members]
                columns["weight_beta"].append(w * b)
                columns["weight_beta_sq"].append(w * b * b)
        self._build(thresholds, columns)

    @classmethod
    def from_sorted(cls, thresholds, columns: dict) -> "EmpiricalSupply":
        """Build from each type's entry prices already sorted ascending (views are kept, not copied).

        ``columns`` maps a name to one entry per type: a per-creator array in the same order
        as that type's thresholds, or a number shared by the type. ``"weight"`` (effort per
        unit of price) is required; ``"weight_beta"`` and ``"weight_beta_sq"`` (weight times
        the loading and its square) enable :meth:`best_price_for_loadings`; any other column
        (say the mass, or mass times outside option) can be summed over the active creators
        with :meth:`cumulative`.
        """
        supply = cls.__new__(cls)
        supply._build(list(thresholds), columns)
        return supply

    # --- construction ------------------------------------------------------------------------

    def _build(self, thresholds: list, columns: dict) -> None:
        self.n_kinds = len(thresholds)
        self.thresholds_by_kind = [np.asarray(t, dtype=float) for t in thresholds]
        self._columns = {name: [_Cumulative(c) for c in per_kind] for name, per_kind in columns.items()}
        self._loadings = "weight_beta" in self._columns
        total = int(sum(t.size for t in self.thresholds_by_kind))
        self._last_best = None
        # The global entry-price order: where each type's creators fall in it, piece by piece.
        merged = np.concatenate(self.thresholds_by_kind) if self.n_kinds > 1 else self.thresholds_by_kind[0].copy()
        merged.sort(kind="stable")
        last_of_group = np.empty(total, dtype=bool)
        np.greater(merged[1:], merged[:-1], out=last_of_group[:-1])
        if total:
            last_of_group[-1] = True
        # _edges[j] is where piece j starts; _edges[n_pieces] = inf closes the last piece.
        self.n_pieces = int(np.count_nonzero(last_of_group))
        self._edges = np.empty(self.n_pieces + 1)
        self._edges[:-1] = merged[last_of_group]
        self._edges[-1] = np.inf
        del merged, last_of_group
        self._piece_start = self._edges[:-1]
        counts = [np.searchsorted(t, self._piece_start, side="right") for t in self.thresholds_by_kind]
        self._kind_weights = np.array([self._columns["weight"][k](counts[k]) for k in range(self.n_kinds)])
        if self._loadings:
            # Value rows: the global loading moments; the total weight is the first.
            self._rows = np.zeros((3, self.n_pieces))
            for r, name in enumerate(("weight", "weight_beta", "weight_beta_sq")):
                for k in range(self.n_kinds):
                    self._rows[r] += self._columns[name][k](counts[k])
        else:
            self._rows = self._kind_weights  # value rows: each type's weight; the total is their sum
        del counts
        self._levels = self._block_levels()
        #: Optional compiled scan ``(rows, edges, coefficients, scale, moments, start, stop) ->
        #: (index, price, profit)`` with the arithmetic of :meth:`_piece_profits`
        #: (``abm.simulation.dynamic_market.kernels.best_piece``); used for ranges of pieces.
        self.scanner = None
        self._lists = None
        if total <= LIST_BELOW:
            self._lists = ([t.tolist() for t in self.thresholds_by_kind], self._piece_start.tolist(),
                           [w.tolist() for w in self._kind_weights])

    def _block_levels(self) -> list:
        """Levels of the tree, finest first (blocks of ``BRANCHING**(i+1)`` pieces): each block's
        price range, its total weight at its first piece and its value rows at its last."""
        levels, size = [], BRANCHING
        if self.n_pieces <= SCAN_BELOW:
            return levels
        while True:
            first = np.arange(0, self.n_pieces, size)
            last = np.minimum(first + size, self.n_pieces) - 1
            levels.append({"size": size, "count": first.size, "low": self._edges[first],
                           "high": np.nextafter(self._edges[last + 1], 0.0), "total": self._total(first),
                           "rows": np.ascontiguousarray(self._rows[:, last])})
            if first.size <= TOP_BLOCKS:
                return levels
            size *= BRANCHING

    def _total(self, selection):
        """Total effort weight of the creators active on the selected pieces."""
        if self._loadings:
            return self._rows[0][selection]
        total = self._rows[0][selection]
        for k in range(1, self.n_kinds):
            total = total + self._rows[k][selection]
        return total

    @property
    def piece_starts(self) -> np.ndarray:
        """Where each piece of constant active weight starts: the distinct entry prices, ascending (read only)."""
        return self._piece_start

    @property
    def piece_weights(self) -> np.ndarray:
        """Each type's active effort weight on every piece, ``(types, pieces)`` (read only)."""
        return self._kind_weights

    # --- supply and aggregates ---------------------------------------------------------------

    def active_counts(self, prices) -> list:
        """Per type, how many creators are active at that type's price (a scalar: one price for all)."""
        prices = [float(p) for p in np.broadcast_to(np.asarray(prices, dtype=float), (self.n_kinds,))]
        if self._lists is not None:
            return [bisect.bisect_right(t, p) for t, p in zip(self._lists[0], prices)]
        return [int(t.searchsorted(p, side="right")) for t, p in zip(self.thresholds_by_kind, prices)]

    def cumulative(self, name: str, kind: int, count):
        """Sum of column ``name`` over the ``count`` cheapest creators of type ``kind``."""
        return self._columns[name][kind](count)

    def supply(self, price: float) -> np.ndarray:
        """Effort supplied by each type at ``price``: ``p * sum of active weights``."""
        return np.array(self.supply_pair(price))

    def supply_pair(self, price: float) -> tuple:
        """:meth:`supply` as a tuple of floats (bit for bit the same numbers, cheaper to call)."""
        price = float(price)
        if self._lists is not None:
            piece = bisect.bisect_right(self._lists[1], price) - 1
            if piece < 0:
                return (0.0,) * self.n_kinds
            weights = self._lists[2]
            if self.n_kinds == 2:
                return price * weights[0][piece], price * weights[1][piece]
            return tuple(price * w[piece] for w in weights)
        piece = int(self._piece_start.searchsorted(price, side="right")) - 1
        if piece < 0:
            return (0.0,) * self.n_kinds
        return tuple(price * w for w in self._kind_weights[:, piece].tolist())

    # --- the myopic price --------------------------------------------------------------------

    def best_price(self, margins, value: float, exhaustive: bool = False) -> float:
        """The exact myopic price: maximise ``sum_k E_k(p) (v m_k - p)`` over ``p >= 0``.

        Returns 0 when no price earns a positive profit rate. ``exhaustive`` scans every
        piece instead of searching the tree (same result, bit for bit).
        """
        margins = np.asarray(margins, dtype=float)
        if self._loadings:  # value rows are loading moments: spell the margins out per type
            return self._best_by_kind(margins, float(value), exhaustive)
        return self._best(margins, float(value), monotone=bool(np.all(margins >= 0)), exhaustive=exhaustive)

    def best_price_for_loadings(self, lam: float, feedback: float, value: float, exhaustive: bool = False) -> float:
        """The exact myopic price when every creator has its own loading: marginal values
        ``(1 - lam beta_i)^2 / feedback`` (needs ``beta`` at construction)."""
        if not self._loadings:
            raise ValueError("best_price_for_loadings needs the creators' loadings (beta) at construction")
        weights = np.array([1.0, -2.0 * lam, lam * lam]) * (value / feedback)
        # Each creator's (1 - lam beta_i)^2 >= 0, so the value of the active set grows with the price.
        return self._best(weights, 1.0, monotone=feedback > 0, exhaustive=exhaustive)

    def _best_by_kind(self, margins: np.ndarray, value: float, exhaustive: bool) -> float:
        """Per-type margins against a supply built with loadings: scan the per-type rows."""
        pieces = slice(0, self.n_pieces)
        candidate, profit = self._piece_profits(pieces, margins, value, rows=self._kind_weights)
        best = int(np.argmax(profit)) if self.n_pieces else 0
        return float(candidate[best]) if self.n_pieces and profit[best] > 0.0 else 0.0

    def _best(self, coefficients: np.ndarray, scale: float, monotone: bool, exhaustive: bool) -> float:
        if self.n_pieces == 0:
            return 0.0
        if exhaustive or not monotone or not self._levels or (self.scanner is not None
                                                              and self.n_pieces <= SCANNER_BELOW):
            pieces = slice(0, self.n_pieces)
        else:
            pieces = self._surviving_pieces(coefficients, scale)
            if pieces is None:
                return 0.0
        if self.scanner is not None and isinstance(pieces, slice):
            best, price, profit = self.scanner(self._rows, self._edges, np.ascontiguousarray(coefficients, dtype=float),
                                               float(scale), self._loadings, pieces.start, pieces.stop)
            if profit > 0.0:
                self._last_best = pieces.start + int(best)
                return float(price)
            return 0.0
        candidate, profit = self._piece_profits(pieces, coefficients, scale)
        best = int(np.argmax(profit))
        if profit[best] > 0.0:
            self._last_best = best + pieces.start if isinstance(pieces, slice) else int(pieces[best])
            return float(candidate[best])
        return 0.0

    def _piece_profits(self, pieces, coefficients: np.ndarray, scale: float, rows=None):
        """Each selected piece's best price (its clipped vertex) and the profit rate there.

        ``pieces`` is a slice or an increasing index array; the arithmetic is elementwise, so
        a piece's numbers do not depend on which others are selected with it. ``rows``: value
        rows per type (default: the supply's own rows).
        """
        moments = rows is None and self._loadings
        rows = (self._rows if rows is None else rows)[:, pieces]
        valuable = coefficients[0] * rows[0]
        for r in range(1, rows.shape[0]):
            valuable += coefficients[r] * rows[r]
        if scale != 1.0:
            valuable *= scale
        if moments or rows.shape[0] == 1:
            total = rows[0]
        else:
            total = rows[0] + rows[1]
            for r in range(2, rows.shape[0]):
                total += rows[r]
        if isinstance(pieces, slice):
            start, end = self._edges[pieces], np.nextafter(self._edges[pieces.start + 1:pieces.stop + 1], 0.0)
        else:
            start, end = self._edges[pieces], np.nextafter(self._edges[pieces + 1], 0.0)
        candidate = valuable / (2.0 * total)
        np.maximum(candidate, start, out=candidate)
        np.minimum(candidate, end, out=candidate)
        return candidate, candidate * (valuable - candidate * total)

    def _profit_at(self, piece: int, coefficients, scale: float) -> float:
        """The profit rate of one piece (a floor for the search; rounding is covered by the margin)."""
        rows = self._rows[:, piece].tolist()
        valuable = sum(c * r for c, r in zip(coefficients.tolist(), rows)) * scale
        total = rows[0] if self._loadings else math.fsum(rows) if len(rows) > 2 else sum(rows)
        start, end = float(self._edges[piece]), math.nextafter(float(self._edges[piece + 1]), 0.0)
        candidate = min(max(valuable / (2.0 * total), start), end)
        return candidate * (valuable - candidate * total)

    def _surviving_pieces(self, coefficients: np.ndarray, scale: float):
        """Every piece whose profit may reach the best one (branch and bound): a slice, an
        increasing index array, or ``None`` when no piece can earn a positive profit."""
        floor = 0.0  # only a positive profit matters
        if self._last_best is not None:  # last round's best piece: usually close to this round's
            floor = max(floor, self._profit_at(self._last_best, coefficients, scale))
        magnitudes = np.abs(coefficients) if np.any(coefficients < 0) else None
        blocks = None  # None: every block of the level
        for index in range(len(self._levels) - 1, -1, -1):
            level = self._levels[index]
            selection = slice(None) if blocks is None else blocks
            rows, total = level["rows"][:, selection], level["total"][selection]
            low, high = level["low"][selection], level["high"][selection]
            valuable = coefficients[0] * rows[0]
            for r in range(1, rows.shape[0]):
                valuable += coefficients[r] * rows[r]
            valuable *= scale
            if magnitudes is None:
                reach = valuable
            else:
                reach = magnitudes[0] * rows[0]
                for r in range(1, rows.shape[0]):
                    reach += magnitudes[r] * rows[r]
                reach *= scale
            price = valuable / (2.0 * total)
            np.maximum(price, low, out=price)
            np.minimum(price, high, out=price)
            bound = price * (valuable - price * total)
            if bound.size:
                # The piece holding the most promising block's best price gives a profit to beat.
                top = float(price[int(np.argmax(bound))])
                piece = int(self._piece_start.searchsorted(top, side="right")) - 1
                if piece >= 0:
                    floor = max(floor, self._profit_at(piece, coefficients, scale))
            slack = price * (reach + price * total)
            slack += floor
            slack *= PRUNE_MARGIN
            keep = bound >= floor - slack
            blocks = np.flatnonzero(keep) if blocks is None else blocks[keep]
            if index:
                blocks = (blocks[:, None] * BRANCHING + np.arange(BRANCHING)).ravel()
                blocks = blocks[blocks < self._levels[index - 1]["count"]]
        if blocks.size == 0:
            return None
        size = self._levels[0]["size"]
        first, stop = int(blocks[0]) * size, min((int(blocks[-1]) + 1) * size, self.n_pieces)
        if stop - first <= 4 * blocks.size * size:
            return slice(first, stop)
        pieces = (blocks[:, None] * size + np.arange(size)).ravel()
        return pieces[pieces < self.n_pieces]
