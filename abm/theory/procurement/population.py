r"""Many creators per domain (the procurement paper's Appendix C.4) and its meta creators.

Domain ``k`` has ``n_k`` creators with i.i.d. private costs ``c_k^i ~ F_k`` and a common
exponent ``rho_k``; creator ``(k, i)`` produces ``x_k^i`` at cost ``c_k^i (x_k^i)^rho_k``,
and GenAI transfers act on the domain's total ``X_k = sum_i x_k^i``. Every mechanism
allocates by minimising ``sum_{k,i} w_k^i (x_k^i)^rho_k`` subject to the demands, with
per-creator weights (virtual costs for M1, costs for M2 ...): a convex program (the paper's
Appendix C.4).

**The meta creator.** For a given total ``X_k`` the cheapest split of a domain's quantity
solves ``min sum_i w_i x_i^rho`` subject to ``sum_i x_i = X_k``: with ``q = 1 / (rho - 1)``
the first-order conditions give ``x_i = X_k s_i``, shares ``s_i = w_i^{-q} / S``,
``S = sum_i w_i^{-q}``, and the minimum ``W_k X_k^rho`` with the *meta weight*

.. math:: W_k = \Big(\sum_i (w_k^i)^{-q_k}\Big)^{-1/q_k}, \qquad q_k = 1 / (\rho_k - 1).

So the program over all creators is exactly the ``K``-domain program of
:mod:`~abm.theory.procurement.allocation` with weights ``W_k``, followed by the split: the
paper's aggregation into one "meta" creator per domain, whose cost coefficient is the
power mean ``C_k = W_k(c_k^1, ..., c_k^{n_k})``. This holds for ``rho_k > 1``; a domain
with ``rho_k = 1`` (linear cost) would give all of its quantity to its cheapest creator,
and such a domain must have one creator here.

**Myerson payments per creator.** Creator ``(k, i)`` reporting ``c`` is paid
``c y_i + int_c^{b_k} y_i(t, c_{-i}) dt`` with ``y_i = (x_k^i)^rho_k``. Along its own
cost, only ``W_k`` moves: ``W_i(t) = (S_{-i} + w(t)^{-q})^{-1/q}``, and
``y_i(t) = Y_k(W_i(t)) s_i(t)^rho`` where ``Y_k(W) = X_k^rho`` is the meta allocation
with domain ``k``'s meta weight set to ``W`` and the others' kept. Every creator of a draw
and domain thus needs the same one-dimensional curve ``W -> Y_k(W)``, on
``[W_k(c), max_i W_i(b_k)]``; :class:`MetaCurve` builds it once by piecewise Chebyshev
interpolation of ``log Y_k`` in ``log W`` (panels split at every change of the binding
set and wherever a check point misses ``1e-10``), each node an exact allocation. Then

- a weight linear in the own cost (M2; M1 under a uniform ``F_k``), slope ``s``: the
  envelope theorem gives ``int y_i dt = (1 / s) int_{W_k(c)}^{W_i(b_k)} Y_k(W) dW``,
  a Gauss-Legendre integral of the interpolant on each panel (no potential differences,
  so no cancellation for creators whose share is tiny);
- any other weight (M1 under a truncated normal): the adaptive Gauss-Kronrod integrator of
  :mod:`~abm.theory.procurement.quadrature` in ``log t``, batched over all creators of all
  draws, on the interpolated integrand.

With one creator per domain ``W_k = w_k`` and everything reduces to the representative
creator of the main text (tested against :func:`~abm.theory.procurement.mechanism_round`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from abm.theory.procurement.allocation import allocate_batch, allocate_near, binding_code
from abm.theory.procurement.costs import UniformCost
from abm.theory.procurement.market import ProcurementMarket
from abm.theory.procurement.mechanisms import (MECHANISMS, ROUND_MECHANISMS, MechanismOutcome, mechanism_round,
                                              proportional_shares)
from abm.theory.procurement.payments import PAYMENT_RTOL
from abm.theory.procurement.quadrature import QuadratureWarning, gauss_legendre, integrate_adaptive

__all__ = ["Population", "creators_per_domain", "population_allocation", "myerson_population", "population_round",
           "evaluate_population", "MetaCurve", "meta_market", "meta_costs", "meta_outcomes", "POPULATION_MECHANISMS"]

#: Mechanisms with a population version: every playable one (M3 keeps its bounds, as for one creator).
POPULATION_MECHANISMS = ROUND_MECHANISMS
#: Chebyshev-Lobatto nodes per panel are ``CURVE_DEGREE + 1``; the first panels per curve.
CURVE_DEGREE, CURVE_PANELS = 8, 4
#: A panel is accepted when its interpolant of ``log Y`` is within this of the exact value
#: at two check points (so ``Y`` to about this relative error).
CURVE_TOLERANCE = 1e-9
#: Panels narrower than this (in ``log W``) are accepted whatever their check error (the
#: allocation itself is only accurate to about 1e-10 near some kinks); the error is reported.
CURVE_MIN_WIDTH = 1e-7
#: A creator's payment integral is bounded instead of computed (weights not linear in the
#: cost) when ``y_i (b_k - c_i)``, which bounds it, is below this times the draw's ``c . y``.
NEGLIGIBLE = 1e-13
#: Kinks (changes of the binding set) are located to this width in ``log W`` (times
#: ``max(1, |log W|)``); the gap is bridged by the value at its lower end, an error of the
#: order of the slope's jump times the width squared in the integrals.
KINK_WIDTH = 1e-8
_LOBATTO = 0.5 * (1.0 - np.cos(np.pi * np.arange(CURVE_DEGREE + 1) / CURVE_DEGREE))
_BARYCENTRIC = np.array([(-1.0) ** j * (0.5 if j in (0, CURVE_DEGREE) else 1.0) for j in range(CURVE_DEGREE + 1)])
_CHECKS = np.array([0.3, 0.7])
#: Node values to monomial coefficients in the panel's ``[-1, 1]`` (the inverse Vandermonde
#: matrix of the Chebyshev-Lobatto nodes, condition number about 1e2).
_TO_MONOMIAL = np.linalg.inv(np.vander(2.0 * _LOBATTO - 1.0, increasing=True))
#: Points per round when a kink's bracket is refined.
_BRACKET_POINTS = 15
#: Nodes and check points in increasing order, and where the nodes and checks are in it.
_SHARES = np.concatenate([_LOBATTO, _CHECKS])
_ORDER = np.argsort(_SHARES, kind="stable")
_NODE_AT = np.argsort(_ORDER)[:CURVE_DEGREE + 1]
_CHECK_AT = np.argsort(_ORDER)[CURVE_DEGREE + 1:]


def creators_per_domain(value, domains: int) -> tuple[int, ...]:
    """The number of creators of each domain, from an integer or a list of ``K`` integers.

    Raises
    ------
    ValueError
        Naming ``creators_per_domain`` and the rule: integers ``>= 1``, one per domain.
    """
    def whole(item) -> int:
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)) or item < 1:
            raise ValueError(f"creators_per_domain must be an integer >= 1 or a list of {domains} such "
                             f"integers (one per domain), got {value!r}")
        return int(item)

    if isinstance(value, (list, tuple, np.ndarray)):
        if len(value) != domains:
            raise ValueError(f"creators_per_domain must list one integer per domain ({domains} domains), "
                             f"got {len(value)} entries: {list(value)!r}")
        return tuple(whole(item) for item in value)
    return (whole(value),) * domains


@dataclass(frozen=True)
class Population:
    """A procurement market whose domain ``k`` has ``n_k`` creators with i.i.d. costs ``F_k``.

    Parameters
    ----------
    market : ProcurementMarket
        Demands, exponents, transfers and the per-creator cost distributions ``F_k``.
    sizes : int or sequence of int
        ``n_k >= 1`` (an integer: the same for every domain). A domain with ``rho_k = 1``
        must have one creator (its split would be degenerate).

    Raises
    ------
    ValueError
        Naming the field and the rule it breaks.
    """

    market: ProcurementMarket
    sizes: tuple = 1

    def __post_init__(self) -> None:
        if not isinstance(self.market, ProcurementMarket):
            raise ValueError(f"market must be a ProcurementMarket, got {type(self.market).__name__}")
        sizes = creators_per_domain(self.sizes, self.market.n_domains)
        linear = [k for k, n in enumerate(sizes) if n > 1 and self.market.rho[k] <= 1.0]
        if linear:
            raise ValueError(f"creators_per_domain > 1 needs rho_k > 1 (Appendix C.4's split), but domain(s) "
                             f"{linear} have rho = 1")
        object.__setattr__(self, "sizes", sizes)

    @property
    def n_creators(self) -> int:
        """``N = sum_k n_k``."""
        return int(sum(self.sizes))

    @property
    def domain(self) -> np.ndarray:
        """The domain of each creator, shape ``(N,)`` (creators ordered by domain)."""
        return np.repeat(np.arange(self.market.n_domains), self.sizes)

    @property
    def exponent(self) -> np.ndarray:
        """``q_k = 1 / (rho_k - 1)`` (``inf`` for ``rho_k = 1``, where ``n_k = 1``)."""
        with np.errstate(divide="ignore"):
            return 1.0 / (self.market.rho - 1.0)

    def slices(self) -> list[slice]:
        """The columns of each domain's creators."""
        ends = np.cumsum(self.sizes)
        return [slice(int(end - n), int(end)) for n, end in zip(self.sizes, ends)]

    def sample_costs(self, size: int, rng) -> np.ndarray:
        """``size`` independent draws of every creator's cost, shape ``(size, N)``, from ``rng``."""
        rng = np.random.default_rng(rng)
        return np.concatenate([d.sample((size, n), rng) for d, n in zip(self.market.costs, self.sizes)], axis=1)

    def spread(self, per_domain) -> np.ndarray:
        """Per-domain values ``(..., K)`` repeated for each creator, ``(..., N)``."""
        return np.asarray(per_domain, dtype=float)[..., self.domain]

    def meta_scale(self) -> np.ndarray:
        """``n_k^{-(rho_k - 1)}``: the meta weight of ``n_k`` creators of equal weight 1."""
        return np.asarray(self.sizes, dtype=float) ** (1.0 - self.market.rho)

    def log_meta(self, log_weights) -> tuple[np.ndarray, np.ndarray]:
        """``log W_k`` (``(B, K)``) and every creator's ``log s_i`` (``(B, N)``) from ``log w``."""
        log_weights = np.atleast_2d(np.asarray(log_weights, dtype=float))
        log_w = np.empty((len(log_weights), self.market.n_domains))
        log_share = np.zeros_like(log_weights)
        for k, columns in enumerate(self.slices()):
            if self.sizes[k] == 1:
                log_w[:, k] = log_weights[:, columns][:, 0]
                continue
            q = self.exponent[k]
            terms = -q * log_weights[:, columns]
            total = np.logaddexp.reduce(terms, axis=1)
            log_w[:, k] = -total / q
            log_share[:, columns] = terms - total[:, None]
        return log_w, log_share


