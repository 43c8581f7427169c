r"""Procurement of content across domains with GenAI transfer (procurement paper; MODEL.md B).

Domain ``k``'s creator has a private cost coefficient ``c_k ~ F_k`` on ``[a_k, b_k]`` and
cost ``c_k x_k^{rho_k}``. GenAI turns ``x_i`` units of domain-``i`` content into
``mu_ik x_i^{gamma_ik}`` units of domain ``k``; demand requires
``x_k + sum_i mu_ik x_i^{gamma_ik} >= d_k``. Every mechanism's allocation solves

.. math:: \min_x \sum_k w_k x_k^{\rho_k}\quad\text{s.t.}\quad
          x_k + \sum_i \mu_{ik} x_i^{\gamma_{ik}} \ge d_k,\ x \ge 0,

a convex program (the paper's Lemma C.3 writes it in ``y = x^rho``) with weights ``w``
the virtual costs (M1), the costs (M2, M4), the upper bounds ``b`` (M5) or ``E[c]`` (M6).
:func:`allocate_batch` solves many of them at once with a log-barrier Newton method in
``x``, where the program is well scaled (in ``y`` it is not: ``y ~ 10^5`` in the
overproduction case); weights are normalised per problem, so virtual costs as different as
``1e21`` do not hurt. ``x`` is used as the variable; the paper's ``y`` is ``x ** rho``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from abm.theory._validation import frozen_array

__all__ = [
    "CostDistribution", "UniformCost", "TruncatedNormalCost", "ProcurementMarket",
    "allocate", "allocate_batch", "social_cost_potential", "MECHANISMS", "MechanismOutcome",
    "evaluate_mechanisms", "mechanism_round", "myerson_payments", "union_payment_path", "sample_table1_market", "expectation",
]


# --- cost distributions ---------------------------------------------------------------------------


class CostDistribution:
    """A cost distribution on ``[low, high]`` with a positive density."""

    low: float
    high: float

    def pdf(self, c):
        raise NotImplementedError

    def cdf(self, c):
        raise NotImplementedError

    def ratio(self, c):
        """``F(c) / f(c)``, computed without overflow in the tails."""
        raise NotImplementedError

    def virtual_cost(self, c):
        """Myerson's virtual cost ``c + F(c) / f(c)`` (weight of M1)."""
        return np.asarray(c, dtype=float) + self.ratio(c)

    #: Slope of the virtual cost when it is linear in ``c`` (uniform: 2), else ``None``.
    linear_virtual_slope: float | None = None

    def mean(self) -> float:
        raise NotImplementedError

    def ppf(self, share):
        """Quantile function."""
        raise NotImplementedError

    def sample(self, size, rng) -> np.ndarray:
        return self.ppf(np.random.default_rng(rng).uniform(size=size))

    def check_log_concave(self, points: int = 2001) -> None:
        """Assumption 2.3: ``f / F`` must decrease; ``ValueError`` if it does not."""
        grid = np.linspace(self.low, self.high, points)[1:]
        inverse = 1.0 / self.ratio(grid)
        if np.any(np.diff(inverse) > 1e-12 * np.abs(inverse[:-1])):
            raise ValueError(f"{type(self).__name__} is not log-concave: f/F increases somewhere on its support")


