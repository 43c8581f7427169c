"""Creators who decide: the entry rules a creator type can follow in the agent-based model.

A scenario chooses a rule per type (``[rank_and_file.behaviour]``, :class:`abm.theory.behaviour_limits.Behaviour`).
:data:`BEHAVIOURS` maps each rule's name to its class; every class has one interface
(:class:`EntryRule`), used the same way by both stepping paths:

1. ``expected_count(price)``: how many of the type's creators the firm expects to be active
   this round at ``price`` (the firm's myopic price maximises Eq. 12's profit against these
   counts, :func:`abm.theory.behaviour_limits.maximise_profit`);
2. ``prepare(rng)``: after prices are posted and before anyone decides, draw this round's
   random numbers (one uniform per creator, in creator order, for ``logit``), so the array
   path and the agent-by-agent path draw the same numbers in the same order;
3. ``decide(index)`` (one creator, the agent path) / ``decide_all()`` (the whole type, the
   array path): entry and effort, the same arithmetic element by element;
4. ``settle()``: after the round, keep what the rule remembers (``sunk_entry``: who is active).

``best_response`` with every type on it is today's model, run by the model's own fast path
(prefix sums); these classes are used only when some type follows another rule. Such runs go
over the population's arrays, ``O(N)`` per round plus the firm's price search: the random draws
(``logit``) and the state (``sunk_entry``) break the "active creators are the cheapest ones"
shortcut. See ``docs/behaviours.md``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from abm.theory.behaviour_limits import maximise_profit
from abm.theory.empirical import EmpiricalSupply

__all__ = ["EntryRule", "BestResponse", "Logit", "SunkEntry", "BEHAVIOURS", "CreatorBehaviours"]


class EntryRule:
    """One type's entry rule over the population's arrays (creators ``start..stop-1``)."""

    name = ""

    def __init__(self, behaviour, population, k: int) -> None:
        self.behaviour, self.population, self.k = behaviour, population, k
        self.start, self.stop = population.bounds[k]
        self.cost = population.type_cost[k]
        self.options = population.outside_option[self.start:self.stop]

    def payoff(self, price):
        """``u = p^2 / (2 c)``, the entry payoff before the outside option."""
        return price * price / (2.0 * self.cost)

    def expected_count(self, price: float) -> float:
        raise NotImplementedError

    def thresholds(self):
        """This round's entry prices of the type, ascending, when entry is a price threshold (else None)."""
        return None

    def prepare(self, rng) -> None:
        """Draw this round's random numbers (none by default)."""

    def enters(self, offered, index):
        """Whether the creators at ``index`` (an int, or a slice of the type) enter at ``offered``."""
        raise NotImplementedError

    def decide(self, index: int) -> None:
        population = self.population
        active = bool(self.enters(population.offered[index], index))
        population.active[index] = active
        population.effort[index] = population.offered[index] / self.cost if active else 0.0

    def decide_all(self) -> None:
        population, segment = self.population, slice(self.start, self.stop)
        offered = population.offered[segment]
        active = self.enters(offered, segment)
        population.active[segment] = active
        population.effort[segment] = np.where(active, offered / self.cost, 0.0)

    def settle(self) -> None:
        """Remember what the round changed (nothing by default)."""


class BestResponse(EntryRule):
    """Enter iff the price reaches the entry price ``sqrt(2 c omega)``; exert ``p / c``."""

    name = "best_response"

    def expected_count(self, price: float) -> float:
        return float(np.searchsorted(self.population.entry_price[self.start:self.stop], price, side="right"))

    def thresholds(self):
        return self.population.entry_price[self.start:self.stop]

    def enters(self, offered, index):
        return np.greater_equal(offered, self.population.entry_price[index])


class Logit(EntryRule):
    """Enter with probability ``sigma((u - omega) / tau)`` (one uniform per creator per round)."""

    name = "logit"

    def __init__(self, behaviour, population, k: int) -> None:
        super().__init__(behaviour, population, k)
        self.temperature = behaviour["temperature"]
        self.draws = np.zeros(self.stop - self.start)

    def probability(self, offered, index):
        options = self.population.outside_option[index]
        return expit((self.payoff(offered) - options) / self.temperature)

    def expected_count(self, price: float) -> float:
        return float(np.sum(expit((self.payoff(price) - self.options) / self.temperature)))

    def prepare(self, rng) -> None:
        self.draws = rng.random(self.stop - self.start)

    def enters(self, offered, index):
        local = index - self.start if isinstance(index, (int, np.integer)) else slice(0, self.stop - self.start)
        return np.less(self.draws[local], self.probability(offered, index))


