r"""The dynamic market and its fluid limit: the curse of precision (market-design paper,
Section 4).

Two creator types, innovators (loading ``beta_O``) and rank-and-file creators
(``beta_C > beta_O``), sell effort at one market price. Data stocks grow with the effort
supplied and depreciate at rate ``delta``; the model's precision is the fixed point
``P = F(X, sigma^2(P))`` with the recursive bias ``sigma^2(P) = sigma0^2 + kappa P``.

All functions here are pure. The agent-based model calls the same precision, marginal
value and price-cap functions on its agents' aggregates, so theory and simulation share
one implementation of every formula.

Discontinuous supply. A point-mass outside option (a fixed entry threshold) makes a type's
active mass jump at one price (:func:`jump_prices`). The firm's profit rate (Eq. 12) is then
maximised branch by branch, on the intervals between jump prices (:func:`price_branches`),
and the myopic price jumps where two branch values tie; the right-hand side of Eq. 8
switches on that surface and has no classical solution along it. The fluid limit there is
the sliding (Filippov) solution, the limit of the round map as ``dt -> 0``: the firm posts
the two branch prices for time shares ``(alpha, 1 - alpha)`` that keep the state on the
surface ``h = V_a - V_b = 0``. :func:`solve_fluid` integrates it mode by mode with LSODA:
on one branch's smooth field until an event finds the surface; there, if both fields
point towards it, on ``alpha f_a + (1 - alpha) f_b`` with ``alpha s_a + (1 - alpha) s_b = 0``,
``s_j = grad h . f_j`` (``grad h`` by the envelope theorem), until ``alpha`` reaches 0 or 1;
if they do not, it crosses into the other branch. While sliding, the price columns report
the effort-weighted mean price (payments per unit of effort) and the rate columns their
time averages (A. F. Filippov, *Differential Equations with Discontinuous Righthand
Sides*, Kluwer, 1988). Only the firm's own price is treated so; a regime posting a
continuous price that sits at an entry threshold stops at the work bound below.

Bounded work. :func:`solve_fluid` counts its evaluations of the market at a state and
raises :class:`FluidSolverError` past ``max_evaluations`` (:data:`MAX_EVALUATIONS`) or
``max_seconds`` (:data:`MAX_SECONDS`), saying how often the right-hand side switched and
at which jump prices. Every inner search is bounded too: the price refinement (bounded
Brent, 500 iterations), the cap (``brentq``, 100), the precision (closed form). Nothing
catches exceptions, so ``KeyboardInterrupt`` (and the CLI's SIGTERM) stop a solve.

Round length. :func:`round_length_check` measures how far one round of length ``dt``
moves the stocks and marginal values; :func:`fluid_rounds` warns
(:class:`RoundLengthWarning`) when rounds are too long to follow the ODE.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from time import perf_counter
from typing import Callable

import numpy as np
import pandas as pd
from scipy import integrate, optimize

from abm.theory._validation import require_nonnegative, require_positive
from abm.theory.information import information_sums, precision_fixed_point, recursive_marginal_values
from abm.theory.supply import OutsideOptions, entry_price

__all__ = [
    "CreatorType",
    "DynamicMarket",
    "SupplyAssumptionWarning",
    "RoundLengthWarning",
    "FluidSolverError",
    "MAX_EVALUATIONS",
    "MAX_SECONDS",
    "ROUND_CHANGE_TARGET",
    "precision",
    "marginal_values",
    "model_state",
    "profit_rate",
    "myopic_price",
    "jump_prices",
    "price_branches",
    "rank_and_file_discount",
    "price_cap",
    "price_trap",
    "precision_barrier",
    "supply_ratio",
    "check_supply_ratio",
    "fluid_rhs",
    "solve_fluid",
    "fluid_rounds",
    "round_length_check",
    "round_factors",
    "round_prices",
    "trajectory_row",
    "PricingContext",
    "TRAJECTORY_COLUMNS",
    "TYPE_NAMES",
]

#: Names of the two types in column names, in the order of every per-type array.
TYPE_NAMES = ("innovators", "rank_and_file")

#: Columns shared by every trajectory table (fluid ODE, fluid rounds, agent-based model).
TRAJECTORY_COLUMNS = (
    "time",
    "price",
    "price_innovators",
    "price_rank_and_file",
    "precision",
    "stock_innovators",
    "stock_rank_and_file",
    "active_innovators",
    "active_rank_and_file",
    "marginal_value_innovators",
    "marginal_value_rank_and_file",
    "firm_transfer",
    "firm_profit",
    "surplus_innovators",
    "surplus_rank_and_file",
    "intermediary_balance",
    "welfare",
    "trade_surplus",
    "discount",
    "price_cap",
    "price_trap",
    "precision_barrier",
)


#: Default bound on one :func:`solve_fluid` call's evaluations of the market at a state (the
#: shipped smooth scenarios need 200 to 1,400, the threshold scenario a few hundred more).
MAX_EVALUATIONS = 20_000
#: Default bound on one :func:`solve_fluid` call's wall time, in seconds (a backstop: the
#: evaluation bound is the one that normally stops a solve, and does so reproducibly).
MAX_SECONDS = 600.0
#: Relative change of a data stock or a marginal value in one round above which a round is
#: too long for the round map to follow the fluid ODE (:func:`round_length_check`). The
#: shipped smooth scenarios peak at 0.06 to 0.1 (agents included), the stiff example of
#: ``docs/model.md`` at 160.
ROUND_CHANGE_TARGET = 0.25


class SupplyAssumptionWarning(UserWarning):
    """A scenario's supply curves violate Eq. 7 (``R(p)`` strictly increasing) where used."""


class RoundLengthWarning(UserWarning):
    """Rounds of length ``dt`` move a data stock or a marginal value too far to follow the fluid ODE."""


class FluidSolverError(RuntimeError):
    """:func:`solve_fluid` failed or exceeded its work bound; the message names the cause."""