@dataclass(frozen=True)
class UniformCost(CostDistribution):
    """Costs uniform on ``[low, high]``."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.low) and np.isfinite(self.high) and 0 <= self.low < self.high):
            raise ValueError(f"uniform cost needs 0 <= low < high, got [{self.low}, {self.high}]")

    def pdf(self, c):
        return np.full(np.shape(c), 1.0 / (self.high - self.low))

    def cdf(self, c):
        return np.clip((np.asarray(c, dtype=float) - self.low) / (self.high - self.low), 0.0, 1.0)

    def ratio(self, c):
        return np.asarray(c, dtype=float) - self.low

    linear_virtual_slope = 2.0

    def mean(self) -> float:
        return 0.5 * (self.low + self.high)

    def ppf(self, share):
        return self.low + (self.high - self.low) * np.asarray(share, dtype=float)


@dataclass(frozen=True)
class TruncatedNormalCost(CostDistribution):
    """A normal(``loc``, ``scale``) cost truncated to ``[low, high]``."""

    loc: float
    scale: float
    low: float
    high: float

    def __post_init__(self) -> None:
        if not (self.scale > 0 and 0 <= self.low < self.high and np.isfinite(self.high)):
            raise ValueError(f"truncated normal cost needs scale > 0 and 0 <= low < high, got {self}")

    def _z(self, c):
        return (np.asarray(c, dtype=float) - self.loc) / self.scale

    def _mass(self) -> float:
        return special.ndtr(self._z(self.high)) - special.ndtr(self._z(self.low))

    def pdf(self, c):
        return np.exp(-0.5 * self._z(c) ** 2) / (np.sqrt(2 * np.pi) * self.scale * self._mass())

    def cdf(self, c):
        return np.clip((special.ndtr(self._z(c)) - special.ndtr(self._z(self.low))) / self._mass(), 0.0, 1.0)

    def ratio(self, c):
        z = self._z(c)
        # log(Phi(z) - Phi(z_low)) - log(phi(z)): stable where phi underflows relative to Phi.
        with np.errstate(divide="ignore"):  # log(0) = -inf at the lower end, where F = 0
            below = special.log_ndtr(z) + np.log1p(-np.exp(np.minimum(special.log_ndtr(self._z(self.low))
                                                                       - special.log_ndtr(z), 0.0)))
        return self.scale * np.exp(below + 0.5 * z * z + 0.5 * np.log(2 * np.pi))

    def mean(self) -> float:
        a, b = self._z(self.low), self._z(self.high)
        phi = lambda z: np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)  # noqa: E731
        return float(self.loc + self.scale * (phi(a) - phi(b)) / self._mass())

    def ppf(self, share):
        from scipy.stats import truncnorm

        a, b = self._z(self.low), self._z(self.high)
        return truncnorm.ppf(share, a, b, loc=self.loc, scale=self.scale)


# --- the market -----------------------------------------------------------------------------------


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
        if len(self.costs) != k or not all(isinstance(c, CostDistribution) for c in self.costs):
            raise ValueError(f"costs must hold {k} CostDistribution objects")
        for distribution in self.costs:
            distribution.check_log_concave()
        for name, value in (("demand", demand), ("rho", rho), ("mu", mu), ("gamma", gamma)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "costs", tuple(self.costs))

    @property
    def n_domains(self) -> int:
        return int(self.demand.size)

    @property
    def lower(self) -> np.ndarray:
        return np.array([c.low for c in self.costs])

    @property
    def upper(self) -> np.ndarray:
        return np.array([c.high for c in self.costs])

    @property
    def mean_cost(self) -> np.ndarray:
        return np.array([c.mean() for c in self.costs])

    def virtual_cost(self, cost) -> np.ndarray:
        """Virtual costs, domain by domain, for costs of shape ``(..., K)``."""
        cost = np.asarray(cost, dtype=float)
        return np.stack([d.virtual_cost(cost[..., k]) for k, d in enumerate(self.costs)], axis=-1)

    def sample_costs(self, size: int, rng) -> np.ndarray:
        """``size`` independent cost vectors, shape ``(size, K)``."""
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


# --- the allocation ------------------------------------------------------------------------------------


def allocate_batch(market: ProcurementMarket, weights, tolerance: float = 1e-6, max_newton: int = 60):
    """Solve the allocation program for every row of ``weights`` (shape ``(B, K)``).

    A log-barrier method: for ``t = 10, 400, 16000, ...`` Newton's method (with backtracking
    that keeps ``x > 0`` and the demand slacks ``> 0``) minimises
    ``t f(x) - sum log slack_k - sum log x_k``, with ``f`` the weighted cost normalised to 1
    at the start, until the duality gap ``2K / t`` falls below ``tolerance``. Each centring
    works only on the problems not yet centred.

    Returns
    -------
    x : ndarray, shape (B, K)
    converged : ndarray of bool, shape (B,)
        Every centring reached a Newton decrement below ``max(2e-10, 1e-13 t)`` within
        ``max_newton`` steps, or the KKT polish found the exact optimum. The barrier stops
        at a duality gap of ``tolerance`` (about 1e-4 in ``x``); the polish then solves the
        KKT system, which leaves allocations accurate to about 1e-7 relative.

    Raises
    ------
    ValueError
        If a weight is not finite and positive.
    """
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    if not np.all(np.isfinite(weights)) or np.any(weights <= 0):
        raise ValueError("allocation weights must be finite and > 0")
    batch, k = weights.shape
    x = np.broadcast_to(market.demand + 1.0, (batch, k)).copy()
    # Normalise each problem's objective to 1 at the start, so that t = 1 weighs it like the barrier.
    scaled = weights / weights.max(axis=1, keepdims=True)
    scaled = scaled / np.sum(scaled * x**market.rho, axis=1, keepdims=True)
    converged = np.ones(batch, dtype=bool)
    t = 10.0
    while True:
        todo = np.arange(batch)
        for _ in range(max_newton):
            x_todo, centred = _newton_step(market, scaled[todo], x[todo], t)
            x[todo] = x_todo
            todo = todo[~centred]
            if todo.size == 0:
                break
        converged[todo] = False
        if 2 * k / t < tolerance:
            # The barrier point is within O(1/t) (about 1e-6 in x); the KKT polish makes it exact.
            polished, exact = _polish(market, weights / weights.max(axis=1, keepdims=True), x)
            return polished, converged | exact
        t *= 40.0


def _polish(market, weights, x0):
    """Solve the KKT conditions exactly, starting from the barrier point.

    The barrier's answer is accurate in objective, but a domain whose weight is, say,
    1e-22 of another's is nearly free, and its quantity is then pinned down only by the
    constraints; the barrier would need ``t ~ 1e22`` to find it. For a set ``A`` of binding
    demands, Newton's method in ``z = log x`` solves ``grad f = J_A' lambda``,
    ``slack_A = 0``; a solution with ``lambda >= 0`` and the other demands met is the
    optimum (the program is convex). The set the barrier point suggests is tried first;
    rows where it fails try every other set. Rows where none is valid keep the barrier point.

    Returns the allocations and a mask of those solved exactly.
    """
    batch, k = x0.shape
    # No optimal x_i exceeds what would cover every demand from domain i alone; near-free
    # domains leave the barrier far above that, so Newton starts from the clipped point.
    with np.errstate(divide="ignore"):
        alone = np.where(market.mu > 0, (market.demand[None, :] / market.mu)
                         ** (1.0 / np.maximum(market.gamma, 1e-12)), 0.0)
    ceiling = np.maximum(alone.max(axis=1), market.demand.max()) * 1.01
    start = np.minimum(x0, ceiling)
    best, exact = x0.copy(), np.zeros(batch, dtype=bool)
    suggested = market.slack(x0) < 1e-4 * (1.0 + market.demand)
    candidates = [list(c) for size in range(1, k + 1) for c in itertools.combinations(range(k), size)]
    for binding in candidates:
        rows = np.flatnonzero(np.all(suggested == np.isin(np.arange(k), binding), axis=1))
        if rows.size:
            x, valid = _kkt_candidate(market, weights[rows], start[rows], binding)
            best[rows[valid]], exact[rows[valid]] = x[valid], True
    for binding in candidates:
        rows = np.flatnonzero(~exact)
        if not rows.size:
            break
        x, valid = _kkt_candidate(market, weights[rows], start[rows], binding)
        best[rows[valid]], exact[rows[valid]] = x[valid], True
    return best, exact


def _kkt_candidate(market, weights, x0, binding, iterations: int = 60):
    """Newton's method on the KKT system with the demands ``binding`` held at equality;
    returns the point and whether it is a valid optimum."""
    k = x0.shape[1]
    rho, mu, gamma = market.rho, market.mu, market.gamma
    size = len(binding)
    z = np.log(x0)
    x = x0
    jacobian = np.eye(k) + np.swapaxes(mu * gamma * x[:, :, None] ** (gamma - 1.0), 1, 2)
    cost_slope = weights * rho * x ** (rho - 1)
    j_a = jacobian[:, binding, :]
    # Least-squares multipliers from the normal equations, for every row at once.
    lam = _solve_small(np.einsum("bai,bci->bac", j_a, j_a), np.einsum("bai,bi->ba", j_a, cost_slope))
    for _ in range(iterations):
        x = np.exp(z)
        powered = x[:, :, None] ** (gamma - 1.0)
        jacobian = np.eye(k) + np.swapaxes(mu * gamma * powered, 1, 2)
        j_a = jacobian[:, binding, :]
        cost_slope = weights * rho * x ** (rho - 1)
        stationarity = x * (cost_slope - np.einsum("bai,ba->bi", j_a, lam))
        slack = market.slack(x)[:, binding]
        # d(stationarity_i)/dz_i: the curvature of f and of the binding demands, times x^2.
        curvature = (weights * rho * (rho - 1) * x ** (rho - 2)
                     - np.einsum("bik,ik,bk->bi", mu * gamma * powered[:, :, :],
                                 (gamma - 1.0), _scatter(lam, binding, k)) / x)
        top_left = np.zeros((len(x), k, k))
        diagonal = stationarity + x * x * curvature
        top_left[:, np.arange(k), np.arange(k)] = diagonal
        system = np.zeros((len(x), k + size, k + size))
        system[:, :k, :k] = top_left
        system[:, :k, k:] = -np.swapaxes(j_a, 1, 2) * x[:, :, None]
        system[:, k:, :k] = j_a * x[:, None, :]
        residual = np.concatenate([stationarity, slack], axis=1)
        with np.errstate(all="ignore"):
            step = -np.linalg.solve(system + 1e-300 * np.eye(k + size), residual[..., None])[..., 0]
        step = np.nan_to_num(step)
        if np.abs(step[:, :k]).max() < 1e-14:
            break
        dz = np.clip(step[:, :k], -2.0, 2.0)
        z = z + dz
        lam = lam + step[:, k:] * (np.abs(dz).max(axis=1, keepdims=True) / np.maximum(
            np.abs(step[:, :k]).max(axis=1, keepdims=True), 1e-300)).clip(max=1.0)
    x = np.exp(z)
    slack_all = market.slack(x)
    scale = 1.0 + market.demand
    with np.errstate(all="ignore"):
        jacobian = np.eye(k) + np.swapaxes(mu * gamma * x[:, :, None] ** (gamma - 1.0), 1, 2)
        stationarity = weights * rho * x ** (rho - 1) - np.einsum("bai,ba->bi", jacobian[:, binding, :], lam)
        gradient_scale = np.abs(weights * rho * x ** (rho - 1)).max(axis=1) + 1e-300
        valid = (np.all(np.isfinite(x), axis=1) & np.all(lam >= -1e-9 * gradient_scale[:, None], axis=1)
                 & np.all(np.abs(slack_all[:, binding]) <= 1e-10 * scale[binding], axis=1)
                 & np.all(slack_all >= -1e-10 * scale, axis=1)
                 & np.all(np.abs(stationarity * x) <= 1e-9 * (gradient_scale * x.max(axis=1))[:, None], axis=1))
    return x, valid


def _scatter(values, columns, k):
    full = np.zeros((len(values), k))
    full[:, columns] = values
    return full


def _barrier(market, scaled, x, t):
    slack = market.slack(x)
    feasible = np.all(slack > 0, axis=1) & np.all(x > 0, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = t * np.einsum("bi,bi->b", scaled, x**market.rho) - np.log(np.prod(slack, axis=1) * np.prod(x, axis=1))
    return np.where(feasible, value, np.inf)


def _solve_small(matrix, vector):
    """Batched ``matrix^-1 vector``; Cramer's rule for 2x2 (far faster than LAPACK per matrix)."""
    if matrix.shape[1] == 2:
        a, b, c, d = matrix[:, 0, 0], matrix[:, 0, 1], matrix[:, 1, 0], matrix[:, 1, 1]
        determinant = a * d - b * c
        return np.stack([(d * vector[:, 0] - b * vector[:, 1]), (a * vector[:, 1] - c * vector[:, 0])],
                        axis=1) / determinant[:, None]
    return np.linalg.solve(matrix, vector[..., None])[..., 0]


