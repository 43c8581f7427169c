"""The agent-based dynamic market (market-design paper, Section 4) as a Mesa model.

One round of length ``dt``:

1. the firm reads its model's precision and marginal values off the current data stocks
   (:func:`~abm.theory.fluid.model_state`, the same code as the fluid limit);
2. the regime sets the round's unit prices per type (under strict IP the firm posts its own
   uniform price: myopic, the exact best response to the agents' entry prices, or learned
   from observed profit; under the intermediary the ``Intermediary`` agent posts the
   marginal social values and calls the round off if its surplus cannot be positive);
3. every creator applies :func:`~abm.theory.supply.best_response` (enter iff the price
   reaches its entry price ``sqrt(2 c omega)``, exert ``p / c``), and its data stock
   follows the exact solution of ``dX = (inflow - delta X) dt`` over the round;
4. the round is settled (unit payments, or the intermediary's flow two-part tariff) and
   recorded by a Mesa ``DataCollector`` with the columns of
   :data:`~abm.theory.fluid.TRAJECTORY_COLUMNS`, state at the start of the round and the
   round's price, as in :func:`~abm.theory.fluid.fluid_rounds` (every round, or every
   ``simulation.record_every``-th and the last; :class:`RunningTotals` keeps the run-wide
   sums over every round either way).

Creators may follow another entry rule than best response, chosen per type in the scenario
(``logit``, ``sunk_entry``: :mod:`~abm.simulation.dynamic_market.behaviours`,
``docs/behaviours.md``); such runs go over the population's arrays every round.

Step 3 runs either as array operations (``stepping="array"``, the default) or agent by
agent through ``shuffle_do("step")`` (``stepping="agents"``); both give identical results.

How the array path scales (``docs/performance.md``). Each type's creators are kept sorted
by entry price, so when a type is offered one price its active creators are a prefix of
that order: what they deliver, the mass they hold, what they are paid and the outside
options they give up are prefix sums built once (:class:`~abm.theory.empirical.EmpiricalSupply`),
and a round costs a binary search per type instead of passes over every creator. The
firm's model only needs each type's total stock (with per-creator loadings: its loading
moments), which follows the same exact round update as each creator's stock, so the
model carries those totals; a creator's own stock, entry and effort are worked out when
someone looks (exactly as the creator would have computed them: same operations, same
bits) from the history of the per-type prices. Rounds whose prices differ from creator to
creator within a type (per-creator loadings under the intermediary or the collective pool)
run over the population's arrays. The Mesa ``Creator`` agents are created the first time
anyone asks for them (``model.agents``, ``model.agents_by_type``, the agent-by-agent path),
with the same ids and order as if they had been there from the start.

The model takes a scenario (object, shipped name or file) plus flat keyword overrides of
any scenario field, and follows Mesa's seeding convention, so ``mesa.batch_run`` and
SolaraViz drive it unchanged::

    DataMarketModel(scenario="curse_of_precision", kappa=0.3, agents=500, rng=1)
"""

from __future__ import annotations

import itertools

import mesa
import numpy as np
import pandas as pd

from abm.regimes import get_regime
from abm.scenario import Scenario, apply_overrides, resolve_scenario
from abm.simulation.dynamic_market import kernels
from abm.simulation.dynamic_market.agents import (
    PRICING_RULES,
    AIFirm,
    Innovator,
    Intermediary,
    LearningPricing,
    RankAndFileCreator,
)
from abm.theory._validation import require_whole
from abm.theory.empirical import EmpiricalSupply
from abm.theory.heterogeneity import characteristic_from_value
from abm.theory.fluid import (
    TRAJECTORY_COLUMNS,
    PricingContext,
    model_state,
    price_cap,
    round_factors,
    round_length_check,
    trajectory_row,
)
from abm.theory.information import marginal_precision_weight, precision_fixed_point, recursive_weights
from abm.theory.mechanism import settle_round
from abm.theory.supply import best_response, entry_price

__all__ = ["Population", "RoundTotals", "RunningTotals", "RoundCollector", "DataMarketModel", "STEPPING", "fresh_seed"]

STEPPING = ("array", "agents")
CREATOR_CLASSES = (Innovator, RankAndFileCreator)


def fresh_seed() -> int:
    """A new seed from the operating system's entropy, small enough for every consumer (63 bits)."""
    return int(np.random.SeedSequence().entropy % (2**63))


class RoundTotals:
    """What each type did in one round, summed over its creators.

    Attributes
    ----------
    prices : ndarray, shape (2,)
        Each type's unit price (per-creator prices: the delivery-weighted mean, 0 where
        nobody delivered).
    delivered : ndarray, shape (2,)
        Effort delivered, ``sum mass_i e_i``.
    active_mass : ndarray, shape (2,)
    moments : ndarray, shape (r, 2)
        ``sum mass_i e_i beta_i^j`` for ``j < r`` (``r = 3`` with per-creator loadings,
        else 1): the inflow of each type's stock and of its loading moments.
    settlement_terms : tuple
        ``(unit_price, effort, mass, cost, outside_option)`` per type for
        :func:`~abm.theory.mechanism.settle_round`: the type as one creator of mass 1 that is
        paid, bears effort costs and gives up outside options exactly as its active creators
        do together.
    """

    __slots__ = ("prices", "delivered", "active_mass", "moments", "settlement_terms")

    def __init__(self, prices, delivered, active_mass, moments, settlement_terms) -> None:
        self.prices, self.delivered, self.active_mass = prices, delivered, active_mass
        self.moments, self.settlement_terms = moments, settlement_terms


