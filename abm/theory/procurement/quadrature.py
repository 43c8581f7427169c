r"""Quadrature rules of the procurement package, and one batched adaptive integrator.

Everything here integrates many one-dimensional integrals at once, as numpy arrays:

- :func:`gauss_legendre` is the package's only source of Gauss-Legendre nodes (on
  ``[0, 1]``; used for the expectations over costs, the union's path integral and the
  truncated normal's narrow supports);
- :func:`integrate_adaptive` is a globally adaptive Gauss-Kronrod (7, 15) integrator with
  the error estimate of QUADPACK's ``qk15``, run for a batch of integrals together: each
  round evaluates all new intervals of all integrals in one call of the integrand, so the
  integrand can be a batched solver (here the allocation program) rather than a scalar
  function. Pieces whose lower end is positive are integrated in ``log t``, which turns the
  power-law behaviour of the Myerson integrand near small costs into an exponential one
  that Gauss rules resolve in a few intervals.

The Kronrod constants are the 15-point rule of Piessens et al., *QUADPACK* (Springer,
1983), also used by ``scipy.integrate.quad``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

__all__ = ["gauss_legendre", "QuadratureResult", "QuadratureWarning", "integrate_adaptive"]


@lru_cache(maxsize=None)
def gauss_legendre(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on ``[0, 1]`` (read-only, cached).

    Parameters
    ----------
    nodes : int
        Number of nodes, ``>= 1``; the rule is exact for polynomials of degree ``2 nodes - 1``.

    Returns
    -------
    points, weights : ndarray, shape (nodes,)
        The weights sum to 1.
    """
    if int(nodes) != nodes or nodes < 1:
        raise ValueError(f"nodes must be an integer >= 1, got {nodes!r}")
    points, weights = np.polynomial.legendre.leggauss(int(nodes))
    points, weights = 0.5 * (points + 1.0), 0.5 * weights
    points.setflags(write=False)
    weights.setflags(write=False)
    return points, weights


# Gauss-Kronrod (7, 15) on [-1, 1]: the Kronrod nodes in increasing order; the Gauss nodes
# are every other one (odd positions).
_XGK = np.array([0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
                 0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
                 0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
                 0.207784955007898467600689403773245, 0.000000000000000000000000000000000])
_WGK = np.array([0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
                 0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
                 0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
                 0.204432940075298892414161999234649, 0.209482141084727828012999174891714])
_WG = np.array([0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
                0.381830050505118944950369775488975, 0.417959183673469387755102040816327])
KRONROD_NODES = np.concatenate([-_XGK[:-1], _XGK[::-1]])
KRONROD_WEIGHTS = np.concatenate([_WGK[:-1], _WGK[::-1]])
GAUSS_WEIGHTS = np.zeros(15)
GAUSS_WEIGHTS[[1, 3, 5, 7, 9, 11, 13]] = np.concatenate([_WG, _WG[-2::-1]])
_EPS = np.finfo(float).eps
_TINY = np.finfo(float).tiny


class QuadratureWarning(RuntimeWarning):
    """An adaptive integral stopped at its work bound before meeting its tolerance."""


@dataclass(frozen=True)
class QuadratureResult:
    """Integrals of a batch, with their error estimates.

    Attributes
    ----------
    value : ndarray, shape (B,)
    error : ndarray, shape (B,)
        Sum of the intervals' QUADPACK error estimates (conservative for smooth integrands).
    converged : ndarray of bool, shape (B,)
        ``error <= max(atol, rtol |value|)`` was reached within the work bound.
    intervals : ndarray of int, shape (B,)
        Intervals used by each integral.
    evaluations : int
        Integrand evaluations in total (15 per interval evaluated).
    rounds : int
        Rounds of subdivision (calls of the integrand).
    """

    value: np.ndarray
    error: np.ndarray
    converged: np.ndarray
    intervals: np.ndarray
    evaluations: int
    rounds: int