def _newton_step(market, scaled, x, t):
    """One damped Newton step of the barrier problem; returns the new ``x`` and which are centred."""
    rho, mu, gamma = market.rho, market.mu, market.gamma
    k = x.shape[1]
    slack = market.slack(x)
    powered = x[:, :, None] ** (gamma - 1.0)  # x_i^(gamma_ik - 1), [b, i, k]
    transfer_slope = mu * gamma * powered  # d(transfer into k)/dx_i, [b, i, k]
    jacobian = np.eye(k) + np.swapaxes(transfer_slope, 1, 2)  # d slack_k / dx_i, [b, k, i]
    inverse = 1.0 / slack
    cost_slope = t * scaled * rho * x ** (rho - 1)
    gradient = cost_slope - np.einsum("bki,bk->bi", jacobian, inverse) - 1.0 / x
    weighted = jacobian * inverse[:, :, None]
    hessian = np.einsum("bki,bkj->bij", weighted, weighted)
    diagonal = (cost_slope * (rho - 1) / x + 1.0 / x**2
                - np.einsum("bik,ik,bk->bi", transfer_slope, gamma - 1.0, inverse) / x)
    hessian[:, np.arange(k), np.arange(k)] += diagonal
    step = -_solve_small(hessian, gradient)
    decrement = -np.einsum("bi,bi->b", gradient, step)
    # The barrier is of order t; below 1e-13 t its decrease is lost in rounding.
    centred = decrement < max(2e-10, 1e-13 * t)
    with np.errstate(divide="ignore"):
        to_boundary = np.where(step < 0, -x / step, np.inf).min(axis=1)
    alpha = np.minimum(1.0, 0.99 * to_boundary)
    current = _barrier(market, scaled, x, t)
    pending = ~centred
    for _ in range(40):
        trial = x[pending] + alpha[pending, None] * step[pending]
        accepted = _barrier(market, scaled[pending], trial, t) <= current[pending] - 0.25 * alpha[pending] * decrement[pending]
        if accepted.all():
            break
        index = np.flatnonzero(pending)
        alpha[index[~accepted]] *= 0.5
        pending[index[accepted]] = False
    moved = ~centred
    x = x.copy()
    x[moved] = np.maximum(x[moved] + alpha[moved, None] * step[moved], 1e-300)
    return x, centred


