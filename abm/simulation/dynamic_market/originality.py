"""Chosen originality in the agent-based model: creators who choose their style.

The rule ``chosen_originality`` (economics and fluid counterpart in
:mod:`abm.theory.originality`, ``docs/behaviours.md``): every creator of the type has a style
from the type's menu (a loading and a cost), enters at its style's entry price
``sqrt(2 c_j omega)`` and exerts ``p / c_j``; after each round a share ``rho`` of the type's
creators (one uniform per creator, in creator order, from the model's generator, drawn
before anyone decides) revise their style to the one the round's prices pay most. The new
style takes effect from the next round, so the round's content carries the loading it was
made with.

Where the state lives.

* Each creator's style is ``model.population.style[index]`` (the index into its type's menu,
  kept by its :class:`ChosenOriginality` rule; ``Creator.beta`` and ``Creator.cost`` read its
  current style's loading and cost, ``Creator.entry_price`` its entry price).
* The population runs on its path for per-creator loadings and costs (as a scenario with
  distributed loadings): the model's precision comes from the loading moments of the stocks,
  ``sum X``, ``sum beta X``, ``sum beta^2 X``, to which each round adds its content with the
  loadings it was made with, so old content keeps its style exactly; the intermediary posts
  each creator ``v m_i`` at its current style's marginal value.
* :class:`StyleBehaviours` also keeps one data stock per (type, style) (:attr:`StyleBehaviours.history`
  records them with the shares after every round): what the fluid map tracks, and what the
  docking test compares. A type's initial stock keeps the type's own loading from the
  scenario (``beta``); content from the first round on carries the style's.

The firm's supply curve over the (type, style) groups is rebuilt after a round in which someone
switched: :class:`StyleUniverse` merges every entry price a creator could have once, at build,
and a rebuild keeps the current styles' prices in one pass (bit for bit the curve built from
the groups). With the compiled loops each type's decisions, revisions, per-style inflows and
stock update are one pass.

A type that best-responds beside a choosing type is run as a one-style menu (its own loading
and cost); other rules cannot run beside ``chosen_originality``.
"""

from __future__ import annotations

import numpy as np

from abm.simulation.dynamic_market.behaviours import BEHAVIOURS, CreatorBehaviours, EntryRule
from abm.theory.empirical import EmpiricalSupply
from abm.theory.fluid import PricingContext
from abm.theory.originality import initial_styles, style_margins, style_payoffs
from abm.theory.supply import entry_price

__all__ = ["ChosenOriginality", "StyleBehaviours", "style_history"]

try:  # the optional compiled merge (abm[fast])
    import numba
except ImportError:  # pragma: no cover - numba is optional
    numba = None

TYPE_NAMES = ("innovators", "rank_and_file")
#: Regimes whose unit price for a creator is a function of its marginal value alone (or the firm's
#: uniform price), so the price each style would fetch is the regime's price at the style's value.
MARGIN_PRICED = ("strict_ip", "intermediary", "intermediary_shadow", "free_for_all", "statutory_license",
                 "collective_pool")


