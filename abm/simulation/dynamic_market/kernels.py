"""Optional compiled loops for the array path (``pip install abm-training-data[fast]``, numba).

Two loops, each doing in one pass over memory what the numpy code does in several, with the
same floating-point operations in the same order per element:

* :func:`best_piece`: the exhaustive scan over the pieces of the empirical supply curve
  (:meth:`abm.theory.empirical.EmpiricalSupply.best_price`); each piece's candidate price and
  profit are computed exactly as the numpy scan computes them, so the price is bit for bit
  the same. Used instead of the tree search when the curve has few pieces.
* :func:`creator_round`: a round with prices that differ from creator to creator (per-creator
  loadings under the intermediary or the collective pool): entry, effort, stock update and
  the per-type sums of :class:`~abm.simulation.dynamic_market.model.RoundTotals`, fused. The
  per-creator numbers are bit for bit numpy's; the sums are accumulated in order (numpy
  sums pairwise), so they differ from numpy's in the last bits. Both stepping paths use the
  same sums, so they stay identical to each other.

* :func:`logit_decide`: one logit type's entry and effort at one price
  (:meth:`abm.simulation.dynamic_market.behaviours.Logit.decide_all`), from the draws the
  model's generator already made: ``sigma(x) = 1 / (1 + exp(-x))`` is SciPy's ``expit``
  formula and rounds the same (``tests/test_behaviour_speedups.py``), so the creators'
  decisions are bit for bit numpy's; with the options ascending, a draw that clears the
  bounds of its block of creators is decided without its own ``exp``.
* :func:`stock_update`: every creator's stock after a round decided by the behaviours,
  ``decay X + growth (mass e)`` in place, bit for bit numpy's.
* :func:`taylor_count`: the logit expected count from its Taylor bins
  (:meth:`~abm.simulation.dynamic_market.behaviours.Logit.expected_count`), Horner's rule per
  bin; the bins are summed in order (numpy sums pairwise), a difference in the last bits.

Without numba, :data:`AVAILABLE` is ``False`` and the model uses numpy.
"""

from __future__ import annotations

import math

import numpy as np

try:  # pragma: no cover - depends on the install
    import numba
except ImportError:  # pragma: no cover
    numba = None

__all__ = ["AVAILABLE", "best_piece", "creator_round", "creator_sums", "logit_decide", "stock_update", "taylor_count"]

#: Whether the compiled loops can be used.
AVAILABLE = numba is not None


def _best_piece(rows, edges, coefficients, scale, moments, start, stop):
    """Index (relative to ``start``), price and profit of the first most profitable piece in
    ``start..stop-1``; the same arithmetic as ``EmpiricalSupply._piece_profits``."""
    best, best_price, best_profit = -1, 0.0, -np.inf
    n_rows = rows.shape[0]
    for j in range(start, stop):
        valuable = coefficients[0] * rows[0, j]
        for r in range(1, n_rows):
            valuable += coefficients[r] * rows[r, j]
        if scale != 1.0:
            valuable *= scale
        if moments or n_rows == 1:
            total = rows[0, j]
        else:
            total = rows[0, j] + rows[1, j]
            for r in range(2, n_rows):
                total += rows[r, j]
        candidate = valuable / (2.0 * total)
        low, high = edges[j], np.nextafter(edges[j + 1], 0.0)
        if candidate < low:
            candidate = low
        if candidate > high:
            candidate = high
        profit = candidate * (valuable - candidate * total)
        if profit > best_profit:
            best, best_price, best_profit = j - start, candidate, profit
    return best, best_price, best_profit


def _creator_round(offered, entry, cost, mass, beta, outside, stock, active, effort, decay, growth, bounds,
                   moment_orders, sums):
    """One round over every creator: entry, effort and stock in place; ``sums[k]`` gets type ``k``'s
    (delivered, active count, payments, 2 x effort cost, outside options given up, moment 1, moment 2)."""
    for k in range(bounds.shape[0]):
        delivered = count = payments = costs = given_up = first = second = 0.0
        for i in range(bounds[k, 0], bounds[k, 1]):
            price = offered[i]
            c = cost[i] if cost.shape[0] > 1 else cost[0]
            m = mass[k]
            if price >= entry[i]:
                e = price / c
                active[i] = True
                count += 1.0
                given_up += outside[i]
            else:
                e = 0.0
                active[i] = False
            effort[i] = e
            d = m * e
            stock[i] = decay * stock[i] + growth * d
            delivered += d
            payments += price * d
            costs += c * e * d
            if moment_orders > 1:
                weighted = d * beta[i]
                first += weighted
                second += weighted * beta[i]
        sums[k, 0], sums[k, 1], sums[k, 2], sums[k, 3] = delivered, count, payments, costs
        sums[k, 4], sums[k, 5], sums[k, 6] = given_up, first, second