@dataclass(frozen=True)
class CreatorType:
    """A population of potential creators of one type.

    Parameters
    ----------
    mass : float
        Potential mass ``M_k > 0``; ``N_k(p) = M_k G_k(p^2 / (2 cost))`` of it is active.
    beta : float or Characteristic
        Loading on the common factor, ``>= 0``: one number for the whole type, or a
        distribution (:mod:`abm.theory.heterogeneity`) from which every creator draws its own.
    outside_option : OutsideOptions
        Distribution ``G_k`` of outside options (payoff per unit time).
    cost : float or Characteristic
        Effort cost coefficient ``c_k > 0`` (or its distribution); active creators exert
        ``e(p) = p / c``.
    initial_stock : float
        Data stock ``X_k(0) >= 0``.

    The supply functions (:meth:`active_mass`, :meth:`inflow`, ...) are those of a type
    whose creators share one loading and one cost; a type with distributed characteristics
    is first split into such classes (:meth:`classes`, :func:`split_into_classes`).
    """

    mass: float
    beta: float
    outside_option: OutsideOptions
    cost: float = 1.0
    initial_stock: float = 0.0

    def __post_init__(self) -> None:
        from abm.theory.heterogeneity import characteristic_from_value

        object.__setattr__(self, "mass", require_positive(self.mass, "mass"))
        for name, check in (("beta", require_nonnegative), ("cost", require_positive)):
            characteristic = characteristic_from_value(getattr(self, name), name)
            if characteristic.is_fixed:
                value = float(characteristic.ppf(0.5))
                object.__setattr__(self, name, check(value, name))
            else:
                if name == "cost" and float(characteristic.ppf(0.0)) <= 0.0:
                    raise ValueError("cost: a cost distribution must stay above 0 (its lowest value is 0)")
                object.__setattr__(self, name, characteristic)
        object.__setattr__(self, "initial_stock", require_nonnegative(self.initial_stock, "initial_stock"))
        if not isinstance(self.outside_option, OutsideOptions):
            raise ValueError(f"outside_option must be an OutsideOptions distribution, got {self.outside_option!r}")

    @property
    def is_homogeneous(self) -> bool:
        """Whether every creator of the type has the same loading and cost."""
        return isinstance(self.beta, float) and isinstance(self.cost, float)

    @property
    def beta_mean(self) -> float:
        """The type's mean loading (its loading when all share one)."""
        return self.beta if isinstance(self.beta, float) else self.beta.mean()

    def classes(self, count: int) -> list["CreatorType"]:
        """The type split into classes of creators sharing one loading and one cost.

        Each distributed characteristic gets ``count`` equal-probability classes (the atoms,
        for a discrete one; :meth:`~abm.theory.heterogeneity.Characteristic.classes`); loading
        and cost are independent, so the classes are their product, each with its share of
        the mass and of the initial stock and the type's outside-option distribution.
        """
        from abm.theory.heterogeneity import characteristic_from_value

        if self.is_homogeneous:
            return [self]
        betas, beta_weights = characteristic_from_value(self.beta, "beta").classes(count)
        costs, cost_weights = characteristic_from_value(self.cost, "cost").classes(count)
        return [CreatorType(self.mass * wb * wc, float(b), self.outside_option, float(c), self.initial_stock * wb * wc)
                for b, wb in zip(betas, beta_weights) for c, wc in zip(costs, cost_weights)]

    def _require_homogeneous(self) -> None:
        if not self.is_homogeneous:
            raise ValueError("this creator type's loading or cost is distributed: split it into classes first "
                             "(CreatorType.classes, split_into_classes)")

    def active_mass(self, price):
        """``N_k(p)``: mass of creators for whom entering beats the outside option."""
        self._require_homogeneous()
        return self.mass * self.outside_option.cdf(np.square(price) / (2.0 * self.cost))

    def effort(self, price):
        """Best-response effort of an active creator, ``p / c_k``."""
        return np.asarray(price, dtype=float) / self.cost

    def inflow(self, price):
        """Effort supplied per unit time, ``N_k(p) p / c_k``: the growth of the data stock."""
        return self.active_mass(price) * self.effort(price)

    def surplus(self, price):
        """Total surplus of active creators over their outside options, ``M_k int_0^u G``."""
        return self.mass * self.outside_option.integrated_cdf(np.square(price) / (2.0 * self.cost))

    def kink_prices(self) -> np.ndarray:
        """Prices where ``N_k`` jumps or bends (entry prices of the distribution's kinks)."""
        return entry_price(np.array(self.outside_option.kinks(), dtype=float), self.cost)


@dataclass(frozen=True)
class DynamicMarket:
    """Parameters of the dynamic market (market-design paper, Section 4).

    Parameters
    ----------
    innovators, rank_and_file : CreatorType
        The two types; ``rank_and_file.beta`` must exceed ``innovators.beta``.
    value : float
        Value ``v > 0`` of a unit of precision per unit time.
    sigma0_sq : float
        Prior variance of the common factor without recursive bias, ``>= 0``.
    kappa : float
        Recursive-bias coefficient in ``sigma^2(P) = sigma0^2 + kappa P``, ``>= 0``.
    depreciation : float
        Rate ``delta >= 0`` at which data stocks lose value (concept drift).
    """

    innovators: CreatorType
    rank_and_file: CreatorType
    value: float = 1.0
    sigma0_sq: float = 0.5
    kappa: float = 0.2
    depreciation: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", require_positive(self.value, "value"))
        object.__setattr__(self, "sigma0_sq", require_nonnegative(self.sigma0_sq, "sigma0_sq"))
        object.__setattr__(self, "kappa", require_nonnegative(self.kappa, "kappa"))
        object.__setattr__(self, "depreciation", require_nonnegative(self.depreciation, "depreciation"))
        if not self.rank_and_file.beta_mean > self.innovators.beta_mean:
            raise ValueError(
                "rank_and_file.beta must exceed innovators.beta (on average, where distributed) "
                f"(got {self.rank_and_file.beta_mean} <= {self.innovators.beta_mean})"
            )

    @property
    def types(self) -> tuple[CreatorType, CreatorType]:
        """``(innovators, rank_and_file)``, the order of every per-type array."""
        return (self.innovators, self.rank_and_file)

    @property
    def groups(self) -> np.ndarray:
        """The type (0 innovators, 1 rank-and-file) of each entry of :attr:`types`."""
        return np.array([0, 1])

    @property
    def is_homogeneous(self) -> bool:
        """Whether every creator of a type shares its type's loading and cost."""
        return all(t.is_homogeneous for t in self.types)

    @property
    def betas(self) -> np.ndarray:
        """Loadings of the two types (mean loadings where distributed)."""
        return np.array([t.beta_mean for t in self.types])

    @property
    def initial_stocks(self) -> np.ndarray:
        """``X(0)`` of the two types."""
        return np.array([t.initial_stock for t in self.types])


#: Classes per distributed characteristic in the fluid limit of a heterogeneous market.
DEFAULT_CLASSES = 32


@dataclass(frozen=True)
class ClassMarket:
    """A dynamic market whose types are split into classes of creators sharing one loading and cost.

    The fluid limit of a population with distributed characteristics (one stock per class,
    the same ODE); it offers the attributes of :class:`DynamicMarket` that the fluid-limit
    functions use, with ``types`` the classes and ``groups`` each class's type.

    Attributes
    ----------
    types : tuple of CreatorType
        The classes, each homogeneous.
    groups : tuple of int
        0 (innovators) or 1 (rank-and-file) per class (a tuple, so the market stays hashable).
    innovators, rank_and_file : CreatorType
        The original types (their mean loadings set the reported discount and barrier).
    value, sigma0_sq, kappa, depreciation : float
    """

    types: tuple
    groups: tuple
    innovators: CreatorType
    rank_and_file: CreatorType
    value: float
    sigma0_sq: float
    kappa: float
    depreciation: float

    @property
    def betas(self) -> np.ndarray:
        """Loading of each class."""
        return np.array([t.beta for t in self.types])

    @property
    def initial_stocks(self) -> np.ndarray:
        """``X(0)`` of each class (the type's initial stock split by class mass)."""
        return np.array([t.initial_stock for t in self.types])

    @property
    def is_homogeneous(self) -> bool:
        """Classes are homogeneous by construction."""
        return True


def split_into_classes(market, classes: int = DEFAULT_CLASSES):
    """``market`` itself if homogeneous, else its :class:`ClassMarket` with ``classes`` classes
    per distributed characteristic (:meth:`CreatorType.classes`)."""
    if market.is_homogeneous:
        return market
    split = [creator.classes(classes) for creator in (market.innovators, market.rank_and_file)]
    return ClassMarket(types=tuple(split[0] + split[1]), groups=(0,) * len(split[0]) + (1,) * len(split[1]),
                       innovators=market.innovators, rank_and_file=market.rank_and_file, value=market.value,
                       sigma0_sq=market.sigma0_sq, kappa=market.kappa, depreciation=market.depreciation)


