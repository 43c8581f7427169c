r"""The allocation program every mechanism solves, for a batch of weight vectors at once.

.. math:: \min_x \sum_k w_k x_k^{\rho_k}\quad\text{s.t.}\quad
          x_k + \sum_i \mu_{ik} x_i^{\gamma_{ik}} \ge d_k,\ x \ge 0,

a convex program (the procurement paper's Lemma C.3 writes it in ``y = x^rho``) with
weights ``w`` the virtual costs (M1), the costs (M2, M4), the upper bounds ``b`` (M5) or
``E[c]`` (M6). :func:`allocate_batch` solves it with a log-barrier Newton method in ``x``,
where the program is well scaled (in ``y`` it is not: ``y ~ 10^5`` in the overproduction
case), then polishes the barrier point by solving the KKT conditions exactly; weights are
normalised per problem, so virtual costs as different as ``1e21`` do not hurt.

:func:`allocate_near` is the fast path for many nearby problems (quadrature nodes along a
cost path): it solves the KKT system of a *given* set of binding demands by Newton's
method from a nearby solution, keeps the rows where that set is provably optimal, and
sends only the others through :func:`allocate_batch`.
"""

from __future__ import annotations

import itertools

import numpy as np

from abm.theory.procurement.costs import UniformCost
from abm.theory.procurement.market import ProcurementMarket

__all__ = ["allocate", "allocate_batch", "allocate_near", "binding_code", "social_cost_potential"]

#: A demand counts as binding when its slack is below this fraction of ``1 + d_k``.
BINDING_SLACK = 1e-7
#: The barrier's first weight ``t`` and its growth per centring.
BARRIER_START, BARRIER_GROWTH = 10.0, 40.0


def allocate_batch(market: ProcurementMarket, weights, tolerance: float = 1e-6, max_newton: int = 60):
    """Solve the allocation program for every row of ``weights`` (shape ``(B, K)``).

    First every set of binding demands is tried by Newton's method on the KKT conditions
    from ``x = d`` (:func:`_direct`); a valid KKT point is the optimum. The problems this
    leaves open go through a log-barrier method: for ``t = 10, 400, 16000, ...`` Newton's
    method (with backtracking that keeps ``x > 0`` and the demand slacks ``> 0``) minimises
    ``t f(x) - sum log slack_k - sum log x_k``, with ``f`` the weighted cost normalised to 1
    at the start, until the duality gap ``2K / t`` falls below ``tolerance``; then the KKT
    polish (:func:`_polish`) solves each problem exactly from the barrier point. Each
    centring works only on the problems not yet centred.

    Returns
    -------
    x : ndarray, shape (B, K)
    converged : ndarray of bool, shape (B,)
        The KKT polish found the exact optimum (accurate to about 1e-13 relative), or every
        centring reached a Newton decrement below ``max(2e-10, 1e-13 t)`` within
        ``max_newton`` steps (the barrier point: about 1e-6 in ``x``).

    Raises
    ------
    ValueError
        If a weight is not finite and positive.
    """
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    if not np.all(np.isfinite(weights)) or np.any(weights <= 0):
        raise ValueError("allocation weights must be finite and > 0")
    normalised = weights / weights.max(axis=1, keepdims=True)
    x, solved = _direct(market, normalised)
    if not solved.all():
        rows = np.flatnonzero(~solved)
        x[rows], converged = _barrier_and_polish(market, normalised[rows], tolerance, max_newton)
        solved[rows] = converged
    return x, solved


def _direct(market, normalised):
    """Try every set of binding demands by Newton's method on the KKT system from ``x = d``.

    A valid KKT point is the optimum, so the rows solved here are exact; in the markets of
    the procurement paper this solves over 99% of problems, about five times faster than
    the barrier method, which handles the rest.
    """
    batch, k = normalised.shape
    x = np.broadcast_to(market.demand, (batch, k)).copy()
    solved = np.zeros(batch, dtype=bool)
    for binding in _binding_sets(k):
        rows = np.flatnonzero(~solved)
        if rows.size == 0:
            break
        candidate, valid = _kkt_candidate(market, normalised[rows], x[rows], binding, retry=False)
        x[rows[valid]], solved[rows[valid]] = candidate[valid], True
    return x, solved