def _creator_sums(offered, active, effort, cost, mass, beta, outside, bounds, moment_orders, sums):
    """The per-type sums of :func:`_creator_round` from entries and efforts already decided (by the agents)."""
    for k in range(bounds.shape[0]):
        delivered = count = payments = costs = given_up = first = second = 0.0
        for i in range(bounds[k, 0], bounds[k, 1]):
            price, e = offered[i], effort[i]
            c = cost[i] if cost.shape[0] > 1 else cost[0]
            d = mass[k] * e
            if active[i]:
                count += 1.0
                given_up += outside[i]
            delivered += d
            payments += price * d
            costs += c * e * d
            if moment_orders > 1:
                weighted = d * beta[i]
                first += weighted
                second += weighted * beta[i]
        sums[k, 0], sums[k, 1], sums[k, 2], sums[k, 3] = delivered, count, payments, costs
        sums[k, 4], sums[k, 5], sums[k, 6] = given_up, first, second


#: Creators per block of :func:`logit_decide`'s screen, and the margin by which a draw must clear
#: a block's bounds to be decided without its own probability (far above exp's rounding, 1e-16).
SCREEN_BLOCK = 64
SCREEN_MARGIN = 1e-12


def _logit_decide(price, cost, temperature, options, draws, active, effort, ascending):
    """Logit entry of the creators with outside options ``options`` offered ``price``: creator ``i``
    enters iff ``draws[i] < sigma((p^2 / (2c) - omega_i) / tau)`` and then exerts ``p / c``.

    With ``ascending`` options the probabilities descend, so within a block of
    :data:`SCREEN_BLOCK` creators each lies between those of the block's last and first
    creators: a draw below the lower bound (less :data:`SCREEN_MARGIN`) enters, one above the
    upper bound (plus the margin) stays out, and only draws in between (about
    ``SCREEN_BLOCK`` per round in all, the bounds' gaps summing to at most 1) need their own
    probability. The decisions are those of comparing every draw with its probability.
    """
    payoff = price * price / (2.0 * cost)
    exerted = price / cost
    n = options.shape[0]
    block = SCREEN_BLOCK if ascending else 1
    for first in range(0, n, block):
        last = min(first + block, n)
        surely_in, surely_out = -1.0, 2.0  # no screen: every creator is computed
        if ascending:
            surely_out = 1.0 / (1.0 + math.exp(-((payoff - options[first]) / temperature))) + SCREEN_MARGIN
            surely_in = 1.0 / (1.0 + math.exp(-((payoff - options[last - 1]) / temperature))) - SCREEN_MARGIN
        for i in range(first, last):
            draw = draws[i]
            if draw < surely_in:
                enters = True
            elif draw >= surely_out:
                enters = False
            else:
                enters = draw < 1.0 / (1.0 + math.exp(-((payoff - options[i]) / temperature)))
            active[i] = enters
            effort[i] = exerted if enters else 0.0


def _stock_update(stock, effort, mass, bounds, decay, growth):
    """``stock[i] = decay * stock[i] + growth * (mass[k] * effort[i])`` for the creators ``i`` of each type ``k``."""
    for k in range(bounds.shape[0]):
        m = mass[k]
        for i in range(bounds[k, 0], bounds[k, 1]):
            stock[i] = decay * stock[i] + growth * (m * effort[i])


def _taylor_count(payoff, temperature, centres, coefficients):
    """``sum_b sum_i q[i, b] s_b^i`` with ``s_b = sigma((payoff - centres[b]) / temperature)``."""
    total = 0.0
    top = coefficients.shape[0] - 1
    for b in range(centres.shape[0]):
        s = 1.0 / (1.0 + math.exp(-((payoff - centres[b]) / temperature)))
        value = coefficients[top, b]
        for i in range(top - 1, -1, -1):
            value = value * s + coefficients[i, b]
        total += value
    return total


if AVAILABLE:  # pragma: no branch
    _jit = numba.njit(cache=True, nogil=True)
    best_piece = _jit(_best_piece)
    creator_round = _jit(_creator_round)
    creator_sums = _jit(_creator_sums)
    logit_decide = _jit(_logit_decide)
    stock_update = _jit(_stock_update)
    taylor_count = _jit(_taylor_count)
else:  # pragma: no cover
    best_piece, creator_round, creator_sums = _best_piece, _creator_round, _creator_sums
    logit_decide, stock_update, taylor_count = _logit_decide, _stock_update, _taylor_count
