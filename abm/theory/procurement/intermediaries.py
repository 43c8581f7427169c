r"""A broker that prices and a union whose members can leave (issue 18, part 2).

**Broker.** In the three-layer market (the procurement paper's Section 3, M5/M6) the broker
signs ``(z, t = b . y(z))`` with the platform before costs are drawn and must then deliver
``z``. The paper's broker posts the price ``b_k`` per unit of ``y_k = z_k^{rho_k}``, which
every type accepts, and earns nothing (its Thm 3.3). Here the broker may instead post
``q_k <= b_k``: creator ``k`` accepts when ``c_k <= q_k``; otherwise the broker covers the
shortfall from an outside supplier at ``P_k`` per unit (the *penalty*). Per unit of ``y_k`` its
expected profit is

.. math:: \pi_k(q) = b_k - q F_k(q) - P_k (1 - F_k(q)),

maximised where the virtual cost equals the penalty, ``q + F_k(q)/f_k(q) = P_k`` (log-concave
``F_k``: one root), or at ``q = b_k`` once ``P_k >= b_k + 1/f_k(b_k)``. With no outside
supplier (``P_k = inf``) the broker must post ``b_k``: the paper's M5/M6. Its expected
profit of a contract is ``sum_k y_k(z) pi_k(q_k)``; it signs the contract (M5's, at the
upper bounds, or M6's, at the mean costs) with the larger one, ties going to the mechanism
played.

**Union.** A coalition ``S`` of creators reporting together under the welfare-maximising
platform is paid the path integral of Lemma 2.3 over its members' costs,

.. math:: T_S(c) = c_S \cdot y_S(c) + \Psi(b_S, c_{-S}) - \Psi(c),

with ``Psi(w) = min_y w . y`` (``dPsi/dw = y``); ``S = {k}`` is creator ``k``'s Myerson
payment (M2) and the full union gets ``Psi(b) = b . y(b)`` (M4).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from abm.theory.procurement.allocation import social_cost_potential
from abm.theory.procurement.costs import CostDistribution
from abm.theory.procurement.mechanisms import proportional_shares

__all__ = ["unit_profit", "optimal_posted_price", "empirical_posted_price", "coalition_payment",
           "SHARING_RULES", "share_payment"]

#: How a union shares its payment among members.
SHARING_RULES = ("proportional", "equal")


def _check_penalty(penalty: float, upper: float) -> float:
    penalty = float(penalty)
    if np.isnan(penalty) or penalty < upper:
        raise ValueError(f"penalty must be >= the upper bound b_k = {upper} (or inf), got {penalty!r}")
    return penalty


def unit_profit(price, share_accepting, upper: float, penalty: float) -> np.ndarray:
    """``b_k - q F(q) - P (1 - F(q))``: the broker's expected profit per unit of ``y_k``
    when it posts ``q`` and a share ``F(q)`` of types accepts (``P = inf`` requires ``F = 1``)."""
    price, accepted = np.asarray(price, dtype=float), np.asarray(share_accepting, dtype=float)
    outside = np.where(accepted >= 1.0, 0.0, np.float64(penalty) * (1.0 - accepted))
    return upper - price * accepted - outside


def optimal_posted_price(distribution: CostDistribution, penalty: float = np.inf) -> float:
    """The price maximising :func:`unit_profit` under the known distribution ``F_k``.

    Solves ``q + F(q)/f(q) = P`` by Brent's method on ``[a_k, b_k]`` (the virtual cost is
    increasing for log-concave ``F``); ``b_k`` when ``P >= b_k + 1/f(b_k)`` (or ``P = inf``).
    """
    low, high = distribution.low, distribution.high
    penalty = _check_penalty(penalty, high)
    if not np.isfinite(penalty) or float(distribution.virtual_cost(np.array([high]))[0]) <= penalty:
        return float(high)
    if float(distribution.virtual_cost(np.array([low]))[0]) >= penalty:
        return float(low)
    return float(brentq(lambda q: float(distribution.virtual_cost(np.array([q]))[0]) - penalty, low, high,
                        xtol=1e-12 * max(1.0, high)))


def empirical_posted_price(samples, upper: float, penalty: float = np.inf) -> tuple[float, float]:
    """The price maximising :func:`unit_profit` under the predictive distribution of ``samples``.

    The estimator is the rank (exchangeability) predictive distribution
    ``F_tilde(X_(j)) = j / (n + 1)`` for the ``j``-th smallest of ``n`` samples: for
    continuous i.i.d. costs, the next cost is below ``X_(j)`` with probability exactly
    ``j / (n + 1)``. It differs from the empirical CDF by at most ``1 / (n + 1)`` but keeps
    mass ``1 / (n + 1)`` above the largest cost seen, so the broker does not treat that cost as
    the top of the support. ``F_tilde`` is a step function: the best price is a sample or
    ``b_k``; ties go to the higher price (more deliveries).

    Returns
    -------
    price, profit : float
        The price and its estimated profit per unit of ``y_k``.
    """
    penalty = _check_penalty(penalty, upper)
    samples = np.sort(np.asarray(samples, dtype=float))
    if samples.size == 0 or not np.isfinite(penalty):
        return float(upper), 0.0
    candidates = np.append(samples[samples < upper], upper)
    shares = np.searchsorted(samples, candidates, side="right") / (samples.size + 1)
    shares[-1] = 1.0
    profits = unit_profit(candidates, shares, upper, penalty)
    best = len(profits) - 1 - int(np.argmax(profits[::-1]))
    return float(candidates[best]), float(profits[best])


def coalition_payment(market, reports, members) -> np.ndarray:
    """``T_S = c_S . y_S(c) + Psi(b_S, c_-S) - Psi(c)`` for rows of reports ``(B, K)``.

    Parameters
    ----------
    members : sequence of int
        The coalition ``S`` (non-empty).

    Returns
    -------
    ndarray, shape (B,)
    """
    reports = np.atleast_2d(np.asarray(reports, dtype=float))
    members = np.asarray(sorted(set(int(m) for m in members)), dtype=int)
    if members.size == 0:
        raise ValueError("members must name at least one domain")
    raised = reports.copy()
    raised[:, members] = market.upper[members]
    potential, y = social_cost_potential(market, np.concatenate([reports, raised]))
    count = len(reports)
    return (reports[:, members] * y[:count, members]).sum(axis=1) + potential[count:] - potential[:count]


def share_payment(total, alone, rule: str) -> np.ndarray:
    """Members' shares of the union's payment ``total`` ``(B,)``: in proportion to what each
    would earn alone (``alone``, ``(B, m)``) or equally."""
    total, alone = np.asarray(total, dtype=float), np.atleast_2d(np.asarray(alone, dtype=float))
    if rule == "proportional":
        return proportional_shares(total[:, None], alone)
    if rule == "equal":
        return np.repeat(total[:, None] / alone.shape[1], alone.shape[1], axis=1)
    raise ValueError(f"union_sharing must be one of {list(SHARING_RULES)}, got {rule!r}")