def by_group(values, groups) -> np.ndarray:
    """Per type (innovators, rank-and-file): the sum of per-class ``values``; the values
    themselves when every type is one class."""
    values, groups = np.asarray(values, dtype=float), np.asarray(groups)
    if values.shape[-1] == 2 and np.array_equal(groups, (0, 1)):
        return values
    return np.stack([values[..., groups == g].sum(axis=-1) for g in (0, 1)], axis=-1)


def _group_prices(prices, inflows, groups) -> np.ndarray:
    """Per type: the class price if one class, else the effort-weighted mean price of its classes."""
    prices, groups = np.asarray(prices, dtype=float), np.asarray(groups)
    if prices.size == 2 and np.array_equal(groups, (0, 1)):
        return prices
    inflows = np.asarray(inflows, dtype=float)
    paid, supplied = by_group(prices * inflows, groups), by_group(inflows, groups)
    plain = np.array([prices[groups == g].mean() for g in (0, 1)])
    return np.divide(paid, supplied, out=plain, where=supplied > 0)


# --- precision and marginal values -----------------------------------------------------------


def model_state(market: DynamicMarket, stocks) -> tuple[float, np.ndarray]:
    """Precision of the model trained on ``stocks`` and the marginal values ``(m_O, m_C)``.

    Precision is the closed-form fixed point of Eq. 11
    (:func:`~abm.theory.information.precision_fixed_point`); marginal values follow by the
    implicit function theorem (:func:`~abm.theory.information.recursive_marginal_values`).
    The fluid limit and the agent-based model both read their state through this function.
    """
    s0, s1, s2 = information_sums(stocks, market.betas)
    current = precision_fixed_point(s0, s1, s2, market.sigma0_sq, market.kappa)
    margins = recursive_marginal_values(s1, s2, current, market.sigma0_sq, market.kappa, market.betas)
    return current, margins


def precision(market: DynamicMarket, stocks) -> float:
    """Effective precision of the model trained on stocks ``(X_O, X_C)`` (Eq. 11)."""
    return model_state(market, stocks)[0]


def marginal_values(market: DynamicMarket, stocks) -> np.ndarray:
    """Marginal values ``(m_O, m_C)`` of one more unit of each type's data."""
    return model_state(market, stocks)[1]


# --- the firm's myopic price (Eq. 12) --------------------------------------------------------


def profit_rate(market: DynamicMarket, price, margins) -> np.ndarray:
    r"""The price-dependent part of the firm's profit rate (Eq. 12).

    ``sum_k N_k(p) e_k(p) (v m_k - p)``: value of the data bought minus what it costs;
    the depreciation term of ``v dP/dt`` does not depend on ``p`` and is left out.
    """
    price = np.asarray(price, dtype=float)
    return sum(
        creator.inflow(price) * (market.value * margin - price)
        for creator, margin in zip(market.types, margins)
    )


def myopic_price(market: DynamicMarket, margins, grid_points: int = 257) -> float:
    """The myopic firm's price (Eq. 12) given marginal values ``(m_O, m_C)``.

    A price above ``v * max(m)`` loses money on every unit, so the search runs over
    ``[0, v max(m)]``, branch by branch (:func:`price_branches`): a grid that includes every
    kink of the supply curves, refined by a bounded Brent search around the best grid
    point. Returns 0 when no price is profitable.
    """
    if market.value * float(np.max(margins)) <= 0.0:
        return 0.0
    prices, profits = price_branches(market, margins, grid_points)
    best = int(np.argmax(profits))
    return float(prices[best]) if profits[best] > 0.0 else 0.0


def jump_prices(market: DynamicMarket) -> np.ndarray:
    """Prices at which a type's active mass ``N_k`` jumps: the entry prices of atoms of ``G_k``.

    A point-mass outside option (a fixed entry threshold) brings a whole group in at one
    price, so supply, the firm's price and the right-hand side of Eq. 8 are discontinuous
    there. Each price returned is the lowest float at which its group is active, whatever
    the rounding of ``sqrt(2 c omega)``. Empty for continuous distributions.
    """
    return np.array(_jump_prices(market))


@functools.lru_cache(maxsize=64)
def _jump_prices(market: DynamicMarket) -> tuple:
    found = (_atom_entry(creator, price) for creator in market.types for price in creator.kink_prices() if price > 0)
    return tuple(sorted({price for price in found if price is not None}))


def _atom_entry(creator: CreatorType, price: float) -> float | None:
    """The lowest float price near a kink at which an atom of ``G_k`` is active, or ``None``.

    ``N_k`` jumps at the kink if it rises by more than ``1e-6 M_k`` within ``price (1 +- 1e-9)``
    (a continuous CDF rises there by about ``1e-9`` times its elasticity). Bisection on the
    floats of that window (about 25 halvings) finds where the jump happens.
    """
    low, high = price * (1.0 - 1e-9), price * (1.0 + 1e-9)
    below, above = float(creator.active_mass(low)), float(creator.active_mass(high))
    if above - below <= 1e-6 * creator.mass:
        return None
    while np.nextafter(low, high) < high:
        middle = 0.5 * (low + high)
        if float(creator.active_mass(middle)) - below > 0.5 * (above - below):
            high = middle
        else:
            low = middle
    return float(high)


def price_branches(market: DynamicMarket, margins, grid_points: int = 257) -> tuple[np.ndarray, np.ndarray]:
    """The firm's best price and profit rate (Eq. 12) on each interval of continuous supply.

    The jump prices ``J_1 < ... < J_n`` (:func:`jump_prices`) cut ``[0, v max(m)]`` into the
    branches ``[0, J_1), [J_1, J_2), ..., [J_n, v max(m)]``. On each the profit rate is
    continuous in the price and in the state, so the branch's best profit (its value) is
    continuous in the state; the myopic price is the best branch's price and jumps where
    two branch values tie. A branch above ``v max(m)`` reports its lowest price and the
    (negative) profit there. Without jumps there is one branch, searched exactly as
    :func:`myopic_price` always did.

    Returns
    -------
    prices, profits : ndarray
        One entry per branch, ``n + 1`` in all.
    """
    top = market.value * float(np.max(margins))
    lows = np.concatenate([[0.0], jump_prices(market)])
    highs = np.append(np.nextafter(lows[1:], 0.0), top)
    branches = [_best_on(market, margins, low, min(high, top), top, grid_points) if low < top
                else (float(low), float(profit_rate(market, low, margins))) for low, high in zip(lows, highs)]
    prices, profits = zip(*branches)
    return np.array(prices), np.array(profits)


def _best_on(market: DynamicMarket, margins, low: float, high: float, top: float, grid_points: int):
    """Best price and profit rate on ``[low, high]``: a grid with every kink inside, then
    bounded Brent around the best grid point (at most 500 iterations, ``xatol = 1e-12 top``)."""
    kinks = np.concatenate([creator.kink_prices() for creator in market.types])
    kinks = kinks[(kinks > low) & (kinks < high)]
    grid = np.unique(np.concatenate([np.linspace(low, high, grid_points), kinks, np.nextafter(kinks, 0.0)]))
    profits = profit_rate(market, grid, margins)
    best = int(np.argmax(profits))
    if profits[best] <= 0.0 or grid.size < 2:
        return float(grid[best]), float(profits[best])
    refined = optimize.minimize_scalar(
        lambda p: -profit_rate(market, p, margins), bounds=(grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]),
        method="bounded", options={"xatol": 1e-12 * max(top, 1.0)},
    )
    if -refined.fun > profits[best]:
        return float(refined.x), float(-refined.fun)
    return float(grid[best]), float(profits[best])