def _binding_sets(k: int) -> list[list[int]]:
    """Every non-empty set of demands, smallest first."""
    return [list(c) for size in range(1, k + 1) for c in itertools.combinations(range(k), size)]


def _barrier_and_polish(market, normalised, tolerance, max_newton):
    """The log-barrier method to a duality gap ``tolerance``, then the KKT polish."""
    batch, k = normalised.shape
    x = np.broadcast_to(market.demand + 1.0, (batch, k)).copy()
    # Normalise each problem's objective to 1 at the start, so that t = 1 weighs it like the barrier.
    scaled = normalised / np.sum(normalised * x**market.rho, axis=1, keepdims=True)
    converged = np.ones(batch, dtype=bool)
    t = BARRIER_START
    while True:
        x, centred = _centre(market, scaled, x, t, max_newton)
        converged &= centred
        if 2 * k / t < tolerance:
            polished, exact = _polish(market, normalised, x)
            return polished, converged | exact
        t *= BARRIER_GROWTH


def _centre(market, scaled, x, t, max_newton):
    """Newton's method on the barrier problem at ``t``; returns ``x`` and which rows centred."""
    x = x.copy()
    centred = np.ones(len(x), dtype=bool)
    todo = np.arange(len(x))
    for _ in range(max_newton):
        x_todo, done = _newton_step(market, scaled[todo], x[todo], t)
        x[todo] = x_todo
        todo = todo[~done]
        if todo.size == 0:
            break
    centred[todo] = False
    return x, centred


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
    candidates = _binding_sets(k)
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


def _kkt_candidate(market, weights, x0, binding, iterations: int = 60, retry: bool = True):
    """Newton's method on the KKT system with the demands ``binding`` held at equality;
    returns the point and whether it is a valid optimum.

    The logarithmic form (:func:`_log_kkt_newton`, at most 30 steps) is tried first; with
    ``retry``, rows it leaves invalid are retried with the form scaled by ``x``
    (:func:`_scaled_kkt_newton`).
    """
    x, lam = _log_kkt_newton(market, weights, x0, binding, min(iterations, 30))
    valid = _kkt_valid(market, weights, x, lam, binding)
    if retry and not valid.all():
        retry = np.flatnonzero(~valid)
        x_retry, lam_retry = _scaled_kkt_newton(market, weights[retry], x0[retry], binding, iterations)
        again = _kkt_valid(market, weights[retry], x_retry, lam_retry, binding)
        x[retry[again]], valid[retry[again]] = x_retry[again], True
    return x, valid


def _initial_multipliers(market, weights, x, binding):
    """Least-squares multipliers of ``grad f = J_A' lambda`` at ``x`` (normal equations)."""
    j_a = _jacobian(market, x)[:, binding, :]
    cost_slope = weights * market.rho * x ** (market.rho - 1)
    with np.errstate(all="ignore"):
        return _solve_small(np.einsum("bai,bci->bac", j_a, j_a), np.einsum("bai,bi->ba", j_a, cost_slope))


