r"""Payments: Myerson integrals (M1, M2) and the union's path integral (M4).

A creator reporting ``c_k`` is paid ``p_k = c_k y_k(c) + int_{c_k}^{b_k} y_k(t, c_-k) dt``
(the procurement paper's Algorithm 1; ``y = x^rho``). Two cases:

- the domain's weight is linear in its own cost (M2's costs, M1's virtual cost under a
  uniform distribution, slope ``s``): by the envelope theorem ``dPsi/dw_k = y_k`` for the
  potential ``Psi(w) = min_y w . y``, so the integral is ``(Psi(b_k, c_-k) - Psi(c)) / s``,
  exactly;
- otherwise (M1 under the truncated normal) :func:`payment_integrals` integrates
  numerically with error control: every kink of ``y_k(t)`` (a change of the set of binding
  demands) is located and made a break point, each smooth piece is integrated by adaptive
  Gauss-Kronrod (7, 15) in ``log t`` (:func:`~abm.theory.procurement.quadrature.integrate_adaptive`),
  and the integrand is evaluated by warm-started KKT Newton steps
  (:func:`~abm.theory.procurement.allocation.allocate_near`) that are exact optima.

:func:`reference_integrals` is an independent check (``scipy.integrate.quad`` per draw),
and :func:`union_payment_path` checks the path independence of the union's payment.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import numpy as np
from scipy import integrate

from abm.theory.procurement.allocation import allocate_batch, allocate_near, binding_code, social_cost_potential
from abm.theory.procurement.market import ProcurementMarket
from abm.theory.procurement.quadrature import QuadratureResult, gauss_legendre, integrate_adaptive

__all__ = ["myerson_payments", "payment_integrals", "locate_kinks", "KinkSearch", "reference_integrals",
           "union_payment_path", "allocation_of", "PAYMENT_RTOL"]

#: Default relative tolerance of the payment integrals (their QUADPACK error estimates).
PAYMENT_RTOL = 1e-10
#: Points per bracket and refinement round: about this many in all (at least ``points``).
BRACKET_POINTS = 2000


def allocation_of(market: ProcurementMarket, weight_of, costs: np.ndarray) -> np.ndarray:
    """``y = x^rho`` at cost vectors of any leading shape ``(..., K)``.

    Raises
    ------
    RuntimeError
        If an allocation does not converge.
    """
    costs = np.asarray(costs, dtype=float)
    x, converged = allocate_batch(market, weight_of(costs.reshape(-1, market.n_domains)))
    if not converged.all():
        raise RuntimeError(f"{(~converged).sum()} allocations did not converge")
    return (x**market.rho).reshape(costs.shape)


def _with_column(cost: np.ndarray, k: int, values: np.ndarray) -> np.ndarray:
    """Cost vectors ``cost`` (B, K) repeated for each value (B, M), column ``k`` replaced."""
    repeated = np.repeat(cost[:, None, :], values.shape[1], axis=1)
    repeated[:, :, k] = values
    return repeated


def _linear_slope(market, weight_of, k: int) -> float | None:
    """Slope of domain ``k``'s weight in its own cost, if the weight rule is linear there."""
    if getattr(weight_of, "__func__", None) is ProcurementMarket.virtual_cost:
        return market.costs[k].linear_virtual_slope
    return getattr(weight_of, "linear_slope", None)


def _potential_integral(market, weight_of, cost, k: int, slope: float, potential: np.ndarray) -> np.ndarray:
    """``int_{c_k}^{b_k} y_k dt = (Psi(w(b_k, c_-k)) - Psi(w(c))) / slope`` for a linear weight,
    given ``potential = Psi(w(c))``."""
    raised = cost.copy()
    raised[:, k] = market.upper[k]
    return (social_cost_potential(market, weight_of(raised))[0] - potential) / slope