class ChosenOriginality(EntryRule):
    """Best response in the creator's current style; a Calvo share ``rho`` revise the style each round.

    ``behaviour`` is ``None`` for a best-responding type run beside a choosing one (a one-style
    menu: the type's own loading and cost; it draws nothing).
    """

    name = "chosen_originality"

    def __init__(self, behaviour, population, k: int) -> None:
        super().__init__(behaviour, population, k)
        if behaviour is None:
            self.betas = np.array([population.type_beta[k]])
            self.costs = np.array([population.type_cost[k]])
            self.names, self.rate = ("own",), 0.0
        else:
            menu = behaviour["styles"]
            self.betas, self.costs, self.names = np.array(menu.betas), np.array(menu.costs), menu.names
            self.rate = behaviour["revision_rate"]
        self.size = self.stop - self.start
        self.style = initial_styles(self.size, self.betas.size)
        self.pending = self.style.copy()  # equal to the styles between rounds; revisers' new style within one
        self.counts = np.bincount(self.style, minlength=self.betas.size)  # creators per style
        self.compiled = False  # decide over the arrays in one compiled pass (set by StyleBehaviours)
        self._inflows = None  # this round's effort per style, when the compiled pass summed it
        self.draws = np.ones(self.size)
        self.best, self.payoffs = 0, np.zeros(self.betas.size)

    @property
    def draws_numbers(self) -> bool:
        return self.rate > 0.0

    def write_characteristics(self, local=None) -> None:
        """Write the loading, cost, entry price and style of every creator of the type (or of the
        creators at positions ``local`` within it) into the population's arrays."""
        population = self.population
        if local is None:
            index, style, options = slice(self.start, self.stop), self.style, self.options
        else:
            index, style, options = self.start + local, self.style[local], self.options[local]
        population.beta[index] = self.betas[style]
        population.cost[index] = self.costs[style]
        population.entry_price[index] = entry_price(options, population.cost[index])
        population.style[index] = style

    def members(self, style: int) -> np.ndarray:
        """Population indices of the type's creators in ``style``, in outside-option order."""
        return self.start + np.flatnonzero(self.style == style)

    def set_style_prices(self, prices) -> None:
        """The prices each style fetches this round; revisers will move to the best paying one."""
        self.payoffs = style_payoffs(prices, self.costs)
        self.best = int(np.argmax(self.payoffs))

    def prepare(self, rng) -> None:
        self._inflows = None
        if self.draws_numbers:
            self.draws = rng.random(self.size)

    def enters(self, offered, index):
        return np.greater_equal(offered, self.population.entry_price[index])

    def decide(self, index: int) -> None:
        population, local = self.population, index - self.start
        active = bool(self.enters(population.offered[index], index))
        population.active[index] = active
        population.effort[index] = population.offered[index] / population.cost[index] if active else 0.0
        style = self.style[local]
        if self.draws[local] < self.rate and self.payoffs[self.best] > self.payoffs[style]:
            self.pending[local] = self.best

    def decide_all(self, store: bool = False) -> None:
        """Every creator's entry, effort and revision over the arrays; with ``store`` (compiled
        only) also its stock update, in the same pass."""
        population, segment = self.population, slice(self.start, self.stop)
        worse = self.payoffs[self.best] > self.payoffs  # the styles whose creators would move
        revising = self.rate > 0.0 and bool(np.any(worse & (self.counts > 0)))
        if self.compiled:  # the same decisions, and the per-style sums of style_inflows, in one pass
            self._inflows = np.zeros(self.betas.size)
            _decide_styles_compiled(population.offered[segment], population.entry_price[segment],
                                    population.cost[segment], population.active[segment], population.effort[segment],
                                    self.style, self.draws, self.rate if revising else 0.0, worse, self.best,
                                    self.pending, self._inflows, population.stock[segment],
                                    float(population.type_mass[self.k]), population.decay, population.growth, store)
            return
        if store:
            raise ValueError("decide_all(store=True) needs the compiled loops")
        offered = population.offered[segment]
        active = self.enters(offered, segment)
        population.active[segment] = active
        population.effort[segment] = np.where(active, offered / population.cost[segment], 0.0)
        if revising:
            revise = self.draws < self.rate
            revise &= worse[self.style]
            self.pending[revise] = self.best

    def style_inflows(self) -> np.ndarray:
        """This round's content per style, ``sum mass_i e_i`` over the style's creators."""
        if self._inflows is not None:
            return self.population.type_mass[self.k] * self._inflows
        effort = self.population.effort[self.start:self.stop]
        return self.population.type_mass[self.k] * np.bincount(self.style, weights=effort,
                                                               minlength=self.betas.size)

    def switch(self) -> bool:
        """Adopt the styles chosen this round (content from the next round on carries them);
        whether anyone changed style. Only the movers' characteristics are rewritten."""
        movers = np.flatnonzero(self.pending != self.style)
        if movers.size == 0:
            return False
        size = self.betas.size
        self.counts -= np.bincount(self.style[movers], minlength=size)
        self.counts += np.bincount(self.pending[movers], minlength=size)
        self.style[movers] = self.pending[movers]
        self.write_characteristics(movers)
        return True

    def state(self, index: int) -> dict:
        """``style``: the name of the creator's current style (its loading and cost follow it)."""
        return {"style": self.names[self.style[index - self.start]]}

    def shares(self) -> np.ndarray:
        return self.counts / self.size