# --- the price trap and the precision barrier (Props. 5 and 6) ------------------------------


def rank_and_file_discount(market: DynamicMarket, stocks, current_precision=None) -> float:
    r"""``g = (1 + sigma^2(P) beta_C^2 X_C)^{-2}`` (Eq. 13), exact when ``beta_O = 0``.

    The rank-and-file marginal value relative to an innovator's (``m_C / m_O = g``). With
    distributed loadings ``beta_C`` is the rank-and-file mean loading and ``X_C`` their total
    stock (an approximation: the paper's formula is for one loading).
    """
    if current_precision is None:
        current_precision = precision(market, stocks)
    sigma_sq = market.sigma0_sq + market.kappa * current_precision
    stocks = np.asarray(stocks, dtype=float)
    per_class = stocks.shape[-1] == len(market.groups)
    rank_and_file_stock = (by_group(stocks, market.groups) if per_class else stocks)[..., 1]
    return (1.0 + sigma_sq * market.rank_and_file.beta_mean**2 * rank_and_file_stock) ** -2.0


def supply_ratio(market: DynamicMarket, price):
    r"""``R(p)``: rank-and-file effort supplied per unit of innovator effort (Eq. 7).

    With equal costs this is ``N_C(p) / N_O(p)``; with type-specific costs the efforts are
    weighted by ``1 / c_k`` so the cap of Prop. 5 stays exact. ``inf`` where only
    rank-and-file creators are active, ``nan`` where nobody is.
    """
    innovators, rank_and_file = group_inflows(split_into_classes(market), price)
    with np.errstate(divide="ignore", invalid="ignore"):
        return rank_and_file / innovators


def group_inflows(market, price) -> tuple:
    """``(E_O(p), E_C(p))``: effort supplied per unit time by each type at a uniform price."""
    inflows = [creator.inflow(price) for creator in market.types]
    if len(inflows) == 2 and np.array_equal(market.groups, (0, 1)):
        return inflows[0], inflows[1]
    groups = market.groups
    return (sum(f for f, g in zip(inflows, groups) if g == 0), sum(f for f, g in zip(inflows, groups) if g == 1))


def price_cap(market: DynamicMarket, discount: float, supply=None) -> float:
    r"""``p_bar(g)``: the price solving ``p (1 + R(p)) = v (1 + g R(p))`` (Prop. 5).

    A myopic firm never pays more per unit than the average value of what it buys, which
    is at most ``v (1 + g R) / (1 + R)``. Written as ``p = v * w(p)`` with
    ``w = (E_O + g E_C) / (E_O + E_C)`` for effort supplies ``E_k`` (``w = 1`` where nobody
    supplies), and solved on ``[v g, v]`` where the root lies.

    Parameters
    ----------
    supply : callable, optional
        ``price -> (E_O, E_C)``; defaults to the analytic supply of ``market``. The
        agent-based model passes its agents' empirical supply.
    """
    if supply is None:
        classes = split_into_classes(market)
        supply = lambda p: group_inflows(classes, p)  # noqa: E731
    discount = float(np.clip(discount, 0.0, 1.0))

    def gap(price: float) -> float:
        innovator_supply, rank_and_file_supply = supply(price)
        total = innovator_supply + rank_and_file_supply
        weight = 1.0 if total <= 0 else (innovator_supply + discount * rank_and_file_supply) / total
        return price - market.value * weight

    low, high = market.value * discount, market.value
    if gap(low) >= 0.0:
        return low
    return float(optimize.brentq(gap, low, high, xtol=1e-14, rtol=1e-13))


def price_trap(market: DynamicMarket, supply=None) -> float:
    """``p*``: the cap as ``g -> 0``, solving ``p (1 + R(p)) = v`` (Prop. 5, Eq. 14)."""
    return price_cap(market, 0.0, supply)


def precision_barrier(sigma0_sq: float, kappa: float, beta_rank_and_file: float) -> float:
    r"""Limit of precision once innovators are gone and ``X_C -> inf`` (Prop. 6).

    .. math:: \bar P = \frac{-\sigma_0^2\beta_C^2 + \sqrt{\sigma_0^4\beta_C^4 + 4\kappa\beta_C^2}}{2\kappa\beta_C^2},

    ``1 / (beta_C sqrt(kappa))`` when ``sigma0^2 = 0``; ``inf`` (no barrier) when ``kappa = 0``
    and ``sigma0^2 = 0``, and ``1 / (sigma0^2 beta_C^2)`` when ``kappa = 0``.
    """
    sigma0_sq = require_nonnegative(sigma0_sq, "sigma0_sq")
    kappa = require_nonnegative(kappa, "kappa")
    beta_sq = require_positive(beta_rank_and_file, "beta_rank_and_file") ** 2
    # Rationalised form of (-sigma0^2 beta^2 + root) / (2 kappa beta^2): no cancellation,
    # and it covers kappa = 0 as well.
    denominator = sigma0_sq * beta_sq + np.sqrt(sigma0_sq**2 * beta_sq**2 + 4.0 * kappa * beta_sq)
    return float(2.0 / denominator) if denominator > 0 else float("inf")


def check_supply_ratio(market: DynamicMarket, low: float, high: float, points: int = 200) -> bool:
    """Warn (:class:`SupplyAssumptionWarning`) unless ``R(p)`` strictly increases on ``[low, high]``.

    Only prices at which both types supply effort are checked (elsewhere ``R`` is 0 or inf).
    Returns whether Eq. 7 holds there.
    """
    if not high > low:
        return True
    prices = np.linspace(low, high, points)
    ratio = supply_ratio(market, prices)
    finite = np.isfinite(ratio) & (ratio > 0)
    holds = bool(np.all(np.diff(ratio[finite]) > 0)) if finite.sum() > 1 else True
    if not holds:
        warnings.warn(
            f"Eq. 7 is violated: R(p) = N_C/N_O is not strictly increasing on prices "
            f"[{low:.4g}, {high:.4g}] used by this run (rank-and-file supply is not the more elastic)",
            SupplyAssumptionWarning,
            stacklevel=2,
        )
    return holds


# --- fluid-limit dynamics -------------------------------------------------------------------


def _active_aggregates(market: DynamicMarket, prices):
    """Per type: effort, active mass, cost and mean outside option of the active at ``prices``
    (the argument order of ``settle_round``)."""
    masses, efforts, costs, outside = [], [], [], []
    for creator, price in zip(market.types, prices):
        active = float(creator.active_mass(price))
        payoff = price * price / (2.0 * creator.cost)
        # Active creators' total outside option: N u - M int_0^u G (the surplus they keep).
        outside_total = active * payoff - float(creator.surplus(price))
        masses.append(active)
        efforts.append(float(creator.effort(price)))
        costs.append(creator.cost)
        outside.append(outside_total / active if active > 0 else 0.0)
    return np.array(efforts), np.array(masses), np.array(costs), np.array(outside)


@dataclass(frozen=True)
class PricingContext:
    """What a regime may look at when it sets one round's unit prices.

    Attributes
    ----------
    value : float
        ``v``.
    margins : ndarray
        Marginal values ``(m_O, m_C)`` of the two types' data at the current stocks.
    best_uniform_price : callable
        The firm's own uniform price (myopic against the agents or against the supply
        curves, or learned); only the strict-IP regime calls it.
    depreciation : float
        ``delta``: a regime pricing data at their long-run (shadow) value needs it.
    types : tuple of CreatorType
        The supply curve behind each entry of ``margins`` (empty when per-creator margins
        have none): a regime that bargains against supply (the private broker, the creator
        union) prices against it.
    """

    value: float
    margins: np.ndarray
    best_uniform_price: Callable[[], float]
    depreciation: float = 0.0
    types: tuple = ()


