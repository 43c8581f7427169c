r"""Rival AI firms in the information market: the round game, its equilibrium, the fluid limit.

The market-design paper ("Market Design for AI: Beyond the Copyright Binary", Section 4)
has one myopic monopsonist and justifies its myopia by a duopoly in the product market
(its footnote 18). Here ``F >= 1`` myopic firms buy content at the same time. Each firm
``f`` posts one uniform unit price ``p_f`` (it cannot tell types apart, as the
monopsonist), holds its own data stocks ``X_f = (X_fO, X_fC)``, and reads its own
precision and marginal values ``m_f`` off them with the recursive bias of Eq. 11
(:func:`~abm.theory.fluid.model_state`). Two licensing regimes:

``non_exclusive``
    Data are non-rival. A creator licenses its content to every firm (a firm posting 0
    gets it free: licensing costs the creator nothing) and exerts effort on the sum of the
    prices, ``P = sum_f p_f``; it enters iff ``P^2 / (2c) >= omega``. Every firm's stock
    grows with all content, ``E_k(P)``, and firm ``f`` pays ``p_f`` per unit. Firm ``f``'s
    profit rate (Eq. 12) is ``sum_k E_k(p_f + P_{-f}) (v_f m_fk - p_f)``: each firm
    free-rides on the others' payments.
``exclusive``
    A creator sells to the single best offer; offers tied at the top split the mass
    equally. Firm ``f`` winning alone at price ``p`` earns
    ``pi_f(p) = sum_k E_k(p) (v_f m_fk - p)``, so firms bid against each other (Bertrand for
    creators).

The round's prices are a Nash equilibrium of that round's game:

* non-exclusive: Gauss-Seidel iteration of the firms' exact myopic best responses, from the
  previous round's prices, until no price moves by more than ``tolerance * v max m`` in a
  sweep; after ``max_iterations`` sweeps without that, the last iterate is posted and the
  round is reported as not converged (:class:`RoundEquilibrium`);
* exclusive: solved directly. ``b_f = max{p : pi_f(p) >= 0}`` is the most firm ``f`` would
  pay. Firms tied at the highest ``b`` all post it and split the creators (each earns
  about 0: the symmetric Bertrand outcome). A unique leader ``L`` posts
  ``argmax_{p >= b_2} pi_L(p)`` and takes every creator, ``b_2`` the runner-up's ceiling.
  When that price is ``b_2`` itself no pure equilibrium exists under equal tie-splitting
  (the leader would outbid ``b_2`` by as little as possible); the round then uses the limit
  of the equilibria of the game on a price grid of step ``eps -> 0`` and flags it
  (``limit = True``). The residual reported is the Nash gap: the largest gain any firm could
  get by a unilateral deviation.

With ``F = 1`` both regimes are the monopsonist's myopic price, computed by the same
function (:meth:`~abm.theory.empirical.EmpiricalSupply.best_price` against agents,
:func:`~abm.theory.fluid.myopic_price` against supply curves).

Static anchors (one round, ``F`` symmetric firms, power-law outside options):
:func:`symmetric_non_exclusive_price` solves the first-order condition, a closed form when
both types share the exponent; :func:`symmetric_exclusive_price` the zero-profit (Bertrand)
price. :func:`solve_rival_fluid` is the fluid limit with one stock vector per firm.
"""

from __future__ import annotations

from dataclasses import dataclass
from time import perf_counter

import numpy as np
import pandas as pd
from scipy import integrate, optimize

from abm.theory._validation import require_positive, require_whole
from abm.theory.empirical import PRUNE_MARGIN
from abm.theory.fluid import (
    TRAJECTORY_COLUMNS,
    FluidSolverError,
    _active_aggregates,
    model_state,
    myopic_price,
    price_trap,
    trajectory_row,
)
from abm.theory.mechanism import settle_round
from abm.theory.supply import IsoElastic, PowerLaw

__all__ = ["LICENSING", "RoundEquilibrium", "PieceSupply", "CurveSupply", "round_equilibrium",
           "non_exclusive_equilibrium", "exclusive_equilibrium", "posted_outcome", "nash_gap",
           "symmetric_non_exclusive_price", "symmetric_exclusive_price", "rival_columns", "rival_row",
           "solve_rival_fluid", "EQUILIBRIUM_COLUMNS", "MAX_ITERATIONS", "TOLERANCE"]

