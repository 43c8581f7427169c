r"""Outside-option distributions and the entry (supply) curves they induce (market-design paper, Section 4).

A potential creator with outside option ``omega`` (a payoff per unit time) is active at
price ``p`` iff its best-response payoff ``p**2 / (2 c)`` is at least ``omega``. A type of
potential mass ``M`` whose outside options follow the distribution ``G`` therefore
supplies the active mass

.. math:: N(p) = M\, G\!\left(\frac{p^2}{2c}\right).

Each distribution is a frozen dataclass with ``cdf``, ``sample`` and ``quantiles``; the
:data:`DISTRIBUTIONS` registry maps the names used in scenario files to the classes.
Sweeping these (power law, lognormal, uniform, a point mass) is how users vary the entry
and supply-elasticity assumptions.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields

import numpy as np
from scipy import special

from abm.theory._validation import check_keys, require_nonnegative, require_positive

__all__ = [
    "OutsideOptions",
    "PowerLaw",
    "LogNormal",
    "Uniform",
    "PointMass",
    "IsoElastic",
    "DISTRIBUTIONS",
    "outside_options_from_dict",
    "entry_price",
    "best_response",
]


def entry_price(outside_option, cost):
    """Lowest price at which a creator with this outside option enters: ``sqrt(2 c omega)``."""
    return np.sqrt(2.0 * np.asarray(cost) * np.asarray(outside_option))


def best_response(price, entry_price, cost):
    """Entry and effort of creators offered a unit ``price``: the one creator rule.

    A creator enters iff the price reaches its entry price (its best-response payoff
    ``p^2 / (2c)`` covers its outside option) and then exerts ``p / c``. Works on scalars
    (one agent) and arrays (the whole population) alike.

    Returns
    -------
    active : bool or ndarray of bool
    effort : float or ndarray
    """
    active = np.greater_equal(price, entry_price)
    effort = np.where(active, np.divide(price, cost), 0.0)
    return active, (effort if effort.ndim else float(effort))


#: Largest lognormal ``sigma``: ``exp(sigma^2 / 2)`` (in the mean surplus) overflows float64 near 37.7,
#: and at 10 the population already spans dozens of orders of magnitude.
MAX_LOGNORMAL_SIGMA = 10.0


class OutsideOptions:
    """Interface of an outside-option distribution on ``[0, inf)``."""

    def cdf(self, payoff):
        """Share of creators whose outside option is at most ``payoff``."""
        raise NotImplementedError

    def ppf(self, share):
        """Quantile function: the outside option below which a ``share`` of creators lies."""
        raise NotImplementedError

    def integrated_cdf(self, payoff):
        r"""``int_0^u G(w) dw``: the mean surplus ``E[(u - omega)^+]`` of creators offered ``u``."""
        raise NotImplementedError

    def kinks(self) -> tuple[float, ...]:
        """Payoffs at which the CDF jumps or its slope changes abruptly."""
        return ()

    def sample(self, size: int, rng) -> np.ndarray:
        """Independent draws, using only ``rng``."""
        return self.ppf(np.random.default_rng(rng).uniform(size=size))

    def quantiles(self, size: int) -> np.ndarray:
        """A deterministic population: the ``(j + 1/2) / size`` quantiles, ``j = 0..size-1``."""
        return self.ppf((np.arange(size) + 0.5) / size)

    def to_dict(self) -> dict:
        """The scenario-file form, ``{"distribution": name, **parameters}``."""
        name = next(key for key, cls in DISTRIBUTIONS.items() if cls is type(self))
        return {"distribution": name, **{f.name: getattr(self, f.name) for f in fields(self)}}


@dataclass(frozen=True)
class PowerLaw(OutsideOptions):
    r"""``G(u) = min(1, (u / scale) ** exponent)``: isoelastic supply of elasticity ``2 * exponent``.

    Parameters
    ----------
    scale : float
        Largest outside option ``u_bar > 0``; everyone enters once ``p**2/(2c) >= scale``.
    exponent : float
        ``a > 0``; small is inelastic, large is elastic.
    """

    scale: float
    exponent: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", require_positive(self.scale, "power_law.scale"))
        object.__setattr__(self, "exponent", require_positive(self.exponent, "power_law.exponent"))

    def cdf(self, payoff):
        ratio = np.clip(np.asarray(payoff, dtype=float) / self.scale, 0.0, 1.0)
        return ratio**self.exponent

    def ppf(self, share):
        return self.scale * np.asarray(share, dtype=float) ** (1.0 / self.exponent)

    def integrated_cdf(self, payoff):
        payoff = np.asarray(payoff, dtype=float)
        below = np.minimum(payoff, self.scale)
        return self.scale * self.cdf(below) * (below / self.scale) / (self.exponent + 1) + np.maximum(
            payoff - self.scale, 0.0
        )

    def kinks(self):
        return (self.scale,)


@dataclass(frozen=True)
class LogNormal(OutsideOptions):
    """Lognormal outside options with the given ``median`` and log-standard deviation ``sigma``."""

    median: float
    sigma: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "median", require_positive(self.median, "lognormal.median"))
        object.__setattr__(self, "sigma", require_positive(self.sigma, "lognormal.sigma"))
        if self.sigma > MAX_LOGNORMAL_SIGMA:
            raise ValueError(f"lognormal.sigma must be <= {MAX_LOGNORMAL_SIGMA:g} (the mean's factor exp(sigma^2 / 2) "
                             f"and the extreme quantiles must stay finite in float64), got {self.sigma!r}")

    def cdf(self, payoff):
        payoff = np.asarray(payoff, dtype=float)
        with np.errstate(divide="ignore"):
            z = (np.log(payoff) - math.log(self.median)) / self.sigma
        return special.ndtr(z)

    def ppf(self, share):
        return self.median * np.exp(self.sigma * special.ndtri(np.asarray(share, dtype=float)))

    def integrated_cdf(self, payoff):
        payoff = np.asarray(payoff, dtype=float)
        with np.errstate(divide="ignore"):
            z = (np.log(payoff) - math.log(self.median)) / self.sigma
        partial_mean = self.median * math.exp(self.sigma**2 / 2) * special.ndtr(z - self.sigma)
        return payoff * special.ndtr(z) - partial_mean


@dataclass(frozen=True)
class Uniform(OutsideOptions):
    """Outside options uniform on ``[low, high]`` (``0 <= low < high``)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        low = require_nonnegative(self.low, "uniform.low")
        high = require_positive(self.high, "uniform.high")
        if not high > low:
            raise ValueError(f"uniform.high must exceed uniform.low, got low={low}, high={high}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def cdf(self, payoff):
        return np.clip((np.asarray(payoff, dtype=float) - self.low) / (self.high - self.low), 0.0, 1.0)

    def ppf(self, share):
        return self.low + (self.high - self.low) * np.asarray(share, dtype=float)

    def integrated_cdf(self, payoff):
        payoff = np.asarray(payoff, dtype=float)
        inside = np.clip(payoff, self.low, self.high) - self.low
        return inside**2 / (2 * (self.high - self.low)) + np.maximum(payoff - self.high, 0.0)

    def kinks(self):
        return (self.low, self.high)


@dataclass(frozen=True)
class PointMass(OutsideOptions):
    """Every creator has the same outside option ``value`` (a fixed entry threshold)."""

    value: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", require_nonnegative(self.value, "point_mass.value"))

    def cdf(self, payoff):
        return (np.asarray(payoff, dtype=float) >= self.value).astype(float)

    def ppf(self, share):
        return np.full(np.shape(share), self.value)

    def integrated_cdf(self, payoff):
        return np.maximum(np.asarray(payoff, dtype=float) - self.value, 0.0)

    def kinks(self):
        return (self.value,)


@dataclass(frozen=True)
class IsoElastic(OutsideOptions):
    r"""The power law parameterised by supply elasticity and level, so either can vary alone.

    ``N(p) = M min(1, level (p / p_ref)^elasticity)``: at the reference price a share
    ``level`` of the type's mass is active, and supply has constant elasticity ``elasticity``
    below full entry. The same curve as :class:`PowerLaw` with
    ``exponent = elasticity / 2`` and ``scale = u_ref level^(-2 / elasticity)``,
    ``u_ref = p_ref^2 / 2`` (:meth:`as_power_law`). Changing ``elasticity`` at fixed
    ``level`` rotates supply about the reference price instead of shifting it everywhere.

    The reference payoff assumes the unit effort cost of every shipped scenario; for a type
    with cost ``c`` the level holds at the price ``p_ref sqrt(c)``.

    Parameters
    ----------
    elasticity : float
        ``d log N / d log p > 0`` below full entry.
    level : float
        Share of the mass active at the reference price, in ``(0, 1]``.
    reference_price : float
        ``p_ref > 0``.
    """

    elasticity: float
    level: float
    reference_price: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "elasticity", require_positive(self.elasticity, "isoelastic.elasticity"))
        level = require_positive(self.level, "isoelastic.level")
        if level > 1:
            raise ValueError(f"isoelastic.level is a share of the mass and must be <= 1, got {level}")
        object.__setattr__(self, "level", level)
        object.__setattr__(self, "reference_price", require_positive(self.reference_price, "isoelastic.reference_price"))

    @functools.cached_property
    def _power_law(self) -> PowerLaw:
        return self.as_power_law()

    def as_power_law(self) -> PowerLaw:
        """The same distribution as a :class:`PowerLaw` (scale and exponent)."""
        exponent = self.elasticity / 2.0
        return PowerLaw(0.5 * self.reference_price**2 * self.level ** (-1.0 / exponent), exponent)

    def cdf(self, payoff):
        return self._power_law.cdf(payoff)

    def ppf(self, share):
        return self._power_law.ppf(share)

    def integrated_cdf(self, payoff):
        return self._power_law.integrated_cdf(payoff)

    def kinks(self):
        return self._power_law.kinks()