def _decide_styles(offered, entry, cost, active, effort, style, draws, rate, worse, best, pending, inflows,
                   stock, mass, decay, growth, store):
    """:meth:`ChosenOriginality.decide_all` in one pass: entry (``offered >= entry``), effort
    ``offered / cost``, this round's effort per style summed in creator order (as ``np.bincount``
    sums it) and the revisers' new style (``draws < rate`` in a style that pays less than ``best``);
    with ``store``, also the stock update ``decay X + growth (mass e)`` (the arithmetic of
    :func:`~abm.simulation.dynamic_market.kernels.stock_update`)."""
    for i in range(offered.shape[0]):
        price = offered[i]
        if price >= entry[i]:
            e = price / cost[i]
            active[i] = True
        else:
            e = 0.0
            active[i] = False
        effort[i] = e
        s = style[i]
        inflows[s] += e
        if draws[i] < rate and worse[s]:
            pending[i] = best
        if store:
            stock[i] = decay * stock[i] + growth * (mass * e)


def _merge_pieces(values, group, creator, style, current, weight, thresholds, held, starts, rows):
    """One pass over every entry price a creator could have, ascending, keeping those of the
    creators' current styles (``current[creator[m]] == style[m]``).

    Writes each group's kept prices (``thresholds[g, :held[g]]``), the distinct kept prices
    (``starts``) and each group's total weight at every one of them, ties included
    (``rows[g, piece]``: the group's running sum of ``weight[g]``, added one creator at a time
    as ``np.cumsum`` adds, so bit for bit the running sums of the group's weights); returns the
    number of pieces.
    """
    n_groups = weight.shape[0]
    held[:] = 0
    total = np.zeros(n_groups)
    pieces = 0
    previous = 0.0
    seen = False
    for m in range(values.shape[0]):
        if current[creator[m]] != style[m]:
            continue
        value = values[m]
        if seen and value > previous:
            starts[pieces] = previous
            for g in range(n_groups):
                rows[g, pieces] = total[g]
            pieces += 1
        g = group[m]
        thresholds[g, held[g]] = value
        held[g] += 1
        total[g] += weight[g]
        previous, seen = value, True
    if seen:
        starts[pieces] = previous
        for g in range(n_groups):
            rows[g, pieces] = total[g]
        pieces += 1
    return pieces


def _merge_pieces_few(values, group, creator, style, current, weight, thresholds, held, starts, rows):
    """:func:`_merge_pieces` for at most four groups, each group's running weight and count held
    in a local variable rather than an array (the same additions in the same order, so the same
    bits; the pass's cost is the dependency through memory otherwise)."""
    n_groups = weight.shape[0]
    w0 = weight[0]
    w1 = weight[1] if n_groups > 1 else 0.0
    w2 = weight[2] if n_groups > 2 else 0.0
    w3 = weight[3] if n_groups > 3 else 0.0
    t0 = t1 = t2 = t3 = 0.0
    h0 = h1 = h2 = h3 = 0
    pieces = 0
    previous = 0.0
    seen = False
    for m in range(values.shape[0]):
        if current[creator[m]] != style[m]:
            continue
        value = values[m]
        if seen and value > previous:
            starts[pieces] = previous
            rows[0, pieces] = t0
            if n_groups > 1:
                rows[1, pieces] = t1
            if n_groups > 2:
                rows[2, pieces] = t2
            if n_groups > 3:
                rows[3, pieces] = t3
            pieces += 1
        g = group[m]
        if g == 0:
            thresholds[0, h0] = value
            h0 += 1
            t0 += w0
        elif g == 1:
            thresholds[1, h1] = value
            h1 += 1
            t1 += w1
        elif g == 2:
            thresholds[2, h2] = value
            h2 += 1
            t2 += w2
        else:
            thresholds[3, h3] = value
            h3 += 1
            t3 += w3
        previous, seen = value, True
    totals, counts = (t0, t1, t2, t3), (h0, h1, h2, h3)
    if seen:
        starts[pieces] = previous
        for g in range(n_groups):
            rows[g, pieces] = totals[g]
        pieces += 1
    for g in range(n_groups):
        held[g] = counts[g]
    return pieces


