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

from abm.simulation.dynamic_market import kernels
from abm.theory.behaviour_limits import adaptive_expectation, maximise_profit
from abm.theory.empirical import EmpiricalSupply

#: Terms of the Taylor series of the logit expected count (:meth:`Logit.expected_count`), and
#: the width of its bins in temperatures: the series' error is about ``(BIN_WIDTH / (2 pi))^TAYLOR_TERMS``.
TAYLOR_TERMS = 16
BIN_WIDTH = 0.5


def _sigmoid_derivative_polynomials(terms: int) -> np.ndarray:
    """``c[n, i]``: ``sigma^(n)(x) = sum_i c[n, i] s^i`` with ``s = sigma(x)`` (``sigma' = s (1 - s)``)."""
    table = np.zeros((terms, terms + 1))
    table[0, 1] = 1.0
    for n in range(1, terms):
        derivative = np.arange(1, terms + 1) * table[n - 1, 1:]  # d/ds, coefficients of s^0..s^(terms-1)
        table[n, 1:] += derivative  # times s
        table[n, 2:] -= derivative[:-1]  # times -s^2
    return table


_SIGMOID_DERIVATIVES = _sigmoid_derivative_polynomials(TAYLOR_TERMS)

__all__ = ["EntryRule", "BestResponse", "Logit", "SunkEntry", "AdaptiveExpectations", "BEHAVIOURS",
           "CreatorBehaviours"]


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

    def state(self, index: int) -> dict:
        """What the rule remembers about creator ``index`` between rounds (nothing by default)."""
        return {}


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
        self._bins = None  # expected_count's Taylor bins, built on first use (False: sum every term)
        self.ascending = bool(np.all(self.options[1:] >= self.options[:-1]))  # lets the compiled round screen

    def probability(self, offered, index):
        options = self.population.outside_option[index]
        return expit((self.payoff(offered) - options) / self.temperature)

    def expected_count(self, price: float) -> float:
        """``sum_j sigma((u - omega_j) / tau)`` over the type's outside options, ``u = p^2 / (2c)``.

        The options are grouped in bins half a temperature wide; within bin ``b`` (centre
        ``c_b``, ``delta_j = (omega_j - c_b) / tau``, ``|delta_j| <= 1/4``) Taylor's series
        ``sigma(X_b - delta_j) = sum_n sigma^(n)(X_b) (-delta_j)^n / n!``, ``X_b = (u - c_b) / tau``,
        converges like ``(1 / (4 pi))^n`` (``sigma``'s poles are ``pi`` from the real axis), so
        :data:`TAYLOR_TERMS` terms leave an error below ``1e-16`` of the sum. Each derivative
        is a polynomial in ``s = sigma(X_b)`` and the moments ``sum_j (-delta_j)^n / n!`` are
        summed once, so an evaluation costs ``O(bins)`` instead of ``O(N)`` and agrees with
        the sum over every creator to ``1e-13`` relative (``tests/test_behaviour_speedups.py``).
        When the bins would be more than a quarter of the creators, every term is summed.
        """
        bins = self._taylor_bins()
        payoff = self.payoff(price)
        if bins is None:
            return float(np.sum(expit((payoff - self.options) / self.temperature)))
        centres, coefficients = bins
        if self.population.compiled:
            return float(kernels.taylor_count(payoff, self.temperature, centres, coefficients))
        s = expit((payoff - centres) / self.temperature)
        total = coefficients[-1].copy()
        for row in coefficients[-2::-1]:
            total *= s
            total += row
        return float(np.sum(total))

    def _taylor_bins(self):
        """``(centres, q)``: bin centres and ``q[i, b]``, the coefficient of ``s_b^i`` in bin ``b``'s
        expected count (``None``: too many bins); built on first use."""
        if self._bins is not None:
            return self._bins or None
        options, tau = self.options, self.temperature
        width = BIN_WIDTH * tau
        index = np.floor((options - options[:1]) / width)
        starts = np.flatnonzero(np.concatenate([[True], index[1:] != index[:-1]])) if options.size else index
        if not self.ascending or not 0 < starts.size <= options.size // 4:
            self._bins = False
            return None
        centres = options[0] + (index[starts] + 0.5) * width
        shifts = -(options - np.repeat(centres, np.diff(np.append(starts, options.size)))) / tau
        moments, power = np.empty((TAYLOR_TERMS, starts.size)), np.ones(options.size)
        for n in range(TAYLOR_TERMS):
            moments[n] = np.add.reduceat(power, starts)
            power *= shifts / (n + 1)
        self._bins = (centres, np.ascontiguousarray(_SIGMOID_DERIVATIVES.T @ moments))
        return self._bins

    def prepare(self, rng) -> None:
        rng.random(out=self.draws)  # rng.random(n), written into last round's array

    def enters(self, offered, index):
        local = index - self.start if isinstance(index, (int, np.integer)) else slice(0, self.stop - self.start)
        return np.less(self.draws[local], self.probability(offered, index))

    def decide_all(self) -> None:
        """:meth:`decide` for the whole type in one compiled pass (numba) when the type is offered
        one price; same draws, same operations per creator (numpy otherwise)."""
        population, prices = self.population, self.population.prices
        if not (kernels.AVAILABLE and population.compiled) or prices is None:
            super().decide_all()
            return
        segment = slice(self.start, self.stop)
        kernels.logit_decide(float(prices[self.k]), self.cost, self.temperature, self.options, self.draws,
                             population.active[segment], population.effort[segment], self.ascending)