#: ``function(rows, points, hints) -> (values, hints)``: for ``n`` intervals, ``points`` has
#: shape ``(n, 15)``; ``hints`` is an opaque float array ``(n, H)`` handed back to the
#: children of an interval (e.g. a nearby solution to warm-start from).
Integrand = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def integrate_adaptive(function: Integrand, edges: np.ndarray, hints: np.ndarray | None = None, *,
                       rtol: float = 1e-10, atol: float = 0.0, max_rounds: int = 60,
                       max_intervals: int = 2000, log_map: bool = True,
                       on_failure: str = "warn") -> QuadratureResult:
    r"""Integrate ``B`` piecewise-smooth functions over pieces given by their break points.

    Parameters
    ----------
    function : callable
        ``function(rows, points, hints)`` returns the integrands of integrals ``rows`` (shape
        ``(n,)``) at ``points`` (shape ``(n, 15)``) and a hint per interval, shape ``(n, H)``.
    edges : ndarray, shape (B, P)
        Break points of each integral in increasing order: the first column is the lower
        limit, the last finite entry the upper one; ``nan`` pads rows with fewer pieces.
        Each piece between consecutive edges should be smooth (kinks at edges).
    hints : ndarray, shape (B, P - 1, H), optional
        The initial hint of each piece.
    rtol, atol : float
        Integral ``b`` has converged once its summed error estimate is at most
        ``max(atol, rtol |value_b|)``.
    max_rounds, max_intervals : int
        The work bound: rounds of subdivision, and intervals per integral.
    log_map : bool
        Integrate a piece ``[lo, hi]`` with ``lo > 0`` in ``u = log t`` (integrand times ``t``).
    on_failure : {"warn", "raise", "ignore"}
        What to do if some integral has not converged within the work bound.

    Returns
    -------
    QuadratureResult

    Notes
    -----
    Each round evaluates the 15-point Kronrod rule on every new interval, with the error
    estimate of QUADPACK (``resasc * min(1, (200 |K15 - G7| / resasc) ** 1.5)``, floored at
    ``50 eps`` times the integral of ``|f|``). Of every integral not yet converged, each
    interval whose estimate exceeds its share ``tol / n`` (``n`` intervals) is bisected;
    the interval with the largest estimate always is, so every round makes progress.
    """
    _check_options(rtol, atol, max_rounds, max_intervals, on_failure)
    edges = np.atleast_2d(np.asarray(edges, dtype=float))
    batch = edges.shape[0]
    lo, hi = edges[:, :-1], edges[:, 1:]
    piece = np.isfinite(lo) & np.isfinite(hi) & (hi > lo)
    rows, columns = np.nonzero(piece)
    lo, hi = lo[rows, columns], hi[rows, columns]
    mapped = log_map & (lo > 0)
    a = np.where(mapped, np.log(np.where(mapped, lo, 1.0)), lo)
    b = np.where(mapped, np.log(np.where(mapped, hi, 1.0)), hi)
    hint = np.zeros((rows.size, 0)) if hints is None else np.asarray(hints, dtype=float)[rows, columns]
    pool = _Intervals.empty(hint.shape[1])
    evaluations, rounds = 0, 0
    converged = np.zeros(batch, dtype=bool)
    while True:
        value, error, hint = _kronrod(function, rows, a, b, mapped, hint) if rows.size else (a, a, hint)
        evaluations, rounds = evaluations + 15 * rows.size, rounds + 1
        pool = pool.add(rows, a, b, mapped, value, error, hint)
        total, spread, count = pool.totals(batch)
        tolerance = np.maximum(atol, rtol * np.abs(total))
        converged = spread <= tolerance
        if converged.all() or rounds >= max_rounds:
            break
        split = pool.to_split(tolerance / np.maximum(count, 1), converged, count < max_intervals)
        if not split.any():
            break
        pool, (rows, a, b, mapped, hint) = pool.bisect(split)
    result = QuadratureResult(total, spread, converged, count, evaluations, rounds)
    _report(result, rtol, atol, on_failure)
    return result


def _check_options(rtol, atol, max_rounds, max_intervals, on_failure) -> None:
    if not (rtol >= 0 and atol >= 0 and rtol + atol > 0):
        raise ValueError(f"rtol and atol must be >= 0 and not both 0, got rtol={rtol!r}, atol={atol!r}")
    if int(max_rounds) != max_rounds or max_rounds < 1:
        raise ValueError(f"max_rounds must be an integer >= 1, got {max_rounds!r}")
    if int(max_intervals) != max_intervals or max_intervals < 1:
        raise ValueError(f"max_intervals must be an integer >= 1, got {max_intervals!r}")
    if on_failure not in ("warn", "raise", "ignore"):
        raise ValueError(f"on_failure must be 'warn', 'raise' or 'ignore', got {on_failure!r}")