def _log_kkt_newton(market, weights, x0, binding, iterations):
    r"""Newton's method in ``z = log x`` and ``l = log lambda`` on the KKT system in logs:

    .. math:: \log(w_i \rho_i) + (\rho_i - 1) z_i = \log \sum_{a \in A} e^{l_a} J_{ai}(x_i),
              \qquad \log\Big(x_a + \sum_i \mu_{ia} x_i^{\gamma_{ia}}\Big) = \log d_a.

    Power laws are straight lines in logs, so this converges in a few steps even where
    some ``x_i`` is many orders of magnitude from the start (the form scaled by ``x``
    creeps there by ``1 / rho`` per step). Multipliers stay positive by construction.
    Rows stop once their step is below 1e-13 (or not finite).
    """
    k = x0.shape[1]
    z = np.log(x0)
    lam = _initial_multipliers(market, weights, x0, binding)
    floor = 1e-3 * np.nanmax(np.abs(lam), axis=1, keepdims=True, initial=0.0) + 1e-300
    with np.errstate(all="ignore"):
        log_lam = np.log(np.maximum(lam, floor))
    active = np.flatnonzero(np.all(np.isfinite(z), axis=1) & np.all(np.isfinite(log_lam), axis=1))
    for _ in range(iterations):
        if active.size == 0:
            break
        step = _log_kkt_step(market, weights[active], z[active], log_lam[active], binding)
        size = np.abs(step).max(axis=1)
        # A multiplier heading to 0 (relative to the others) means this set is not the binding one.
        vanishing = log_lam[active].min(axis=1) < log_lam[active].max(axis=1) - 80.0
        moving = np.isfinite(size) & (size >= 1e-13) & ~vanishing
        active, step = active[moving], np.clip(step[moving], -3.0, 3.0)
        z[active] += step[:, :k]
        log_lam[active] += step[:, k:]
    return np.exp(z), np.exp(log_lam)


def _log_kkt_step(market, weights, z, log_lam, binding):
    """The Newton step of :func:`_log_kkt_newton`'s system, in ``(z, l)``."""
    rho, mu, gamma, demand = market.rho, market.mu, market.gamma, market.demand
    k, size = z.shape[1], len(binding)
    with np.errstate(all="ignore"):
        x = np.exp(z)
        lam = np.exp(log_lam)
        powered = x[:, :, None] ** gamma  # x_i^gamma_ik, [b, i, k]
        # Supply side of stationarity: S_i = sum_a lam_a J_ai with J_ai = delta_ai + mu_ia gamma_ia x_i^(gamma_ia - 1).
        slope = (mu * gamma)[None, :, binding] * powered[:, :, binding] / x[:, :, None]  # [b, i, a]
        weighted = lam[:, None, :] * (np.eye(k)[:, binding][None] + slope)  # lam_a J_ai, [b, i, a]
        supply = weighted.sum(axis=2)
        stationarity = np.log(weights * rho) + (rho - 1) * z - np.log(supply)
        d_supply = (lam[:, None, :] * slope * (gamma[None, :, binding] - 1.0)).sum(axis=2)  # dS_i/dz_i
        # Binding demands in logs: T_a = x_a + sum_i mu_ia x_i^gamma_ia.
        produced = x[:, binding] + np.einsum("bia,ia->ba", powered[:, :, binding], mu[:, binding])
        demands = np.log(produced) - np.log(demand[binding])
        d_produced = (np.eye(k)[binding][None] * x[:, None, :]
                      + np.swapaxes(mu[:, binding] * gamma[:, binding] * powered[:, :, binding], 1, 2))
        system = np.zeros((len(z), k + size, k + size))
        system[:, np.arange(k), np.arange(k)] = (rho - 1) - d_supply / supply
        system[:, :k, k:] = -weighted / supply[:, :, None]
        system[:, k:, :k] = d_produced / produced[:, :, None]
        residual = np.concatenate([stationarity, demands], axis=1)
    return -_solve_or_nan(system, residual)


def _scaled_kkt_newton(market, weights, x0, binding, iterations):
    """Newton's method in ``(log x, lambda)`` on the KKT system with stationarity scaled by
    ``x``; rows stop once their step in ``log x`` is below 1e-14 (or not finite)."""
    k = x0.shape[1]
    z = np.log(x0)
    lam = _initial_multipliers(market, weights, x0, binding)
    active = np.flatnonzero(np.all(np.isfinite(z), axis=1) & np.all(np.isfinite(lam), axis=1))
    for _ in range(iterations):
        if active.size == 0:
            break
        step = _kkt_step(market, weights[active], z[active], lam[active], binding)
        size = np.abs(step[:, :k]).max(axis=1)
        moving = np.isfinite(size) & (size >= 1e-14)
        active, step, size = active[moving], step[moving], size[moving]
        dz = np.clip(step[:, :k], -2.0, 2.0)
        z[active] += dz
        lam[active] += step[:, k:] * (np.abs(dz).max(axis=1) / np.maximum(size, 1e-300)).clip(max=1.0)[:, None]
    return np.exp(z), lam