class SunkEntry(EntryRule):
    """Enter when ``u >= omega + r F`` if inactive, stay while ``u >= omega`` if active.

    ``F`` is a one-off entry cost and ``r`` the discount rate (``r F`` its flow equivalent).
    Nobody is active before the first round. A creator compares the price with its entry
    price: ``sqrt(2 c omega)`` if active, ``sqrt(2 c (omega + r F))`` if not. With one cost per
    type the active creators are always the ones with the lowest outside options (a prefix
    of the type's order), so this round's entry prices, incumbents' then outsiders', are
    already ascending (:meth:`thresholds`), and the firm's exact best response is a scan of
    the pieces of that supply curve, as for best response (``O(N log N)`` per round to merge
    the two types).
    """

    name = "sunk_entry"

    def __init__(self, behaviour, population, k: int) -> None:
        super().__init__(behaviour, population, k)
        self.rent = behaviour["discount_rate"] * behaviour["entry_cost"]
        self.entry_thresholds = self.options + self.rent
        self.sunk_prices = np.sqrt(2.0 * self.cost * self.entry_thresholds)
        self.was_active = np.zeros(population.size, dtype=bool)  # indexed like the population
        self.incumbents = 0

    def expected_count(self, price: float) -> float:
        payoff = self.payoff(price)
        stay = min(self.incumbents, int(np.searchsorted(self.options, payoff, side="right")))
        enter = max(0, int(np.searchsorted(self.entry_thresholds, payoff, side="right")) - self.incumbents)
        return float(stay + enter)

    def thresholds(self):
        n = self.incumbents
        return np.concatenate([self.population.entry_price[self.start:self.start + n], self.sunk_prices[n:]])

    def enters(self, offered, index):
        local = index - self.start if isinstance(index, (int, np.integer)) else slice(0, self.stop - self.start)
        threshold = np.where(self.was_active[index], self.population.entry_price[index], self.sunk_prices[local])
        return np.greater_equal(offered, threshold)

    def settle(self) -> None:
        active = self.population.active[self.start:self.stop]
        self.was_active[self.start:self.stop] = active
        self.incumbents = int(np.count_nonzero(active))


#: Entry rules by scenario name.
BEHAVIOURS = {rule.name: rule for rule in (BestResponse, Logit, SunkEntry)}


class CreatorBehaviours:
    """The model's creators' rules when some type does not best-respond.

    Requires each type to share one loading and one cost, strict IP, and a myopic or
    learning firm (the regimes that post prices from marginal social values, and the
    forward-looking firm, assume best response).
    """

    def __init__(self, model) -> None:
        population, scenario = model.population, model.scenario
        if population.heterogeneous or any(c is None for c in population.type_cost):
            raise ValueError("creator behaviours other than best_response need each type to share one loading "
                             "and one cost")
        if scenario.simulation.regime != "strict_ip" or scenario.simulation.firm not in ("myopic", "learning"):
            raise ValueError("creator behaviours other than best_response run under simulation.regime = "
                             "'strict_ip' with firm = 'myopic' or 'learning'")
        self.model, self.population = model, population
        self.rules = [BEHAVIOURS[b.rule](b, population, k) for k, b in enumerate(scenario.behaviours)]

    def rule_of(self, index: int) -> EntryRule:
        return self.rules[0] if index < self.population.bounds[0][1] else self.rules[1]

    def price(self, model) -> float:
        """The myopic price. When every type enters at a price threshold (best response, sunk
        entry) the exact best response to this round's entry prices (the piece scan of
        :class:`~abm.theory.empirical.EmpiricalSupply`, rebuilt each round); else (logit) maximise ``sum_k (v m_k - p) M_k/n count_k(p) p / c_k`` over ``(0, v max m]``."""
        worth = model.market.value * np.asarray(model.margins, dtype=float)
        population = self.population
        thresholds = [rule.thresholds() for rule in self.rules]
        if all(t is not None for t in thresholds):  # entry at a price threshold: the exact best response
            weights = [np.full(t.size, population.type_mass[k] / rule.cost)
                       for k, (t, rule) in enumerate(zip(thresholds, self.rules))]
            supply = EmpiricalSupply.from_sorted(thresholds, {"weight": weights})
            return supply.best_price(model.margins, model.market.value)

        def profit(p: float) -> float:
            return sum((w - p) * population.type_mass[k] * rule.expected_count(p) * p / rule.cost
                       for k, (rule, w) in enumerate(zip(self.rules, worth)))

        return maximise_profit(profit, float(np.max(worth)))

    def prepare(self) -> None:
        for rule in self.rules:
            rule.prepare(self.model.rng)

    def step_creator(self, index: int) -> None:
        """One creator's decision and stock update (``Creator.step``)."""
        population = self.population
        self.rule_of(index).decide(index)
        population.stock[index] = (population.decay * population.stock[index]
                                   + population.growth * (population.mass[index] * population.effort[index]))

    def step_all(self) -> None:
        """Every creator's decision and stock update over the arrays."""
        population = self.population
        for rule in self.rules:
            rule.decide_all()
        population.stock[:] = population.decay * population.stock + population.growth * (population.mass
                                                                                          * population.effort)

    def settle(self) -> None:
        for rule in self.rules:
            rule.settle()