def allocate(weights, demand, mu, gamma, rho) -> np.ndarray:
    """Allocation ``x`` for one weight vector (the signature of the paper's Algorithm 1 oracle).

    Raises
    ------
    RuntimeError
        If the barrier method did not converge.
    """
    k = len(demand)
    market = ProcurementMarket(demand, rho, mu, gamma, tuple(UniformCost(0.0, 1.0) for _ in range(k)))
    x, converged = allocate_batch(market, np.asarray(weights, dtype=float)[None, :])
    if not converged[0]:
        raise RuntimeError("allocation did not converge")
    return x[0]


def social_cost_potential(market: ProcurementMarket, weights) -> tuple[np.ndarray, np.ndarray]:
    """``Psi(w) = min_y w . y`` and the minimiser ``y = x^rho`` (rows of ``weights``).

    By the envelope theorem ``dPsi/dw_k = y_k(w)``: this is the potential whose gradient is
    the allocation, which makes the union's payment path independent (Lemma 2.3).
    """
    x, _ = allocate_batch(market, weights)
    y = x**market.rho
    return np.sum(np.atleast_2d(weights) * y, axis=1), y


# --- payments and mechanisms ---------------------------------------------------------------------------

#: The six mechanisms; M3 has no closed form and is reported through its bounds.
MECHANISMS = ("M1", "M2", "M3", "M4", "M5", "M6")
GRID_POINTS, NODES, BISECTIONS = 13, 8, 24


