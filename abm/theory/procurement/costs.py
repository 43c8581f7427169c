r"""Distributions of a creator's private cost coefficient ``c_k`` on ``[a_k, b_k]``.

Mechanism M1 weighs each domain by its virtual cost ``c + F(c) / f(c)``, so a distribution
has to give ``F / f`` accurately even where ``F`` and ``f`` both underflow, and the mean
(M6's weight) and quantiles (sampling, expectations) for supports anywhere on the line.

:class:`TruncatedNormalCost` works with standardised bounds ``z = (c - loc) / scale`` and
never subtracts two normal CDFs that are both close to 1 (or both close to 0). The mass of
``[a, b]`` is written through an *anchor* ``A`` (the end nearer the centre in a tail, 0
across the centre) as ``Phi(b) - Phi(a) = phi(A) exp(L)``, where ``L`` is computed

- in the upper tail (``a >= 0``) from Mills' ratio ``R(z) = (1 - Phi(z)) / phi(z)``
  (``scipy.special.erfcx``, accurate to a few ulp for every ``z >= 0``):
  ``exp(L) = R(a) - exp(-(b - a)(b + a) / 2) R(b)``;
- in the lower tail (``b <= 0``) from the mirror image;
- across the centre from ``(erf(b / sqrt 2) - erf(a / sqrt 2)) / 2``, a sum of two terms of
  the same sign;
- on narrow intervals (``(b - a) max(|a|, |b|) <= 1``) by a 20-point Gauss-Legendre rule
  for ``int_0^{b-a} exp(-a u - u^2 / 2) du``, which has no cancellation at all.

Density, CDF, ``F / f`` and mean are then ratios of such masses and Gaussian factors whose
exponents are formed as products ``(z - A)(z + A)``, never as differences of squares.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from scipy import special

from abm.theory._validation import require_finite, require_positive
from abm.theory.procurement.quadrature import gauss_legendre

__all__ = ["CostDistribution", "UniformCost", "TruncatedNormalCost"]

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)
_NARROW_NODES = 20


class CostDistribution(ABC):
    """A cost distribution on ``[low, high]`` with a positive density.

    Subclasses give :meth:`pdf`, :meth:`cdf`, :meth:`ratio` (``F / f``), :meth:`mean` and
    :meth:`ppf`; the virtual cost, sampling and the log-concavity check build on them.
    """

    low: float
    high: float

    #: Slope of the virtual cost when it is linear in ``c`` (uniform: 2), else ``None``.
    linear_virtual_slope: float | None = None

    @abstractmethod
    def pdf(self, c):
        """Density ``f(c)`` (0 outside the support)."""

    @abstractmethod
    def cdf(self, c):
        """Distribution function ``F(c)``."""

    @abstractmethod
    def ratio(self, c):
        """``F(c) / f(c)`` on the support, computed without forming ``F`` or ``f``."""

    @abstractmethod
    def mean(self) -> float:
        """``E[c]``."""

    @abstractmethod
    def ppf(self, share):
        """Quantile function, the inverse of :meth:`cdf`."""

    def virtual_cost(self, c):
        """Myerson's virtual cost ``c + F(c) / f(c)`` (the weight of M1)."""
        return np.asarray(c, dtype=float) + self.ratio(c)

    def sample(self, size, rng) -> np.ndarray:
        """``size`` draws by inversion of uniforms from ``rng`` (a seed or a Generator)."""
        return self.ppf(np.random.default_rng(rng).uniform(size=size))

    def check_log_concave(self, points: int = 2001) -> None:
        """Assumption 2.3 of the procurement paper: ``f / F`` must decrease.

        Raises
        ------
        ValueError
            If ``f / F`` increases somewhere on a grid of ``points`` costs.
        """
        grid = np.linspace(self.low, self.high, points)[1:]
        inverse = 1.0 / self.ratio(grid)
        if np.any(np.diff(inverse) > 1e-12 * np.abs(inverse[:-1])):
            raise ValueError(f"{type(self).__name__} is not log-concave: f/F increases somewhere on its support")


def _check_support(low, high, name: str) -> tuple[float, float]:
    low, high = require_finite(low, f"{name}.low"), require_finite(high, f"{name}.high")
    if not 0.0 <= low < high:
        raise ValueError(f"{name} needs 0 <= low < high, got low={low!r}, high={high!r}")
    return low, high