# --- kinks -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KinkSearch:
    """The smooth pieces of ``t -> y_k(t, c_-k)`` on ``[c_k, b_k]`` for each draw.

    Attributes
    ----------
    edges : ndarray, shape (B, P + 1)
        ``c_k``, the kinks in increasing order and the end ``t*`` of the integration (``b_k``
        unless the tail was cut, see ``tail``); ``nan`` pads rows with fewer kinks.
    known_t : ndarray, shape (B, M)
        Costs ``t`` at which the search solved the allocation (``nan`` padding) ...
    known_x : ndarray, shape (B, M, K)
        ... the allocations ``x`` there ...
    known_codes : ndarray of int, shape (B, M)
        ... and their sets of binding demands: warm starts for the quadrature.
    tail : ndarray, shape (B,)
        ``y_k(t*) (b_k - t*)``: a bound on the integral over ``[t*, b_k]``, which is left out
        (``y_k`` does not increase in ``t``); 0 where ``t* = b_k``.
    """

    edges: np.ndarray
    known_t: np.ndarray
    known_x: np.ndarray
    known_codes: np.ndarray
    tail: np.ndarray

    @property
    def kinks(self) -> np.ndarray:
        """Number of kinks per draw."""
        return np.sum(np.isfinite(self.edges), axis=1) - 2


class _PathSolver:
    """Allocations along the path ``t -> (t, c_-k)`` of each draw, warm-started."""

    def __init__(self, market, weight_of, cost, k):
        self.market, self.weight_of, self.cost, self.k = market, weight_of, cost, k

    def weights(self, rows, t):
        """Weights at cost vectors ``cost[rows]`` with column ``k`` set to ``t`` (shape (n, m))."""
        return self.weight_of(_with_column(self.cost[rows], self.k, t).reshape(-1, self.market.n_domains))

    def solve(self, rows, t, known_t, known_x, known_codes):
        """``x`` (n, m, K) and binding codes (n, m) at ``t`` (n, m), each node started from the
        nearest (in ``log t``) of the known solutions ``known_*`` (n, M, ...) of its row,
        then from the nearest known solution with a different binding set."""
        distance = np.abs(np.log(known_t)[:, None, :] - np.log(t)[:, :, None])
        distance = np.where(np.isnan(distance), np.inf, distance)
        nearest = distance.argmin(axis=2)
        codes = np.take_along_axis(known_codes, nearest, axis=1)
        other = np.where(known_codes[:, None, :] != codes[..., None], distance, np.inf).argmin(axis=2)
        k = self.market.n_domains
        guesses = [(np.take_along_axis(known_x, index[..., None], axis=1).reshape(-1, k),
                    np.take_along_axis(known_codes, index, axis=1).ravel()) for index in (nearest, other)]
        x, codes = allocate_near(self.market, self.weights(rows, t), *guesses[0], alternatives=guesses[1:])
        return x.reshape(t.shape + (-1,)), codes.reshape(t.shape)