#: Licensing regimes of the rival-firms market.
LICENSING = ("non_exclusive", "exclusive")
#: Most Gauss-Seidel sweeps of best responses in one round (non-exclusive).
MAX_ITERATIONS = 200
#: A sweep converges when no price moves by more than this times ``v max m``.
TOLERANCE = 1e-12
#: Pieces per block of :class:`PieceSupply`'s search for a best response or a ceiling.
PIECE_BLOCK = 128
#: Pieces either side of a surviving block whose candidates are taken too (see
#: :meth:`PieceSupply._surviving_pieces`; a sum rounds by under an ulp, so one would do).
NEIGHBOUR_PIECES = 2
#: The fluid limit's tolerance on the equilibrium sweeps (relative to ``v max m``): the profit
#: is flat to rounding within about ``sqrt(eps) ~ 1e-8`` of its maximiser, so best responses
#: against the supply curves are resolved to about that, and sweeps stall there.
FLUID_TOLERANCE = 1e-8
#: Ceilings within this relative distance count as tied in the fluid limit, so that the
#: integrator's rounding does not break the symmetric firms' tie.
FLUID_TIE_TOLERANCE = 1e-9
#: Columns reporting each round's equilibrium search.
EQUILIBRIUM_COLUMNS = ("equilibrium_iterations", "equilibrium_residual", "equilibrium_converged",
                       "equilibrium_limit")


@dataclass(frozen=True)
class RoundEquilibrium:
    """The prices of one round of the rival-firms game.

    Attributes
    ----------
    firm_prices : ndarray, shape (F,)
        Each firm's posted unit price.
    creator_price : float
        What a creator receives per unit of effort: the sum of the prices (non-exclusive) or
        the best offer (exclusive).
    shares : ndarray, shape (F,)
        Share of the round's content each firm receives (1 each under non-exclusive licences;
        the winners' equal split under exclusive ones).
    paid : ndarray, shape (F,)
        Price each firm pays per unit of content it receives.
    iterations : int
        Best-response sweeps (0 for the direct exclusive solve).
    residual : float
        Non-exclusive: the largest price change in the last sweep; exclusive: the Nash gap.
    converged : bool
        Whether the sweeps met the tolerance within the bound (always true for exclusive).
    limit : bool
        Exclusive only: the leader wins at the runner-up's ceiling (no pure equilibrium
        under equal tie-splitting; the limit of the grid equilibria).
    """

    firm_prices: np.ndarray
    creator_price: float
    shares: np.ndarray
    paid: np.ndarray
    iterations: int
    residual: float
    converged: bool
    limit: bool = False


# --- supply: finite populations and supply curves ----------------------------------------


