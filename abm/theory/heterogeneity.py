r"""Creator characteristics drawn per creator: loadings and effort costs as distributions.

A creator type's loading ``beta`` or effort cost ``cost`` may be a number (every creator of
the type shares it) or a distribution, from which each creator agent draws its own value,
independently of its outside option and of its other characteristic (no correlation is
modelled; ``docs/model.md`` says why). Scenario files write a distribution as a table::

    beta = { distribution = "uniform", low = 0.8, high = 1.0 }
    beta = { distribution = "beta", a = 2, b = 5, scale = 1.0 }
    beta = { distribution = "truncated_normal", mean = 0.9, sd = 0.05 }      # truncated at 0
    beta = { distribution = "discrete", values = [0.88, 0.92], weights = [0.5, 0.5] }

with an optional ``sampling = "random" | "quantile"`` (the scenario's sampling by default):
independent draws, or the deterministic ``(j + 1/2) / n`` quantiles.

The fluid limit of a population with distributed characteristics splits each type into
*classes* (:meth:`Characteristic.classes`): ``k`` equal-probability classes, each carrying
the distribution's value at its midpoint quantile, or the atoms of a discrete distribution
exactly. The error of the midpoint rule falls as ``k^-2`` for smooth quantile functions
(measured in ``docs/validation.md``).
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields

import numpy as np
from scipy import special, stats

from abm.theory._validation import check_keys, frozen_array, require_nonnegative, require_positive

__all__ = ["Characteristic", "Fixed", "UniformValues", "BetaValues", "TruncatedNormalValues", "DiscreteValues",
           "CHARACTERISTICS", "characteristic_from_value", "SAMPLING_METHODS"]

#: How a population draws a characteristic: independently, or as the distribution's quantiles.
SAMPLING_METHODS = ("random", "quantile")


class Characteristic:
    """A per-creator characteristic (loading or cost): a number or a distribution on ``[0, inf)``.

    Subclasses implement :meth:`ppf`; ``sampling`` (``None``: the scenario's) chooses how a
    population draws it.
    """

    sampling: str | None = None

    def ppf(self, share) -> np.ndarray:
        """Quantile function."""
        raise NotImplementedError

    @property
    def is_fixed(self) -> bool:
        """Whether every creator gets the same value."""
        return False

    def draw(self, size: int, rng, sampling: str) -> np.ndarray:
        """``size`` values for a population: random draws from ``rng``, or the midpoint quantiles
        in an order shuffled by ``rng``.

        The shuffle keeps a characteristic independent of the creator's other draws (its
        outside option's quantiles come in increasing order). The characteristic's own
        ``sampling``, when set, overrides the scenario's.
        """
        method = self.sampling or sampling
        rng = np.random.default_rng(rng)
        if method == "random":
            return self.ppf(rng.uniform(size=size))
        return rng.permutation(self.ppf((np.arange(size) + 0.5) / size))

    def classes(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """``(values, weights)`` of ``count`` equal-probability classes for the fluid limit.

        Each class carries the value at its midpoint quantile; weights sum to 1.
        """
        count = int(count)
        if count < 1:
            raise ValueError(f"classes needs count >= 1, got {count}")
        return self.ppf((np.arange(count) + 0.5) / count), np.full(count, 1.0 / count)

    def mean(self) -> float:
        """The distribution's mean (by the quantile function's integral where not closed-form)."""
        nodes, weights = np.polynomial.legendre.leggauss(64)
        return float(0.5 * weights @ self.ppf(0.5 * (nodes + 1.0)))

    def to_value(self):
        """The scenario-file form: a number, or ``{"distribution": name, **parameters}``."""
        name = next(key for key, cls in CHARACTERISTICS.items() if cls is type(self))
        table = {"distribution": name}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "sampling" and value is None:
                continue
            table[f.name] = list(value) if isinstance(value, tuple) else value
        return table


@dataclass(frozen=True)
class Fixed(Characteristic):
    """Every creator of the type has the same ``value``."""

    value: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", require_nonnegative(self.value, "value"))

    @property
    def is_fixed(self) -> bool:
        return True

    def ppf(self, share):
        return np.full(np.shape(share), self.value)

    def draw(self, size: int, rng, sampling: str) -> np.ndarray:
        """``size`` copies of the value; draws nothing from ``rng``."""
        return np.full(int(size), self.value)

    def classes(self, count: int):
        return np.array([self.value]), np.array([1.0])

    def mean(self) -> float:
        return self.value

    def to_value(self):
        return self.value


def _sampling(value) -> str | None:
    if value is not None and value not in SAMPLING_METHODS:
        raise ValueError(f"sampling must be one of {SAMPLING_METHODS}, got {value!r}")
    return value


@dataclass(frozen=True)
class UniformValues(Characteristic):
    """Values uniform on ``[low, high]``, ``0 <= low < high``."""

    low: float
    high: float
    sampling: str | None = None

    def __post_init__(self) -> None:
        low, high = require_nonnegative(self.low, "uniform.low"), require_positive(self.high, "uniform.high")
        if not high > low:
            raise ValueError(f"uniform.high must exceed uniform.low, got low={low}, high={high}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "sampling", _sampling(self.sampling))

    def ppf(self, share):
        return self.low + (self.high - self.low) * np.asarray(share, dtype=float)

    def mean(self) -> float:
        return 0.5 * (self.low + self.high)


@dataclass(frozen=True)
class BetaValues(Characteristic):
    """``scale`` times a Beta(``a``, ``b``) variable: values on ``[0, scale]``."""

    a: float
    b: float
    scale: float = 1.0
    sampling: str | None = None

    def __post_init__(self) -> None:
        for name in ("a", "b", "scale"):
            object.__setattr__(self, name, require_positive(getattr(self, name), f"beta.{name}"))
        object.__setattr__(self, "sampling", _sampling(self.sampling))

    def ppf(self, share):
        return self.scale * special.betaincinv(self.a, self.b, np.asarray(share, dtype=float))

    def mean(self) -> float:
        return self.scale * self.a / (self.a + self.b)


@dataclass(frozen=True)
class TruncatedNormalValues(Characteristic):
    """A normal(``mean``, ``sd``) variable truncated below at 0 (no upper bound)."""

    mean_: float = field(metadata={"key": "mean"})
    sd: float = 1.0
    sampling: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean_", require_nonnegative(self.mean_, "truncated_normal.mean"))
        object.__setattr__(self, "sd", require_positive(self.sd, "truncated_normal.sd"))
        object.__setattr__(self, "sampling", _sampling(self.sampling))

    def _frozen(self):
        return stats.truncnorm(-self.mean_ / self.sd, np.inf, loc=self.mean_, scale=self.sd)

    def ppf(self, share):
        return self._frozen().ppf(np.asarray(share, dtype=float))

    def mean(self) -> float:
        return float(self._frozen().mean())

    def to_value(self):
        table = {"distribution": "truncated_normal", "mean": self.mean_, "sd": self.sd}
        return table | ({"sampling": self.sampling} if self.sampling else {})


@dataclass(frozen=True)
class DiscreteValues(Characteristic):
    """Finitely many ``values`` with probabilities ``weights`` (normalised to sum to 1).

    Both are kept as sorted tuples, so the distribution (and a market holding it) is hashable.
    """

    values: tuple
    weights: tuple
    sampling: str | None = None

    def __post_init__(self) -> None:
        values, weights = frozen_array(self.values, "discrete.values"), frozen_array(self.weights, "discrete.weights")
        if values.ndim != 1 or values.size == 0 or values.shape != weights.shape:
            raise ValueError("discrete.values and discrete.weights must be non-empty lists of the same length")
        if np.any(values < 0) or np.any(weights < 0) or weights.sum() <= 0:
            raise ValueError("discrete.values must be >= 0 and discrete.weights >= 0 with a positive sum")
        order = np.argsort(values, kind="stable")
        object.__setattr__(self, "values", tuple(float(v) for v in values[order]))
        object.__setattr__(self, "weights", tuple(float(w) for w in weights[order] / weights.sum()))
        object.__setattr__(self, "sampling", _sampling(self.sampling))

    @property
    def is_fixed(self) -> bool:
        return len(self.values) == 1

    def ppf(self, share):
        values = np.array(self.values)
        index = np.searchsorted(np.cumsum(self.weights), np.asarray(share, dtype=float), side="right")
        return values[np.minimum(index, values.size - 1)]

    def classes(self, count: int):
        return np.array(self.values), np.array(self.weights)

    def mean(self) -> float:
        return float(np.dot(self.values, self.weights))


#: Names used in scenario files, mapped to the distribution classes.
CHARACTERISTICS: dict[str, type[Characteristic]] = {
    "uniform": UniformValues,
    "beta": BetaValues,
    "truncated_normal": TruncatedNormalValues,
    "discrete": DiscreteValues,
}


def characteristic_from_value(value, where: str) -> Characteristic:
    """A :class:`Characteristic` from a scenario value: a number, a table, or one already built.

    Raises
    ------
    ValueError
        Naming ``where``, for an unknown distribution, a missing or unknown key, or a bad value.
    """
    if isinstance(value, Characteristic):
        return value
    if not isinstance(value, dict):
        return Fixed(require_nonnegative(value, where))
    table = dict(value)
    name = table.pop("distribution", None)
    if name not in CHARACTERISTICS:
        raise ValueError(f"{where}.distribution must be one of {sorted(CHARACTERISTICS)}, got {name!r}")
    cls = CHARACTERISTICS[name]
    keys = {f.metadata.get("key", f.name): f for f in fields(cls)}
    required = {key for key, f in keys.items() if f.default is MISSING}
    check_keys(table, set(keys), f"{where} ({name})", required=required)
    try:
        return cls(**{keys[key].name: item for key, item in table.items()})
    except (ValueError, TypeError) as error:
        raise ValueError(f"{where}: {error}") from None