def _with_column(cost: np.ndarray, k: int, values: np.ndarray) -> np.ndarray:
    """Cost vectors of ``cost`` (B, K) repeated for each value (B, M), column ``k`` replaced."""
    repeated = np.repeat(cost[:, None, :], values.shape[1], axis=1)
    repeated[:, :, k] = values
    return repeated


def _allocation_of(market, weight_of, costs: np.ndarray) -> np.ndarray:
    """``y = x^rho`` for cost vectors of any leading shape."""
    flat = costs.reshape(-1, market.n_domains)
    x, converged = allocate_batch(market, weight_of(flat))
    if not converged.all():
        raise RuntimeError(f"{(~converged).sum()} allocations did not converge")
    return (x**market.rho).reshape(costs.shape)


def _pattern(market, weight_of, costs):
    """Which demand constraints bind, as an integer code, at each cost vector."""
    flat = costs.reshape(-1, market.n_domains)
    x, _ = allocate_batch(market, weight_of(flat))
    binding = market.slack(x) < 1e-7 * (1.0 + market.demand)
    return (binding @ (1 << np.arange(market.n_domains))).reshape(costs.shape[:-1])


def _integral_quadrature(market, weight_of, cost: np.ndarray, k: int) -> np.ndarray:
    r"""``int_{c_k}^{b_k} y_k(t, c_{-k}) dt`` by Gauss-Legendre quadrature split at the kinks.

    ``y_k`` is smooth except where the set of binding demand constraints changes; such
    points are found on a grid and located by bisection, then each smooth piece gets its
    own Gauss-Legendre rule.
    """
    low, high = cost[:, k], np.full(len(cost), market.upper[k])
    grid = low[:, None] + (high - low)[:, None] * np.linspace(0.0, 1.0, GRID_POINTS)[None, :]
    codes = _pattern(market, weight_of, _with_column(cost, k, grid))
    changes = codes[:, :-1] != codes[:, 1:]
    kinks = np.full(changes.shape, np.nan)
    if changes.any():
        rows, cols = np.nonzero(changes)
        lo, hi, code = grid[rows, cols], grid[rows, cols + 1], codes[rows, cols]
        for _ in range(BISECTIONS):
            middle = 0.5 * (lo + hi)
            same = _pattern(market, weight_of, _with_column(cost[rows], k, middle[:, None]))[:, 0] == code
            lo, hi = np.where(same, middle, lo), np.where(same, hi, middle)
        kinks[rows, cols] = 0.5 * (lo + hi)
    # Pieces: the grid intervals, each split at its kink if it holds one, else at its middle.
    split = np.where(np.isnan(kinks), 0.5 * (grid[:, :-1] + grid[:, 1:]), kinks)
    edges = np.sort(np.concatenate([grid, split], axis=1), axis=1)
    nodes, node_weights = np.polynomial.legendre.leggauss(NODES)
    a, b = edges[:, :-1], edges[:, 1:]
    keep = np.any(b > a, axis=0)
    a, b = a[:, keep], b[:, keep]
    points = (0.5 * (b - a))[..., None] * nodes + (0.5 * (a + b))[..., None]  # (B, pieces, NODES)
    values = _allocation_of(market, weight_of, _with_column(cost, k, points.reshape(len(cost), -1)))[..., k]
    return np.sum(values.reshape(points.shape) * node_weights * (0.5 * (b - a))[..., None], axis=(1, 2))