def _weighted(margins: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``sum_k margins[k] rows[k]`` column by column, added in type order with no fused
    multiply-add, so a column's number does not depend on which other columns are selected."""
    total = margins[0] * rows[0]
    for k in range(1, rows.shape[0]):
        total = total + margins[k] * rows[k]
    return total


class PieceSupply:
    """A finite population's supply as pieces of constant active weight (agents' entry prices).

    On piece ``j`` (prices ``[e_j, e_{j+1})``) type ``k`` supplies ``W_kj q`` at price ``q``
    (``W`` the active creators' ``mass / cost``), so a firm's profit is a quadratic in its
    own price and the best response is the best of the clipped vertices, as for the
    monopsonist (:mod:`abm.theory.empirical`).

    Only the pieces that can win are looked at (branch and bound over blocks of
    :data:`PIECE_BLOCK` pieces): with the creators' price ``q = p + s`` (own price plus the
    rivals' total ``s``), the profit on piece ``j`` is ``q (A_j + s B_j - q B_j)`` with
    ``A_j = v sum_k m_k W_kj`` and ``B_j = sum_k W_kj``, both growing with ``j`` when every
    ``m_k >= 0``; on a block of pieces ``j1..j2`` it is at most
    ``q (A_j2 + s B_j2 - q B_j1)``. The candidates of the blocks whose bound reaches the best
    profit found are those of :meth:`best_response`'s exhaustive rule, evaluated the same way,
    so the price is the one the scan of every piece gives (``exhaustive=True``, tested).

    Parameters
    ----------
    supply : EmpiricalSupply
        The population's prefix sums; ``best_price`` of it is used where no rival price
        shifts the supply (bit for bit the monopsonist's price).
    """

    def __init__(self, supply) -> None:
        self.supply = supply
        self.edges, self.weights = supply.piece_starts, supply.piece_weights  # the curve's own pieces
        self.ends = np.append(self.edges[1:], np.inf)
        self.total_weight = self.weights.sum(axis=0)
        first = np.arange(0, self.edges.size, PIECE_BLOCK)
        self._blocks = (first, np.append(first[1:], self.edges.size))  # each block's pieces: first to stop

    def profit(self, margins, value: float, price, offset: float = 0.0):
        """``sum_k E_k(p + offset) (v m_k - p)`` at own price(s) ``p``."""
        price = np.asarray(price, dtype=float)
        total = np.atleast_1d(price + offset)
        piece = np.searchsorted(self.edges, total, side="right") - 1
        rows = self.weights[:, np.maximum(piece, 0)]
        gains = (value * np.asarray(margins, dtype=float))[:, None] - np.atleast_1d(price)[None, :]
        profit = np.where(piece < 0, 0.0, total * np.einsum("kn,kn->n", rows, gains))
        return profit if price.ndim else float(profit[0])

    def _candidates(self, margins, value: float, offset: float, low: float, pieces=slice(None)) -> np.ndarray:
        """Own prices ``>= low`` that can maximise profit on the selected pieces: ``low``, each
        piece's start (and the float above it) and its clipped vertex ``A_j / (2 B_j) - offset / 2``."""
        weights, total_weight = self.weights[:, pieces], self.total_weight[pieces]
        level = value * _weighted(np.asarray(margins, dtype=float), weights)
        lows = np.maximum(self.edges[pieces] - offset, low)
        highs = np.nextafter(self.ends[pieces] - offset, -np.inf)
        keep = highs >= lows
        with np.errstate(divide="ignore", invalid="ignore"):
            vertex = np.where(total_weight > 0, level / (2.0 * total_weight) - 0.5 * offset, lows)
        vertex = np.clip(vertex[keep], lows[keep], highs[keep])
        # p = e_j - offset may round so that p + offset falls an ulp short of the entry price e_j:
        # the next float up is a candidate too (profit jumps up where a creator enters).
        return np.concatenate([[low], lows[keep], np.nextafter(lows[keep], np.inf), vertex])

    def best_response(self, margins, value: float, offset: float = 0.0, low: float = 0.0,
                      exhaustive: bool = False) -> float:
        """Own price ``>= low`` maximising ``sum_k E_k(p + offset) (v m_k - p)`` (the cheapest of ties).

        With ``offset = low = 0`` this is the monopsonist's exact price
        (:meth:`~abm.theory.empirical.EmpiricalSupply.best_price`, 0 when nothing is profitable).
        ``exhaustive`` takes every piece's candidates instead of the blocks' survivors (the same price).
        """
        if offset == 0.0 and low == 0.0:
            return float(self.supply.best_price(margins, value, exhaustive=exhaustive))
        pieces = slice(None) if exhaustive else self._surviving_pieces(margins, value, offset, low)
        candidates = np.unique(self._candidates(margins, value, offset, low, pieces))
        profits = self.profit(margins, value, candidates, offset)
        return float(candidates[int(np.argmax(profits))])

    def _surviving_pieces(self, margins, value: float, offset: float, low: float):
        """The pieces of every block whose bound on the profit reaches the best profit found at the
        most promising block's candidates, with :data:`NEIGHBOUR_PIECES` pieces either side (a
        candidate ``p`` of one piece may land, once the rivals' total is added back in floating
        point, on a neighbouring piece, where the full scan evaluates it); all pieces when some
        ``v m_k`` is negative (the bounds need the value of the active set to grow with the price)."""
        margins = np.asarray(margins, dtype=float)
        if np.any(margins < 0.0) or offset < 0.0 or value < 0.0:
            return slice(None)
        first, stop = self._blocks
        floor_price = offset + low  # the creators' price q is at least this
        level = value * _weighted(margins, self.weights[:, stop - 1]) + offset * self.total_weight[stop - 1]
        total = self.total_weight[first]
        reach = np.maximum(self.edges[first], floor_price)
        with np.errstate(divide="ignore", invalid="ignore"):
            price = np.clip(np.where(total > 0, level / (2.0 * total), np.inf), reach, self.ends[stop - 1])
            bound = np.where(np.isinf(price), np.inf, price * (level - price * total))
        bound[self.ends[stop - 1] <= floor_price] = -np.inf  # the block lies below the lowest allowed price
        slack = PRUNE_MARGIN * np.where(np.isfinite(price), price * (level + price * total), 0.0)
        top = int(np.argmax(bound))
        top_pieces = slice(first[top], stop[top])
        candidates = self._candidates(margins, value, offset, low, top_pieces)
        floor = float(np.max(self.profit(margins, value, candidates, offset)))  # achieved: maybe a loss
        keep = bound >= floor - slack - PRUNE_MARGIN * abs(floor)
        keep[top] = True
        return self._pieces_of(np.flatnonzero(keep), NEIGHBOUR_PIECES)

    def _pieces_of(self, blocks: np.ndarray, spill: int = 0) -> np.ndarray:
        """The pieces of ``blocks`` (ascending), each block widened by ``spill`` pieces either side,
        ascending and each once."""
        first, stop = self._blocks
        high = np.minimum(stop[blocks] + spill, self.edges.size)
        low = np.maximum(first[blocks] - spill, 0)
        low[1:] = np.maximum(low[1:], high[:-1])  # a widened block may reach into the next one
        lengths = np.maximum(high - low, 0)
        index = np.arange(lengths.sum()) + np.repeat(low - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        return index

    def ceiling(self, margins, value: float, exhaustive: bool = False) -> float:
        """``b = max{p : pi(p) >= 0}``: on piece ``j`` profit is ``p (A_j - p B_j)``, non-negative
        up to ``A_j / B_j``; the largest such price over pieces (just below a piece's end when
        the piece is profitable to its end), 0 if none. A block of pieces ``j1..j2`` (margins
        >= 0) is skipped when its bound ``min(A_j2 / B_j1, e_{j2+1})`` falls short of the best
        block's ceiling or of its own first price (``exhaustive``: every piece, the same number)."""
        margins = np.asarray(margins, dtype=float)
        pieces = slice(None)
        if np.all(margins >= 0.0) and value >= 0.0 and not exhaustive:
            first, stop = self._blocks
            with np.errstate(divide="ignore", invalid="ignore"):
                level = value * _weighted(margins, self.weights[:, stop - 1])
                total = self.total_weight[first]
                bound = np.minimum(np.where(total > 0, level / total, np.inf), self.ends[stop - 1])
            bound[bound < self.edges[first]] = -np.inf  # no piece of the block breaks even at its own prices
            top = int(np.argmax(bound))
            best = self._ceiling_of(margins, value, slice(first[top], stop[top]))
            keep = np.flatnonzero(bound >= best * (1.0 - PRUNE_MARGIN))
            pieces = self._pieces_of(keep)
        return self._ceiling_of(margins, value, pieces)

    def _ceiling_of(self, margins, value: float, pieces) -> float:
        """The ceiling over the selected pieces (0 if none of them is profitable)."""
        total_weight = self.total_weight[pieces]
        level = value * _weighted(margins, self.weights[:, pieces])
        with np.errstate(divide="ignore", invalid="ignore"):
            root = np.where(total_weight > 0, level / total_weight, -np.inf)
        top = np.minimum(root, np.nextafter(self.ends[pieces], -np.inf))
        valid = (top >= self.edges[pieces]) & (total_weight > 0)
        return float(top[valid].max()) if valid.any() else 0.0


class CurveSupply:
    """The analytic supply curves ``E_k(p) = N_k(p) p / c_k`` of a homogeneous market (the fluid limit)."""

    def __init__(self, market, grid_points: int = 257) -> None:
        if not market.is_homogeneous:
            raise ValueError("rival firms need one loading and one cost per type (the fluid limit of a market "
                             "with distributed loadings or costs is not implemented for rival firms)")
        self.market, self.grid_points = market, grid_points
        self.kinks = np.concatenate([creator.kink_prices() for creator in market.types])

    def inflows(self, price) -> np.ndarray:
        """``(E_O(p), E_C(p))``."""
        return np.array([creator.inflow(price) for creator in self.market.types], dtype=float)

    def profit(self, margins, value: float, price, offset: float = 0.0):
        """``sum_k E_k(p + offset) (v m_k - p)``."""
        price = np.asarray(price, dtype=float)
        return sum(creator.inflow(price + offset) * (value * m - price)
                   for creator, m in zip(self.market.types, margins))

    def best_response(self, margins, value: float, offset: float = 0.0, low: float = 0.0) -> float:
        """Own price ``>= low`` maximising profit: a grid on ``[low, v max m]`` with every shifted
        kink, then grids of 33 points zooming on the best point's neighbours until they are
        ``1e-9 v max m`` apart (the profit is flat to rounding within about ``1e-8`` of its
        maximiser, so finer brackets add nothing); :func:`~abm.theory.fluid.myopic_price` when
        ``offset = low = 0``."""
        if offset == 0.0 and low == 0.0:
            return myopic_price(self.market, margins, self.grid_points)
        top = value * float(np.max(margins))
        if top <= low:
            return float(low)
        kinks = self.kinks - offset
        kinks = kinks[(kinks > low) & (kinks < top)]
        grid = np.unique(np.concatenate([np.linspace(low, top, self.grid_points), kinks]))
        for _ in range(60):  # each zoom narrows the bracket 16-fold; 60 is a backstop
            profits = self.profit(margins, value, grid, offset)
            best = int(np.argmax(profits))
            left, right = grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]
            if right - left <= 1e-9 * top:
                break
            grid = np.linspace(left, right, 33)
        return float(grid[best])

    def ceiling(self, margins, value: float, exhaustive: bool = False) -> float:
        """``b``: the root of ``v w(p) = p`` with ``w`` the supply-weighted mean marginal value
        (``pi(p) = E(p) (v w(p) - p)``), by ``brentq`` on ``[v min m, v max m]``; 0 if no
        price below ``v max m`` buys anything."""
        margins = np.asarray(margins, dtype=float)
        low, high = value * float(margins.min()), value * float(margins.max())
        if high <= 0.0:
            return 0.0

        def gap(price: float) -> float:
            inflows = self.inflows(price)
            total = inflows.sum()
            return (value * float(inflows @ margins) / total if total > 0 else value * float(margins.mean())) - price

        if gap(high) >= 0.0:
            return high
        if gap(low) <= 0.0:
            return max(low, 0.0)
        return float(optimize.brentq(gap, low, high, xtol=1e-15, rtol=1e-14))


# --- the round game ------------------------------------------------------------------------


def _others_sum(prices: np.ndarray, firm: int) -> float:
    """``sum_{g != f} p_g``, summed in firm order (exactly 0.0 when the others post 0)."""
    total = 0.0
    for g, price in enumerate(prices.tolist()):
        if g != firm:
            total += price
    return total


def non_exclusive_equilibrium(supply, margins, values, start=None, tolerance: float = TOLERANCE,
                              max_iterations: int = MAX_ITERATIONS) -> RoundEquilibrium:
    """Nash equilibrium of the non-exclusive round by Gauss-Seidel best responses.

    Firm ``f`` best-responds to the others' total ``P_{-f}`` with
    ``argmax_p sum_k E_k(p + P_{-f}) (v_f m_fk - p)`` (:meth:`PieceSupply.best_response`).
    With power-law supply and symmetric firms the best-response map is linear with slope
    ``-1 / (1 + eps)`` in each rival price (``eps`` the supply elasticity of effort), and
    the sweeps are Gauss-Seidel on a symmetric positive-definite system, so they converge.

    Parameters
    ----------
    supply : PieceSupply or CurveSupply
    margins : array_like, shape (F, 2)
        Each firm's marginal values ``(m_fO, m_fC)``.
    values : array_like, shape (F,)
        Each firm's value of precision ``v_f``.
    start : array_like, optional
        Starting prices (default 0): the previous round's equilibrium.
    tolerance, max_iterations
        Convergence when no price moves by more than ``tolerance * max_f v_f max m_f``;
        at most ``max_iterations`` sweeps.
    """
    margins, values = np.atleast_2d(np.asarray(margins, dtype=float)), np.asarray(values, dtype=float)
    firms = margins.shape[0]
    prices = np.zeros(firms) if start is None else np.maximum(np.asarray(start, dtype=float), 0.0).copy()
    scale = max(float(np.max(values[:, None] * margins)), np.finfo(float).tiny)
    change, iterations = np.inf, 0
    while iterations < max_iterations:
        iterations += 1
        change = 0.0
        for f in range(firms):
            new = supply.best_response(margins[f], float(values[f]), _others_sum(prices, f))
            change = max(change, abs(new - prices[f]))
            prices[f] = new
        if change <= tolerance * scale:
            break
    total = 0.0
    for price in prices.tolist():
        total += price
    return RoundEquilibrium(prices, total, np.ones(firms), prices.copy(), iterations, float(change),
                            bool(change <= tolerance * scale))


def exclusive_equilibrium(supply, margins, values, tie_tolerance: float = 0.0) -> RoundEquilibrium:
    """The Bertrand equilibrium of the exclusive round, solved directly (see the module docstring).

    Parameters
    ----------
    supply : PieceSupply or CurveSupply
    margins : array_like, shape (F, 2)
    values : array_like, shape (F,)
    tie_tolerance : float
        Ceilings within this relative distance of the highest count as tied (0 for agents,
        whose symmetric firms are bit for bit equal; the fluid limit passes ``1e-9`` so that
        rounding in the integrator does not break a symmetric tie).
    """
    margins, values = np.atleast_2d(np.asarray(margins, dtype=float)), np.asarray(values, dtype=float)
    firms = margins.shape[0]
    ceilings = np.array([supply.ceiling(margins[f], float(values[f])) for f in range(firms)])
    top = float(ceilings.max())
    tied = np.flatnonzero(ceilings >= top * (1.0 - tie_tolerance))
    prices, shares, limit = ceilings.copy(), np.zeros(firms), False
    if top <= 0.0:  # no firm gains from any price: all post 0 and tie (nobody sells at 0)
        prices[:], shares[:], creator_price = 0.0, 1.0 / firms, 0.0
    elif tied.size > 1:
        prices[tied], shares[tied] = top, 1.0 / tied.size
        creator_price = top
    else:
        leader = int(np.argmax(ceilings))
        runner_up = float(np.max(np.delete(ceilings, leader))) if firms > 1 else 0.0
        creator_price = supply.best_response(margins[leader], float(values[leader]), 0.0, low=runner_up)
        prices[leader], shares[leader] = creator_price, 1.0
        limit = firms > 1 and runner_up > 0.0 and creator_price == runner_up
    paid = np.where(shares > 0, creator_price, 0.0)
    residual = _nash_gap(supply, margins, values, prices, shares, creator_price)
    return RoundEquilibrium(prices, float(creator_price), shares, paid, 0, residual, True, bool(limit))


def _nash_gap(supply, margins, values, prices, shares, creator_price: float) -> float:
    """Largest gain from a unilateral deviation in the exclusive round: firm ``f`` facing the
    best rival offer ``q`` can get 0 (lose), or win alone at any price above ``q``."""
    gap = 0.0
    for f in range(len(prices)):
        value = float(values[f])
        current = shares[f] * supply.profit(margins[f], value, creator_price) if shares[f] > 0 else 0.0
        best_rival = float(np.max(np.delete(prices, f))) if len(prices) > 1 else 0.0
        above = np.nextafter(best_rival, np.inf) if len(prices) > 1 else 0.0
        deviation = supply.profit(margins[f], value, supply.best_response(margins[f], value, 0.0, low=above))
        gap = max(gap, max(deviation, 0.0) - current)
    return float(gap)


def posted_outcome(licensing: str, supply, margins, values, prices) -> RoundEquilibrium:
    """The round at prices the firms chose themselves (learning firms), not an equilibrium.

    What creators receive, each firm's share and what it pays follow the licensing rule
    (non-exclusive: the sum, shares 1; exclusive: the best offer, the tied best offers share
    equally, all firms when every price is 0). ``residual`` is the Nash gap of these prices,
    the largest gain a firm could get by best-responding to the others (:func:`nash_gap`);
    ``converged`` says whether it is within :data:`TOLERANCE` of ``max_f v_f max m_f``.
    """
    margins, values = np.atleast_2d(np.asarray(margins, dtype=float)), np.asarray(values, dtype=float)
    prices = np.maximum(np.asarray(prices, dtype=float), 0.0)
    firms = len(prices)
    if licensing == "non_exclusive":
        total = 0.0
        for price in prices.tolist():
            total += price
        outcome = RoundEquilibrium(prices, total, np.ones(firms), prices.copy(), 0, 0.0, False)
    elif licensing == "exclusive":
        best = float(prices.max())
        winners = prices == best
        shares = winners / winners.sum()
        outcome = RoundEquilibrium(prices, best, shares, np.where(winners, best, 0.0), 0, 0.0, False)
    else:
        raise ValueError(f"licensing must be one of {list(LICENSING)}, got {licensing!r}")
    gap = nash_gap(licensing, supply, margins, values, outcome)
    scale = max(float(np.max(values[:, None] * margins)), np.finfo(float).tiny)
    return RoundEquilibrium(prices, outcome.creator_price, outcome.shares, outcome.paid, 0, gap,
                            bool(gap <= TOLERANCE * scale))


def nash_gap(licensing: str, supply, margins, values, outcome: RoundEquilibrium) -> float:
    """Largest gain any firm gets by a unilateral deviation from ``outcome``'s prices: its best
    response to the others' total (non-exclusive) or to the best rival offer (exclusive)."""
    if licensing == "exclusive":
        return _nash_gap(supply, margins, values, outcome.firm_prices, outcome.shares, outcome.creator_price)
    gap = 0.0
    for f, price in enumerate(outcome.firm_prices.tolist()):
        value, offset = float(values[f]), _others_sum(outcome.firm_prices, f)
        best = supply.best_response(margins[f], value, offset)
        gap = max(gap, supply.profit(margins[f], value, best, offset) - supply.profit(margins[f], value, price, offset))
    return float(gap)


def round_equilibrium(licensing: str, supply, margins, values, start=None, tie_tolerance: float = 0.0,
                      tolerance: float = TOLERANCE, max_iterations: int = MAX_ITERATIONS) -> RoundEquilibrium:
    """The round's equilibrium under ``licensing`` (one of :data:`LICENSING`)."""
    if licensing == "non_exclusive":
        return non_exclusive_equilibrium(supply, margins, values, start, tolerance, max_iterations)
    if licensing == "exclusive":
        return exclusive_equilibrium(supply, margins, values, tie_tolerance)
    raise ValueError(f"licensing must be one of {list(LICENSING)}, got {licensing!r}")


# --- static anchors ---------------------------------------------------------------------------


def _power_law(creator) -> PowerLaw:
    options = creator.outside_option
    if isinstance(options, IsoElastic):
        options = options.as_power_law()
    if not isinstance(options, PowerLaw):
        raise ValueError("the static anchors need power-law outside options (isoelastic supply), got "
                         f"{type(options).__name__}")
    return options


def symmetric_non_exclusive_price(market, margins, firms: int) -> float:
    r"""Each firm's price in the symmetric non-exclusive equilibrium of one round.

    With power-law outside options (below saturation) ``E_k(P) = M_k (P^2 / 2 c s_k)^{a_k} P / c``,
    so ``E_k' = (2 a_k + 1) E_k / P``, and the first-order condition of firm ``f`` at
    ``P = F p`` is ``sum_k E_k(F p) [(2 a_k + 1)(v m_k - p) / (F p) - 1] = 0``, solved by
    ``brentq`` on ``(0, v max m)``. When both types share the exponent ``a`` it is the
    closed form ``p = (2a + 1) v mbar / (2a + 1 + F)`` with ``mbar`` the supply-weighted mean
    marginal value (``F = 1``: the monopsonist's markdown ``eps / (1 + eps)``).
    """
    firms = require_whole(firms, "firms", minimum=1)
    margins = np.asarray(margins, dtype=float)
    laws = [_power_law(creator) for creator in market.types]
    v = market.value

    def condition(p: float) -> float:
        total = firms * p
        inflows = [creator.inflow(total) for creator in market.types]
        return sum(e * ((2 * law.exponent + 1) * (v * m - p) / total - 1.0)
                   for e, law, m in zip(inflows, laws, margins))

    top = v * float(margins.max())
    return float(optimize.brentq(condition, top * 1e-12, top * (1 - 1e-15), xtol=1e-15, rtol=1e-14))


def symmetric_exclusive_price(market, margins) -> float:
    """The symmetric exclusive (Bertrand) price: zero profit, ``p = v w(p)`` with ``w`` the
    supply-weighted mean marginal value; with power-law supply of one exponent ``w`` does not
    depend on ``p`` and the price is ``v sum_k E_k m_k / sum_k E_k`` at any price."""
    return CurveSupply(market).ceiling(margins, market.value)


# --- trajectory rows -----------------------------------------------------------------------


def rival_columns(firms: int) -> tuple:
    """Trajectory columns of a rival-firms run: :data:`~abm.theory.fluid.TRAJECTORY_COLUMNS`,
    then per firm ``f = 1..F`` its price, share of the round's content, precision, stocks
    and profit rate, then :data:`EQUILIBRIUM_COLUMNS`."""
    per_firm = [f"{name}_firm_{f}" for f in range(1, firms + 1)
                for name in ("price", "share", "precision", "stock_innovators", "stock_rank_and_file",
                             "firm_profit")]
    return (*TRAJECTORY_COLUMNS, *per_firm, *EQUILIBRIUM_COLUMNS)


def rival_row(market, time: float, equilibrium: RoundEquilibrium, stocks, precisions, margins, values, delivered,
              active_mass, settlement, supply=None, trap=None) -> dict:
    """One trajectory row of the rival-firms market (shared by the agents and the fluid limit).

    The market columns are :func:`~abm.theory.fluid.trajectory_row`'s with the creators'
    price, the firms' mean stocks, precision and marginal values (every firm's, when they
    are symmetric), the total payments, and the firms' summed profit rates
    ``sum_f [v_f m_f . (s_f E) - paid_f s_f sum E - v_f delta m_f . X_f]``.
    """
    stocks, margins = np.asarray(stocks, dtype=float), np.asarray(margins, dtype=float)
    values, delivered = np.asarray(values, dtype=float), np.asarray(delivered, dtype=float)
    shares = equilibrium.shares
    firms = len(shares)
    received = shares[:, None] * delivered[None, :]
    data_values = values * np.einsum("fk,fk->f", margins, received)
    stock_values = np.einsum("fk,fk->f", margins, stocks)
    payments = (equilibrium.paid[:, None] * received).sum(axis=1)  # per type, then summed, as settle_round
    profits = data_values - payments - values * market.depreciation * stock_values
    creator_prices = np.full(2, equilibrium.creator_price)
    row = trajectory_row(market, time, creator_prices, stocks.mean(axis=0), float(np.mean(precisions)),
                         margins.mean(axis=0), delivered, active_mass, settlement, supply=supply, trap=trap,
                         data_value=float(data_values.sum()),
                         stock_value=float((values / market.value * stock_values).sum()))
    for f in range(firms):
        row.update({f"price_firm_{f + 1}": float(equilibrium.firm_prices[f]), f"share_firm_{f + 1}": float(shares[f]),
                    f"precision_firm_{f + 1}": float(precisions[f]), f"stock_innovators_firm_{f + 1}": stocks[f, 0],
                    f"stock_rank_and_file_firm_{f + 1}": stocks[f, 1], f"firm_profit_firm_{f + 1}": float(profits[f])})
    row.update(equilibrium_iterations=equilibrium.iterations, equilibrium_residual=equilibrium.residual,
               equilibrium_converged=float(equilibrium.converged), equilibrium_limit=float(equilibrium.limit))
    return row


# --- the fluid limit with F firms ---------------------------------------------------------


class _RivalField:
    """The fluid limit's right-hand side: one stock vector per firm, the round game at every state."""

    def __init__(self, market, firms: int, licensing: str, values, max_evaluations: int, max_seconds: float):
        self.market, self.firms, self.licensing = market, firms, licensing
        self.values = np.asarray(values, dtype=float)
        self.supply = CurveSupply(market)
        self.start = np.zeros(firms)
        self.evaluations, self.max_evaluations, self.max_seconds = 0, max_evaluations, max_seconds
        self.started = perf_counter()

    def state(self, stocks):
        """``(precisions, margins, equilibrium, inflows)`` at the flattened firm stocks."""
        stocks = np.reshape(stocks, (self.firms, 2))
        states = [model_state(self.market, x) for x in stocks]
        precisions = np.array([s[0] for s in states])
        margins = np.array([s[1] for s in states])
        equilibrium = round_equilibrium(self.licensing, self.supply, margins, self.values, self.start,
                                        tie_tolerance=FLUID_TIE_TOLERANCE, tolerance=FLUID_TOLERANCE)
        self.start = equilibrium.firm_prices
        return precisions, margins, equilibrium, self.supply.inflows(equilibrium.creator_price)

    def __call__(self, time, stocks):
        self.evaluations += 1
        if self.evaluations > self.max_evaluations or perf_counter() - self.started > self.max_seconds:
            raise FluidSolverError(f"solve_rival_fluid stopped at t = {time:.6g} after {self.evaluations} evaluations "
                                   f"(bounds: max_evaluations={self.max_evaluations}, max_seconds="
                                   f"{self.max_seconds:g}): raise them, or loosen rtol and atol")
        _, _, equilibrium, inflows = self.state(stocks)
        drift = equilibrium.shares[:, None] * inflows[None, :] - self.market.depreciation * np.reshape(stocks,
                                                                                                        (self.firms, 2))
        return drift.ravel()

    def row(self, time: float, stocks, trap: float) -> dict:
        precisions, margins, equilibrium, _ = self.state(stocks)
        prices = np.full(2, equilibrium.creator_price)
        aggregates = _active_aggregates(self.market, prices)
        settlement = settle_round(prices, *aggregates, kind=self.market.groups)
        delivered, active = aggregates[0] * aggregates[1], aggregates[1]
        return rival_row(self.market, time, equilibrium, np.reshape(stocks, (self.firms, 2)), precisions, margins,
                         self.values, delivered, active, settlement, trap=trap)


def solve_rival_fluid(market, firms: int, licensing: str, horizon: float, times=None, values=None,
                      rtol: float = 1e-8, atol: float = 1e-10, max_evaluations: int = 20_000,
                      max_seconds: float = 600.0) -> pd.DataFrame:
    """The fluid limit of the rival-firms market (Eq. 8 per firm), integrated by LSODA.

    Firm ``f``'s stocks follow ``dX_f/dt = s_f E(P) - delta X_f`` with ``P`` and the shares
    ``s_f`` from the round equilibrium (:func:`round_equilibrium`) at the current stocks,
    against the analytic supply curves (:class:`CurveSupply`). Every firm starts with the
    market's initial stocks.

    Parameters
    ----------
    market : DynamicMarket
        Homogeneous types (one loading and one cost each).
    firms : int
        ``F >= 1``.
    licensing : str
        One of :data:`LICENSING`.
    horizon : float
    times : array_like, optional
        Reported times (default 201 points on ``[0, horizon]``).
    values : array_like, optional
        Each firm's ``v_f`` (default ``market.value`` for all).
    rtol, atol, max_evaluations, max_seconds
        LSODA's tolerances and the work bound (:class:`~abm.theory.fluid.FluidSolverError` past it).

    Returns
    -------
    DataFrame
        One row per reported time with :func:`rival_columns`; ``attrs["evaluations"]``.
    """
    firms = require_whole(firms, "firms", minimum=1)
    if licensing not in LICENSING:
        raise ValueError(f"licensing must be one of {list(LICENSING)}, got {licensing!r}")
    horizon = require_positive(horizon, "horizon")
    times = np.linspace(0.0, horizon, 201) if times is None else np.asarray(times, dtype=float)
    values = np.full(firms, market.value) if values is None else np.asarray(values, dtype=float)
    field = _RivalField(market, firms, licensing, values, max_evaluations, max_seconds)
    initial = np.tile(market.initial_stocks, firms)
    solution = integrate.solve_ivp(field, (0.0, horizon), initial, method="LSODA", t_eval=times, rtol=rtol, atol=atol)
    if not solution.success:
        raise FluidSolverError(f"rival-firms fluid ODE failed: {solution.message}")
    trap = price_trap(market)
    rows = [field.row(float(t), x, trap) for t, x in zip(solution.t, solution.y.T)]
    table = pd.DataFrame(rows, columns=list(rival_columns(firms)))
    table.attrs.update(evaluations=field.evaluations)
    return table