@dataclass(frozen=True)
class UniformCost(CostDistribution):
    """Costs uniform on ``[low, high]``, ``0 <= low < high``."""

    low: float
    high: float

    linear_virtual_slope = 2.0

    def __post_init__(self) -> None:
        low, high = _check_support(self.low, self.high, "UniformCost")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def pdf(self, c):
        c = np.asarray(c, dtype=float)
        return np.where((c >= self.low) & (c <= self.high), 1.0 / (self.high - self.low), 0.0)

    def cdf(self, c):
        return np.clip((np.asarray(c, dtype=float) - self.low) / (self.high - self.low), 0.0, 1.0)

    def ratio(self, c):
        return np.asarray(c, dtype=float) - self.low

    def mean(self) -> float:
        return 0.5 * (self.low + self.high)

    def ppf(self, share):
        return self.low + (self.high - self.low) * np.asarray(share, dtype=float)


@dataclass(frozen=True)
class TruncatedNormalCost(CostDistribution):
    """A normal(``loc``, ``scale``) cost truncated to ``[low, high]``, ``0 <= low < high``.

    Accurate to about 1e-13 relative (density, CDF, ``F / f``, mean in units of ``scale``)
    for standardised bounds anywhere in ``[-40, 40]``; see the module notes.
    """

    loc: float
    scale: float
    low: float
    high: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "loc", require_finite(self.loc, "TruncatedNormalCost.loc"))
        object.__setattr__(self, "scale", require_positive(self.scale, "TruncatedNormalCost.scale"))
        low, high = _check_support(self.low, self.high, "TruncatedNormalCost")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        if not self._alpha < self._beta:
            raise ValueError(f"TruncatedNormalCost support [{low}, {high}] is empty once standardised")

    @property
    def _alpha(self) -> float:
        return (self.low - self.loc) / self.scale

    @property
    def _beta(self) -> float:
        return (self.high - self.loc) / self.scale

    def _z(self, c) -> np.ndarray:
        """Standardised costs, clipped to the support."""
        return np.clip((np.asarray(c, dtype=float) - self.loc) / self.scale, self._alpha, self._beta)

    def pdf(self, c):
        c = np.asarray(c, dtype=float)
        z = self._z(c)
        anchor, log_mass = _log_mass(self._alpha, self._beta)
        density = np.exp(-0.5 * (z - anchor) * (z + anchor) - log_mass) / self.scale
        return np.where((c >= self.low) & (c <= self.high), density, 0.0)

    def cdf(self, c):
        z = self._z(c)
        anchor, log_part = _log_mass(self._alpha, z)
        whole_anchor, log_whole = _log_mass(self._alpha, self._beta)
        with np.errstate(invalid="ignore"):  # -inf - finite at the lower end is fine
            exponent = -0.5 * (anchor - whole_anchor) * (anchor + whole_anchor) + log_part - log_whole
        return np.clip(np.exp(exponent), 0.0, 1.0)

    def ratio(self, c):
        z = self._z(c)
        anchor, log_part = _log_mass(self._alpha, z)
        with np.errstate(over="ignore"):  # F/f overflows only where it really exceeds 1e308
            return self.scale * np.exp(0.5 * (z - anchor) * (z + anchor) + log_part)

    def mean(self) -> float:
        alpha, beta = self._alpha, self._beta
        anchor, log_mass = _log_mass(alpha, beta)
        # (phi(a) - phi(b)) / mass = phi(a)/phi(A) (1 - exp(-(b-a)(b+a)/2)) / exp(L)
        standard = (np.exp(-0.5 * (alpha - anchor) * (alpha + anchor) - log_mass)
                    * -np.expm1(-0.5 * (beta - alpha) * (beta + alpha)))
        return float(self.loc + self.scale * standard)

    def ppf(self, share):
        share = np.asarray(share, dtype=float)
        alpha, beta = self._alpha, self._beta
        if beta <= 0.0:  # lower tail: mirror the upper-tail inversion
            z = -_ppf_upper(1.0 - share, share, -beta, -alpha)
        elif alpha >= 0.0:
            z = _ppf_upper(share, 1.0 - share, alpha, beta)
        else:
            z = _ppf_centre(share, alpha, beta)
        return self.loc + self.scale * np.clip(z, alpha, beta)