def _jacobian(market, x):
    """``d slack_k / d x_i`` as ``[b, k, i]``."""
    return np.eye(x.shape[1]) + np.swapaxes(market.mu * market.gamma * x[:, :, None] ** (market.gamma - 1.0), 1, 2)


def _kkt_step(market, weights, z, lam, binding):
    """The Newton step in ``(log x, lambda)`` of the KKT system (stationarity scaled by ``x``)."""
    rho, mu, gamma = market.rho, market.mu, market.gamma
    k, size = z.shape[1], len(binding)
    with np.errstate(all="ignore"):
        x = np.exp(z)
        powered = x[:, :, None] ** (gamma - 1.0)
        j_a = (np.eye(k) + np.swapaxes(mu * gamma * powered, 1, 2))[:, binding, :]
        cost_slope = weights * rho * x ** (rho - 1)
        stationarity = x * (cost_slope - np.einsum("bai,ba->bi", j_a, lam))
        slack = market.slack(x)[:, binding]
        # d(stationarity_i)/dz_i: the curvature of f and of the binding demands, times x^2.
        curvature = (weights * rho * (rho - 1) * x ** (rho - 2)
                     - np.einsum("bik,ik,bk->bi", mu * gamma * powered, (gamma - 1.0), _scatter(lam, binding, k)) / x)
        system = np.zeros((len(x), k + size, k + size))
        system[:, np.arange(k), np.arange(k)] = stationarity + x * x * curvature
        system[:, :k, k:] = -np.swapaxes(j_a, 1, 2) * x[:, :, None]
        system[:, k:, :k] = j_a * x[:, None, :]
        residual = np.concatenate([stationarity, slack], axis=1)
    return -_solve_or_nan(system + 1e-300 * np.eye(k + size), residual)


def _kkt_valid(market, weights, x, lam, binding):
    """Whether ``(x, lam)`` with ``binding`` demands at equality meets the KKT conditions."""
    rho = market.rho
    slack_all = market.slack(x)
    scale = 1.0 + market.demand
    with np.errstate(all="ignore"):
        marginal_cost = weights * rho * x ** (rho - 1)
        marginal_supply = np.einsum("bai,ba->bi", _jacobian(market, x)[:, binding, :], lam)
        stationarity = marginal_cost - marginal_supply
        gradient_scale = np.abs(marginal_cost).max(axis=1) + 1e-300
        # As some x_i -> 0 with a gamma < 1 transfer, x_i * stationarity_i vanishes at points
        # that are no optima: there a unit of x_i would supply far more than it costs. (The
        # converse, x_i tiny and still too costly, changes the cost by less than the check above.)
        balanced = -stationarity <= 1e-8 * (np.abs(marginal_cost) + np.abs(marginal_supply))
        return (np.all(np.isfinite(x), axis=1) & np.all(np.isfinite(lam), axis=1)
                & np.all(lam >= -1e-9 * gradient_scale[:, None], axis=1)
                & np.all(np.abs(slack_all[:, binding]) <= 1e-10 * scale[binding], axis=1)
                & np.all(slack_all >= -1e-10 * scale, axis=1)
                & np.all(np.abs(stationarity * x) <= 1e-9 * (gradient_scale * x.max(axis=1))[:, None], axis=1)
                & np.all(balanced, axis=1))


def _solve_or_nan(matrix, vector):
    """Batched ``matrix^-1 vector``; rows whose matrix is singular (or not finite) get ``nan``."""
    with np.errstate(all="ignore"):
        try:
            return np.linalg.solve(matrix, vector[..., None])[..., 0]
        except np.linalg.LinAlgError:
            bad = ~np.all(np.isfinite(matrix), axis=(1, 2)) | (np.abs(np.linalg.det(
                np.where(np.isfinite(matrix), matrix, 0.0))) < 1e-300)
            safe = np.where(bad[:, None, None], np.eye(matrix.shape[1]), np.nan_to_num(matrix))
            try:
                solution = np.linalg.solve(safe, vector[..., None])[..., 0]
            except np.linalg.LinAlgError:
                solution = np.stack([_solve_one(m, v) for m, v in zip(safe, vector)])
            solution[bad] = np.nan
            return solution


