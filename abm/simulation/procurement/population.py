"""Procurement with many creators per domain as a Mesa model (the paper's Appendix C.4).

:class:`PopulationProcurementModel` is what ``ProcurementModel(creators_per_domain=n)``
builds when some domain has more than one creator: domain ``k`` has ``n_k``
:class:`PopulationCreator` agents, each drawing its own private cost from the domain's
distribution every round; the buyer settles through
:func:`abm.theory.procurement.population.population_round` (Myerson payments per creator
for M1/M2, the union's ``sum b_k y_k^i(b)`` shared by M2 payments for M4, the broker's
contract over the whole population for M5/M6). Creators report truthfully (the
best-response search of the one-creator model is not offered at this scale).

Recorded per round (means over the round's draws): ``round``, ``seed``, ``revenue``,
``welfare``, and per domain ``k``: ``creators_k``, ``cost_k`` (mean of its creators'
costs), ``meta_cost_k`` (the meta creator's ``C_k``), ``x_k`` (the domain's total),
``payment_k`` (summed over its creators), ``utility_k`` (summed);
``union_payment`` and ``broker_profit`` (``nan`` where they do not apply).
"""

from __future__ import annotations

import mesa
import numpy as np

from abm.simulation.procurement.model import ProcurementModel
from abm.theory.procurement.population import POPULATION_MECHANISMS, Population, meta_costs, population_round

__all__ = ["PopulationCreator", "PopulationProcurementModel"]


class PopulationCreator(mesa.Agent):
    """One creator of a domain with many: draws its cost each round and reports it.

    Attributes
    ----------
    domain, index : int
        Its domain and its column among all creators.
    cost, allocation, payment, utility : ndarray, shape (draws_per_round,)
        This round's; ``allocation`` is ``x``, ``utility`` is ``payment - cost x^rho``.
    total_utility : float
    """

    def __init__(self, model, domain: int, index: int) -> None:
        super().__init__(model)
        self.domain, self.index = domain, index
        empty = np.zeros(0)
        self.cost = self.allocation = self.payment = self.utility = empty
        self.total_utility = 0.0

    def book(self, y: np.ndarray, payment: np.ndarray) -> None:
        """Record the round's ``y = x^rho`` and payments."""
        rho = self.model.market.rho[self.domain]
        self.allocation, self.payment = y ** (1.0 / rho), payment
        self.utility = payment - self.cost * y
        self.total_utility += float(self.utility.sum())


class PopulationProcurementModel(ProcurementModel):
    """Rounds of procurement with ``creators_per_domain`` creators per domain.

    ``ProcurementModel(creators_per_domain=n)`` builds this class when some ``n_k > 1``; it
    takes the same keyword parameters (validated by ``ProcurementModel``). ``strategy`` must
    be ``"truthful"``; ``compare`` evaluates M1, M2, M4, M5 and M6 on the round's costs.

    Raises
    ------
    ValueError
        Naming the parameter and the rule it breaks (``creators_per_domain`` must be an
        integer ``>= 1`` or a list of one per domain).
    """

    def __init__(self, market="table1", **parameters) -> None:
        super().__init__(market, **parameters)
        if self.strategy != "truthful":
            raise ValueError(f"strategy must be 'truthful' when creators_per_domain > 1, got {self.strategy!r}")
        if self.mechanism not in POPULATION_MECHANISMS:
            raise ValueError(f"mechanism must be one of {list(POPULATION_MECHANISMS)} when creators_per_domain > 1, "
                             f"got {self.mechanism!r}")
        # Learning creators, an acting broker or union belong to the one-creator model so far.
        acting = [name for name in ("creator_learning", "broker_penalty", "union_sharing", "union_exit")
                  if name in parameters and parameters[name] not in (None, False, "proportional")]
        if acting:
            raise ValueError(f"{', '.join(acting)} cannot be used with creators_per_domain > 1 (not implemented "
                             "for a population)")
        self.population = Population(self.market, self.creators_per_domain)
        # The representative creators, platform, union and broker of the one-creator model are
        # replaced by one agent per creator; the buyer's books are the round's record.
        for agent in list(self.agents):
            agent.remove()
        self.creators, self.union, self.broker = [], None, None
        self.domain_creators = [PopulationCreator(self, int(k), i) for i, k in enumerate(self.population.domain)]

    def columns(self) -> list[str]:
        """The DataCollector's columns (see the module notes)."""
        names = ["round", "seed", "revenue", "welfare"]
        for k in range(self.market.n_domains):
            names += [f"creators_{k}", f"cost_{k}", f"meta_cost_{k}", f"x_{k}", f"payment_{k}", f"utility_{k}"]
        names += ["union_payment", "broker_profit"]
        if self.compare:
            names += [f"{measure}_{m}" for m in POPULATION_MECHANISMS for measure in ("revenue", "welfare")]
        return names

    def step(self) -> None:
        """Draw every creator's cost, settle the mechanism, book and record the round."""
        costs = self.population.sample_costs(self.draws_per_round, self.rng)
        for creator in self.domain_creators:
            creator.cost = costs[:, creator.index]
        y, payments = population_round(self.population, self.mechanism, costs)
        for creator in self.domain_creators:
            creator.book(y[:, creator.index], payments[:, creator.index])
        self.record = self._population_record(costs, y, payments)
        self.datacollector.collect(self)
        if self.steps >= self.rounds:
            self.running = False

    def _population_record(self, costs, y, payments) -> dict[str, float]:
        upper = self.population.spread(self.market.upper)
        record = {"round": float(self.steps), "revenue": -float(payments.sum(axis=1).mean()),
                  "welfare": -float((costs * y).sum(axis=1).mean())}
        meta = meta_costs(self.population, costs)
        x = y ** (1.0 / self.population.spread(self.market.rho))
        utility = payments - costs * y
        for k, columns in enumerate(self.population.slices()):
            record |= {f"creators_{k}": float(self.population.sizes[k]), f"cost_{k}": costs[:, columns].mean(),
                       f"meta_cost_{k}": meta[:, k].mean(), f"x_{k}": x[:, columns].sum(axis=1).mean(),
                       f"payment_{k}": payments[:, columns].sum(axis=1).mean(),
                       f"utility_{k}": utility[:, columns].sum(axis=1).mean()}
        record["union_payment"] = -record["revenue"] if self.mechanism == "M4" else np.nan
        broker = self.mechanism in ("M5", "M6")
        record["broker_profit"] = float(((upper * y).sum(axis=1) - payments.sum(axis=1)).mean()) if broker else np.nan
        if self.compare:
            for name in POPULATION_MECHANISMS:
                y_m, pay_m = (y, payments) if name == self.mechanism else population_round(self.population, name, costs)
                record[f"revenue_{name}"] = -float(pay_m.sum(axis=1).mean())
                record[f"welfare_{name}"] = -float((costs * y_m).sum(axis=1).mean())
        record = {name: float(value) for name, value in record.items()}
        return record | {"seed": np.nan if self.seed is None else self.seed}