def _linear_slope(market, weight_of, k: int) -> float | None:
    """Slope of domain ``k``'s weight in its own cost, if the weight rule is linear there."""
    if weight_of is market.virtual_cost or getattr(weight_of, "__func__", None) is ProcurementMarket.virtual_cost:
        return market.costs[k].linear_virtual_slope
    return None


def myerson_payments(market: ProcurementMarket, cost, weight_of, method: str = "quadrature", rng=None,
                     trials: int = 100) -> np.ndarray:
    r"""Payments ``p_k = c_k y_k(c) + int_{c_k}^{b_k} y_k(t, c_{-k}) dt`` (Algorithm 1).

    Parameters
    ----------
    cost : array_like, shape (B, K)
        Reported costs.
    weight_of : callable
        Cost vectors ``(N, K)`` to allocation weights (virtual costs for M1, costs for M2).
    method : {"quadrature", "randomized"}
        Gauss-Legendre quadrature split at kinks, or the randomised rule of Eq. 7 averaged
        over ``trials`` draws ``t ~ U(c_k, b_k)`` from ``rng``. Where a domain's weight is
        linear in its cost (the virtual cost of a uniform distribution) the integral is the
        exact difference of the potential :func:`social_cost_potential` divided by the slope.
    """
    cost = np.atleast_2d(np.asarray(cost, dtype=float))
    y = _allocation_of(market, weight_of, cost)
    payments = cost * y
    for k in range(market.n_domains):
        slope = _linear_slope(market, weight_of, k)
        if method == "quadrature" and slope is not None:
            # Weight linear in t: int y_k dt = (Psi at b_k - Psi at c_k) / slope, exactly.
            raised = cost.copy()
            raised[:, k] = market.upper[k]
            payments[:, k] += (social_cost_potential(market, weight_of(raised))[0]
                               - social_cost_potential(market, weight_of(cost))[0]) / slope
        elif method == "quadrature":
            payments[:, k] += _integral_quadrature(market, weight_of, cost, k)
        elif method == "randomized":
            draws = np.random.default_rng(rng).uniform(cost[:, k, None], market.upper[k], (len(cost), trials))
            at_draws = _allocation_of(market, weight_of, _with_column(cost, k, draws))[..., k]
            payments[:, k] += (market.upper[k] - cost[:, k]) * at_draws.mean(axis=1)
        else:
            raise ValueError(f"method must be 'quadrature' or 'randomized', got {method!r}")
    return payments