class Population:
    """The creators, ordered innovators first, then rank-and-file creators, each type sorted
    by entry price.

    Fixed: ``kind`` (int8), ``outside_option``, ``entry_price`` (per creator); ``beta``,
    ``cost`` and ``mass`` per creator when they differ within a type, else one number per
    type (``type_beta``, ``type_cost``, ``type_mass``) and a per-creator array only if
    someone reads the attribute. Changing each round: ``offered``, ``active``, ``effort`` and
    ``stock`` (data already weighted by the agent's mass); under per-type prices they are
    worked out on first access from the round's prices and the price history, else they are
    arrays. ``decay`` and ``growth`` are the exact one-round stock factors.

    Each creator draws its outside option, then its loading, then its cost (in that order
    from ``rng``), independently; a characteristic shared by the whole type draws nothing.
    ``heterogeneous`` says whether loadings differ within a type. Sorting a type by entry
    price only relabels its creators.

    Parameters
    ----------
    scenario : Scenario
    rng : numpy.random.Generator
    materialised : bool
        Keep ``offered``, ``active``, ``effort`` and ``stock`` as arrays that the agents
        write (the agent-by-agent path).
    compiled : bool
        Use the compiled loops of :mod:`~abm.simulation.dynamic_market.kernels` (numba).
    """

    #: Attributes worked out on first access (see :meth:`__getattr__`).
    LAZY = ("beta", "cost", "mass", "offered", "active", "effort", "stock")
    #: Lazy attributes that change every round.
    ROUND_STATE = ("offered", "active", "effort", "stock")

    def __init__(self, scenario: Scenario, rng: np.random.Generator, materialised: bool = False,
                 compiled: bool = False) -> None:
        market, simulation = scenario.market, scenario.simulation
        n = simulation.agents
        self.size = 2 * n
        self.bounds = [(0, n), (n, 2 * n)]
        self.kind = np.repeat(np.arange(2, dtype=np.int8), n)
        creator_types = market.types
        draw = {"random": lambda t: t.outside_option.sample(n, rng),
                "quantile": lambda t: t.outside_option.quantiles(n)}[simulation.sampling]
        self.outside_option = np.empty(self.size)
        for (start, stop), creator_type in zip(self.bounds, creator_types):
            self.outside_option[start:stop] = draw(creator_type)
        loadings = [characteristic_from_value(t.beta, "beta") for t in creator_types]
        costs = [characteristic_from_value(t.cost, "cost") for t in creator_types]
        # A characteristic shared by a type draws nothing from rng (as Fixed.draw).
        betas = [None if c.is_fixed else c.draw(n, rng, simulation.sampling) for c in loadings]
        cost_draws = [None if c.is_fixed else c.draw(n, rng, simulation.sampling) for c in costs]
        self.heterogeneous = not all(c.is_fixed for c in loadings)
        self.type_mass = tuple(t.mass / n for t in creator_types)
        self.type_beta = tuple(float(c.value) if c.is_fixed else None for c in loadings)
        self.type_cost = tuple(float(c.value) if c.is_fixed else None for c in costs)
        self.initial_stock = tuple(t.initial_stock / n for t in creator_types)
        self.decay, self.growth = round_factors(market.depreciation, simulation.dt)
        self.entry_price = np.empty(self.size)
        per_creator = {"beta": betas, "cost": cost_draws}
        for k, (start, stop) in enumerate(self.bounds):
            options = self.outside_option[start:stop]
            if betas[k] is None and cost_draws[k] is None:
                options.sort()  # with a shared cost the entry price rises with the outside option
                self.entry_price[start:stop] = entry_price(options, self.type_cost[k])
                continue
            cost = self.type_cost[k] if cost_draws[k] is None else cost_draws[k]
            prices = entry_price(options, cost)
            order = np.argsort(prices, kind="stable")
            self.entry_price[start:stop] = prices[order]
            options[:] = options[order]
            for name in per_creator:
                if per_creator[name][k] is not None:
                    per_creator[name][k] = per_creator[name][k][order]
        self._per_creator = {name: draws for name, draws in per_creator.items() if any(d is not None for d in draws)}
        self.supply = self._build_supply()
        self.moment_orders = 3 if self.heterogeneous else 1
        self.initial_moments = np.array([[self._initial_moment(k, r) for k in range(2)]
                                         for r in range(self.moment_orders)])
        self.materialised = materialised
        self.compiled = bool(compiled and kernels.AVAILABLE)
        if self.compiled:
            self.supply.scanner = kernels.best_piece
        self._stock_updated = False  # the compiled round already moved this round's stocks
        self.prices = np.zeros(2)  # this round's per-type prices (None: per-creator prices)
        self.counts = np.zeros(2, dtype=np.int64)  # this round's active creators per type
        self._stock = None  # per-creator stocks before the pending rounds (None: each type's initial stock)
        self._pending: list = []  # per-type prices of the rounds not yet applied to _stock
        self._totals: RoundTotals | None = None
        #: Each type's creators are in entry-price order for good (False once styles change it).
        self.prefix_order = True
        if materialised:
            self._stock = self._initial_stocks()
            self.__dict__.update(stock=self._stock, offered=np.zeros(self.size),
                                 active=np.zeros(self.size, dtype=bool), effort=np.zeros(self.size))

    # --- characteristics ---------------------------------------------------------------------

    def _type_values(self, name: str, k: int):
        """A characteristic of type ``k``: its per-creator array, or the number the type shares."""
        if name == "mass":
            return self.type_mass[k]
        draws = self._per_creator.get(name)
        if draws is not None and draws[k] is not None:
            return draws[k]
        return {"beta": self.type_beta, "cost": self.type_cost}[name][k]

    def _loading_sum(self, k: int, order: int) -> float:
        """``sum_i beta_i^order`` over type ``k``."""
        start, stop = self.bounds[k]
        beta = self._type_values("beta", k)
        if np.ndim(beta) == 0:
            return float(np.full(stop - start, float(beta) ** order).sum())
        return float(np.sum(beta**order))

    def _initial_moment(self, k: int, order: int) -> float:
        """``sum_i X_i(0) beta_i^order`` over type ``k`` (order 0: the type's initial stock)."""
        start, stop = self.bounds[k]
        stocks = np.full(stop - start, self.initial_stock[k])
        beta = self._type_values("beta", k)
        return float(stocks.sum() if order == 0 else np.sum(stocks * np.asarray(beta) ** order))

    def _build_supply(self) -> EmpiricalSupply:
        """Prefix sums over each type's creators in entry-price order."""
        columns = {"weight": [], "mass": [], "outside": []}
        if self.heterogeneous:
            columns.update(weight_beta=[], weight_beta_sq=[])
        for k, (start, stop) in enumerate(self.bounds):
            mass, cost, beta = (self._type_values(name, k) for name in ("mass", "cost", "beta"))
            weight = mass / cost
            # A running sum even when the weight is shared, so that supply(p) is bit for bit
            # the cumulative sum of the creators' weights.
            columns["weight"].append(np.full(stop - start, weight) if np.ndim(weight) == 0 else weight)
            columns["mass"].append(mass)
            columns["outside"].append(mass * self.outside_option[start:stop])
            if self.heterogeneous:
                columns["weight_beta"].append(weight * beta)
                columns["weight_beta_sq"].append(weight * beta * beta)
        thresholds = [self.entry_price[start:stop] for start, stop in self.bounds]
        return EmpiricalSupply.from_sorted(thresholds, columns)

    def __getattr__(self, name: str):
        """Per-creator arrays worked out when first read (and kept until they change)."""
        if name not in Population.LAZY or "bounds" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        if name in ("beta", "cost", "mass"):
            value = np.concatenate([np.broadcast_to(self._type_values(name, k), (stop - start,))
                                    for k, (start, stop) in enumerate(self.bounds)])
        elif name == "offered":
            value = np.repeat(self.prices, [stop - start for start, stop in self.bounds])
        elif name == "active":
            value = np.greater_equal(self.offered, self.entry_price)
        elif name == "effort":
            value = np.where(self.active, np.divide(self.offered, self.cost), 0.0)
        else:
            self._flush_stock()
            value = self._stock
        self.__dict__[name] = value
        return value

    def per_creator(self, prices) -> np.ndarray:
        """Unit prices per creator from per-type prices ``(t_O, t_C)`` or per-creator prices."""
        prices = np.asarray(prices, dtype=float)
        return prices if prices.size == self.size else prices[self.kind]

    def per_type(self, values) -> np.ndarray:
        """Sum of ``values`` over each type."""
        return np.array([values[start:stop].sum() for start, stop in self.bounds])

    def type_means(self, values, weights) -> np.ndarray:
        """Per type, the ``weights``-weighted mean of ``values`` (0 where the weights sum to 0)."""
        totals = self.per_type(weights)
        sums = self.per_type(values * weights)
        return np.divide(sums, totals, out=np.zeros(2), where=totals > 0)

    # --- a round -----------------------------------------------------------------------------

    def type_prices(self, prices):
        """``(t_O, t_C)`` when every creator of a type is offered the same price, else ``None``."""
        prices = np.asarray(prices, dtype=float)
        if prices.size != self.size:
            return prices[:2].copy() if prices.size >= 2 else np.repeat(prices, 2)
        first = np.array([prices[start] for start, _ in self.bounds])
        if prices.strides == (0,):  # one number broadcast to every creator
            return first
        for (start, stop), price in zip(self.bounds, first):
            if not np.all(prices[start:stop] == price):
                return None
        return first

    def offer(self, prices) -> None:
        """Post unit prices (per type or per creator)."""
        if not self.materialised:
            for name in Population.ROUND_STATE:
                self.__dict__.pop(name, None)
        self._totals = None
        self._stock_updated = False
        self.prices = self.type_prices(prices)
        if self.prices is None:
            offered = np.asarray(prices, dtype=float)
            if self.materialised:
                self.offered[:] = offered
            else:
                self.__dict__["offered"] = offered
        elif self.materialised:
            for (start, stop), price in zip(self.bounds, self.prices):
                self.offered[start:stop] = price

    def respond(self) -> None:
        """Every creator's entry and effort at its offered price (the array path of ``Creator.step``)."""
        if self.prices is not None:
            self.counts = self.supply.active_counts(self.prices)
            return
        if self.compiled:  # entry, effort, stocks and sums in one pass
            self._flush_stock()
            active, effort = np.empty(self.size, dtype=bool), np.empty(self.size)
            sums = np.empty((2, 7))
            kernels.creator_round(self.offered, self.entry_price, *self._kernel_operands(), self._stock, active,
                                  effort, self.decay, self.growth, np.array(self.bounds), self.moment_orders, sums)
            self.__dict__.update(active=active, effort=effort)
            self._totals = self._totals_from_sums(sums)
            self._stock_updated = True
            return
        active, effort = best_response(self.offered, self.entry_price, self._cost_operand())
        self.__dict__.update(active=active, effort=effort)

    def accumulate(self) -> None:
        """Every creator's stock after the round (the array path of ``Creator.step``)."""
        self.__dict__.pop("stock", None)
        if self.prices is not None:
            self._pending.append(self.prices.copy())
            return
        if self._stock_updated:
            self._stock_updated = False
            return
        self._flush_stock()
        self._stock = self.decay * self._stock + self.growth * (self._mass_operand() * self.effort)

    def observe_agents(self) -> None:
        """Read the round from the arrays the agents wrote (the agent-by-agent path)."""
        if self.prices is None:
            return
        counts = np.array([np.count_nonzero(self.active[start:stop]) for start, stop in self.bounds])
        prefix = all(self.active[start:start + count].all() for (start, _), count in zip(self.bounds, counts))
        if prefix:
            self.counts = counts
        else:  # someone's rule is not the entry-price rule: sum over what the agents did
            self.prices = None

    def totals(self, prices=None) -> RoundTotals:
        """Per-type sums of the round (or of the creators who would enter at ``prices``)."""
        if prices is None:
            if self._totals is None:
                self._totals = (self._prefix_totals(self.prices, self.counts) if self.prices is not None
                                else self._array_totals(self.offered, self.active, self.effort))
            return self._totals
        per_type = self.type_prices(prices) if self.prefix_order else None
        if per_type is not None:
            return self._prefix_totals(per_type, self.supply.active_counts(per_type))
        offered = self.per_creator(prices)
        active, effort = best_response(offered, self.entry_price, self._cost_operand())
        return self._array_totals(offered, active, effort)

    def _prefix_totals(self, prices: np.ndarray, counts: np.ndarray) -> RoundTotals:
        supply = self.supply
        delivered, active_mass, costs, outside = (np.zeros(2) for _ in range(4))
        moments = np.zeros((self.moment_orders, 2))
        for k in range(2):
            count, price = int(counts[k]), float(prices[k])
            weight = float(supply.cumulative("weight", k, count))
            delivered[k] = price * weight
            active_mass[k] = supply.cumulative("mass", k, count)
            outside[k] = supply.cumulative("outside", k, count)
            # One creator of mass 1 and effort E = p W has payments p E and effort cost
            # E^2 / (2 W) = p^2 W / 2, as the active creators together.
            costs[k] = 1.0 / weight if weight > 0 else 1.0
            moments[0, k] = delivered[k]
            for r, name in enumerate(("weight_beta", "weight_beta_sq")[:self.moment_orders - 1], start=1):
                moments[r, k] = price * float(supply.cumulative(name, k, count))
        return RoundTotals(prices.copy(), delivered, active_mass, moments,
                           (prices.copy(), delivered, np.ones(2), costs, outside))

    def _kernel_operands(self) -> tuple:
        """``(cost, mass, beta, outside_option)`` as the compiled loops take them."""
        shared = self._cost_operand()
        cost = np.array([shared]) if np.ndim(shared) == 0 else shared
        beta = self.beta if self.moment_orders > 1 else np.zeros(1)
        return cost, np.array(self.type_mass), beta, self.outside_option

    def _totals_from_sums(self, sums: np.ndarray) -> RoundTotals:
        delivered, count, payments, double_costs, given_up = (sums[:, j].copy() for j in range(5))
        active_mass = count * np.array(self.type_mass)
        outside = given_up * np.array(self.type_mass)
        moments = np.vstack([delivered, sums[:, 5], sums[:, 6]])[:self.moment_orders]
        with np.errstate(divide="ignore", invalid="ignore"):
            prices = np.where(delivered > 0, payments / delivered, 0.0)
            costs = np.where(delivered > 0, double_costs / delivered**2, 1.0)
        return RoundTotals(prices, delivered, active_mass, moments, (prices, delivered, np.ones(2), costs, outside))

    def _array_totals(self, offered, active, effort) -> RoundTotals:
        if self.compiled:
            sums = np.empty((2, 7))
            cost, mass, beta, outside = self._kernel_operands()
            kernels.creator_sums(np.asarray(offered, dtype=float), active, effort, cost, mass, beta, outside,
                                 np.array(self.bounds), self.moment_orders, sums)
            return self._totals_from_sums(sums)
        delivered, active_mass, payments, effort_costs, outside = (np.zeros(2) for _ in range(5))
        moments = np.zeros((self.moment_orders, 2))
        for k, (start, stop) in enumerate(self.bounds):
            mass, cost, beta = (self._type_values(name, k) for name in ("mass", "cost", "beta"))
            taken, chosen = effort[start:stop], active[start:stop]
            by_creator = mass * taken
            delivered[k] = by_creator.sum()
            active_mass[k] = mass * np.count_nonzero(chosen)
            payments[k] = np.einsum("i,i->", offered[start:stop], by_creator)
            effort_costs[k] = 0.5 * (cost * np.einsum("i,i->", taken, by_creator) if np.ndim(cost) == 0
                                     else np.einsum("i,i,i->", cost, taken, by_creator))
            outside[k] = mass * self.outside_option[start:stop][chosen].sum()
            moments[0, k] = delivered[k]
            if self.moment_orders > 1:
                weighted = by_creator * beta
                moments[1, k] = weighted.sum()
                moments[2, k] = np.einsum("i,i->", weighted, beta)
        with np.errstate(divide="ignore", invalid="ignore"):
            prices = np.where(delivered > 0, payments / delivered, 0.0)
            costs = np.where(delivered > 0, 2.0 * effort_costs / delivered**2, 1.0)
        return RoundTotals(prices, delivered, active_mass, moments, (prices, delivered, np.ones(2), costs, outside))

    def _cost_operand(self):
        """The cost as an operand of per-creator arithmetic: one number if every creator shares it."""
        shared = self.type_cost[0] is not None and self.type_cost[0] == self.type_cost[1]
        return self.type_cost[0] if shared else self.cost

    def _mass_operand(self):
        return self.type_mass[0] if self.type_mass[0] == self.type_mass[1] else self.mass

    # --- per-creator stocks ------------------------------------------------------------------

    def _initial_stocks(self) -> np.ndarray:
        return np.repeat(np.array(self.initial_stock), [stop - start for start, stop in self.bounds])

    def _flush_stock(self) -> None:
        """Apply the pending rounds to the per-creator stocks, as each creator would have.

        Every creator computes ``decay * X + growth * (mass * effort)`` each round. Where a
        type shares its mass, cost and starting stock, its creators' stocks differ only by
        the rounds in which they were active, which depend only on where the creator's entry
        price falls among the distinct prices posted: each such group is replayed once, so
        ``R`` pending rounds cost ``O(R^2 + n log R)``, with the same floating-point
        operations as the creators' own. Otherwise every creator is replayed, ``O(n R)``.
        """
        if self._stock is not None and not self._pending:
            return
        history = np.array(self._pending, dtype=float).reshape(-1, 2)
        self._pending = []
        stock = self._stock
        if stock is None:
            stock = np.empty(self.size)
            for k, (start, stop) in enumerate(self.bounds):
                if np.ndim(self._type_values("cost", k)) == 0:
                    stock[start:stop] = self._grouped_replay(k, history[:, k])
                else:
                    stock[start:stop] = self.initial_stock[k]
                    self._replay(stock, k, history[:, k])
        else:
            for k in range(2):
                self._replay(stock, k, history[:, k])
        self._stock = stock

    def _grouped_replay(self, k: int, prices: np.ndarray) -> np.ndarray:
        start, stop = self.bounds[k]
        levels = np.unique(prices)
        values = np.full(levels.size + 1, self.initial_stock[k])
        mass, cost, decay, growth = self.type_mass[k], self.type_cost[k], self.decay, self.growth
        for price in prices.tolist():
            inflow = growth * (mass * (price / cost))
            entered = np.searchsorted(levels, price, side="right")  # groups whose entry price is <= price
            values *= decay
            values[:entered] += inflow
        return values[np.searchsorted(levels, self.entry_price[start:stop], side="left")]

    def _replay(self, stock: np.ndarray, k: int, prices: np.ndarray) -> None:
        start, stop = self.bounds[k]
        segment, entry = stock[start:stop], self.entry_price[start:stop]
        mass, cost = self._type_values("mass", k), self._type_values("cost", k)
        for price in prices.tolist():
            effort = np.where(price >= entry, np.divide(price, cost), 0.0)
            segment[:] = self.decay * segment + self.growth * (mass * effort)