def population_allocation(population: Population, weights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The allocation program over all creators (Appendix C.4) for rows of weights ``(B, N)``.

    Solved exactly through the meta weights: ``X = argmin sum_k W_k X_k^rho_k`` subject to the
    demands, then ``x_k^i = X_k s_k^i``.

    Returns
    -------
    x : ndarray, shape (B, N)
        Every creator's quantity.
    meta_x : ndarray, shape (B, K)
        The domains' totals ``X_k``.
    log_meta_weight : ndarray, shape (B, K)

    Raises
    ------
    ValueError
        If a weight is not finite and positive.
    RuntimeError
        If an allocation does not converge.
    """
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    if weights.shape[1] != population.n_creators or not np.all(np.isfinite(weights)) or np.any(weights <= 0):
        raise ValueError(f"weights must be finite, > 0 and have {population.n_creators} columns (one per creator)")
    log_w, log_share = population.log_meta(np.log(weights))
    meta_x, converged = allocate_batch(population.market, np.exp(log_w))
    if not converged.all():
        raise RuntimeError(f"{(~converged).sum()} allocations did not converge")
    return population.spread(meta_x) * np.exp(log_share), meta_x, log_w


# --- the meta curve W -> Y_k(W) --------------------------------------------------------------------


class MetaCurve:
    r"""``log Y_k`` as a function of ``u = log W_k`` for each draw and domain, the other meta
    weights fixed (curve ``r`` is draw ``r // K``, domain ``r % K``).

    From the draw's own ``log W_k`` to ``upper`` the curve is cut into panels (first
    :data:`CURVE_PANELS`), each interpolated by a Chebyshev-Lobatto polynomial of degree
    :data:`CURVE_DEGREE` in ``u``. A panel whose nodes or check points show different sets of
    binding demands is split at the first change, located to :data:`KINK_WIDTH` by rounds of
    :data:`_BRACKET_POINTS` points; a panel whose interpolant misses the exact ``log Y_k`` by
    more than :data:`CURVE_TOLERANCE` at its two check points is halved (panels narrower than
    :data:`CURVE_MIN_WIDTH` are accepted). Every node is an exact allocation
    (:func:`~abm.theory.procurement.allocation.allocate_near`, warm-started from the solution
    at the panel's start). Used by :func:`myerson_population` (the payments of Appendix C.4).

    Raises a :class:`~abm.theory.procurement.quadrature.QuadratureWarning` if a curve's
    check error stays above 100 times the tolerance after ``max_rounds`` rounds.

    Parameters
    ----------
    market : ProcurementMarket
    log_weight : ndarray, shape (B, K)
        The meta weights ``log W`` of each draw.
    upper : ndarray, shape (B, K)
        The largest ``log W_k`` needed per draw and domain (at least ``log_weight``).
    start, codes : ndarray
        The allocations ``x`` at ``log_weight`` and their binding sets.

    Attributes
    ----------
    error : ndarray, shape (B K,)
        The largest check-point miss of each curve's accepted panels (in ``log Y``).
    kinks : ndarray, shape (B K, most kinks)
        The located kinks' ``log W_k`` per curve, ``nan`` padded.
    """

    def __init__(self, market: ProcurementMarket, log_weight, upper, start, codes,
                 max_rounds: int = 40) -> None:
        self.market, self.domains = market, market.n_domains
        self.log_weight, self.start = log_weight, start
        lower = log_weight.ravel()
        upper = np.maximum(np.asarray(upper, dtype=float).ravel(), lower)
        start, codes = np.repeat(start, self.domains, axis=0), np.repeat(codes, self.domains)
        rows = np.repeat(np.arange(len(lower)), CURVE_PANELS)
        share = np.tile(np.arange(CURVE_PANELS), len(lower))
        width = (upper - lower)[rows] / CURVE_PANELS
        lo, hi = lower[rows] + share * width, lower[rows] + (share + 1) * width
        hi = np.where(share == CURVE_PANELS - 1, upper[rows], hi)
        keep = hi > lo
        pending = _Panels(rows[keep], lo[keep], hi[keep], start[rows[keep]], codes[rows[keep]])
        accepted = [_Panels(np.zeros(0, int), np.zeros(0), np.zeros(0), np.zeros((0, market.n_domains)),
                            np.zeros(0, int), np.zeros((0, CURVE_DEGREE + 1)))]
        self.error = np.zeros(len(lower))
        self._kinks: list[tuple[np.ndarray, np.ndarray]] = []
        for round_ in range(max_rounds):
            if pending.rows.size == 0:
                break
            pending, done = self._refine(pending, final=round_ == max_rounds - 1)
            accepted.append(done)
        missed = self.error > 100 * CURVE_TOLERANCE
        if missed.any():
            warnings.warn(f"the meta curves of {missed.sum()} draws missed 100 times the tolerance {CURVE_TOLERANCE:g} "
                          f"within {max_rounds} rounds (largest check error {self.error.max():.2g} in log Y)",
                          QuadratureWarning, stacklevel=3)
        self._assemble(accepted, len(lower), lower, upper)

    # building

    def solve(self, rows, u, start, alternative=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact ``log Y_k``, binding codes and ``x`` at ``u`` (shape ``(n, m)``) for curves
        ``rows`` (curve ``r`` is draw ``r // K``, domain ``r % K``), warm-started from
        ``start = (x, codes)`` per row, then from ``alternative``."""
        n, m = u.shape
        draw, k = np.divmod(np.repeat(rows, m), self.domains)
        weights = np.exp(self.log_weight[draw])
        weights[np.arange(k.size), k] = np.exp(u.ravel())
        x0, codes0 = start
        guesses = [(np.repeat(x0, m, axis=0), np.repeat(codes0, m))]
        if alternative is not None:
            guesses.append((np.repeat(alternative[0], m, axis=0), np.repeat(alternative[1], m)))
        x, codes = allocate_near(self.market, weights, *guesses[0], alternatives=guesses[1:])
        log_y = (self.market.rho[k] * np.log(x[np.arange(k.size), k])).reshape(n, m)
        return log_y, codes.reshape(n, m), x.reshape(n, m, -1)

    def _refine(self, panels: "_Panels", final: bool = False):
        """Solve every panel's nodes and check points, started from its start; accept the
        panels whose points share one binding set and whose interpolant meets the tolerance,
        split the others at their first kink or in halves."""
        width = (panels.hi - panels.lo)[:, None]
        u = panels.lo[:, None] + width * _SHARES[_ORDER]
        values, codes, x = self.solve(panels.rows, u, (panels.start_x, panels.start_code))
        change = codes[:, :-1] != codes[:, 1:]
        mixed = change.any(axis=1)
        node_values = values[:, _NODE_AT]
        miss = np.abs(_interpolate(node_values, _CHECKS * 2.0 - 1.0) - values[:, _CHECK_AT]).max(axis=1)
        coarse = ~mixed & ~(miss <= CURVE_TOLERANCE)
        narrow = panels.hi - panels.lo < CURVE_MIN_WIDTH
        good = np.ones(mixed.size, bool) if final else (~mixed & ~coarse) | narrow
        mixed, coarse = mixed & ~good, coarse & ~good
        np.maximum.at(self.error, panels.rows[good], miss[good])
        done = panels.select(good).with_values(node_values[good])
        middle = _NODE_AT[CURVE_DEGREE // 2]
        halves = panels.select(coarse)
        halves = _Panels.join([
            _Panels(halves.rows, halves.lo, u[coarse, middle], halves.start_x, halves.start_code),
            _Panels(halves.rows, u[coarse, middle], halves.hi, x[coarse, middle], codes[coarse, middle])])
        split = self._split_at_kinks(panels.select(mixed), u[mixed], x[mixed], codes[mixed], change[mixed])
        return _Panels.join([split, halves]), done

    def _split_at_kinks(self, panels: "_Panels", u, x, codes, change) -> "_Panels":
        """Split each panel at the first change of the binding set among its points, located by
        refining the bracket with :data:`_BRACKET_POINTS` points a round to :data:`KINK_WIDTH`.
        The left part ends at the bracket's lower end and the right part starts at its upper
        end, each on its own side of the kink; the gap between them is bridged linearly."""
        if panels.rows.size == 0:
            return panels
        column = change.argmax(axis=1)
        index = np.arange(panels.rows.size)
        lo, hi = u[index, column], u[index, column + 1]
        x_lo, x_hi = x[index, column], x[index, column + 1]
        code_lo, code_hi = codes[index, column], codes[index, column + 1]
        share = np.arange(1, _BRACKET_POINTS + 1) / (_BRACKET_POINTS + 1)
        open_ = np.flatnonzero(hi - lo > KINK_WIDTH * np.maximum(1.0, np.abs(lo)))
        while open_.size:
            t = lo[open_, None] + (hi - lo)[open_, None] * share
            _, code, solution = self.solve(panels.rows[open_], t, (x_lo[open_], code_lo[open_]),
                                           (x_hi[open_], code_hi[open_]))
            differs = code != code_lo[open_, None]
            first = np.where(differs.any(axis=1), differs.argmax(axis=1), _BRACKET_POINTS)
            rows = np.arange(open_.size)
            moved, inner = first > 0, first < _BRACKET_POINTS
            lo[open_[moved]] = t[rows[moved], first[moved] - 1]
            x_lo[open_[moved]] = solution[rows[moved], first[moved] - 1]
            hi[open_[inner]] = t[rows[inner], first[inner]]
            x_hi[open_[inner]] = solution[rows[inner], first[inner]]
            code_hi[open_[inner]] = code[rows[inner], first[inner]]
            open_ = open_[hi[open_] - lo[open_] > KINK_WIDTH * np.maximum(1.0, np.abs(lo[open_]))]
        self._kinks.append((panels.rows, 0.5 * (lo + hi)))
        return _Panels.join([_Panels(panels.rows, panels.lo, lo, panels.start_x, panels.start_code),
                             _Panels(panels.rows, hi, panels.hi, x_hi, code_hi)])

    def _assemble(self, accepted, batch, lower, upper) -> None:
        panels = _Panels.join(accepted)
        order = np.lexsort((panels.lo, panels.rows))
        self.rows, self.lo, self.hi = panels.rows[order], panels.lo[order], panels.hi[order]
        self.values = panels.values[order]
        self.count = np.bincount(self.rows, minlength=batch)
        self.first = np.cumsum(self.count) - self.count
        self.lower, self.upper = lower, upper
        self._keys = self._key(self.rows, self.lo)
        self.coefficients = self.values @ _TO_MONOMIAL.T
        kink_rows = np.concatenate([np.zeros(0, int)] + [r for r, _ in self._kinks])
        kink_u = np.concatenate([np.zeros(0)] + [u for _, u in self._kinks])
        order = np.lexsort((kink_u, kink_rows))
        kink_rows, kink_u = kink_rows[order], kink_u[order]
        per_curve = np.bincount(kink_rows, minlength=batch)
        #: ``log W_k`` of the kinks of each curve, ``nan`` padded: shape (curves, most kinks).
        self.kinks = np.full((batch, per_curve.max(initial=0)), np.nan)
        slot = np.arange(kink_rows.size) - np.repeat(np.cumsum(per_curve) - per_curve, per_curve)
        self.kinks[kink_rows, slot] = kink_u
        # Each panel reaches to the next one's start (the gap left at a kink, below KINK_WIDTH).
        following = np.append(self.lo[1:], np.inf)
        last = np.append(self.rows[1:] != self.rows[:-1], True) if self.rows.size else np.zeros(0, bool)
        self.reach = np.where(last, self.hi, np.maximum(following, self.hi))
        # Integral of Y dW = exp(log Y + u) du over each whole panel, and the running sums per draw.
        self.whole = self._panel_integral(np.arange(self.rows.size), self.reach)
        # Running sums within each curve (a padded table: a global cumulative sum would lose the
        # small curves' digits to the large ones').
        slot = np.arange(self.rows.size) - np.repeat(self.first, self.count)
        table = np.zeros((batch, self.count.max(initial=0) + 1))
        table[self.rows, slot + 1] = self.whole
        self.before = np.cumsum(table, axis=1)[self.rows, slot]

    # using

    def panel_of(self, rows, u) -> np.ndarray:
        """The panel holding ``log W_k = u`` for curves ``rows`` (the last panel of the curve
        starting at or below ``u``); curves need at least one panel."""
        return np.searchsorted(self._keys, self._key(rows, u), side="right") - 1

    def _key(self, rows, u):
        """Sort keys: curve ``r`` occupies ``[2 r, 2 r + 1]``, by the position of ``u`` in it."""
        span = np.where(self.upper > self.lower, self.upper - self.lower, 1.0)[rows]
        return 2.0 * rows + np.clip((u - self.lower[rows]) / span, 0.0, 1.0)

    def log_y(self, rows, u) -> np.ndarray:
        """Interpolated ``log Y_k`` at ``u`` (any shape) for draws ``rows`` (same shape)."""
        rows, u = np.broadcast_arrays(rows, u)
        u = np.clip(u, self.lower[rows], self.upper[rows])
        draw, k = np.divmod(rows, self.domains)
        result = self.market.rho[k] * np.log(self.start[draw, k])
        has = self.count[rows] > 0
        result[has] = self._evaluate(self.panel_of(rows[has], u[has]), u[has])
        return result

    def _evaluate(self, panel, u):
        """The interpolant of ``panel`` at ``u`` (Horner's rule on its monomial coefficients in
        the panel's ``[-1, 1]``; clamped to the panel)."""
        lo, hi = self.lo[panel], self.hi[panel]
        position = np.clip(2.0 * (u - lo) / np.where(hi > lo, hi - lo, 1.0) - 1.0, -1.0, 1.0)
        value = self.coefficients[panel, CURVE_DEGREE]
        for power in range(CURVE_DEGREE - 1, -1, -1):
            value = value * position + self.coefficients[panel, power]
        return value

    def _panel_integral(self, panels, end):
        """``int_{lo}^{end} exp(log Y(u) + u) du`` on each of ``panels`` (Gauss-Legendre, 16
        nodes, to the panel's end; beyond it, in the gap at a kink, the end value)."""
        nodes, weights = gauss_legendre(16)
        lo, hi = self.lo[panels], self.hi[panels]
        inner = np.minimum(end, hi)
        u = lo[:, None] + (inner - lo)[:, None] * nodes
        values = np.exp(self._evaluate(np.repeat(panels[:, None], 16, axis=1), u) + u)
        gap = np.maximum(end - hi, 0.0) * np.exp(self._evaluate(panels, hi) + hi)
        return (inner - lo) * (values @ weights) + gap

    def integral(self, rows, end) -> np.ndarray:
        """``int_{W_k(c)}^{exp(end)} Y_k(W) dW`` for draws ``rows`` (1-D), ends clipped to the curve."""
        rows = np.asarray(rows)
        end = np.clip(end, self.lower[rows], self.upper[rows])
        result = np.zeros(rows.shape)
        has = self.count[rows] > 0
        panel = self.panel_of(rows[has], end[has])
        result[has] = self.before[panel] + self._panel_integral(panel, end[has])
        return result


@dataclass(frozen=True)
class _Panels:
    """Panels ``[lo, hi]`` of the draws ``rows``, with a solution at (or next to) ``lo`` to
    march from, and once accepted the interpolation values at the nodes."""

    rows: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    start_x: np.ndarray
    start_code: np.ndarray
    values: np.ndarray | None = None

    def select(self, mask) -> "_Panels":
        return _Panels(self.rows[mask], self.lo[mask], self.hi[mask], self.start_x[mask], self.start_code[mask],
                       None if self.values is None else self.values[mask])

    def with_values(self, values) -> "_Panels":
        return _Panels(self.rows, self.lo, self.hi, self.start_x, self.start_code, values)

    @staticmethod
    def join(parts) -> "_Panels":
        parts = list(parts)
        with_values = all(p.values is not None for p in parts)
        fields = ("rows", "lo", "hi", "start_x", "start_code")
        joined = [np.concatenate([getattr(p, f) for p in parts]) for f in fields]
        return _Panels(*joined, np.concatenate([p.values for p in parts]) if with_values else None)


def _interpolate(values, position) -> np.ndarray:
    """Barycentric Chebyshev-Lobatto interpolation of node ``values`` (n, d+1) at ``position``
    (m,) in ``[-1, 1]`` shared by all rows; returns (n, m)."""
    return _interpolate_rows(np.repeat(values[:, None, :], len(position), axis=1),
                             np.broadcast_to(position, (len(values), len(position))))


def _interpolate_rows(values, position) -> np.ndarray:
    """Barycentric interpolation, node values ``(..., d+1)`` at positions ``(...)``."""
    nodes = -np.cos(np.pi * np.arange(CURVE_DEGREE + 1) / CURVE_DEGREE)
    difference = position[..., None] - nodes
    exact = difference == 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = _BARYCENTRIC / np.where(exact, 1.0, difference)
        value = np.sum(terms * values, axis=-1) / np.sum(terms, axis=-1)
    hit = exact.any(axis=-1)
    if hit.any():
        value = np.where(hit, np.sum(np.where(exact, values, 0.0), axis=-1), value)
    return value


# --- payments ---------------------------------------------------------------------------------------


def _leave_one_out(terms) -> np.ndarray:
    """``log sum_{j != i} exp(terms_j)`` along the last axis (``-inf`` for a single term)."""
    pad = np.full(terms.shape[:-1] + (1,), -np.inf)
    before = np.concatenate([pad, np.logaddexp.accumulate(terms, axis=-1)[..., :-1]], axis=-1)
    after = np.concatenate([np.logaddexp.accumulate(terms[..., ::-1], axis=-1)[..., ::-1][..., 1:], pad], axis=-1)
    return np.logaddexp(before, after)


def _log_weight_rule(population: Population, rule: str, k: int):
    """``t -> log w(t)`` for domain ``k``'s creators: ``"virtual"`` (M1) or ``"cost"`` (M2),
    and the slope of ``w`` in ``t`` when it is linear (else ``None``)."""
    distribution = population.market.costs[k]
    if rule == "cost":
        return np.log, 1.0
    with np.errstate(divide="ignore"):
        return (lambda t: np.log(distribution.virtual_cost(t))), distribution.linear_virtual_slope


def myerson_population(population: Population, reports, rule: str = "cost", *, rtol: float = PAYMENT_RTOL,
                       full_output: bool = False):
    r"""Myerson payments ``p_i = c_i y_i + int_{c_i}^{b_k} y_i(t, c_{-i}) dt`` of every creator.

    Parameters
    ----------
    reports : array_like, shape (B, N)
        Reported costs, ``0 < c <= b_k``.
    rule : {"cost", "virtual"}
        The weights: reported costs (M2) or virtual costs (M1, the paper's Appendix C.4).
    rtol : float
        Relative tolerance of the adaptive integrals (weights not linear in the cost).
    full_output : bool
        Also return ``y`` (``(B, N)``) and the error estimates of the integrals.

    Returns
    -------
    payments : ndarray, shape (B, N)
    """
    market = population.market
    reports = np.atleast_2d(np.asarray(reports, dtype=float))
    upper = population.spread(market.upper)
    if reports.shape[1] != population.n_creators:
        raise ValueError(f"reports must have {population.n_creators} columns (one per creator), got {reports.shape[1]}")
    if np.any(~(reports > 0)) or np.any(reports > upper):
        raise ValueError("reported costs must lie in (0, b_k] of their domain")
    log_w = np.concatenate([_log_weight_rule(population, rule, k)[0](reports[:, s])
                            for k, s in enumerate(population.slices())], axis=1)
    log_meta, log_share = population.log_meta(log_w)
    meta_x, converged = allocate_batch(market, np.exp(log_meta))
    if not converged.all():
        raise RuntimeError(f"{(~converged).sum()} allocations did not converge")
    codes = binding_code(market, meta_x)
    log_y = population.spread(market.rho * np.log(meta_x)) + population.spread(market.rho) * log_share
    y = np.exp(log_y)
    payments, errors = reports * y, np.zeros_like(reports)
    paths = [_raised_path(population, rule, k, log_w[:, columns]) for k, columns in enumerate(population.slices())]
    curve = MetaCurve(market, log_meta, np.column_stack([raised.max(axis=1) for _, raised in paths]), meta_x, codes)
    scale = np.sum(reports * y, axis=1, keepdims=True)
    for k, columns in enumerate(population.slices()):
        negligible = y[:, columns] * (market.upper[k] - reports[:, columns]) <= NEGLIGIBLE * scale
        integral, error = _domain_integrals(population, rule, k, reports[:, columns], *paths[k], curve, rtol,
                                            negligible, y[:, columns])
        payments[:, columns] += integral
        errors[:, columns] = error
    return (payments, y, errors) if full_output else payments


def _raised_path(population, rule, k, log_w):
    """For domain ``k``'s creators (``log w`` of shape ``(B, n_k)``): ``log S_{-i}`` (the
    others' ``sum w^{-q}``) and ``log W_i(b_k)`` (the meta weight with creator ``i`` at ``b_k``)."""
    log_upper = float(_log_weight_rule(population, rule, k)[0](np.array(population.market.upper[k])))
    if population.sizes[k] == 1:
        return np.full(log_w.shape, -np.inf), np.full(log_w.shape, log_upper)
    q = population.exponent[k]
    others = _leave_one_out(-q * log_w)
    return others, -np.logaddexp(others, -q * log_upper) / q


def _domain_integrals(population, rule, k, reports, others, log_raised, curve, rtol, negligible, y_own):
    """Every creator's ``int_c^b y_i dt`` in domain ``k`` (shape ``(B, n_k)``) and error estimates.

    Where the weight is not linear, the integrals marked ``negligible`` are not computed:
    ``y_i`` does not increase in the own cost, so ``0 <= int <= y_i(c) (b - c)``, and they
    get half that bound as value and as error."""
    market, q = population.market, population.exponent[k]
    rho = market.rho[k]
    log_weight_of, slope = _log_weight_rule(population, rule, k)
    single = population.sizes[k] == 1
    curves = np.repeat(np.arange(len(reports)), reports.shape[1]) * market.n_domains + k
    if slope is not None:
        integral = curve.integral(curves, log_raised.ravel()) / slope
        return integral.reshape(reports.shape), (np.expm1(curve.error)[curves] * integral).reshape(reports.shape)
    flat_others = others.ravel()

    def integrand(rows, t, hint):
        log_own = log_weight_of(t)
        if single:
            log_meta_k, log_s = log_own, np.zeros_like(t)
        else:
            own = -q * log_own
            total = np.logaddexp(flat_others[rows, None], own)
            log_meta_k, log_s = -total / q, own - total
        with np.errstate(invalid="ignore"):
            value = np.exp(curve.log_y(curves[rows, None], log_meta_k) + rho * log_s)
        return np.where(np.isfinite(log_own), value, 0.0), hint

    todo = np.flatnonzero(~negligible.ravel())
    flat_others, curves_all = flat_others[todo], curves
    curves = curves_all[todo]
    edges = _break_points(population.market.costs[k], q, reports.ravel()[todo], flat_others, curve.kinks[curves],
                          single)
    result = integrate_adaptive(integrand, edges, rtol=rtol, on_failure="warn")
    bound = 0.5 * (y_own * (market.upper[k] - reports)).ravel()
    value, error = bound.copy(), bound.copy()
    value[todo] = result.value
    error[todo] = result.error + np.expm1(curve.error)[curves] * np.abs(result.value)
    return value.reshape(reports.shape), error.reshape(reports.shape)


def _break_points(distribution, q, cost, others, kinks, single, bisections: int = 52):
    """Each creator's ``[c_i, b_k]`` with the costs ``t`` where its path crosses a kink of the
    meta curve (``log W_i(t)`` equal to a kink's ``log W``), found by bisection on the
    virtual cost: rows ``[c_i, t_1, ..., b_k, nan ...]``."""
    upper = distribution.high
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if single:
            target = kinks
        else:  # w(t)^{-q} = exp(-q u*) - S_{-i}
            gap = others[:, None] + q * kinks
            target = np.where(gap < 0, (q * kinks - np.log1p(-np.exp(gap))) / q, np.nan)
        low = np.broadcast_to(cost[:, None], kinks.shape)
        inside = np.isfinite(target) & (target > np.log(distribution.virtual_cost(low)))
        inside &= target < np.log(distribution.virtual_cost(upper))
        target = target[inside]
        low, high = low[inside], np.full(target.size, upper)
        for _ in range(bisections):
            middle = 0.5 * (low + high)
            below = np.log(distribution.virtual_cost(middle)) < target
            low, high = np.where(below, middle, low), np.where(below, high, middle)
    crossing = np.full(kinks.shape, np.nan)
    crossing[inside] = 0.5 * (low + high)
    return np.sort(np.column_stack([cost, crossing, np.full(cost.size, upper)]), axis=1)


# --- mechanisms at the population scale ---------------------------------------------------------


def _contract(population: Population, per_domain_cost) -> np.ndarray:
    """``y`` of every creator when all of domain ``k`` report ``per_domain_cost[k]`` (shape (N,))."""
    x, _, _ = population_allocation(population, population.spread(per_domain_cost)[None])
    return (x ** population.spread(population.market.rho))[0]


def population_round(population: Population, mechanism: str, reports, *, rtol: float = PAYMENT_RTOL):
    r"""Allocation ``y`` and payments of every creator for rows of reports, under one mechanism.

    - **M1, M2**: the platform buys from every creator: virtual-cost (M1) or cost (M2)
      weights over all creators, Myerson payments per creator (:func:`myerson_population`).
    - **M4**: the union reports its members' costs, the platform allocates as M2 and pays
      the union ``sum_{k,i} b_k y_k^i(b)`` (Lemma 2.3's path integral, all members at
      ``b``); the union shares it in proportion to its members' M2 payments.
    - **M5, M6**: the broker's contract is signed before costs are drawn: every creator of
      domain ``k`` is treated alike at ``b_k`` (M5) or ``E[c_k]`` (M6), so each produces
      ``X_k / n_k``; the broker pays each creator ``b_k y_i`` and the platform pays the sum.

    Parameters
    ----------
    mechanism : {"M1", "M2", "M4", "M5", "M6"}
    reports : array_like, shape (B, N)

    Returns
    -------
    y, payments : ndarray, shape (B, N)
    """
    if mechanism not in POPULATION_MECHANISMS:
        raise ValueError(f"mechanism must be one of {list(POPULATION_MECHANISMS)} (M3 has only bounds), "
                         f"got {mechanism!r}")
    reports = np.atleast_2d(np.asarray(reports, dtype=float))
    if population.n_creators == population.market.n_domains:  # one creator each: the representative model
        return mechanism_round(population.market, mechanism, reports, rtol=rtol)
    upper = population.spread(population.market.upper)
    if mechanism in ("M5", "M6"):
        anchor = population.market.upper if mechanism == "M5" else population.market.mean_cost
        y = np.broadcast_to(_contract(population, anchor), reports.shape).copy()
        return y, y * upper
    payments, y, _ = myerson_population(population, reports, "virtual" if mechanism == "M1" else "cost",
                                        rtol=rtol, full_output=True)
    return (y, _union_shares(population, payments)) if mechanism == "M4" else (y, payments)


def _union_shares(population: Population, alone) -> np.ndarray:
    """M4: the union's ``sum_{k,i} b_k y_k^i(b)`` shared in proportion to the M2 payments ``alone``."""
    total = float(population.spread(population.market.upper) @ _contract(population, population.market.upper))
    return proportional_shares(total, alone)


def evaluate_population(population: Population, costs, *, rtol: float = PAYMENT_RTOL, progress=None,
                        mechanisms: Sequence[str] = POPULATION_MECHANISMS) -> dict[str, MechanismOutcome]:
    """Every population mechanism on truthful reports ``costs`` (``(B, N)``): revenue (minus
    what the platform pays), welfare (minus the creators' total cost), ``x`` and payments per
    creator; M3 as the bounds ``Rev5 <= Rev3 <= Rev1``, ``SW3 <= SW2`` when M1, M2 and M5 are
    among ``mechanisms``."""
    costs = np.atleast_2d(np.asarray(costs, dtype=float))
    rho = population.spread(population.market.rho)
    outcomes = {}
    for name in mechanisms:
        if name == "M4" and "M2" in outcomes and population.n_creators > population.market.n_domains:
            y = outcomes["M2"].allocation ** rho  # M4 allocates as M2 and shares by M2 payments
            payments = _union_shares(population, outcomes["M2"].payments)
        else:
            y, payments = population_round(population, name, costs, rtol=rtol)
        outcomes[name] = MechanismOutcome(name, -payments.sum(axis=1), -(costs * y).sum(axis=1), y ** (1 / rho),
                                          payments=payments)
        if progress is not None:
            progress(name)
    low, high = MECHANISMS["M3"].bounds
    if {low, high, "M2"} <= set(outcomes):
        outcomes["M3"] = MechanismOutcome("M3", outcomes[low].revenue, outcomes["M2"].welfare,
                                          outcomes["M2"].allocation, revenue_upper=outcomes[high].revenue)
    return outcomes


# --- the meta-creator anchor -------------------------------------------------------------------------


def meta_market(population: Population) -> ProcurementMarket:
    """The aggregated market: one meta creator per domain with cost ``C_k = W_k(c)`` on
    ``[a_k, b_k] n_k^{-(rho_k - 1)}`` (the paper's Appendix C.4 aggregation).

    Only the support of the meta cost is known in closed form (its law is that of a power
    mean of ``n_k`` draws), so the distribution is a uniform placeholder on that support:
    use the result for M2, M4 and M5, which need the support only, not for M1 or M6.
    """
    market, scale = population.market, population.meta_scale()
    costs = tuple(UniformCost(d.low * s, d.high * s) for d, s in zip(market.costs, scale))
    return ProcurementMarket(market.demand, market.rho, market.mu, market.gamma, costs)


def meta_costs(population: Population, costs) -> np.ndarray:
    """The meta creators' costs ``C_k = (sum_i (c_k^i)^{-q_k})^{-1/q_k}``, shape ``(B, K)``."""
    return np.exp(population.log_meta(np.log(np.atleast_2d(costs)))[0])


def meta_outcomes(population: Population, costs, mean_meta_cost) -> dict[str, MechanismOutcome]:
    r"""M2, M4, M5 and M6 played by one meta creator per domain, for comparison with the population.

    The meta creator of domain ``k`` has cost ``C_k`` (:func:`meta_costs`) and reports it
    truthfully; M2 pays it its own Myerson payment ``C_k Y_k + int_{C_k}^{B_k} Y_k dt`` with
    ``B_k = b_k n_k^{-(rho_k - 1)}``, M4 and M5 use ``B``, and M6's broker contracts at the
    meta creator's mean cost ``mean_meta_cost`` (``E[C_k]``, which differs from
    ``E[c_k] n_k^{-(rho_k - 1)}``). For every ``n_k`` the domains' totals and the welfare of M2
    and M4 coincide with the population's, and so do the revenues of M4 and M5; M2's revenue
    and M5's and M6's welfare (the broker's equal split) coincide for ``n_k = 1`` only.
    """
    meta = meta_market(population)
    c = meta_costs(population, costs)
    outcomes = {}
    for name in ("M2", "M4", "M5"):
        y, payments = mechanism_round(meta, name, c)
        outcomes[name] = MechanismOutcome(name, -payments.sum(axis=1), -(c * y).sum(axis=1), y ** (1 / meta.rho),
                                          payments=payments)
    x, converged = allocate_batch(meta, np.asarray(mean_meta_cost, dtype=float)[None])
    y = np.broadcast_to(x**meta.rho, c.shape)
    payments = y * meta.upper
    outcomes["M6"] = MechanismOutcome("M6", -payments.sum(axis=1), -(c * y).sum(axis=1), y ** (1 / meta.rho),
                                      payments=payments)
    return outcomes