def round_prices(market: DynamicMarket, margins, regime=None, settings=None, best_uniform_price=None):
    """Per-type unit prices a regime posts, and the settlement of the round they lead to.

    ``regime`` is any object with ``unit_prices(context, settings)`` and
    ``settles_by_tariff`` (the regimes of :mod:`abm.regimes`); ``None`` is strict IP with
    the myopic firm. A tariff round that cannot be efficient is called off: prices 0.
    """
    from abm.theory.mechanism import settle_round  # mechanism imports static, not fluid

    best_uniform_price = best_uniform_price or (lambda: myopic_price(market, margins))
    if regime is None:
        prices = np.full(len(market.types), best_uniform_price())
    else:
        context = PricingContext(market.value, np.asarray(margins), best_uniform_price, market.depreciation,
                                 tuple(market.types))
        prices = np.asarray(regime.unit_prices(context, settings), dtype=float)
    tariff = bool(getattr(regime, "settles_by_tariff", False))
    terms = {} if not tariff else dict(operating_cost=settings.operating_cost, firm_outside=settings.firm_outside,
                                        bargaining_power=settings.bargaining_power)
    resale = None if regime is None or not hasattr(regime, "resale_prices") else regime.resale_prices(context, settings)
    settlement = settle_round(prices, *_active_aggregates(market, prices), kind=market.groups, tariff=tariff,
                              firm_price=resale, **terms)
    if not settlement.feasible:
        prices = np.zeros_like(prices)
        settlement = settle_round(prices, *_active_aggregates(market, prices), kind=market.groups)
    return prices, settlement


def _state(market: DynamicMarket, time: float, stocks, regime=None, settings=None, trap=None,
           price: float | None = None) -> dict:
    """Every trajectory column at one state under a regime (default: strict IP, myopic firm).

    ``trap`` is the constant price trap, passed in so a table computes it once; ``price``,
    if given, is the firm's uniform price (one branch of a discontinuous supply).
    """
    return _state_and_prices(market, time, stocks, regime, settings, trap, price)[0]


def _state_and_prices(market, time: float, stocks, regime=None, settings=None, trap=None,
                      price: float | None = None) -> tuple[dict, np.ndarray]:
    """:func:`_state`'s row and the prices posted to each entry of ``market.types``."""
    stocks = np.asarray(stocks, dtype=float)
    current, margins = model_state(market, stocks)
    uniform = None if price is None else (lambda: price)
    prices, settlement = round_prices(market, margins, regime, settings, uniform)
    inflows = np.array([t.inflow(p) for t, p in zip(market.types, prices)])
    active = np.array([t.active_mass(p) for t, p in zip(market.types, prices)], dtype=float)
    groups = np.asarray(market.groups)
    if len(market.types) == 2:
        return trajectory_row(market, time, prices, stocks, current, margins, inflows, active, settlement,
                              trap=trap), prices
    # Classes: report per type, with the mass-weighted mean marginal value of each type's classes.
    masses = np.array([t.mass for t in market.types])
    type_margins = by_group(margins * masses, groups) / by_group(masses, groups)
    return trajectory_row(market, time, _group_prices(prices, inflows, groups), by_group(stocks, groups), current,
                          type_margins, by_group(inflows, groups), by_group(active, groups), settlement, trap=trap,
                          data_value=market.value * float(margins @ inflows), stock_value=float(margins @ stocks)), prices


def trajectory_row(market: DynamicMarket, time: float, prices, stocks, current_precision: float, margins,
                   delivered, active_mass, settlement, supply=None, trap: float | None = None,
                   data_value: float | None = None, stock_value: float | None = None) -> dict:
    """One row of :data:`TRAJECTORY_COLUMNS` from a round's state, prices, trade and settlement.

    Shared by the fluid limit and the agent-based model so both account identically.
    ``delivered`` is the effort supplied by each type, ``supply`` the supply curve the cap
    is computed with (default: the analytic one). ``data_value`` (``v sum m E``) and
    ``stock_value`` (``sum m X``) default to the per-type sums; a population whose creators
    carry their own loadings passes its per-creator sums.
    """
    value = market.value * float(np.dot(margins, delivered)) if data_value is None else data_value
    stock_value = float(np.dot(margins, stocks)) if stock_value is None else stock_value
    firm_profit = value - settlement.firm_transfer - market.value * market.depreciation * stock_value
    creators = float(np.sum(settlement.creator_surplus))
    discount = float(rank_and_file_discount(market, stocks, current_precision))
    return {
        "time": time,
        "price": _mean_price(prices, delivered),
        "price_innovators": prices[0],
        "price_rank_and_file": prices[1],
        "precision": current_precision,
        "stock_innovators": stocks[0],
        "stock_rank_and_file": stocks[1],
        "active_innovators": active_mass[0],
        "active_rank_and_file": active_mass[1],
        "marginal_value_innovators": margins[0],
        "marginal_value_rank_and_file": margins[1],
        "firm_transfer": settlement.firm_transfer,
        "firm_profit": firm_profit,
        "surplus_innovators": settlement.creator_surplus[0],
        "surplus_rank_and_file": settlement.creator_surplus[1],
        "intermediary_balance": settlement.intermediary_balance,
        "welfare": firm_profit + creators + settlement.intermediary_balance,
        "trade_surplus": value - settlement.firm_transfer + creators + settlement.intermediary_balance,
        "discount": discount,
        "price_cap": price_cap(market, discount, supply=supply),
        "price_trap": price_trap(market, supply) if trap is None else trap,
        "precision_barrier": precision_barrier(market.sigma0_sq, market.kappa, market.rank_and_file.beta_mean),
    }


def _mean_price(prices, inflows) -> float:
    """The uniform price if both types get the same, else the effort-weighted mean price."""
    prices, inflows = np.asarray(prices, dtype=float), np.asarray(inflows, dtype=float)
    if prices[0] == prices[1] or inflows.sum() <= 0:
        return float(prices.mean())
    return float(prices @ inflows / inflows.sum())


def _drift(market: DynamicMarket, stocks, prices) -> np.ndarray:
    """``dX_k/dt = N_k(t_k) e_k(t_k) - delta X_k`` at per-type prices ``t_k`` (Eq. 8)."""
    inflows = np.array([t.inflow(p) for t, p in zip(market.types, prices)])
    return inflows - market.depreciation * np.asarray(stocks, dtype=float)


def fluid_rhs(time: float, stocks, market: DynamicMarket, regime=None, settings=None) -> np.ndarray:
    """``dX_k/dt = N_k(t_k) e_k(t_k) - delta X_k`` at the regime's prices (Eqs. 8 and 12).

    Discontinuous in the state where supply is (:func:`jump_prices`); there
    :func:`solve_fluid` integrates the sliding (Filippov) solution instead of this field.
    """
    return _drift_and_prices(market, stocks, regime, settings)[0]