def union_payment_path(market: ProcurementMarket, cost, path: str = "straight", nodes: int = 64) -> float:
    r"""The union's payment (M4) ``c . y(c) + int_c^b y(t) . dt`` along a path, by quadrature.

    ``path="straight"`` goes along the segment from ``c`` to ``b``; ``"staircase"`` raises one
    domain's cost at a time. Lemma 2.3: the result does not depend on the path and equals
    ``b . y(b)``. The integrand has kinks, so this is a check (accurate to about 1e-4 with
    64 nodes per leg), not the production formula.
    """
    cost = np.asarray(cost, dtype=float)
    upper, k = market.upper, market.n_domains
    points, node_weights = np.polynomial.legendre.leggauss(nodes)
    s, ws = 0.5 * (points + 1), 0.5 * node_weights
    legs = [(cost, upper)] if path == "straight" else [
        (np.concatenate([upper[:j], cost[j:]]), np.concatenate([upper[: j + 1], cost[j + 1:]])) for j in range(k)]
    total = float(cost @ _allocation_of(market, lambda w: w, cost[None])[0])
    for start, end in legs:
        along = start[None] + s[:, None] * (end - start)[None]
        y = _allocation_of(market, lambda w: w, along)
        total += float(ws @ (y @ (end - start)))
    return total


@dataclass(frozen=True)
class MechanismOutcome:
    """Per cost draw: the platform's revenue (minus what it pays), welfare (minus the
    creators' total cost) and the allocation. For M3 only bounds exist: ``revenue`` holds
    the lower bound (Rev5) and ``revenue_upper`` the upper bound (Rev1); ``welfare`` the upper
    bound SW2."""

    name: str
    revenue: np.ndarray
    welfare: np.ndarray
    allocation: np.ndarray
    revenue_upper: np.ndarray | None = None