class _CreatorMargins:
    """Each creator's marginal value, computed only if a regime reads the values (not just the shape)."""

    ndim, dtype = 1, np.dtype(float)

    def __init__(self, model) -> None:
        self._model = model
        self.shape = (model.population.size,)
        self.size = model.population.size

    def __len__(self) -> int:
        return self.size

    def __array__(self, dtype=None, copy=None):
        values = self._model.creator_margins
        return values if dtype is None else values.astype(dtype, copy=False)

    def __getitem__(self, item):
        return np.asarray(self)[item]


class RunningTotals:
    """Sums and extremes over every round played, whichever rounds the trajectory records.

    The model adds every round's row (:meth:`add`); rows wait in a buffer of :attr:`CHUNK`
    rounds that is folded into the totals when full, so memory does not grow with the number
    of rounds. What :func:`abm.simulation.run.summarise` reports over the whole run comes from
    here: the cumulative welfare, trade surplus, firm profit, firm trade profit (``firm_profit
    + trade_surplus - welfare``, the firm's gain from trades before its stock depreciates) and
    creator surpluses, each the sum of per-round rates times ``dt``; the mean precision; the
    largest ``|intermediary_balance|``; and the largest one-round change of a stock or marginal
    value with the round length that would tame it
    (:func:`~abm.theory.fluid.round_length_check`, homogeneous markets only, else ``nan``).
    Missing values are skipped, as pandas' ``sum``, ``mean`` and ``max`` skip them.

    Parameters
    ----------
    market : DynamicMarket
    dt : float
        Round length.
    """

    #: Rounds held before a fold.
    CHUNK = 1024
    #: The trajectory columns kept per round until the fold.
    COLUMNS = ("welfare", "trade_surplus", "firm_profit", "surplus_innovators", "surplus_rank_and_file",
               "precision", "intermediary_balance", "price", "stock_innovators", "stock_rank_and_file",
               "price_innovators", "price_rank_and_file")
    #: Cumulative outputs: summary field and the per-round rate summed (times ``dt``).
    CUMULATIVE = {"welfare_cumulative": "welfare", "trade_surplus_cumulative": "trade_surplus",
                  "firm_profit_cumulative": "firm_profit", "firm_trade_profit_cumulative": "firm_trade_profit",
                  "surplus_innovators_cumulative": "surplus_innovators",
                  "surplus_rank_and_file_cumulative": "surplus_rank_and_file"}

    def __init__(self, market, dt: float) -> None:
        self.market, self.dt = market, dt
        self.rounds = 0
        self._index = {name: j for j, name in enumerate(self.COLUMNS)}
        self._buffer = np.empty((self.CHUNK, len(self.COLUMNS)))
        self._filled = 0
        self._sums = dict.fromkeys([*self.CUMULATIVE.values(), "precision"], 0.0)
        self._precision_count = 0
        self._balance_max = float("nan")
        self._prices = (float("nan"), float("nan"))  # smallest and largest positive posted price
        homogeneous = market.is_homogeneous
        self._change = 0.0 if homogeneous else float("nan")
        self._suggested = float(dt) if homogeneous else float("nan")

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, market, dt: float) -> "RunningTotals":
        """The totals of a trajectory holding every round (:data:`TRAJECTORY_COLUMNS`)."""
        totals = cls(market, dt)
        values = frame[list(cls.COLUMNS)].to_numpy(dtype=float)
        for start in range(0, len(values), cls.CHUNK):
            chunk = values[start:start + cls.CHUNK]
            totals._buffer[:len(chunk)] = chunk
            totals._filled = len(chunk)
            totals.rounds += len(chunk)
            totals._fold()
        return totals

    def add(self, row: dict) -> None:
        """One round's row (a :func:`~abm.theory.fluid.trajectory_row`)."""
        self._buffer[self._filled] = [row[name] for name in self.COLUMNS]
        self._filled += 1
        self.rounds += 1
        if self._filled == self.CHUNK:
            self._fold()

    def _fold(self) -> None:
        """Fold the buffered rounds into the totals and empty the buffer."""
        if not self._filled:
            return
        rows, column = self._buffer[:self._filled], self._index
        values = {name: rows[:, j] for name, j in column.items()}
        values["firm_trade_profit"] = values["firm_profit"] + values["trade_surplus"] - values["welfare"]
        for name in self._sums:
            self._sums[name] += float(np.nansum(values[name]))
        self._precision_count += int(np.count_nonzero(~np.isnan(values["precision"])))
        self._balance_max = float(np.fmax(self._balance_max, np.fmax.reduce(np.abs(values["intermediary_balance"]))))
        positive = values["price"][values["price"] > 0]
        if positive.size:
            self._prices = (float(np.fmin(self._prices[0], positive.min())),
                            float(np.fmax(self._prices[1], positive.max())))
        if self.market.is_homogeneous:
            change, suggested = round_length_check(self.market, self.dt,
                                                   rows[:, [column["stock_innovators"], column["stock_rank_and_file"]]],
                                                   rows[:, [column["price_innovators"], column["price_rank_and_file"]]])
            self._change, self._suggested = max(self._change, change), min(self._suggested, suggested)
        self._filled = 0

    @property
    def price_range(self) -> tuple[float, float]:
        """Smallest and largest positive posted price over every round (``nan`` if none)."""
        self._fold()
        return self._prices

    def summary(self) -> dict:
        """The run-wide outputs of :func:`abm.simulation.run.summarise`: ``rounds``,
        ``precision_mean``, the ``*_cumulative`` fields, ``intermediary_balance_max_abs``,
        ``round_change_max`` and ``dt_suggested``."""
        self._fold()
        count = self._precision_count
        return {
            "rounds": self.rounds,
            "precision_mean": self._sums["precision"] / count if count else float("nan"),
            **{field: self._sums[rate] * self.dt for field, rate in self.CUMULATIVE.items()},
            "intermediary_balance_max_abs": self._balance_max,
            "round_change_max": self._change,
            "dt_suggested": self._suggested,
        }


