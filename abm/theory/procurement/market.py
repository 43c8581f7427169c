r"""The procurement market: ``K`` content domains linked by GenAI transfer.

Domain ``k``'s creator has a private cost coefficient ``c_k ~ F_k`` on ``[a_k, b_k]`` and
produces ``x_k`` units at cost ``c_k x_k^{rho_k}``. GenAI turns ``x_i`` units of domain
``i`` into ``mu_ik x_i^{gamma_ik}`` units of domain ``k``, and the platform must meet every
demand: ``x_k + sum_i mu_ik x_i^{gamma_ik} >= d_k``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from abm.theory._validation import frozen_array, require_positive
from abm.theory.procurement.costs import CostDistribution, TruncatedNormalCost, UniformCost

__all__ = ["ProcurementMarket", "sample_table1_market", "overproduction_market"]


@dataclass(frozen=True)
class ProcurementMarket:
    """K content domains with GenAI transfer.

    Parameters
    ----------
    demand : array_like, shape (K,)
        ``d_k > 0``.
    rho : array_like, shape (K,)
        Cost exponents ``rho_k >= 1``.
    mu : array_like, shape (K, K)
        ``mu[i, k] >= 0``: transfer from domain ``i`` to domain ``k``.
    gamma : array_like, shape (K, K)
        ``gamma[i, k]`` in ``[0, 1]``.
    costs : sequence of CostDistribution
        ``F_k``, each log-concave with support ``[a_k, b_k]``.

    Raises
    ------
    ValueError
        Naming the parameter and the rule it breaks.
    """

    demand: np.ndarray
    rho: np.ndarray
    mu: np.ndarray
    gamma: np.ndarray
    costs: tuple = field(default=())

    def __post_init__(self) -> None:
        demand, rho = frozen_array(self.demand, "demand"), frozen_array(self.rho, "rho")
        mu, gamma = frozen_array(self.mu, "mu"), frozen_array(self.gamma, "gamma")
        k = demand.size
        if demand.ndim != 1 or k == 0 or np.any(demand <= 0):
            raise ValueError("demand must be a non-empty 1-D array of values > 0")
        if rho.shape != (k,) or np.any(rho < 1):
            raise ValueError(f"rho must have shape ({k},) and every rho_k >= 1")
        if mu.shape != (k, k) or np.any(mu < 0):
            raise ValueError(f"mu must have shape ({k}, {k}) and be >= 0")
        if gamma.shape != (k, k) or np.any((gamma < 0) | (gamma > 1)):
            raise ValueError(f"gamma must have shape ({k}, {k}) with entries in [0, 1]")
        costs = tuple(self.costs)
        if len(costs) != k or not all(isinstance(c, CostDistribution) for c in costs):
            raise ValueError(f"costs must hold {k} CostDistribution objects")
        for distribution in costs:
            distribution.check_log_concave()
        for name, value in (("demand", demand), ("rho", rho), ("mu", mu), ("gamma", gamma), ("costs", costs)):
            object.__setattr__(self, name, value)

    @property
    def n_domains(self) -> int:
        """``K``."""
        return int(self.demand.size)

    @property
    def lower(self) -> np.ndarray:
        """Lower ends ``a_k`` of the cost supports."""
        return np.array([c.low for c in self.costs])

    @property
    def upper(self) -> np.ndarray:
        """Upper ends ``b_k`` of the cost supports."""
        return np.array([c.high for c in self.costs])

    @property
    def mean_cost(self) -> np.ndarray:
        """``E[c_k]`` per domain."""
        return np.array([c.mean() for c in self.costs])

    def virtual_cost(self, cost) -> np.ndarray:
        """Virtual costs ``c_k + F_k(c_k) / f_k(c_k)``, domain by domain, for costs ``(..., K)``."""
        cost = np.asarray(cost, dtype=float)
        return np.stack([d.virtual_cost(cost[..., k]) for k, d in enumerate(self.costs)], axis=-1)

    def sample_costs(self, size: int, rng) -> np.ndarray:
        """``size`` independent cost vectors, shape ``(size, K)``, drawn from ``rng``."""
        rng = np.random.default_rng(rng)
        return np.stack([d.sample(size, rng) for d in self.costs], axis=-1)

    def without_genai(self) -> "ProcurementMarket":
        """The same market with ``mu = 0`` (no transfer)."""
        return ProcurementMarket(self.demand, self.rho, np.zeros_like(self.mu), self.gamma, self.costs)

    def slack(self, x) -> np.ndarray:
        """``x_k + sum_i mu_ik x_i^gamma_ik - d_k`` for allocations of shape ``(..., K)``."""
        x = np.asarray(x, dtype=float)
        transfer = np.einsum("...ik,ik->...k", np.power(x[..., :, None], self.gamma), self.mu)
        return x + transfer - self.demand


def sample_table1_market(rng, k: int = 2) -> ProcurementMarket:
    """A market drawn by the recipe of the procurement paper's Appendix E (its Table 1).

    ``mu ~ U[0, 0.5]``, ``gamma ~ U[0.8, 0.9]``, ``d ~ U[2, 5]``, ``rho ~ U[1, 1.5]``;
    ``c_1 ~ N(0, 1)`` truncated to ``[0, 10]``, the other costs ``U[0, 1]``.

    Parameters
    ----------
    rng : int, Generator or None
        Seed of the hyperparameter draw.
    k : int
        Number of domains, ``>= 1``.
    """
    if int(k) != k or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    rng = np.random.default_rng(rng)
    costs = (TruncatedNormalCost(0.0, 1.0, 0.0, 10.0),) + tuple(UniformCost(0.0, 1.0) for _ in range(k - 1))
    return ProcurementMarket(demand=rng.uniform(2, 5, k), rho=rng.uniform(1, 1.5, k),
                             mu=rng.uniform(0, 0.5, (k, k)), gamma=rng.uniform(0.8, 0.9, (k, k)), costs=costs)


def overproduction_market(first_demand: float = 5.0, second_demand: float = 20.0, rho: float = 4.0,
                          gamma: float = 0.5, transfer: float = 1.0) -> ProcurementMarket:
    """The two-domain market of the paper's overproduction figures (its Figs. 2-3).

    Only domain 1 transfers to domain 2 (``mu_12 = transfer``, other ``mu = 0``); every
    ``gamma`` and ``rho`` is shared; costs are ``U[0, 1]`` (mean 0.5, the figures' costs).
    With ``d_2 = 20`` the cost-weighted optimum produces ``x_1 ~ 9.28`` whatever ``d_1``
    below that: domain 1 overproduces.
    """
    demands = (require_positive(first_demand, "first_demand"), require_positive(second_demand, "second_demand"))
    if not require_positive(rho, "rho") >= 1:
        raise ValueError(f"rho must be >= 1, got {rho!r}")
    mu = [[0.0, require_positive(transfer, "transfer")], [0.0, 0.0]]
    return ProcurementMarket(list(demands), [rho, rho], mu, np.full((2, 2), gamma),
                             (UniformCost(0.0, 1.0), UniformCost(0.0, 1.0)))