def mechanism_round(market: ProcurementMarket, mechanism: str, reports, method: str = "quadrature",
                    rng=None, trials: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Allocation ``y = x^rho`` and payments to each domain for rows of reported costs.

    M1/M2: Algorithm 1 with virtual costs / costs and Myerson payments (for M2 the integrals
    are exact potential differences, ``int y_k dt = Psi(b_k, c_-k) - Psi(c)``). M4: the union
    is paid ``b . y(b)`` in all (shown here split equally across domains). M5/M6: the broker's
    contract ``z = x(b)`` / ``x(E[c])``; creator ``k`` is paid ``b_k z_k^rho_k``.
    """
    reports = np.atleast_2d(np.asarray(reports, dtype=float))
    if mechanism == "M1":
        y = _allocation_of(market, market.virtual_cost, reports)
        return y, myerson_payments(market, reports, market.virtual_cost, method=method, rng=rng, trials=trials)
    if mechanism in ("M2", "M4"):
        potential, y = social_cost_potential(market, reports)
        if mechanism == "M4":
            union = float(market.upper @ social_cost_potential(market, market.upper[None])[1][0])
            return y, np.full_like(y, union / market.n_domains)
        payments = reports * y
        for k in range(market.n_domains):
            raised = reports.copy()
            raised[:, k] = market.upper[k]
            payments[:, k] += social_cost_potential(market, raised)[0] - potential
        return y, payments
    if mechanism in ("M5", "M6"):
        anchor = market.upper if mechanism == "M5" else market.mean_cost
        contract = social_cost_potential(market, anchor[None])[1][0]
        y = np.repeat(contract[None], len(reports), axis=0)
        return y, y * market.upper
    raise ValueError(f"mechanism must be one of M1, M2, M4, M5, M6 (M3 has only bounds), got {mechanism!r}")


def evaluate_mechanisms(market: ProcurementMarket, cost, method: str = "quadrature", rng=None,
                        trials: int = 100) -> dict:
    """Every mechanism M1-M6 for each cost vector (rows of ``cost``), reported truthfully.

    Revenue is minus what the platform pays (for M5/M6 the contract's ``t = b . y``), welfare
    minus the creators' total cost. M3 has no closed form: its outcome carries the bounds
    ``Rev5 <= Rev3 <= Rev1`` and ``SW3 <= SW2`` (Thm 2.4, Cor. 3.1).
    """
    cost = np.atleast_2d(np.asarray(cost, dtype=float))
    outcomes = {}
    for name in ("M1", "M2", "M4", "M5", "M6"):
        y, payments = mechanism_round(market, name, cost, method=method, rng=rng, trials=trials)
        outcomes[name] = MechanismOutcome(name, -payments.sum(axis=1), -(cost * y).sum(axis=1),
                                          y ** (1 / market.rho))
    outcomes["M3"] = MechanismOutcome("M3", outcomes["M5"].revenue, outcomes["M2"].welfare,
                                      outcomes["M2"].allocation, revenue_upper=outcomes["M1"].revenue)
    return {name: outcomes[name] for name in MECHANISMS}


def expectation(market: ProcurementMarket, function, nodes: int = 16) -> np.ndarray:
    """``E[function(c)]`` over the cost distribution by a Gauss-Legendre product rule in the
    quantiles ``u_k = F_k(c_k)`` (``function`` maps cost vectors ``(N, K)`` to ``(N, ...)``)."""
    points, weights = np.polynomial.legendre.leggauss(nodes)
    shares, weights = 0.5 * (points + 1), 0.5 * weights
    grid = np.stack(np.meshgrid(*[shares] * market.n_domains, indexing="ij"), -1).reshape(-1, market.n_domains)
    total_weight = np.prod(np.stack(np.meshgrid(*[weights] * market.n_domains, indexing="ij"), -1)
                           .reshape(-1, market.n_domains), axis=1)
    costs = np.stack([d.ppf(grid[:, k]) for k, d in enumerate(market.costs)], axis=-1)
    return np.tensordot(total_weight, function(costs), axes=1)


def sample_table1_market(rng, k: int = 2) -> ProcurementMarket:
    """A market drawn by the recipe of the paper's Appendix E (Table 1).

    ``mu ~ U[0, 0.5]``, ``gamma ~ U[0.8, 0.9]``, ``d ~ U[2, 5]``, ``rho ~ U[1, 1.5]``;
    ``c_1 ~ N(0, 1)`` truncated to ``[0, 10]``, the other costs ``U[0, 1]``.
    """
    rng = np.random.default_rng(rng)
    costs = (TruncatedNormalCost(0.0, 1.0, 0.0, 10.0),) + tuple(UniformCost(0.0, 1.0) for _ in range(k - 1))
    return ProcurementMarket(demand=rng.uniform(2, 5, k), rho=rng.uniform(1, 1.5, k),
                             mu=rng.uniform(0, 0.5, (k, k)), gamma=rng.uniform(0.8, 0.9, (k, k)), costs=costs)