class RoundCollector(mesa.DataCollector):
    """Mesa's ``DataCollector`` for the model's rows: one model reporter per trajectory column
    and the seed, collected without Mesa's per-value ``deepcopy`` (the row's values are
    numbers, which nothing can change afterwards)."""

    def __init__(self) -> None:
        reporters = {column: (lambda m, c=column: m.latest[c]) for column in TRAJECTORY_COLUMNS}
        super().__init__(model_reporters={**reporters, "seed": "seed"})

    def collect(self, model) -> None:
        if not self._validated:  # Mesa validates the reporters on the first collection
            super().collect(model)
            return
        row, columns = model.latest, self.model_vars
        for column in TRAJECTORY_COLUMNS:
            columns[column].append(row[column])
        columns["seed"].append(model.seed)


class DataMarketModel(mesa.Model):
    """Creators and an AI firm trading effort in discrete rounds.

    Parameters
    ----------
    scenario : Scenario, str, path or None
        Market and simulation settings: an object, the name of a shipped scenario
        (:func:`abm.scenario.scenario_names`), a scenario file, or ``None`` for the
        embedded default (the curse of precision).
    rng, seed : int, numpy.random.Generator or None
        Mesa's seeding convention: pass one (not both); with neither, a fresh seed is drawn
        from the operating system's entropy. The integer seed used is recorded as
        :attr:`seed` (``None`` only when a ``Generator`` was passed) and in
        ``scenario.simulation.seed``. :func:`abm.simulation.run.simulate` passes the
        scenario's seed.
    stepping : {"array", "agents"}
        How creators respond each round (identical results; arrays are faster).
    compiled : bool, optional
        Use the compiled loops of :mod:`~abm.simulation.dynamic_market.kernels` (default:
        whenever numba is installed, ``pip install abm-training-data[fast]``). They agree with
        the numpy code to rounding (the myopic price and every creator's state bit for bit).
    **parameters
        Flat keyword overrides of any scenario field (:func:`abm.scenario.apply_overrides`),
        e.g. ``kappa=0.3, agents=500, rank_and_file_outside_option_exponent=3.0``;
        validated like a scenario file.

    Attributes
    ----------
    population : Population
    supply : EmpiricalSupply
        The creators' prefix sums (the firm's myopic price, the price cap).
    firm : AIFirm
    intermediary : Intermediary or None
        Present when the regime settles rounds by the intermediary's tariff.
    regime : Regime
    precision : float
        Current precision of the firm's model.
    margins : ndarray
        Current marginal values ``(m_O, m_C)`` of the two types' data.
    stocks : ndarray
        Each type's data stock (the sum of its creators' stocks).
    round : int
        Rounds played; ``time = round * dt``.
    running : bool
        ``False`` once the scenario's horizon is reached (``mesa.batch_run`` stops there).
    datacollector : RoundCollector
        A ``mesa.DataCollector``; one row per recorded round (every
        ``simulation.record_every``-th round and the last): the :data:`TRAJECTORY_COLUMNS` and
        the ``seed``.
    running_totals : RunningTotals
        Sums and extremes over every round played, recorded or not (the run's cumulative outputs).
    """

    def __new__(cls, scenario=None, **keywords):
        """A market with ``simulation.firms > 1`` is built as the rival-firms model
        (:class:`~abm.simulation.dynamic_market.rivals.RivalFirmsModel`)."""
        if cls is DataMarketModel:
            from abm.simulation.dynamic_market.rivals import RivalFirmsModel, wants_rivals

            if wants_rivals(scenario, keywords):
                cls = RivalFirmsModel
        return super().__new__(cls)

    def __init__(self, scenario=None, *, rng=None, seed=None, stepping: str = "array", compiled: bool | None = None,
                 **parameters) -> None:
        if rng is not None and seed is not None:
            raise ValueError("pass either rng or seed, not both")
        chosen = seed if seed is not None else rng
        if chosen is None:
            chosen = fresh_seed()
        elif not isinstance(chosen, np.random.Generator):
            chosen = require_whole(chosen, "seed", minimum=0)
        super().__init__(rng=chosen)
        if stepping not in STEPPING:
            raise ValueError(f"stepping must be one of {STEPPING}, got {stepping!r}")
        self.seed = None if isinstance(chosen, np.random.Generator) else int(chosen)
        scenario = apply_overrides(resolve_scenario(scenario), parameters)
        if self.seed is not None:
            scenario = scenario.with_simulation(seed=self.seed)
        self.scenario, self.market, self.stepping = scenario, scenario.market, stepping
        self.dt = scenario.simulation.dt
        self.n_rounds = scenario.simulation.n_rounds
        self.round = 0
        self.compiled = kernels.AVAILABLE if compiled is None else bool(compiled) and kernels.AVAILABLE
        decides = not all(behaviour.is_default for behaviour in scenario.behaviours)
        self.population = Population(scenario, self.rng, materialised=stepping == "agents" or decides,
                                     compiled=self.compiled)
        population = self.population
        #: The creators' entry rules when some type does not best-respond (else None: the fast path).
        self.behaviour = None
        if decides:
            from abm.simulation.dynamic_market.behaviours import CreatorBehaviours

            if any(behaviour.rule == "chosen_originality" for behaviour in scenario.behaviours):
                from abm.simulation.dynamic_market.originality import StyleBehaviours as CreatorBehaviours
            self.behaviour = CreatorBehaviours(self)
        self.supply = population.supply
        # Creator agents get ids 1..n whenever they are created; the firm and the intermediary follow.
        self._creators_created = False
        mesa.Agent._ids[self] = itertools.count(population.size + 1)
        if population.heterogeneous:
            # Mass-weighted loading moments per type: a type's reported marginal value is the
            # mean of its creators' (1 - lambda beta_i)^2 / D.
            self._type_moments = (self.behaviour.type_moments() if hasattr(self.behaviour, "type_moments")
                                  else np.array([[population._loading_sum(k, r) / (stop - start)
                                                  for k, (start, stop) in enumerate(population.bounds)]
                                                 for r in (0, 1, 2)]))
        self.regime = get_regime(scenario.simulation.regime)
        self.firm = AIFirm(self, self._pricing_rule())
        self.intermediary = Intermediary(self) if self.regime.settles_by_tariff else None
        self._cap_supply = self.supply.supply_pair
        self.trap = price_cap(self.market, 0.0, supply=self._cap_supply)
        self._tariff_terms = {}
        if self.intermediary is not None:
            settings = scenario.regime
            self._tariff_terms = dict(tariff=True, operating_cost=settings.operating_cost,
                                      firm_outside=settings.firm_outside, bargaining_power=settings.bargaining_power)
        self._moments = population.initial_moments.copy()
        self.latest: dict = {}
        self.datacollector = RoundCollector()
        self.running_totals = RunningTotals(self.market, self.dt)
        if stepping == "agents":
            self._create_creators()
        self._read_stocks()

    # --- Mesa agents, created on first use ---------------------------------------------------

    def _create_creators(self) -> None:
        """Create the Creator agents (ids 1..n, before the firm in every agent set)."""
        if self._creators_created:
            return
        self._creators_created = True
        others = list(self._agents)
        for agent in others:
            self.deregister_agent(agent)
        for agent_type in {type(agent) for agent in others}:
            self._agents_by_type.pop(agent_type, None)
        counter, mesa.Agent._ids[self] = mesa.Agent._ids[self], itertools.count(1)
        try:
            for creator_class, (start, stop) in zip(CREATOR_CLASSES, self.population.bounds):
                for index in range(start, stop):
                    creator_class(self, index)
        finally:
            mesa.Agent._ids[self] = counter
        for agent in others:
            self.register_agent(agent)

    @property
    def agents(self) -> mesa.agent.AgentSet:
        """Every agent (the creators are created on first access)."""
        self._create_creators()
        return self._all_agents

    @agents.setter
    def agents(self, agents) -> None:
        mesa.Model.agents.fset(self, agents)

    @property
    def agents_by_type(self) -> dict:
        """Agent sets by class (the creators are created on first access)."""
        self._create_creators()
        return self._agents_by_type

    @property
    def agent_types(self) -> list:
        """Every agent class of the model."""
        self._create_creators()
        return list(self._agents_by_type)

    # --- state -------------------------------------------------------------------------------

    @property
    def time(self) -> float:
        """Simulated time at the start of the next round."""
        return self.round * self.dt

    def _pricing_rule(self):
        settings = self.scenario.learning
        if self.scenario.simulation.firm == "learning":
            return LearningPricing(settings.learning_rate, settings.probe, settings.initial_price)
        return PRICING_RULES[self.scenario.simulation.firm]()

    def _read_stocks(self) -> None:
        """Precision and marginal values of the firm's model trained on the current stocks.

        With one loading per type the stocks of a type are summed first (the fluid limit's
        state); with loadings per creator every creator's stock enters the sums of Eq. 11 with
        its own loading (the stocks' loading moments), and ``creator_margins`` holds each
        creator's marginal value.
        """
        self.stocks = self._moments[0].copy()
        if not self.population.heterogeneous:
            self.precision, self.margins = model_state(self.market, self.stocks)
            return
        s0, s1, s2 = (float(x) for x in self._moments.sum(axis=1))
        market = self.market
        self.precision = precision_fixed_point(s0, s1, s2, market.sigma0_sq, market.kappa)
        self.lam, self.feedback = recursive_weights(s1, s2, self.precision, market.sigma0_sq, market.kappa)
        self._expansion = np.array([1.0, -2.0 * self.lam, self.lam**2]) / self.feedback  # (1 - lam b)^2 / D
        self.margins = self._expansion @ self._type_moments
        self._stock_value = float(self._expansion @ (s0, s1, s2))

    @property
    def creator_margins(self) -> np.ndarray:
        """Each creator's marginal value ``(1 - lambda beta_i)^2 / D`` (per type when loadings are shared)."""
        if not self.population.heterogeneous:
            return self.margins
        return marginal_precision_weight(self.lam, self.population.beta) / self.feedback

    # --- a round -----------------------------------------------------------------------------

    def _best_responses(self) -> None:
        """Every creator best-responds to its offered price and adds its content to its stock:
        agent by agent (``Creator.step`` in a random order per type) or over the arrays."""
        population = self.population
        if self.stepping == "agents":
            for creator_class in CREATOR_CLASSES:
                self.agents_by_type[creator_class].shuffle_do("step")
            population.observe_agents()
        else:
            population.respond()
            population.accumulate()

    def step(self) -> None:
        """One round: prices, entry and effort, settlement and record, stocks."""
        prices = self._post_prices()
        population = self.population
        population.offer(prices)
        if self.behaviour is not None:
            self.behaviour.prepare()
            if self.stepping == "agents":
                for creator_class in CREATOR_CLASSES:
                    self.agents_by_type[creator_class].shuffle_do("step")
            else:
                self.behaviour.step_all()
            self.behaviour.settle()
            population.prices = None  # sum over what the creators did
        else:
            self._best_responses()
        totals = population.totals()
        self._record(prices, totals)
        self.running_totals.add(self.latest)
        if self.scenario.simulation.is_recorded(self.round):
            self.datacollector.collect(self)
        self.round += 1
        self._moments *= population.decay
        self._moments += population.growth * totals.moments
        self._read_stocks()
        self.running = self.round < self.n_rounds

    def _post_prices(self) -> np.ndarray:
        """The regime's unit prices; a tariff round whose surplus would be negative is called off."""
        self.firm.precision = self.precision
        margins = _CreatorMargins(self) if self.population.heterogeneous else self.margins
        context = PricingContext(self.market.value, margins, self.firm.uniform_price, self.market.depreciation,
                                 self.market.types)
        prices = np.asarray(self.regime.unit_prices(context, self.scenario.regime), dtype=float)
        if self.intermediary is not None and not self.settle(prices, would_enter=True).feasible:
            prices = np.zeros_like(prices)
        self.firm.prices = prices
        #: What the firm pays per unit of each type's data when a broker resells it (else None).
        self.resale_prices = self.regime.resale_prices(context, self.scenario.regime)
        return prices

    def settle(self, prices, would_enter: bool = False):
        """Settle the round for the active creators (or those who would enter at ``prices``)."""
        totals = self.population.totals(prices if would_enter else None)
        return settle_round(*totals.settlement_terms, kind=(0, 1), **self._tariff_terms)

    def _record(self, prices: np.ndarray, totals: RoundTotals) -> None:
        settlement = settle_round(*totals.settlement_terms, kind=(0, 1), firm_price=self.resale_prices,
                                  **self._tariff_terms)
        if self.intermediary is not None:
            self.intermediary.book(settlement)
        if prices.size != 2:  # per-creator prices: each type's delivery-weighted mean (0 if none delivered)
            prices = np.where(totals.delivered > 0, totals.prices, 0.0)
        data_value, stock_value = self._data_values(totals)
        self.latest = trajectory_row(self.market, self.time, prices, self.stocks, self.precision, self.margins,
                                     totals.delivered, totals.active_mass, settlement, supply=self._cap_supply,
                                     trap=self.trap, data_value=data_value, stock_value=stock_value)
        self.firm.book(self.latest["firm_profit"], self.dt)
        if self.regime.firm_prices:
            self.firm.learn(data_value - settlement.firm_transfer)

    def _data_values(self, totals: RoundTotals) -> tuple:
        """``(v sum_i m_i E_i, sum_i m_i X_i)``: the value of the round's data to the firm's
        model, and the marginal value of its stock (whose depreciation it loses)."""
        if not self.population.heterogeneous:
            return self.market.value * float(self.margins @ totals.delivered), None
        return self.market.value * float(self._expansion @ totals.moments.sum(axis=1)), self._stock_value

    def run(self, n_rounds: int | None = None, progress: bool = False) -> pd.DataFrame:
        """Play ``n_rounds`` rounds (default: until the horizon) and return the trajectory.

        Parameters
        ----------
        n_rounds : int, optional
        progress : bool
            Show a tqdm progress bar.
        """
        n_rounds = max(self.n_rounds - self.round, 0) if n_rounds is None else int(n_rounds)
        rounds = range(n_rounds)
        if progress:
            from tqdm.auto import tqdm

            rounds = tqdm(rounds, desc="agent-based rounds", unit="round")
        for _ in rounds:
            self.step()
        return self.trajectory()

    def trajectory(self) -> pd.DataFrame:
        """Every recorded round (``simulation.record_every``) as a DataFrame with the :data:`TRAJECTORY_COLUMNS`."""
        frame = self.datacollector.get_model_vars_dataframe().reset_index(drop=True)
        return frame[list(TRAJECTORY_COLUMNS)]