# --- the standard normal's mass on [a, b], in a form that keeps every digit ---------------------


def _mills(z):
    """Mills' ratio ``(1 - Phi(z)) / phi(z)`` for ``z >= 0``."""
    return np.sqrt(0.5 * np.pi) * special.erfcx(np.asarray(z, dtype=float) / np.sqrt(2.0))


def _log_mass(a, b):
    r"""``Phi(b) - Phi(a)`` for ``a <= b`` as ``(A, L)`` with mass ``= phi(A) exp(L)``.

    ``A`` is ``a`` in the upper tail and on narrow intervals, ``-b`` in the lower tail and 0
    across the centre, so ``phi(A)`` carries the magnitude (it may underflow; the callers
    combine anchors as ``(z - A)(z + A)`` first) and ``L`` is of order one.
    """
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    width = b - a
    narrow = (width <= 1.0) & (width * np.maximum(np.abs(a), np.abs(b)) <= 1.0)
    upper, lower = ~narrow & (a >= 0), ~narrow & (b <= 0)
    centre = ~(narrow | upper | lower)
    anchor = np.where(upper | narrow, a, np.where(lower, -b, 0.0))
    log_mass = np.empty(a.shape)
    with np.errstate(divide="ignore"):  # log 0 = -inf for an empty interval
        log_mass[narrow] = np.log(_narrow_integral(a[narrow], width[narrow]))
        log_mass[upper] = _log_tail(a[upper], b[upper])
        log_mass[lower] = _log_tail(-b[lower], -a[lower])
        halves = special.erf(b[centre] / np.sqrt(2.0)) - special.erf(a[centre] / np.sqrt(2.0))
        log_mass[centre] = np.log(0.5 * halves) + _LOG_SQRT_2PI
    return anchor, log_mass


def _narrow_integral(a, width):
    """``int_0^width exp(-a u - u^2 / 2) du`` by Gauss-Legendre (the integrand is nearly flat)."""
    nodes, weights = gauss_legendre(_NARROW_NODES)
    u = width[..., None] * nodes
    return width * (np.exp(-a[..., None] * u - 0.5 * u * u) @ weights)


def _log_tail(a, b):
    """``log(R(a) - exp(-(b - a)(b + a) / 2) R(b))`` for ``0 <= a < b``: the upper-tail ``L``."""
    return np.log(_mills(a) - np.exp(-0.5 * (b - a) * (b + a)) * _mills(b))


def _log_upper_tail_mass(z):
    """``log(1 - Phi(z))`` for ``z >= 0`` without cancellation."""
    return -0.5 * z * z - _LOG_SQRT_2PI + np.log(_mills(z))


def _ppf_upper(share, complement, a, b):
    """Standardised quantile on ``[a, b]`` with ``a >= 0``, given ``share`` and ``1 - share``.

    Inverts the survival function: ``1 - Phi(z) = (1 - Phi(a)) - share * mass`` for shares up
    to one half, ``(1 - Phi(b)) + (1 - share) * mass`` above, so neither form cancels.
    """
    anchor, log_mass = _log_mass(a, b)
    log_mass = log_mass - 0.5 * anchor * anchor - _LOG_SQRT_2PI
    log_at_a, log_at_b = _log_upper_tail_mass(a), _log_upper_tail_mass(b)
    with np.errstate(divide="ignore"):
        from_a = log_at_a + np.log1p(-share * np.exp(log_mass - log_at_a))
        from_b = np.logaddexp(log_at_b, np.log(complement) + log_mass)
    return -special.ndtri_exp(np.where(share <= 0.5, from_a, from_b))


def _ppf_centre(share, a, b):
    """Standardised quantile on ``[a, b]`` with ``a < 0 < b``."""
    mass = 0.5 * (special.erf(b / np.sqrt(2.0)) - special.erf(a / np.sqrt(2.0)))
    below = special.ndtr(a) + share * mass
    above = special.ndtr(-b) + (1.0 - share) * mass
    with np.errstate(divide="ignore"):
        return np.where(below <= 0.5, special.ndtri(below), -special.ndtri(above))