def locate_kinks(market: ProcurementMarket, weight_of, cost, k: int, *, grid: int = 8, points: int = 3,
                 xtol: float = 1e-9, tail_rtol: float = 1e-14, start: np.ndarray | None = None) -> KinkSearch:
    r"""Find every kink of ``y_k(t, c_-k)`` on ``[c_k, b_k]`` for each row of ``cost``.

    A kink is a change of the set of binding demands. The sets are read on a grid of
    ``grid`` points evenly spaced in ``t`` and ``grid`` in ``log t`` (marching from ``c_k``,
    each point warm-started from the previous one); every grid interval whose ends differ
    is a bracket, refined by interior points (``points`` or more per bracket and round,
    about :data:`BRACKET_POINTS` in all) until it is narrower than ``xtol (b_k - c_k)``. A
    bracket whose interior shows more than one change splits into several, so kinks that
    share a grid interval are all found.

    The march stops early at a grid point ``t*`` once ``y_k(t*) (b_k - t*)``, a bound on the
    rest of the integral because ``y_k`` does not increase in its own cost, is below
    ``tail_rtol`` times the integral so far (a lower bound, for the same reason). Under M1's
    virtual cost the weight grows like ``exp(t^2 / 2)``, so this drops the far tail, where
    ``y_k`` is below 1e-30 and the weights differ by up to 1e21.

    Kinks missed by the grid (a set that appears and disappears between two grid points)
    are not break points, but the adaptive quadrature's error estimate still sees them.

    Parameters
    ----------
    cost : ndarray, shape (B, K)
        Reported costs with ``0 < c_k <= b_k``.
    grid, points : int
        Grid points (of each kind), and the fewest interior points per bracket and round.
    xtol : float
        Width of the final brackets relative to ``b_k - c_k``; the kink is their middle.
    tail_rtol : float
        Relative size of the tail that may be bounded instead of integrated (0: never).
    start : ndarray, shape (B, K), optional
        The allocations ``x`` at ``cost``, if already known.
    """
    cost = np.atleast_2d(np.asarray(cost, dtype=float))
    solver = _PathSolver(market, weight_of, cost, k)
    t = _kink_grid(cost[:, k], market.upper[k], grid)
    t, x, codes, tail = _march(solver, t, tail_rtol, start)
    b_rows, b_cols = np.nonzero((codes[:, :-1] != codes[:, 1:]) & np.isfinite(t[:, 1:]))
    brackets = _Brackets(b_rows, t[b_rows, b_cols], t[b_rows, b_cols + 1], x[b_rows, b_cols],
                         x[b_rows, b_cols + 1], codes[b_rows, b_cols], codes[b_rows, b_cols + 1])
    width = xtol * (market.upper[k] - cost[:, k])
    found = []
    while brackets.rows.size:
        brackets = brackets.refine(solver, int(np.clip(BRACKET_POINTS // brackets.rows.size, points, 31)))
        done = brackets.hi - brackets.lo <= width[brackets.rows]
        found.append(brackets.select(done))
        brackets = brackets.select(~done)
    end = np.nanmax(t, axis=1)
    return _assemble(cost[:, k], end, t, x, codes, found, tail)


def _kink_grid(low, high, grid):
    """``grid`` points even in ``t`` and ``grid`` even in ``log t`` on ``[low, high]``, per row."""
    share = np.linspace(0.0, 1.0, grid)
    even = low[:, None] + (high - low)[:, None] * share
    geometric = low[:, None] * (high / low)[:, None] ** share
    t = np.sort(np.concatenate([even[:, 1:-1], geometric], axis=1), axis=1)
    t[:, 0], t[:, -1] = low, high
    return t


def _march(solver, t, tail_rtol: float, start=None):
    """Solutions and codes on the grid ``t`` (B, G), each point warm-started from the last.

    Returns the grid (``nan`` after a row's stop), ``x``, the codes and the tail bounds.
    """
    market, k = solver.market, solver.k
    batch, points = t.shape
    t, x = t.copy(), np.ones((batch, points, market.n_domains))
    codes = np.full((batch, points), -1)
    x[:, 0] = allocate_batch(market, solver.weights(np.arange(batch), t[:, :1]))[0] if start is None else start
    codes[:, 0] = binding_code(market, x[:, 0])
    integral, tail = np.zeros(batch), np.zeros(batch)
    active, upper = np.arange(batch), t[:, -1]
    for j in range(1, points):
        if active.size == 0:
            break
        solved, code = solver.solve(active, t[active, j:j + 1], t[active, j - 1:j], x[active, j - 1:j],
                                    codes[active, j - 1:j])
        x[active, j], codes[active, j] = solved[:, 0], code[:, 0]
        y, previous = x[active, j, k] ** market.rho[k], x[active, j - 1, k] ** market.rho[k]
        integral[active] += y * (t[active, j] - t[active, j - 1])
        remainder = y * (upper[active] - t[active, j])
        # Stop where the rest is negligible; only while y_k has not increased (it cannot).
        stop = (remainder <= tail_rtol * integral[active]) & (y <= previous) & (j < points - 1)
        tail[active[stop]] = remainder[stop]
        t[active[stop], j + 1:] = np.nan
        active = active[~stop]
    return t, x, codes, tail


@dataclass(frozen=True)
class _Brackets:
    """Intervals ``[lo, hi]`` of ``t`` on which the binding set changes from ``code_lo`` to ``code_hi``."""

    rows: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    x_lo: np.ndarray
    x_hi: np.ndarray
    code_lo: np.ndarray
    code_hi: np.ndarray

    def select(self, mask) -> "_Brackets":
        return _Brackets(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))

    def refine(self, solver, points: int) -> "_Brackets":
        """Split each bracket at ``points`` interior points; keep the sub-intervals with a change."""
        share = np.arange(1, points + 1) / (points + 1)
        t = self.lo[:, None] + (self.hi - self.lo)[:, None] * share
        x, codes = solver.solve(self.rows, t, np.column_stack([self.lo, self.hi]),
                                np.stack([self.x_lo, self.x_hi], axis=1), np.column_stack([self.code_lo, self.code_hi]))
        t = np.column_stack([self.lo, t, self.hi])
        x = np.concatenate([self.x_lo[:, None], x, self.x_hi[:, None]], axis=1)
        codes = np.column_stack([self.code_lo, codes, self.code_hi])
        change_rows, change_cols = np.nonzero(codes[:, :-1] != codes[:, 1:])
        return _Brackets(self.rows[change_rows], t[change_rows, change_cols], t[change_rows, change_cols + 1],
                         x[change_rows, change_cols], x[change_rows, change_cols + 1],
                         codes[change_rows, change_cols], codes[change_rows, change_cols + 1])


def _assemble(low, high, grid_t, grid_x, grid_codes, found: list[_Brackets], tail) -> KinkSearch:
    """Edges of the pieces and the table of known solutions, from the located brackets."""
    batch, _, k = grid_x.shape
    if found:
        located = _Brackets(*(np.concatenate([getattr(b, f) for b in found]) for f in _Brackets.__dataclass_fields__))
        located = located.select(np.lexsort((located.lo, located.rows)))
    else:
        located = _Brackets(np.zeros(0, int), np.zeros(0), np.zeros(0), np.zeros((0, k)), np.zeros((0, k)),
                            np.zeros(0, int), np.zeros(0, int))
    per_row = np.bincount(located.rows, minlength=batch)
    kinks = per_row.max(initial=0)
    slot = np.arange(located.rows.size) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    edges = np.full((batch, kinks + 2), np.nan)
    edges[:, 0], edges[np.arange(batch), per_row + 1] = low, high
    edges[located.rows, slot + 1] = 0.5 * (located.lo + located.hi)
    # Known solutions: the grid, then both ends of every final bracket.
    g = grid_t.shape[1]
    known_t = np.concatenate([grid_t, np.full((batch, 2 * kinks), np.nan)], axis=1)
    known_x = np.concatenate([grid_x, np.ones((batch, 2 * kinks, k))], axis=1)
    known_codes = np.concatenate([grid_codes, np.zeros((batch, 2 * kinks), int)], axis=1)
    for side, (t_side, x_side, code_side) in enumerate(((located.lo, located.x_lo, located.code_lo),
                                                        (located.hi, located.x_hi, located.code_hi))):
        column = g + 2 * slot + side
        known_t[located.rows, column], known_x[located.rows, column] = t_side, x_side
        known_codes[located.rows, column] = code_side
    return KinkSearch(edges, known_t, known_x, known_codes, tail)


# --- the integrals -------------------------------------------------------------------------------


def payment_integrals(market: ProcurementMarket, weight_of, cost, k: int, *, rtol: float = PAYMENT_RTOL,
                      atol: float = 0.0, max_rounds: int = 60, max_intervals: int = 2000,
                      on_failure: str = "warn", kinks: KinkSearch | None = None,
                      start: np.ndarray | None = None) -> QuadratureResult:
    r"""``int_{c_k}^{b_k} y_k(t, c_{-k}) dt`` for each row of ``cost``, with an error estimate.

    The pieces between the kinks (:func:`locate_kinks`) are integrated by
    :func:`~abm.theory.procurement.quadrature.integrate_adaptive` in ``log t``; each node is
    solved by :func:`~abm.theory.procurement.allocation.allocate_near`, started from the
    nearest solution known: the kink search's, or the parent interval's nodes.

    Parameters
    ----------
    weight_of : callable
        Cost vectors ``(N, K)`` to allocation weights.
    cost : array_like, shape (B, K)
        Reported costs, ``0 < c_k <= b_k``.
    rtol, atol, max_rounds, max_intervals, on_failure
        The tolerance and work bound, as for ``integrate_adaptive``.
    kinks : KinkSearch, optional
        Precomputed pieces.
    start : ndarray, shape (B, K), optional
        The allocations ``x`` at ``cost``, if already known.
    """
    cost = np.atleast_2d(np.asarray(cost, dtype=float))
    if np.any(cost[:, k] <= 0) or np.any(cost[:, k] > market.upper[k]):
        raise ValueError(f"reported costs of domain {k} must lie in (0, b_k = {market.upper[k]}]")
    kinks = locate_kinks(market, weight_of, cost, k, start=start) if kinks is None else kinks
    solver = _PathSolver(market, weight_of, cost, k)
    rho, width = market.rho[k], market.n_domains
    nodes = 15

    def integrand(rows, t, hint):
        parent_t, parent_x = hint[:, :nodes], hint[:, nodes:-nodes].reshape(len(rows), nodes, width)
        known_t = np.concatenate([kinks.known_t[rows], parent_t], axis=1)
        known_x = np.concatenate([kinks.known_x[rows], parent_x], axis=1)
        known_codes = np.concatenate([kinks.known_codes[rows], hint[:, -nodes:].astype(int)], axis=1)
        x, codes = solver.solve(rows, t, known_t, known_x, known_codes)
        return x[..., k] ** rho, np.concatenate([t, x.reshape(len(rows), -1), codes], axis=1)

    pieces = kinks.edges.shape[1] - 1
    hints = np.concatenate([np.full((len(cost), pieces, nodes), np.nan), np.ones((len(cost), pieces, nodes * width)),
                            np.zeros((len(cost), pieces, nodes))], axis=2)
    result = integrate_adaptive(integrand, kinks.edges, hints, rtol=rtol, atol=atol, max_rounds=max_rounds,
                                max_intervals=max_intervals, on_failure=on_failure)
    return replace(result, error=result.error + kinks.tail)


def myerson_payments(market: ProcurementMarket, cost, weight_of, method: str = "quadrature", rng=None,
                     trials: int = 100, *, rtol: float = PAYMENT_RTOL, full_output: bool = False):
    r"""Payments ``p_k = c_k y_k(c) + int_{c_k}^{b_k} y_k(t, c_{-k}) dt`` (Algorithm 1).

    Parameters
    ----------
    cost : array_like, shape (B, K)
        Reported costs.
    weight_of : callable
        Cost vectors ``(N, K)`` to allocation weights (``market.virtual_cost`` for M1, the
        identity for M2). A callable with attribute ``linear_slope`` is taken as linear
        in each cost with that slope.
    method : {"quadrature", "randomized"}
        ``"quadrature"``: exact potential differences where the weight is linear in the
        domain's cost, else :func:`payment_integrals` with relative tolerance ``rtol``.
        ``"randomized"``: the paper's Eq. 7, ``(b_k - c_k)`` times the mean of ``y_k`` at
        ``trials`` draws ``t ~ U(c_k, b_k)`` from ``rng`` (one generator for all domains).
    full_output : bool
        Also return the error estimates of the integrals (0 where exact, ``nan`` for the
        randomised rule).

    Returns
    -------
    payments : ndarray, shape (B, K)
    errors : ndarray, shape (B, K)
        Only with ``full_output``.

    Warns
    -----
    QuadratureWarning
        If an integral misses ``rtol`` within the work bound.
    """
    if method not in ("quadrature", "randomized"):
        raise ValueError(f"method must be 'quadrature' or 'randomized', got {method!r}")
    cost = np.atleast_2d(np.asarray(cost, dtype=float))
    weights = weight_of(cost)
    x, converged = allocate_batch(market, weights)
    if not converged.all():
        raise RuntimeError(f"{(~converged).sum()} allocations did not converge")
    y = x**market.rho
    potential = np.sum(weights * y, axis=1)
    payments, errors = cost * y, np.zeros_like(cost)
    generator = np.random.default_rng(rng) if method == "randomized" else None
    for k in range(market.n_domains):
        slope = _linear_slope(market, weight_of, k)
        if method == "randomized":
            draws = generator.uniform(cost[:, k, None], market.upper[k], (len(cost), trials))
            at_draws = allocation_of(market, weight_of, _with_column(cost, k, draws))[..., k]
            payments[:, k] += (market.upper[k] - cost[:, k]) * at_draws.mean(axis=1)
            errors[:, k] = np.nan
        elif slope is not None:
            payments[:, k] += _potential_integral(market, weight_of, cost, k, slope, potential)
        else:
            result = payment_integrals(market, weight_of, cost, k, rtol=rtol, start=x)
            payments[:, k] += result.value
            errors[:, k] = result.error
    return (payments, errors) if full_output else payments


# --- independent checks --------------------------------------------------------------------------


def reference_integrals(market: ProcurementMarket, weight_of, cost, k: int, *, epsabs: float = 1e-12,
                        epsrel: float = 1e-11, limit: int = 400, splits: int = 16,
                        kinks: KinkSearch | None = None, threads: int = 1500) -> np.ndarray:
    r"""The payment integrals by ``scipy.integrate.quad``: an independent check.

    Independent of :func:`payment_integrals`' rule, nodes, change of variable, tail bound
    and error control: QUADPACK's adaptive 21-point Gauss-Kronrod rule integrates ``y_k`` in
    ``t`` over all of ``[c_k, b_k]``, evaluating it pointwise through :func:`allocation_of`
    (the barrier method and KKT polish, no warm starts). The range is split at the kinks
    (from :func:`locate_kinks`: only a hint, quad's own error control decides) and at
    ``splits`` points evenly spaced in ``log t``, and ``quad`` runs on each piece with
    ``epsabs`` and ``epsrel``.

    To make this affordable, every piece's ``quad`` runs in its own thread (at most
    ``threads`` at a time) and the threads' requests are pooled: whenever every running
    ``quad`` waits for an integrand value, all of them are computed in one batched allocation.

    Returns
    -------
    ndarray, shape (B,)
    """
    cost = np.atleast_2d(np.asarray(cost, dtype=float))
    kinks = locate_kinks(market, weight_of, cost, k) if kinks is None else kinks
    rows, lows, highs = _reference_pieces(cost[:, k], market.upper[k], kinks, splits)
    pieces = np.zeros(rows.size)
    for chunk in np.array_split(np.arange(rows.size), max(1, -(-rows.size // threads))):
        pieces[chunk] = _pooled_quad(market, weight_of, cost, k, rows[chunk], lows[chunk], highs[chunk],
                                     dict(epsabs=epsabs, epsrel=epsrel, limit=limit))
    return np.bincount(rows, pieces, minlength=len(cost))


def _reference_pieces(low, high, kinks: KinkSearch, splits: int):
    """Rows and bounds of the pieces: ``[c_k, b_k]`` split at the kinks and evenly in ``log t``."""
    rows, lows, highs = [], [], []
    for row, start in enumerate(low):
        inner = kinks.edges[row][1:][np.isfinite(kinks.edges[row][1:])]
        points = np.unique(np.concatenate([[start, high], inner[inner < high], np.geomspace(start, high, splits + 1)]))
        rows.append(np.full(points.size - 1, row))
        lows.append(points[:-1])
        highs.append(points[1:])
    return np.concatenate(rows), np.concatenate(lows), np.concatenate(highs)


def _pooled_quad(market, weight_of, cost, k, rows, lows, highs, options) -> np.ndarray:
    """``quad`` of ``y_k`` over ``[lows, highs]`` of draws ``rows``, one thread per piece."""

    def evaluate(pieces, t):
        return allocation_of(market, weight_of, _with_column(cost[rows[pieces]], k, t[:, None]))[:, 0, k]

    pool = _PooledIntegrand(evaluate, rows.size)
    result = np.full(rows.size, np.nan)

    def work(piece):
        try:
            result[piece] = integrate.quad(lambda t: pool(piece, t), lows[piece], highs[piece], **options)[0]
        finally:
            pool.finished()

    workers = [threading.Thread(target=work, args=(piece,), daemon=True) for piece in range(rows.size)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if pool.error is not None:
        raise RuntimeError("the reference integrand failed") from pool.error
    return result


class _PooledIntegrand:
    """Collects the pending scalar requests of many threads and answers them in one batch."""

    def __init__(self, evaluate, threads: int) -> None:
        self.evaluate, self.live = evaluate, threads
        self.condition = threading.Condition()
        self.requests, self.answers, self.generation = {}, {}, 0
        self.error: BaseException | None = None

    def __call__(self, row: int, t: float) -> float:
        with self.condition:
            self.requests[row] = t
            generation = self.generation
            if len(self.requests) == self.live:
                self._flush()
            else:
                while self.generation == generation:
                    self.condition.wait()
            if self.error is not None:
                raise RuntimeError("a pooled integrand evaluation failed") from self.error
            return self.answers.pop(row)

    def finished(self) -> None:
        with self.condition:
            self.live -= 1
            if self.live and len(self.requests) == self.live:
                self._flush()

    def _flush(self) -> None:
        rows = np.fromiter(self.requests, dtype=int)
        try:
            values = self.evaluate(rows, np.array([self.requests[r] for r in rows]))
            self.answers.update(zip(rows.tolist(), values.tolist()))
        except BaseException as error:  # noqa: BLE001 - handed to every waiting thread
            self.error = error
        self.requests.clear()
        self.generation += 1
        self.condition.notify_all()


def union_payment_path(market: ProcurementMarket, cost, path: str = "straight", nodes: int = 64) -> float:
    r"""The union's payment (M4) ``c . y(c) + int_c^b y(t) . dt`` along a path, by quadrature.

    ``path="straight"`` goes along the segment from ``c`` to ``b``; ``"staircase"`` raises one
    domain's cost at a time. The paper's Lemma 2.3: the result does not depend on the path
    and equals ``b . y(b)``. The integrand has kinks, so this is a check (accurate to about
    1e-4 with 64 Gauss-Legendre nodes per leg), not the production formula.
    """
    if path not in ("straight", "staircase"):
        raise ValueError(f"path must be 'straight' or 'staircase', got {path!r}")
    cost = np.asarray(cost, dtype=float)
    upper, k = market.upper, market.n_domains
    s, ws = gauss_legendre(nodes)
    legs = [(cost, upper)] if path == "straight" else [
        (np.concatenate([upper[:j], cost[j:]]), np.concatenate([upper[: j + 1], cost[j + 1:]])) for j in range(k)]
    total = float(cost @ allocation_of(market, _identity, cost[None])[0])
    for start, end in legs:
        along = start[None] + s[:, None] * (end - start)[None]
        total += float(ws @ (allocation_of(market, _identity, along) @ (end - start)))
    return total


def _identity(cost):
    return cost


_identity.linear_slope = 1.0