class SunkEntry(EntryRule):
    """Enter when ``u >= omega + r F`` if inactive, stay while ``u >= omega`` if active.

    ``F`` is a one-off entry cost and ``r`` the discount rate (``r F`` its flow equivalent).
    Nobody is active before the first round. A creator compares the price with its entry
    price: ``sqrt(2 c omega)`` if active, ``sqrt(2 c (omega + r F))`` if not. With one cost per
    type the active creators are always the ones with the lowest outside options (a prefix
    of the type's order), so this round's entry prices, incumbents' then outsiders', are
    already ascending (:meth:`thresholds`), and the firm's exact best response is a scan of
    the pieces of that supply curve, as for best response. The curve is rebuilt (``O(N log N)``,
    merging the two types) only in rounds where the number of incumbents changed
    (:meth:`supply_key`); the round itself is two binary searches and slice fills
    (:meth:`decide_all`), plus the model's pass over the creators' stocks and sums.
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

    def supply_key(self):
        """What :meth:`thresholds` depends on: the firm's supply curve is rebuilt only when it changes."""
        return ("sunk_entry", self.incumbents)

    def enters(self, offered, index):
        local = index - self.start if isinstance(index, (int, np.integer)) else slice(0, self.stop - self.start)
        threshold = np.where(self.was_active[index], self.population.entry_price[index], self.sunk_prices[local])
        return np.greater_equal(offered, threshold)

    def active_count(self, price: float) -> int:
        """How many creators :meth:`enters` admits at ``price`` (offered to the whole type): a prefix.

        The incumbents are the first ``n`` creators; ``entry_price <= sunk_prices`` creator by
        creator (``r F >= 0``, both rounded the same way) and both ascend, so if some
        outsider enters (``sunk_prices[n] <= price``) every incumbent stays and the active
        set is the first ``b`` creators, ``b`` the number of sunk prices ``<= price``; else it
        is the first ``min(n, a)``, ``a`` the number of entry prices ``<= price``.
        """
        n = self.incumbents
        entered = int(np.searchsorted(self.sunk_prices, price, side="right"))
        if entered > n:
            return entered
        return min(n, int(np.searchsorted(self.population.entry_price[self.start:self.stop], price, side="right")))

    def decide_all(self) -> None:
        """:meth:`decide` for the whole type: when the type is offered one price the active set is the
        prefix of :meth:`active_count` (two binary searches and two slice fills, no per-creator test)."""
        population, prices = self.population, self.population.prices
        if prices is None:
            super().decide_all()
            return
        price, start, stop = float(prices[self.k]), self.start, self.stop
        middle = start + self.active_count(price)
        population.active[start:middle] = True
        population.active[middle:stop] = False
        population.effort[start:middle] = price / self.cost
        population.effort[middle:stop] = 0.0

    def state(self, index: int) -> dict:
        """``incumbent``: whether the creator has sunk its entry cost and is still active."""
        return {"incumbent": bool(self.was_active[index])}

    def settle(self) -> None:
        active = self.population.active[self.start:self.stop]
        self.was_active[self.start:self.stop] = active
        self.incumbents = int(np.count_nonzero(active))


