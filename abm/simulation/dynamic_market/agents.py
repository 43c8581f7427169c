"""Mesa agents of the dynamic market: creators of two types, the AI firm and the intermediary.

Creators are real Mesa agents (identity, type, inspection), but their state lives in the
model's :class:`~abm.simulation.dynamic_market.model.Population` at ``agent.index``, so that a round can run
either agent by agent (``shuffle_do("step")``) or as array operations with identical
results. The model creates the creator agents the first time someone asks for them, and on
the array path works a creator's entry, effort and stock out when it is read (bit for bit
what the creator would have computed). The firm's pricing rule is a strategy object chosen
from :data:`PRICING_RULES`.
"""

from __future__ import annotations

import math

import mesa
import numpy as np

from abm.simulation.dynamic_market.foresight import ForwardLookingPricing

from abm.theory.supply import best_response

__all__ = ["Creator", "Innovator", "RankAndFileCreator", "AIFirm", "Intermediary", "MyopicPricing",
           "LearningPricing", "PRICING_RULES"]


class Creator(mesa.Agent):
    """A potential creator: enters when the price covers its outside option, then best-responds.

    Attributes read the population's state: ``beta``, ``cost``, ``outside_option``,
    ``entry_price`` and ``mass`` are fixed; ``active``, ``effort``, ``stock`` change each round.
    """

    #: Row of the per-type arrays this class belongs to (0 innovators, 1 rank-and-file).
    kind: int = -1

    def __init__(self, model, index: int) -> None:
        super().__init__(model)
        self.index = index

    def _get(self, name):
        return getattr(self.model.population, name)[self.index]

    beta = property(lambda self: float(self._get("beta")), doc="Loading on the common factor.")
    cost = property(lambda self: float(self._get("cost")), doc="Effort cost coefficient c.")
    outside_option = property(lambda self: float(self._get("outside_option")), doc="Outside option (per time).")
    entry_price = property(lambda self: float(self._get("entry_price")), doc="Lowest price it enters at.")
    mass = property(lambda self: float(self._get("mass")), doc="Mass of creators this agent stands for.")
    active = property(lambda self: bool(self._get("active")), doc="Whether it sells this round.")
    effort = property(lambda self: float(self._get("effort")), doc="Effort this round (p / c if active).")
    stock = property(lambda self: float(self._get("stock")), doc="Its data stock (already times its mass).")

    @property
    def offered_price(self) -> float:
        """Unit price offered to this creator this round."""
        return float(self._get("offered"))

    @property
    def payoff(self) -> float:
        """Payoff rate from unit prices this round: ``t e - c e^2 / 2`` if active (before any
        base transfer of the intermediary), else its outside option."""
        if not self.active:
            return self.outside_option
        return self.offered_price * self.effort - 0.5 * self.cost * self.effort * self.effort

    @property
    def behaviour_state(self) -> dict:
        """What this creator's entry rule remembers between rounds (``docs/behaviours.md``).

        Empty under best response and logit; ``{"incumbent": bool}`` under sunk entry,
        ``{"expected_price": float}`` under adaptive expectations, ``{"style": str}`` under
        chosen originality.
        """
        behaviour = self.model.behaviour
        return {} if behaviour is None else behaviour.rule_of(self.index).state(self.index)

    def step(self) -> None:
        """Decide entry and effort at the posted price, then add this round's data to the stock.

        The same rule (:func:`~abm.theory.supply.best_response`) and stock update as
        :meth:`abm.simulation.dynamic_market.model.Population.respond` and ``accumulate``,
        one creator at a time.
        """
        population, index = self.model.population, self.index
        if self.model.behaviour is not None:  # another entry rule (abm.simulation.dynamic_market.behaviours)
            self.model.behaviour.step_creator(index)
            return
        active, effort = best_response(population.offered[index], population.entry_price[index],
                                       population.cost[index])
        population.active[index] = active
        population.effort[index] = effort
        population.stock[index] = (population.decay * population.stock[index]
                                   + population.growth * (population.mass[index] * effort))


class Innovator(Creator):
    """An original creator: small loading on the common factor."""

    kind = 0


class RankAndFileCreator(Creator):
    """A conventional creator: large loading on the common factor, elastic entry."""

    kind = 1


