r"""Collective pool: a collecting society takes a share of the value of the data and splits
it among creators by influence weights.

Static market: the pool is ``phi v P(e)``, split in proportion to each creator's influence
``e_i (1 - lambda beta_i)^2`` (effort times its marginal contribution to precision).
Creators are price takers: each treats its rate per unit of effort,
``rho_i = phi v P (1 - lambda beta_i)^2 / sum_j e_j (1 - lambda beta_j)^2``, as given (a large
society), and best-responds with ``e_i = rho_i / c``. The equilibrium is found by damped
fixed-point iteration. Dynamic market: the pool is the share ``phi`` of the value of the
round's data, ``phi v sum_k m_k E_k``; split by influence ``m_k e_i`` it pays exactly
``phi v m_k`` per unit of type-``k`` effort.
"""

import numpy as np

from abm.regimes.base import Regime, RegimeOutcome
from abm.theory.static import efforts_given_lambda, effective_precision, marginal_precision, outcome_at

#: Iteration limits of the static fixed point.
MAX_ITERATIONS, TOLERANCE, DAMPING = 10_000, 1e-12, 0.5


def pool_equilibrium(market, share: float):
    """Efforts at which every creator best-responds to its pool rate; ``(effort, iterations)``.

    Raises
    ------
    RuntimeError
        If the iteration does not settle within ``MAX_ITERATIONS``.
    """
    effort = efforts_given_lambda(market, 0.0, share)
    if share == 0.0:
        return np.zeros(market.n_creators), 0
    for iteration in range(1, MAX_ITERATIONS + 1):
        influence = marginal_precision(market, effort)
        rate = share * market.value * effective_precision(market, effort) * influence / float(effort @ influence)
        updated = (1.0 - DAMPING) * effort + DAMPING * rate / market.cost
        if np.max(np.abs(updated - effort)) <= TOLERANCE * max(1.0, float(np.max(effort))):
            return updated, iteration
        effort = updated
    raise RuntimeError(f"collective pool equilibrium did not settle in {MAX_ITERATIONS} iterations")


class CollectivePool(Regime):
    """A collecting society's pool, split by influence (Shapley-like) weights."""

    name = "collective_pool"
    summary = "a share phi of the data's value, split by influence weights e_i (1 - lambda beta_i)^2"

    def static(self, market, settings):
        effort, _ = pool_equilibrium(market, settings.pool_share)
        precision = effective_precision(market, effort)
        pool = settings.pool_share * market.value * precision
        influence = effort * marginal_precision(market, effort)
        paid = pool * influence / influence.sum() if influence.sum() > 0 else np.zeros_like(effort)
        base = outcome_at(market, effort)
        creator_surplus = paid - 0.5 * market.cost * effort**2 - settings.creator_outside
        return RegimeOutcome(
            regime=self.name, effort=effort, creator_surplus=creator_surplus, precision=precision,
            welfare=base.welfare - settings.creator_outside * market.n_creators,
            firm_profit=market.value * precision - pool,
        )

    def unit_prices(self, context, settings):
        return settings.pool_share * context.value * np.asarray(context.margins)


REGIME = CollectivePool()