class AdaptiveExpectations(BestResponse):
    """Commit to the round on the expected price; exert effort on the posted one; revise the expectation.

    Before the firm posts, a creator enters iff its expected price reaches its entry price,
    ``p^e >= sqrt(2 c omega)`` (i.e. ``(p^e)^2 / (2c) >= omega``); if it entered it exerts
    ``p / c`` at the posted price ``p``, whatever ``p`` turns out to be; then it revises
    ``p^e <- p^e + theta (p - p^e)`` (:func:`~abm.theory.behaviour_limits.adaptive_expectation`,
    weight ``theta`` in (0, 1]). Each creator keeps its own expectation
    (:attr:`expected_price`, indexed like the population; ``nan`` before its first round, when it
    takes the posted price as its expectation, so the first round is best response). Creators
    of a type see the same prices, so they share one expectation.

    From the second round on, the committed creators do not depend on this round's price
    (:meth:`expected_count` is the committed count): the myopic firm faces a fixed mass whose
    effort is ``p / c``, and posts the hold-up price ``sum_k a_k v m_k / (2 sum_k a_k)``,
    ``a_k = N_k / c_k`` the committed mass over cost (``docs/behaviours.md``).
    """

    name = "adaptive_expectations"

    def __init__(self, behaviour, population, k: int) -> None:
        super().__init__(behaviour, population, k)
        self.weight = behaviour["weight"]
        self.expected_price = np.full(population.size, np.nan)  # indexed like the population
        self.committed = None  # creators whose expectation covers their entry price; None before round one

    def expected_count(self, price: float) -> float:
        return super().expected_count(price) if self.committed is None else float(self.committed)

    def supply_key(self):
        """``None``: the firm's supply is rebuilt each round (a price threshold in round one only)."""
        return None

    def thresholds(self):
        return super().thresholds() if self.committed is None else None

    def enters(self, offered, index):
        expected = self.expected_price[index]
        return np.greater_equal(np.where(np.isnan(expected), offered, expected), self.population.entry_price[index])

    def decide(self, index: int) -> None:
        EntryRule.decide(self, index)  # entry on the expectation (not a best-response shortcut on the price)
        self.expected_price[index] = adaptive_expectation(self.expected_price[index],
                                                          self.population.offered[index], self.weight)

    def decide_all(self) -> None:
        EntryRule.decide_all(self)
        segment = slice(self.start, self.stop)
        self.expected_price[segment] = adaptive_expectation(self.expected_price[segment],
                                                            self.population.offered[segment], self.weight)

    def state(self, index: int) -> dict:
        """``expected_price``: the price the creator commits on (``nan`` before its first round)."""
        return {"expected_price": float(self.expected_price[index])}

    def settle(self) -> None:
        segment = slice(self.start, self.stop)
        self.committed = int(np.count_nonzero(self.population.entry_price[segment] <= self.expected_price[segment]))


def _supply_key(rule):
    """What a rule's :meth:`~EntryRule.thresholds` depend on, to reuse the firm's supply curve
    while it is unchanged (``None``: unknown, rebuild every round)."""
    if type(rule) is BestResponse:
        return "entry_price"
    key = getattr(rule, "supply_key", None)
    return key() if key is not None else None


#: Entry rules by scenario name.
BEHAVIOURS = {rule.name: rule for rule in (BestResponse, Logit, SunkEntry, AdaptiveExpectations)}


class CreatorBehaviours:
    """The model's creators' rules when some type does not best-respond.

    Runs under every regime of :data:`abm.regimes.REGIMES`. Where the firm prices
    (``firm_prices``: strict IP) it must be myopic or learning (the forward-looking firm
    assumes best response) and the myopic price answers the rules (:meth:`price`). Elsewhere
    the regime posts its per-type prices whatever the creators do (from the marginal values;
    the broker and the union against best-response supply curves), and each creator applies
    its rule to its own type's posted price. Under the intermediary
    the rule decides who enters; the intermediary calls a round off only when even the
    creators it would keep (best response: those whose outside option the surplus covers)
    leave a negative surplus, and its tariff settles the round over whoever entered
    (``docs/behaviours.md``). Requires each type to share one loading and one cost.
    """

    def __init__(self, model) -> None:
        population, scenario = model.population, model.scenario
        if population.heterogeneous or any(c is None for c in population.type_cost):
            raise ValueError("creator behaviours other than best_response need each type to share one loading "
                             "and one cost")
        from abm.regimes import get_regime

        if get_regime(scenario.simulation.regime).firm_prices and scenario.simulation.firm not in ("myopic",
                                                                                                  "learning"):
            raise ValueError("creator behaviours other than best_response need simulation.firm = 'myopic' or "
                             f"'learning' under simulation.regime = {scenario.simulation.regime!r}, where the "
                             f"firm prices (got firm = {scenario.simulation.firm!r})")
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
        key = tuple(_supply_key(rule) for rule in self.rules)  # the last supply is reused while it holds
        cached = getattr(self, "_threshold_supply", None)
        if cached is not None and None not in key and cached[0] == key:
            return cached[1].best_price(model.margins, model.market.value)
        thresholds = [rule.thresholds() for rule in self.rules]
        if all(t is not None for t in thresholds):  # entry at a price threshold: the exact best response
            weights = [np.full(t.size, population.type_mass[k] / rule.cost)
                       for k, (t, rule) in enumerate(zip(thresholds, self.rules))]
            supply = EmpiricalSupply.from_sorted(thresholds, {"weight": weights})
            if population.compiled:
                supply.scanner = kernels.best_piece
            self._threshold_supply = (key, supply)
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
        if population.compiled:  # the same arithmetic in one pass
            kernels.stock_update(population.stock, population.effort, np.array(population.type_mass),
                                 np.array(population.bounds), population.decay, population.growth)
            return
        population.stock[:] = population.decay * population.stock + population.growth * (population.mass
                                                                                          * population.effort)

    def settle(self) -> None:
        for rule in self.rules:
            rule.settle()


# chosen_originality (its own module builds on this one's EntryRule and CreatorBehaviours and adds
# itself to BEHAVIOURS when imported): imported last, so that either module may be imported first.
import abm.simulation.dynamic_market.originality  # noqa: E402,F401