class MyopicPricing:
    """Full information: the exact maximiser of the instantaneous profit rate (Eq. 12)
    against the actual agents' entry prices."""

    def price(self, model) -> float:
        """Price for this round given the model's current marginal values (each creator's
        own, ``(1 - lambda beta_i)^2 / D``, when loadings differ within a type). When creators
        follow another entry rule, the price maximising expected profit against what they will
        do this round (``CreatorBehaviours.price``)."""
        if model.behaviour is not None:
            return model.behaviour.price(model)
        if model.population.heterogeneous:
            return model.supply.best_price_for_loadings(model.lam, model.feedback, model.market.value)
        return model.supply.best_price(model.margins, model.market.value)

    def observe(self, model, price: float, profit: float) -> None:
        """Nothing to learn."""


class LearningPricing:
    r"""A firm that does not know the supply curves and learns its price from profits.

    Kiefer--Wolfowitz search in log price: rounds come in pairs posting
    ``p (1 + probe)`` and ``p (1 - probe)``; after each pair the base price moves by
    ``learning_rate * (pi_+ - pi_-) / (2 probe * (|pi_+| + |pi_-|) / 2)``, an estimate of the
    elasticity of observed profit ``pi`` (Eq. 12's price-dependent part, which the firm can
    compute from the effort delivered and its own model's marginal values) with respect to
    price, clipped to ``[-0.25, 0.25]``. With no profit on either side, nobody sold, and it
    raises the base price by ``learning_rate``.
    """

    def __init__(self, learning_rate: float, probe: float, initial_price: float) -> None:
        self.learning_rate = learning_rate
        self.probe = probe
        self.base_price = initial_price
        self._profit_up: float | None = None

    def price(self, model) -> float:
        """Probe above the base price, then below it."""
        sign = 1.0 if self._profit_up is None else -1.0
        return self.base_price * (1.0 + sign * self.probe)

    def observe(self, model, price: float, profit: float) -> None:
        """Record the probe's profit; after a pair, move the base price."""
        if self._profit_up is None:
            self._profit_up = profit
            return
        profit_up, profit_down, self._profit_up = self._profit_up, profit, None
        scale = 0.5 * (abs(profit_up) + abs(profit_down))
        if scale == 0.0:
            step = self.learning_rate
        else:
            step = self.learning_rate * (profit_up - profit_down) / (2.0 * self.probe * scale)
        self.base_price *= math.exp(float(np.clip(step, -0.25, 0.25)))


#: Firm behaviours by scenario name.
PRICING_RULES = {"myopic": MyopicPricing, "learning": LearningPricing, "forward_looking": ForwardLookingPricing}


class AIFirm(mesa.Agent):
    """The buyer: prices data under strict IP, holds its model's precision, pays, books profit.

    Attributes
    ----------
    prices : ndarray
        The unit prices ``(t_O, t_C)`` of this round (set by the regime; under strict IP the
        firm's own uniform price).
    precision : float
        Its model's precision at the start of the round.
    profit : float
        Profit booked so far (sum over rounds of the profit rate times ``dt``).
    """

    def __init__(self, model, pricing) -> None:
        super().__init__(model)
        self.pricing = pricing
        self.prices = np.zeros(2)
        self.precision = 0.0
        self.profit = 0.0

    def uniform_price(self) -> float:
        """The firm's own price for this round (asked for by regimes in which the firm prices)."""
        return float(self.pricing.price(self.model))

    def book(self, profit_rate: float, dt: float) -> None:
        """Book the round's profit rate over a round of length ``dt``."""
        self.profit += profit_rate * dt

    def learn(self, price_dependent_profit: float) -> None:
        """Let the pricing rule learn from the profit its own price earned this round."""
        self.pricing.observe(self.model, float(self.prices[1]), price_dependent_profit)


class Intermediary(mesa.Agent):
    """The regulated data intermediary: posts the marginal social values as unit prices and
    settles each round with a flow two-part tariff (``abm.theory.mechanism.flow_tariff``).

    Attributes
    ----------
    balance : float
        This round's net ``T - payments - K`` (zero under budget balance).
    cumulative_balance : float
        Sum of the per-round balances.
    rounds_called_off : int
        Rounds in which the surplus could not cover the outside options and costs.
    """

    def __init__(self, model) -> None:
        super().__init__(model)
        self.balance = 0.0
        self.cumulative_balance = 0.0
        self.rounds_called_off = 0

    def book(self, settlement) -> None:
        """Record a round's settlement."""
        self.balance = settlement.intermediary_balance
        self.cumulative_balance += self.balance
        self.rounds_called_off += int(not self.model.firm.prices.any())