#: Names used in scenario files, mapped to the distribution classes.
DISTRIBUTIONS: dict[str, type[OutsideOptions]] = {
    "power_law": PowerLaw,
    "lognormal": LogNormal,
    "uniform": Uniform,
    "point_mass": PointMass,
    "isoelastic": IsoElastic,
}


def outside_options_from_dict(spec: dict, where: str = "outside_option") -> OutsideOptions:
    """Build a distribution from ``{"distribution": name, **parameters}``.

    Raises
    ------
    ValueError
        For an unknown distribution name, a missing parameter or an unknown key.
    """
    if not isinstance(spec, dict):
        raise ValueError(f"{where} must be a table such as {{ distribution = \"power_law\", scale = 0.5, "
                         f"exponent = 1.0 }}, got {spec!r}")
    spec = dict(spec)
    name = spec.pop("distribution", None)
    if not isinstance(name, str) or name not in DISTRIBUTIONS:
        raise ValueError(f"{where}.distribution must be one of {sorted(DISTRIBUTIONS)}, got {name!r}")
    cls = DISTRIBUTIONS[name]
    expected = {f.name for f in fields(cls)}
    check_keys(spec, expected, f"{where} ({name})", required=expected)
    try:
        return cls(**spec)
    except ValueError as error:  # "power_law.scale must be > 0" -> "innovators.outside_option.scale must be > 0 (power_law)"
        message = str(error)
        if message.startswith(f"{name}."):
            message = f"{where}.{message.removeprefix(name + '.')} ({name})"
        raise ValueError(message) from None