if numba is not None:
    _merge_pieces_compiled = numba.njit(cache=True, nogil=True)(_merge_pieces)
    _merge_pieces_few_compiled = numba.njit(cache=True, nogil=True)(_merge_pieces_few)
    _decide_styles_compiled = numba.njit(cache=True, nogil=True)(_decide_styles)


class StyleUniverse:
    """Every entry price a creator could have, one per (creator, style of its type's menu), merged once.

    The (type, style) groups of the firm's supply curve are each a subsequence of this merge
    (the creators currently in that style, in outside-option order), so a round's curve is one
    filtering pass over it (:meth:`supply`) instead of a merge and a binary search of every
    piece in every group. The entry prices are :func:`~abm.theory.supply.entry_price` of the
    creators' own outside options and costs, so the curve is bit for bit the one
    :meth:`~abm.theory.empirical.EmpiricalSupply.from_sorted` builds from the groups.
    """

    def __init__(self, rules, population, compiled: bool) -> None:
        values, group, creator, style, self.sums, weights, self.sizes = [], [], [], [], [], [], []
        for rule in rules:
            for j, cost in enumerate(rule.costs):
                values.append(entry_price(rule.options, cost))
                group.append(np.full(rule.size, len(self.sums), dtype=np.int8))
                creator.append(np.arange(rule.start, rule.stop, dtype=np.int64))
                style.append(np.full(rule.size, j, dtype=population.style.dtype))
                weights.append(population.type_mass[rule.k] / cost)
                sums = np.empty(rule.size + 1)  # the running sums from_sorted makes of the group's weights
                sums[0] = 0.0
                np.cumsum(np.full(rule.size, weights[-1]), out=sums[1:])
                self.sums.append(sums)
                self.sizes.append(rule.size)
        if len(self.sums) > np.iinfo(np.int8).max:
            raise ValueError(f"chosen_originality supports at most 127 (type, style) groups, got {len(self.sums)}")
        self.weights = np.array(weights)
        self.creators = sum(rule.size for rule in rules)
        values = np.concatenate(values)
        order = np.argsort(values, kind="stable")
        self.values = values[order]
        self.group, self.creator, self.style = (np.concatenate(a)[order] for a in (group, creator, style))
        self.compiled = bool(compiled and numba is not None)
        self._starts = None

    def supply(self, current) -> EmpiricalSupply:
        """The firm's supply curve when creator ``i`` is in style ``current[i]`` (population index)."""
        n_groups = len(self.sums)
        if not self.compiled:
            return self._supply_numpy(current)
        if self._starts is None:  # reused: the curve copies the starts
            self._starts = np.empty(self.creators)
        thresholds = np.empty((n_groups, max(self.sizes)))
        rows, held = np.empty((n_groups, self.creators)), np.empty(n_groups, dtype=np.int64)
        merge = _merge_pieces_few_compiled if n_groups <= 4 else _merge_pieces_compiled
        pieces = merge(self.values, self.group, self.creator, self.style, current, self.weights,
                                        thresholds, held, self._starts, rows)
        return EmpiricalSupply.from_pieces([thresholds[g, :held[g]] for g in range(n_groups)], {"weight": self.sums},
                                           self._starts[:pieces], weights=rows[:, :pieces])

    def _supply_numpy(self, current) -> EmpiricalSupply:
        """:meth:`supply` in numpy: the kept prices, each group's mask and its counts at the pieces."""
        kept = current[self.creator] == self.style
        values, group = self.values[kept], self.group[kept]
        last = np.empty(values.size, dtype=bool)
        np.greater(values[1:], values[:-1], out=last[:-1])
        if values.size:
            last[-1] = True
        members = [group == g for g in range(len(self.sums))]
        thresholds = [values[member] for member in members]
        counts = [np.cumsum(member)[last] for member in members]
        return EmpiricalSupply.from_pieces(thresholds, {"weight": self.sums}, values[last], counts=counts)