def _report(result: QuadratureResult, rtol, atol, on_failure: str) -> None:
    failed = ~result.converged
    if not failed.any() or on_failure == "ignore":
        return
    worst = int(np.argmax(np.where(failed, result.error / np.maximum(np.abs(result.value), _TINY), -np.inf)))
    message = (f"{failed.sum()} of {failed.size} integrals missed the tolerance (rtol={rtol:g}, atol={atol:g}) "
               f"within the work bound ({result.rounds} rounds, at most {result.intervals.max()} intervals); worst: "
               f"integral {worst}, value {result.value[worst]:.6g}, error estimate {result.error[worst]:.2g}")
    if on_failure == "raise":
        raise ArithmeticError(message)
    warnings.warn(message, QuadratureWarning, stacklevel=3)


def _kronrod(function, rows, a, b, mapped, hint):
    """The (7, 15) rule on intervals ``[a, b]`` (in ``log t`` where ``mapped``)."""
    half, centre = 0.5 * (b - a), 0.5 * (a + b)
    u = centre[:, None] + half[:, None] * KRONROD_NODES
    t = np.where(mapped[:, None], np.exp(u), u)
    values, hint = function(rows, t, hint)
    f = np.where(mapped[:, None], values * t, values)
    kronrod = f @ KRONROD_WEIGHTS
    gauss = f @ GAUSS_WEIGHTS
    mean = 0.5 * kronrod
    resasc = np.abs(f - mean[:, None]) @ KRONROD_WEIGHTS * np.abs(half)
    resabs = np.abs(f) @ KRONROD_WEIGHTS * np.abs(half)
    error = np.abs((kronrod - gauss) * half)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.where((resasc > 0) & (error > 0),
                          resasc * np.minimum(1.0, (200.0 * error / np.where(resasc > 0, resasc, 1.0)) ** 1.5), error)
    error = np.maximum(scaled, 50.0 * _EPS * resabs)
    if not (np.all(np.isfinite(kronrod)) and np.all(np.isfinite(error))):
        raise FloatingPointError("the integrand returned values that are not finite")
    return kronrod * half, error, hint


@dataclass(frozen=True)
class _Intervals:
    """The intervals of every integral: bounds, mapping, estimate, error and hint."""

    rows: np.ndarray
    a: np.ndarray
    b: np.ndarray
    mapped: np.ndarray
    value: np.ndarray
    error: np.ndarray
    hint: np.ndarray

    @classmethod
    def empty(cls, hint_width: int) -> "_Intervals":
        none = np.zeros(0)
        return cls(none.astype(int), none, none, none.astype(bool), none, none, np.zeros((0, hint_width)))

    def add(self, rows, a, b, mapped, value, error, hint) -> "_Intervals":
        return _Intervals(*(np.concatenate([old, new]) for old, new in zip(
            (self.rows, self.a, self.b, self.mapped, self.value, self.error, self.hint),
            (rows, a, b, mapped, value, error, hint))))

    def totals(self, batch: int):
        """Per integral: the estimate, the summed error estimate and the number of intervals."""
        return (np.bincount(self.rows, self.value, batch), np.bincount(self.rows, self.error, batch),
                np.bincount(self.rows, minlength=batch))

    def to_split(self, share, converged, room) -> np.ndarray:
        """Intervals to bisect: over their share of the tolerance, or the worst of their integral."""
        open_row = ~converged[self.rows] & room[self.rows]
        worst = np.full(share.size, -1.0)
        np.maximum.at(worst, self.rows, self.error)
        return open_row & ((self.error > share[self.rows]) | (self.error >= worst[self.rows]))

    def bisect(self, split) -> tuple["_Intervals", tuple]:
        """The intervals without ``split``, and the halves of ``split`` (to be evaluated)."""
        middle = 0.5 * (self.a[split] + self.b[split])
        halves = (np.repeat(self.rows[split], 2), np.column_stack([self.a[split], middle]).ravel(),
                  np.column_stack([middle, self.b[split]]).ravel(), np.repeat(self.mapped[split], 2),
                  np.repeat(self.hint[split], 2, axis=0))
        keep = ~split
        remaining = _Intervals(self.rows[keep], self.a[keep], self.b[keep], self.mapped[keep],
                               self.value[keep], self.error[keep], self.hint[keep])
        return remaining, halves