def _solve_one(matrix, vector):
    try:
        return np.linalg.solve(matrix, vector)
    except np.linalg.LinAlgError:
        return np.full(vector.shape, np.nan)


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
        sufficient = current[pending] - 0.25 * alpha[pending] * decrement[pending]
        accepted = _barrier(market, scaled[pending], trial, t) <= sufficient
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


def binding_code(market: ProcurementMarket, x) -> np.ndarray:
    """The set of binding demands at allocations ``x`` (shape ``(..., K)``) as a bit code
    (bit ``k`` set when demand ``k`` binds)."""
    binding = market.slack(x) < BINDING_SLACK * (1.0 + market.demand)
    return binding @ (1 << np.arange(market.n_domains))


def allocate_near(market: ProcurementMarket, weights, start, codes, alternatives=()) -> tuple[np.ndarray, np.ndarray]:
    """Exact allocations for rows of ``weights``, warm-started from nearby solutions.

    Parameters
    ----------
    weights : ndarray, shape (N, K)
    start : ndarray, shape (N, K)
        Solutions of nearby problems, where Newton's method starts.
    codes : ndarray of int, shape (N,)
        The sets of demands guessed to bind (:func:`binding_code`), e.g. the nearby ones'.
    alternatives : sequence of (start, codes)
        Further guesses, tried in order on the rows not yet solved.

    Returns
    -------
    x : ndarray, shape (N, K)
    codes : ndarray of int, shape (N,)
        The binding sets of the solutions.

    Notes
    -----
    For a guessed set, Newton's method solves the stationarity conditions together with
    the binding demands; where the multipliers come out non-negative and the other demands
    are met, the point is the optimum (the program is strictly convex in ``x`` for
    ``rho > 1``). Rows no guess solves try every other set from ``start``; rows that none
    solves go through :func:`allocate_batch`.

    Raises
    ------
    RuntimeError
        If a fallback allocation does not converge.
    """
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    normalised = weights / weights.max(axis=1, keepdims=True)
    x, found = np.empty_like(weights), np.full(len(weights), -1)
    tried = np.zeros((len(weights), 1 << market.n_domains), dtype=bool)
    for guess_start, guess in ((start, codes), *alternatives):
        guess_start, guess = np.asarray(guess_start, dtype=float), np.asarray(guess)
        for code in np.unique(guess[found < 0]):
            rows = np.flatnonzero((found < 0) & (guess == code) & ~tried[:, int(code)])
            _try_set(market, normalised, guess_start, rows, int(code), x, found)
            tried[rows, int(code)] = True
    start = np.asarray(start, dtype=float)
    for code in range(1, 1 << market.n_domains):
        if np.any(found < 0):
            _try_set(market, normalised, start, np.flatnonzero((found < 0) & ~tried[:, code]), code, x, found)
    if np.any(found < 0):
        rows = np.flatnonzero(found < 0)
        fallback, converged = allocate_batch(market, weights[rows])
        if not converged.all():
            raise RuntimeError(f"{(~converged).sum()} allocations did not converge")
        x[rows], found[rows] = fallback, binding_code(market, fallback)
    return x, found


def _try_set(market, normalised, start, rows, code: int, x, found) -> None:
    """Solve ``rows`` with the demands of ``code`` binding; record the valid ones in place."""
    binding = [k for k in range(market.n_domains) if code >> k & 1]
    if rows.size == 0 or not binding:
        return
    candidate, valid = _kkt_candidate(market, normalised[rows], start[rows], binding, retry=False)
    x[rows[valid]], found[rows[valid]] = candidate[valid], code