class StyleBehaviours(CreatorBehaviours):
    """The model's creators when some type follows ``chosen_originality``.

    Requires the scenario's types to have one loading and one cost each, the other type on
    ``best_response`` or ``chosen_originality``, and a myopic or learning firm; runs under
    the regimes that price from marginal values (the price a style fetches is the regime's unit
    price at the style's marginal value; :data:`MARGIN_PRICED`). Turns the population's loadings and costs into per-creator arrays that
    follow the styles.
    """

    def __init__(self, model) -> None:
        population, scenario = model.population, model.scenario
        if population.heterogeneous or any(c is None for c in population.type_cost):
            raise ValueError("chosen_originality needs each type of the scenario to have one loading and one cost "
                             "(the styles replace them)")
        others = sorted({b.rule for b in scenario.behaviours} - {"chosen_originality", "best_response"})
        if others:
            raise ValueError(f"chosen_originality runs beside best_response only, not beside rule {others[0]!r}")
        if scenario.simulation.regime not in MARGIN_PRICED:
            raise ValueError(f"chosen_originality runs under simulation.regime in {list(MARGIN_PRICED)} (where a "
                             f"style's price follows from its marginal value), got {scenario.simulation.regime!r}")
        if scenario.simulation.firm not in ("myopic", "learning"):
            raise ValueError("chosen_originality runs with simulation.firm = 'myopic' or 'learning'")
        self.model, self.population = model, population
        self.rules = [ChosenOriginality(b if b.rule == "chosen_originality" else None, population, k)
                      for k, b in enumerate(scenario.behaviours)]
        self._per_creator_characteristics()
        self.style_stocks = [np.zeros(rule.betas.size) for rule in self.rules]
        self.history: list = []
        self._supply = None  # the firm's supply curve, rebuilt when someone changes style
        self._universe = StyleUniverse(self.rules, population, model.compiled)  # every entry price a creator could have
        for rule in self.rules:
            rule.compiled = bool(model.compiled and numba is not None)

    def _per_creator_characteristics(self) -> None:
        """Loadings and costs per creator, following the styles; the initial stocks keep the types' loadings."""
        population = self.population
        size = population.size
        beta, cost = np.empty(size), np.empty(size)
        population.__dict__.update(beta=beta, cost=cost)
        population.style = np.zeros(size, dtype=np.int64)
        population._per_creator = {"beta": [beta[a:b] for a, b in population.bounds],
                                   "cost": [cost[a:b] for a, b in population.bounds]}
        population.initial_moments = np.array([[population.initial_stock[k] * (stop - start)
                                                * population.type_beta[k] ** r
                                                for k, (start, stop) in enumerate(population.bounds)]
                                               for r in range(3)])
        population.type_cost = (None, None)
        population.heterogeneous, population.moment_orders = True, 3
        population.compiled = False
        population.prefix_order = False  # entry prices no longer follow each type's order
        for rule in self.rules:
            rule.write_characteristics()

    # --- a round -----------------------------------------------------------------------------

    def step_all(self) -> None:
        """Every creator's decision and stock update over the arrays; with the compiled loops one
        pass per type (the same arithmetic as deciding, then updating the stocks)."""
        if not all(rule.compiled for rule in self.rules):
            super().step_all()
            return
        for rule in self.rules:
            rule.decide_all(store=True)

    def price(self, model) -> float:
        """The myopic firm's exact best response to this round's entry prices: the piece scan of
        :class:`~abm.theory.empirical.EmpiricalSupply` over the (type, style) groups (each in
        outside-option order, hence ascending), with each style's marginal value; the curve is
        rebuilt (one pass over :class:`StyleUniverse`) only after someone changed style."""
        if self._supply is None:
            self._supply = self._universe.supply(self.population.style)
        margins = np.concatenate([style_margins(model.lam, model.feedback, rule.betas) for rule in self.rules])
        return self._supply.best_price(margins, model.market.value)

    def style_prices(self, rule) -> np.ndarray:
        """The unit price each of ``rule``'s styles fetches this round under the regime (0 if the
        round was called off)."""
        model = self.model
        posted = np.asarray(model.firm.prices, dtype=float)
        if not posted.any():
            return np.zeros(rule.betas.size)
        uniform = float(posted.max())
        margins = style_margins(model.lam, model.feedback, rule.betas)
        context = PricingContext(model.market.value, margins, lambda: uniform, model.market.depreciation)
        return np.asarray(model.regime.unit_prices(context, model.scenario.regime), dtype=float)

    def prepare(self) -> None:
        for rule in self.rules:
            rule.set_style_prices(self.style_prices(rule))
            rule.prepare(self.model.rng)

    def settle(self) -> None:
        """Sum the round with the styles it was made in, keep the per-style stocks, then switch styles.

        The model sums the round (``population.totals``) after this call; the totals are summed
        here first, with the loadings and costs the content was made with, and kept (the
        population caches a round's totals until the next offer).
        """
        population = self.population
        population.prices = None
        population.totals()
        for k, rule in enumerate(self.rules):
            self.style_stocks[k] = population.decay * self.style_stocks[k] + population.growth * rule.style_inflows()
            if rule.switch():
                self._supply = None
        model = self.model
        if hasattr(model, "_type_moments"):  # reported per-type marginal values: the creators' current loadings
            model._type_moments = np.array([[population._loading_sum(k, r) / (stop - start)
                                             for k, (start, stop) in enumerate(population.bounds)] for r in range(3)])
        self.history.append(self._record())

    def _record(self) -> dict:
        row = {"round": self.model.round}
        for rule in self.rules:
            shares = rule.shares()
            for j, name in enumerate(rule.names):
                label = f"{TYPE_NAMES[rule.k]}_{name}"
                row[f"share_{label}"] = float(shares[j])
                row[f"stock_{label}"] = float(self.style_stocks[rule.k][j])
        return row


def style_history(model):
    """Shares and per-style stocks of a model run with ``chosen_originality``, one row per round
    at the start of that round (the columns of :func:`abm.theory.originality.originality_rounds`)."""
    import pandas as pd

    behaviour = model.behaviour
    if not isinstance(behaviour, StyleBehaviours):
        raise ValueError("style_history needs a model in which some type follows chosen_originality")
    first = {"round": 0}
    for rule in behaviour.rules:
        shares = np.bincount(initial_styles(rule.size, rule.betas.size), minlength=rule.betas.size) / rule.size
        for j, name in enumerate(rule.names):
            first[f"share_{TYPE_NAMES[rule.k]}_{name}"] = float(shares[j])
            first[f"stock_{TYPE_NAMES[rule.k]}_{name}"] = 0.0
    rows = [first] + [{**row, "round": row["round"] + 1} for row in behaviour.history[:-1]]
    return pd.DataFrame(rows)


BEHAVIOURS[ChosenOriginality.name] = ChosenOriginality
