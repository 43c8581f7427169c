"""Procurement as a Mesa model: domain creators, a platform, a creator union, a data broker.

Each round every ``DomainCreator`` draws its private cost and reports it; the buyer of the
round's mechanism allocates and pays:

- ``M1`` / ``M2``: the ``Platform`` runs Algorithm 1 with virtual costs / costs;
- ``M4``: the ``CreatorUnion`` reports for everyone and is paid ``b . y(b)``;
- ``M5`` / ``M6``: the ``DataBroker`` signed its contract with the platform before any cost
  was drawn and procures it from the creators, paying ``b_k z_k^rho_k``.

With ``strategy="best_response"`` each creator also searches a grid of reports for the one
that maximises its own utility given the others' truthful reports: the emergent check of
incentive compatibility. Rounds are independent (a mechanism has no memory), so the model
plays every round's agent decisions in order and settles the rounds' payments in one
batched call of :func:`abm.theory.procurement.mechanism_round`, the same code the analytic
evaluation uses.
"""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd

from abm.theory.procurement import ProcurementMarket, mechanism_round

__all__ = ["DomainCreator", "Platform", "CreatorUnion", "DataBroker", "ProcurementModel", "ROUND_MECHANISMS"]

ROUND_MECHANISMS = ("M1", "M2", "M4", "M5", "M6")
STRATEGIES = ("truthful", "best_response")


class DomainCreator(mesa.Agent):
    """The representative creator of one domain; draws a private cost every round."""

    def __init__(self, model, domain: int) -> None:
        super().__init__(model)
        self.domain = domain
        self.costs: list[float] = []

    def step(self) -> None:
        """Draw this round's cost from the domain's distribution (the model's RNG) and report it."""
        self.costs.append(float(self.model.market.costs[self.domain].sample(1, self.model.rng)[0]))


class Platform(mesa.Agent):
    """The buyer in the two-layer market: revenue (M1) or welfare (M2) maximiser."""

    def __init__(self, model) -> None:
        super().__init__(model)
        self.revenue = 0.0


class CreatorUnion(mesa.Agent):
    """One agent speaking for every creator (M4)."""


class DataBroker(mesa.Agent):
    """The middle layer (M5, M6): holds the contract signed before costs are drawn."""

    def __init__(self, model) -> None:
        super().__init__(model)
        market = model.market
        y, _ = mechanism_round(market, model.mechanism, market.upper[None])
        self.contract = y[0]
        self.transfer = float(market.upper @ self.contract)
        self.profit = 0.0


class ProcurementModel(mesa.Model):
    """Rounds of procurement under one mechanism.

    Parameters
    ----------
    market : ProcurementMarket
    mechanism : {"M1", "M2", "M4", "M5", "M6"}
    strategy : {"truthful", "best_response"}
    rng : seed or Generator
    report_grid : int
        Reports tried by each creator in the misreport search.
    """

    def __init__(self, market: ProcurementMarket, mechanism: str = "M1", strategy: str = "truthful", *,
                 rng=0, report_grid: int = 21) -> None:
        super().__init__(rng=rng)
        if mechanism not in ROUND_MECHANISMS:
            raise ValueError(f"mechanism must be one of {ROUND_MECHANISMS}, got {mechanism!r}")
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be 'truthful' or 'best_response', got {strategy!r}")
        self.market, self.mechanism, self.strategy, self.report_grid = market, mechanism, strategy, report_grid
        self.creators = [DomainCreator(self, k) for k in range(market.n_domains)]
        self.platform = Platform(self)
        self.union = CreatorUnion(self) if mechanism == "M4" else None
        self.broker = DataBroker(self) if mechanism in ("M5", "M6") else None

    def step(self) -> None:
        """One round of decisions: every creator draws and reports its cost."""
        self.agents_by_type[DomainCreator].do("step")

    def run(self, rounds: int) -> pd.DataFrame:
        """Play ``rounds`` rounds and settle them; one row per round.

        Columns: ``round``, ``cost_k``, ``x_k``, ``revenue`` (minus the platform's payment),
        ``welfare`` (minus the creators' cost), ``utility_k`` and, for best responses,
        ``misreport_gain`` (the largest gain any creator found).
        """
        for _ in range(int(rounds)):
            self.step()
        costs = np.column_stack([np.array(c.costs[-int(rounds):]) for c in self.creators])
        y, payments = mechanism_round(self.market, self.mechanism, costs)
        utilities = payments - costs * y
        revenue = -payments.sum(axis=1) if self.broker is None else np.full(len(costs), -self.broker.transfer)
        if self.broker is not None:
            self.broker.profit = float(np.sum(self.broker.transfer - payments.sum(axis=1)))
        self.platform.revenue += float(revenue.sum())
        table = pd.DataFrame({"round": np.arange(len(costs)), "revenue": revenue,
                              "welfare": -(costs * y).sum(axis=1)})
        for k in range(self.market.n_domains):
            table[f"cost_{k}"], table[f"x_{k}"] = costs[:, k], y[:, k] ** (1 / self.market.rho[k])
            table[f"utility_{k}"] = utilities[:, k]
        if self.strategy == "best_response":
            table["misreport_gain"] = self._misreport_gains(costs, utilities)
        return table

    def _misreport_gains(self, costs: np.ndarray, truthful: np.ndarray) -> np.ndarray:
        """Per round, the largest utility gain any creator gets from a misreport on the grid."""
        gains = np.zeros(len(costs))
        for k in range(self.market.n_domains):
            grid = np.linspace(self.market.lower[k], self.market.upper[k], self.report_grid)[1:]
            reports = np.repeat(costs[:, None, :], len(grid), axis=1)
            reports[:, :, k] = grid[None, :]
            y, payments = mechanism_round(self.market, self.mechanism, reports.reshape(-1, self.market.n_domains))
            utility = (payments[:, k] - costs[:, k].repeat(len(grid)) * y[:, k]).reshape(len(costs), len(grid))
            gains = np.maximum(gains, utility.max(axis=1) - truthful[:, k])
        return np.maximum(gains, 0.0)