def _drift_and_prices(market: DynamicMarket, stocks, regime=None, settings=None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`fluid_rhs` and the per-type prices it was evaluated at."""
    prices, _ = round_prices(market, marginal_values(market, stocks), regime, settings)
    return _drift(market, stocks, prices), prices


def _table(market: DynamicMarket, times, stocks, regime=None, settings=None) -> pd.DataFrame:
    trap = price_trap(market)
    rows = [_state(market, float(t), x, regime, settings, trap) for t, x in zip(times, stocks)]
    return pd.DataFrame(rows, columns=list(TRAJECTORY_COLUMNS))


def solve_fluid(market: DynamicMarket, horizon: float, times=None, rtol: float = 1e-8, atol: float = 1e-10,
                regime=None, settings=None, max_evaluations: int = MAX_EVALUATIONS,
                max_seconds: float = MAX_SECONDS, classes: int = DEFAULT_CLASSES) -> pd.DataFrame:
    """Integrate the fluid-limit ODE (Eq. 8 at the regime's prices) with LSODA.

    With continuous supply, or a regime whose prices are not the firm's own, this is
    ``scipy.integrate.solve_ivp`` on :func:`fluid_rhs`. When the firm sets the price (strict
    IP) and supply jumps (:func:`jump_prices`), it is the sliding (Filippov) solution,
    integrated mode by mode (see the module docstring); in a sliding mode the price columns
    are effort-weighted mean prices and the rate columns time averages.

    Parameters
    ----------
    market : DynamicMarket
    horizon : float
        End time ``T > 0``.
    times : array_like, optional
        Times to report; defaults to 201 equally spaced points on ``[0, T]``.
    rtol, atol : float
        LSODA's tolerances.
    regime, settings : optional
        A regime of :mod:`abm.regimes` and its settings; default strict IP, myopic firm.
    max_evaluations : int
        Most evaluations of the market at a state (prices and right-hand side), default
        :data:`MAX_EVALUATIONS`.
    max_seconds : float
        Most wall time, default :data:`MAX_SECONDS`.
    classes : int
        Classes per distributed loading or cost (:func:`split_into_classes`): the fluid
        limit of a heterogeneous population has one stock per class.

    Returns
    -------
    DataFrame
        One row per reported time with the :data:`TRAJECTORY_COLUMNS` (per type: sums over
        its classes; prices effort-weighted means; marginal values mass-weighted means); ``attrs`` holds the
        solve's ``evaluations``, ``switches`` (changes of mode or of the side of a jump
        price) and ``seconds``.

    Raises
    ------
    FluidSolverError
        If the integrator fails or a bound is exceeded; the message says which and why.
    """
    horizon = require_positive(horizon, "horizon")
    times = np.linspace(0.0, horizon, 201) if times is None else np.asarray(times, dtype=float)
    market = split_into_classes(market, classes)
    sliding = jump_prices(market).size > 0 and (regime is None or getattr(regime, "firm_prices", False))
    if sliding and len(market.types) != 2:
        raise FluidSolverError("this market's supply jumps (a point-mass outside option) and its loadings or costs "
                               "are distributed: the sliding solution is computed for two homogeneous types only; "
                               "use fluid_rounds, or give the outside option a width")
    bound = _WorkBound(market, horizon, max_evaluations, max_seconds, sliding)
    if sliding:
        table = _FilippovSolver(market, rtol, atol, bound).solve(horizon, times, regime, settings)
    else:
        table = _solve_smooth(market, horizon, times, rtol, atol, regime, settings, bound)
    table.attrs.update(evaluations=bound.evaluations, switches=bound.switches, seconds=bound.seconds)
    return table


def _solve_smooth(market: DynamicMarket, horizon: float, times, rtol, atol, regime, settings, bound) -> pd.DataFrame:
    """LSODA on :func:`fluid_rhs`, every evaluation charged to ``bound``."""
    def rhs(time, stocks):
        bound.charge()
        drift, prices = _drift_and_prices(market, stocks, regime, settings)
        bound.observe(time, prices)
        return drift

    solution = integrate.solve_ivp(rhs, (0.0, horizon), market.initial_stocks, method="LSODA", t_eval=times,
                                   rtol=rtol, atol=atol)
    if not solution.success:
        raise FluidSolverError(f"fluid ODE failed: {solution.message}")
    return _table(market, solution.t, solution.y.T, regime, settings)


class _WorkBound:
    """One solve's evaluations of the market at a state, checked against its bounds."""

    def __init__(self, market: DynamicMarket, horizon: float, max_evaluations: int, max_seconds: float,
                 sliding: bool) -> None:
        self.market, self.horizon, self.sliding = market, horizon, sliding
        self.max_evaluations, self.max_seconds = int(max_evaluations), float(max_seconds)
        self.started = perf_counter()
        self.evaluations = self.switches = 0
        self.time, self.side, self.low, self.high = 0.0, None, np.inf, -np.inf

    @property
    def seconds(self) -> float:
        """Wall time since the solve started."""
        return perf_counter() - self.started

    def charge(self) -> None:
        """Count one evaluation; raise :class:`FluidSolverError` once either bound is passed."""
        self.evaluations += 1
        if self.evaluations > self.max_evaluations or self.seconds > self.max_seconds:
            raise FluidSolverError(self.message())

    def observe(self, time: float, prices) -> None:
        """Record an evaluation's time and prices; a change of side of any jump price is a switch."""
        side = tuple(np.searchsorted(jump_prices(self.market), prices, side="right"))
        self.switches += int(self.side is not None and side != self.side)
        self.time, self.side = time, side
        self.low, self.high = min(self.low, *prices), max(self.high, *prices)

    def message(self) -> str:
        """What stopped the solve, where, and what to do."""
        head = (f"solve_fluid stopped at t = {self.time:.6g} of {self.horizon:.6g} after {self.evaluations} "
                f"evaluations of the market at a state and {self.seconds:.1f} s (bounds: max_evaluations="
                f"{self.max_evaluations}, max_seconds={self.max_seconds:g}). ")
        jumps = jump_prices(self.market)
        if not (self.switches and jumps.size):
            return head + ("No supply discontinuity was crossed, so the ODE is stiff or the horizon long: raise "
                           "max_evaluations or max_seconds, or loosen rtol and atol.")
        cause = (f"The right-hand side switched {self.switches} times, prices ranging over [{self.low:.4g}, "
                 f"{self.high:.4g}]: supply is discontinuous at price {', '.join(f'{p:.6g}' for p in jumps)} "
                 "(a point-mass outside option, a fixed entry threshold). ")
        if self.sliding:
            return head + cause + ("The firm's price keeps crossing or grazing its indifference between price "
                                   "branches: shorten the horizon, loosen rtol and atol, or raise the bounds.")
        return head + cause + ("This regime's posted price sits at the entry threshold, where the fluid limit slides "
                               "along it; solve_fluid follows sliding solutions of the firm's own price (strict IP) "
                               "only. Compare with fluid_rounds instead, or give the threshold a width (a narrow "
                               "uniform outside option).")


# --- the sliding (Filippov) solution under discontinuous supply -----------------------------


@dataclass(frozen=True)
class _Local:
    """The market at one state: marginal values, their Jacobian and every price branch.

    Per branch ``j`` (rows of ``inflows`` and ``drifts``): its price ``p_j``, its profit
    rate ``V_j`` (Eq. 12), the inflows ``E_k(p_j)`` and the drift ``dX/dt`` (Eq. 8) were
    the firm to post ``p_j``.
    """

    margins: np.ndarray
    jacobian: np.ndarray
    prices: np.ndarray
    values: np.ndarray
    inflows: np.ndarray
    drifts: np.ndarray


def _local(market: DynamicMarket, stocks: np.ndarray) -> _Local:
    margins = marginal_values(market, stocks)
    prices, values = price_branches(market, margins)
    inflows = np.array([[creator.inflow(price) for creator in market.types] for price in prices])
    return _Local(margins, _margin_jacobian(market, stocks, margins), prices, values, inflows,
                  inflows - market.depreciation * stocks)


def _margin_jacobian(market: DynamicMarket, stocks: np.ndarray, margins: np.ndarray) -> np.ndarray:
    """``d m_k / d X_j`` (row ``k``, column ``j``) by forward three-point differences.

    Steps ``h = 1e-5 max(X_j, 1)`` keep the stocks non-negative, where the fixed point of
    Eq. 11 is smooth; truncation and rounding errors are both about ``1e-10`` relative.
    """
    columns = []
    for step, unit in zip(1e-5 * np.maximum(stocks, 1.0), np.eye(2)):
        once, twice = (marginal_values(market, stocks + k * step * unit) for k in (1.0, 2.0))
        columns.append((4.0 * once - twice - 3.0 * margins) / (2.0 * step))
    return np.column_stack(columns)


@dataclass(frozen=True)
class _Mode:
    """A smooth piece of the Filippov solution: the firm posts branch ``branch``'s price, or,
    with ``other`` set, the state slides along the surface ``V_branch = V_other``."""

    branch: int
    other: int | None = None

    @property
    def branches(self) -> list[int]:
        """The branches whose prices the firm posts in this mode."""
        return [self.branch] if self.other is None else [self.branch, self.other]


def _surface_speeds(market: DynamicMarket, local: _Local, a: int, b: int) -> tuple[float, float]:
    """Rates of change of ``h = V_a - V_b`` along branch ``a``'s and branch ``b``'s fields.

    A branch's price maximises profit on a fixed interval, so by the envelope theorem
    ``grad V_j = v sum_k E_k(p_j) grad m_k`` and ``grad h = v (E(p_a) - E(p_b)) dm/dX``.
    """
    normal = market.value * (local.inflows[a] - local.inflows[b]) @ local.jacobian
    return float(normal @ local.drifts[a]), float(normal @ local.drifts[b])


def _weights(market: DynamicMarket, local: _Local, mode: _Mode) -> np.ndarray:
    """Time shares of the mode's branches: ``(1,)``, or Filippov's ``(alpha, 1 - alpha)``.

    ``alpha f_a + (1 - alpha) f_b`` is tangent to the surface ``h = 0`` when
    ``alpha s_a + (1 - alpha) s_b = 0``, ``s_j = grad h . f_j`` (:func:`_surface_speeds`).
    """
    if mode.other is None:
        return np.ones(1)
    speed_a, speed_b = _surface_speeds(market, local, mode.branch, mode.other)
    alpha = float(np.clip(speed_b / max(speed_b - speed_a, np.finfo(float).tiny), 0.0, 1.0))
    return np.array([alpha, 1.0 - alpha])


def _mode_at_surface(market: DynamicMarket, local: _Local, a: int, b: int) -> _Mode:
    """The mode that follows when branch ``b``'s value reaches that of branch ``a``.

    With ``h = V_a - V_b``: stay in ``a`` if its field leaves the surface (``s_a >= 0``);
    slide if ``b``'s field pushes back towards ``a`` (``s_b > 0``); else cross into ``b``.
    """
    speed_a, speed_b = _surface_speeds(market, local, a, b)
    if speed_a >= 0.0:
        return _Mode(a)
    return _Mode(a, b) if speed_b > 0.0 else _Mode(b)


def _event(function, direction: int):
    """Mark ``function(t, x)`` as a terminal event of ``solve_ivp`` crossing zero in ``direction``."""
    function.terminal, function.direction = True, direction
    return function


#: Columns that are rates of a round's trade: time averages over a sliding mode.
_RATE_COLUMNS = ("active_innovators", "active_rank_and_file", "firm_transfer", "firm_profit", "surplus_innovators",
                 "surplus_rank_and_file", "intermediary_balance", "welfare", "trade_surplus")


def _blend(rows: list[dict], weights: np.ndarray, inflows: np.ndarray) -> dict:
    """The time average of branch rows over a sliding mode.

    Rates are weighted by the branches' time shares; each price column becomes the
    effort-weighted mean price (payments per unit of effort) over the branches and, for
    ``price``, over both types. The state columns are the same in every row.
    """
    blended = dict(rows[0])
    for column in _RATE_COLUMNS:
        blended[column] = float(sum(w * row[column] for w, row in zip(weights, rows)))
    prices = np.array([[row[f"price_{name}"] for name in TYPE_NAMES] for row in rows])
    efforts = weights[:, None] * inflows
    paid, supplied = (prices * efforts).sum(axis=0), efforts.sum(axis=0)
    shares = weights @ prices
    for k, name in enumerate(TYPE_NAMES):
        blended[f"price_{name}"] = float(paid[k] / supplied[k]) if supplied[k] > 0 else float(shares[k])
    blended["price"] = float(paid.sum() / supplied.sum()) if supplied.sum() > 0 else float(shares.mean())
    return blended


class _FilippovSolver:
    """The sliding (Filippov) solution of Eq. 8 under the firm's myopic price, mode by mode.

    Each mode (:class:`_Mode`) has a smooth field, integrated by LSODA until a terminal
    event: in a branch, another branch's value overtakes it; sliding, the Filippov weight
    reaches 0 or 1 or a third branch overtakes. Every new state evaluated is charged to the
    solve's :class:`_WorkBound`.
    """

    def __init__(self, market: DynamicMarket, rtol: float, atol: float, bound: _WorkBound) -> None:
        self.market, self.rtol, self.atol, self.bound = market, rtol, atol, bound
        self.n_branches = jump_prices(market).size + 1
        self.local_at = self._cache()

    def _cache(self):
        """``stocks -> _Local``, remembering recent states (events and table rows revisit them)."""
        @functools.lru_cache(maxsize=64)
        def at(first: float, second: float) -> _Local:
            self.bound.charge()
            return _local(self.market, np.array([first, second]))

        return lambda stocks: at(float(stocks[0]), float(stocks[1]))

    def solve(self, horizon: float, times: np.ndarray, regime, settings) -> pd.DataFrame:
        """Rows of :data:`TRAJECTORY_COLUMNS` at ``times`` (as :func:`solve_fluid`)."""
        start, stocks, pending, rows = 0.0, self.market.initial_stocks, times, []
        mode = _Mode(int(np.argmax(self.local_at(stocks).values)))
        trap = price_trap(self.market)
        while True:
            exits = self._exits(mode)
            segment = integrate.solve_ivp(self._field(mode), (start, horizon), stocks, method="LSODA", t_eval=pending,
                                          events=[event for event, _ in exits] or None, rtol=self.rtol,
                                          atol=self.atol)
            if segment.status == -1:
                raise FluidSolverError(f"fluid ODE failed: {segment.message}")
            # solve_ivp returns lists when no reported time falls in the segment
            reported, states = np.asarray(segment.t), np.reshape(segment.y, (stocks.size, -1)).T
            rows += [self._row(t, x, mode, regime, settings, trap) for t, x in zip(reported, states)]
            pending = pending[reported.size:]
            if segment.status == 0:
                return pd.DataFrame(rows, columns=list(TRAJECTORY_COLUMNS))
            fired = next(i for i, found in enumerate(segment.t_events) if found.size)
            start, stocks = float(segment.t_events[fired][0]), segment.y_events[fired][0]
            mode = exits[fired][1](self.local_at(stocks))

    def _field(self, mode: _Mode):
        """The mode's smooth right-hand side: its branches' drifts, weighted by time shares."""
        def rhs(time, stocks):
            local = self.local_at(stocks)
            self.bound.observe(time, local.prices[mode.branches])
            return _weights(self.market, local, mode) @ local.drifts[mode.branches]

        return rhs

    def _exits(self, mode: _Mode) -> list:
        """Terminal events of ``mode``, each with the function giving the mode that follows."""
        market, local_at, current = self.market, self.local_at, mode.branches
        exits = []
        for other in (c for c in range(self.n_branches) if c not in current):
            overtakes = _event(lambda t, x, c=other: local_at(x).values[c] - local_at(x).values[current].max(), +1)
            follows = (functools.partial(_mode_at_surface, market, a=mode.branch, b=other) if mode.other is None
                       else (lambda local, c=other: _Mode(c)))
            exits.append((overtakes, follows))
        if mode.other is not None:
            a, b = current
            exits.append((_event(lambda t, x: _surface_speeds(market, local_at(x), a, b)[0], +1), lambda _: _Mode(a)))
            exits.append((_event(lambda t, x: _surface_speeds(market, local_at(x), a, b)[1], -1), lambda _: _Mode(b)))
        return exits

    def _row(self, time: float, stocks, mode: _Mode, regime, settings, trap: float) -> dict:
        """The trajectory row of ``mode`` at a state: its branch's, or the sliding time average."""
        local = self.local_at(stocks)
        rows = [_state(self.market, time, stocks, regime, settings, trap, price=local.prices[j])
                for j in mode.branches]
        if mode.other is None:
            return rows[0]
        return _blend(rows, _weights(self.market, local, mode), local.inflows[mode.branches])


# --- rounds -----------------------------------------------------------------------------------


def round_factors(depreciation: float, dt: float) -> tuple[float, float]:
    r"""Exact one-round update ``X' = decay X + growth * inflow`` for constant inflow.

    Solving ``dX = (inflow - delta X) dt`` over a round of length ``dt``:
    ``decay = exp(-delta dt)``, ``growth = (1 - decay) / delta`` (``= dt`` when ``delta = 0``).
    """
    decay = float(np.exp(-depreciation * dt))
    growth = -float(np.expm1(-depreciation * dt)) / depreciation if depreciation > 0 else dt
    return decay, growth


def round_length_check(market: DynamicMarket, dt: float, stocks, prices,
                       target: float = ROUND_CHANGE_TARGET) -> tuple[float, float]:
    """Largest relative change of a data stock or a marginal value in one round, and a ``dt`` that tames it.

    Over a round of length ``dt`` at per-type prices ``t_k`` the stocks move to
    ``X' = decay X + growth N_k(t_k) e_k(t_k)`` (:func:`round_factors`, Eq. 8). The change is
    the largest of ``|X'_k - X_k| / X_k`` (positive stocks) and ``|m_k(X') - m_k(X)| / m_k(X)``
    (the marginal values of Eq. 11, which set every regime's prices) over the rows given. A
    round map, and the agents, follow the fluid ODE while it is small: their error is first
    order in it. The posted price itself is left out on purpose: at a switching surface of
    discontinuous supply it jumps by a finite amount whatever ``dt`` (the sliding mode's
    alternation), while the marginal values behind it move by ``O(dt)``.

    Parameters
    ----------
    market : DynamicMarket
    dt : float
        Round length.
    stocks, prices : array_like, shape ``(2,)`` or ``(rounds, 2)``
        Stocks at the start of each round and the per-type prices posted in it.
    target : float
        Tolerated change per round.

    Returns
    -------
    change : float
    suggested_dt : float
        ``dt`` if ``change <= target``, else ``dt * target / change`` (for short rounds the
        change is proportional to ``dt``).
    """
    dt = require_positive(dt, "dt")
    stocks, prices = (np.atleast_2d(np.asarray(x, dtype=float)) for x in (stocks, prices))
    decay, growth = round_factors(market.depreciation, dt)
    inflows = np.column_stack([creator.inflow(prices[:, k]) for k, creator in enumerate(market.types)])
    after = decay * stocks + growth * inflows
    change = max(_relative_change(stocks, after),
                 _relative_change(_margins_of_rows(market, stocks), _margins_of_rows(market, after)))
    return change, (dt if change <= target else dt * target / change)


def _relative_change(before: np.ndarray, after: np.ndarray) -> float:
    """Largest ``|after - before| / before`` over the positive entries of ``before`` (0 if none)."""
    positive = before > 0
    return float(np.max(np.abs(after - before)[positive] / before[positive], initial=0.0))


def _margins_of_rows(market: DynamicMarket, stocks: np.ndarray) -> np.ndarray:
    """Marginal values ``(m_O, m_C)`` of every row of ``stocks``, as :func:`model_state` computes them."""
    s0, s1, s2 = information_sums(stocks, market.betas)
    current = np.atleast_1d(precision_fixed_point(s0, s1, s2, market.sigma0_sq, market.kappa))
    return recursive_marginal_values(s1[:, None], s2[:, None], current[:, None], market.sigma0_sq, market.kappa,
                                     market.betas)


def fluid_rounds(market: DynamicMarket, dt: float, n_rounds: int, regime=None, settings=None,
                 classes: int = DEFAULT_CLASSES) -> pd.DataFrame:
    """The fluid limit in discrete rounds: the agent-based schedule with exact supply curves.

    Each round the myopic price is set from the current stocks and held for ``dt``; stocks
    follow :func:`round_factors`. Set against the agent-based model it isolates the
    finite-population error; set against :func:`solve_fluid` it isolates the ``O(dt)`` error.
    Under discontinuous supply the price alternates between branches round by round and the
    state zigzags about the switching surface: a band of width ``O(dt)`` about the sliding
    solution. Warns (:class:`RoundLengthWarning`) if some round moves a data stock or a
    marginal value by more than :data:`ROUND_CHANGE_TARGET` (:func:`round_length_check`).
    A heterogeneous market is split into ``classes`` classes per distributed characteristic.
    """
    dt = require_positive(dt, "dt")
    market = split_into_classes(market, classes)
    decay, growth = round_factors(market.depreciation, dt)
    stocks = market.initial_stocks
    rows, states, posted = [], [], []
    trap = price_trap(market)
    for step in range(int(n_rounds)):
        row, prices = _state_and_prices(market, step * dt, stocks, regime, settings, trap)
        rows.append(row)
        states.append(stocks)
        posted.append(prices)
        inflows = np.array([t.inflow(p) for t, p in zip(market.types, prices)])
        stocks = decay * stocks + growth * inflows
    frame = pd.DataFrame(rows, columns=list(TRAJECTORY_COLUMNS))
    if rows:
        _warn_if_rounds_too_long(market, dt, np.array(states), np.array(posted))
    return frame


def _warn_if_rounds_too_long(market: DynamicMarket, dt: float, stocks: np.ndarray, prices: np.ndarray) -> None:
    change, suggested = round_length_check(market, dt, stocks, prices)
    if change > ROUND_CHANGE_TARGET:
        warnings.warn(
            f"rounds of dt = {dt:g} are too long for this market: in one round a data stock or a marginal value "
            f"changed by {change:.3g} of itself (tolerated: {ROUND_CHANGE_TARGET:g}), so these rounds, and agents "
            f"run with this dt, depart from the fluid ODE; dt <= {suggested:.3g} keeps every round's change within "
            "the tolerance",
            RoundLengthWarning,
            stacklevel=3,
        )
