"""Procurement as a Mesa model: one round of the mechanism per ``step()``.

Each round (``step()``):

1. every :class:`~abm.simulation.procurement.agents.DomainCreator` draws its private costs
   from the model's generator ``self.rng`` (``draws_per_round`` independent draws);
2. the creators report (truthfully, or their best report on a grid against the others'
   truthful reports under ``strategy="best_response"``); under M4 the union reports for them;
3. the buyer of the mechanism settles: the ``Platform`` (M1, M2, M4, paying the
   ``CreatorUnion`` under M4) or the ``DataBroker`` (M5, M6, whose contract was signed
   before any cost was drawn), through :func:`abm.theory.procurement.mechanism_round`;
   utilities, the platform's revenue, the union's receipts and the broker's profit are
   booked on the agents;
4. with ``compare=True`` every playable mechanism is evaluated on the same reports;
5. a Mesa ``DataCollector`` records the round (:meth:`ProcurementModel.columns`).

The constructor takes flat keyword parameters and follows Mesa's seeding convention, so
``mesa.batch_run`` drives it unchanged::

    mesa.batch_run(ProcurementModel, {"mechanism": ["M1", "M2"], "rounds": 20}, iterations=3,
                   max_steps=20, number_processes=1, display_progress=False)
"""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd

from abm.simulation.procurement.agents import CreatorUnion, DataBroker, DomainCreator, Platform
from abm.theory.procurement import (
    ROUND_MECHANISMS,
    ProcurementMarket,
    mechanism_round,
    anchored_allocation,
    overproduction_market,
    sample_table1_market,
)

__all__ = ["ProcurementModel", "MARKETS", "STRATEGIES", "ROUND_MECHANISMS", "fresh_seed",
           "DomainCreator", "Platform", "CreatorUnion", "DataBroker"]

STRATEGIES = ("truthful", "best_response")

#: Named markets: ``"table1"`` is drawn by the Appendix E recipe with ``market_seed``;
#: ``"overproduction"`` is the two-domain market of the overproduction figures.
MARKETS = {
    "table1": sample_table1_market,
    "overproduction": lambda market_seed: overproduction_market(),
}


def fresh_seed() -> int:
    """A new seed from the operating system's entropy, below ``2**53`` so that it survives
    a round trip through a float column (CSV, pandas) exactly."""
    return int(np.random.SeedSequence().entropy % (2**53))


def _positive_integer(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _resolve_market(market, market_seed) -> ProcurementMarket:
    if isinstance(market, ProcurementMarket):
        return market
    if isinstance(market, str) and market in MARKETS:
        return MARKETS[market](market_seed)
    raise ValueError(f"market must be one of {sorted(MARKETS)} or a ProcurementMarket, got {market!r}")


class ProcurementModel(mesa.Model):
    """Rounds of procurement under one mechanism.

    Parameters
    ----------
    market : {"table1", "overproduction"} or ProcurementMarket
        The market; a name is built with ``market_seed``.
    mechanism : {"M1", "M2", "M4", "M5", "M6"}
        The mechanism played (M3 has only bounds).
    draws_per_round : int
        Independent cost draws settled each round, ``>= 1``; recorded values are their means.
    rounds : int
        Rounds after which ``running`` turns ``False``, ``>= 1``.
    strategy : {"truthful", "best_response"}
        How creators (or the union) report.
    market_seed : int
        Seed of the ``"table1"`` market's hyperparameters, ``>= 0``.
    report_grid : int
        Reports tried per creator in the best-response search, ``>= 1``.
    compare : bool
        Also evaluate every playable mechanism on the round's reports (``revenue_M1`` ...).
    rng : int, numpy.random.Generator or None
        The model's generator (Mesa's convention). ``None`` draws a fresh seed; an integer
        seed (given or drawn) is recorded as ``self.seed`` and in the ``seed`` column.

    Raises
    ------
    ValueError
        Naming the parameter and the rule it breaks.
    """

    def __init__(self, market="table1", *, mechanism: str = "M1", draws_per_round: int = 1, rounds: int = 100,
                 strategy: str = "truthful", market_seed: int = 3, report_grid: int = 20, compare: bool = True,
                 rng=None) -> None:
        self.market = _resolve_market(market, _positive_integer(market_seed, "market_seed", 0))
        if mechanism not in ROUND_MECHANISMS:
            raise ValueError(f"mechanism must be one of {list(ROUND_MECHANISMS)} (M3 has only bounds), "
                             f"got {mechanism!r}")
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {list(STRATEGIES)}, got {strategy!r}")
        if not isinstance(compare, (bool, np.bool_)):
            raise ValueError(f"compare must be True or False, got {compare!r}")
        if not (rng is None or isinstance(rng, np.random.Generator)
                or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0)):
            raise ValueError(f"rng must be None, an integer >= 0 or a numpy Generator, got {rng!r}")
        chosen = fresh_seed() if rng is None else rng
        super().__init__(rng=chosen)
        self.seed = None if isinstance(chosen, np.random.Generator) else int(chosen)
        self.mechanism, self.strategy, self.compare = mechanism, strategy, bool(compare)
        self.draws_per_round = _positive_integer(draws_per_round, "draws_per_round")
        self.rounds = _positive_integer(rounds, "rounds")
        self.report_grid = _positive_integer(report_grid, "report_grid")
        self.payment_scale = float(self.market.upper @ anchored_allocation(self.market, "upper"))
        self.creators = [DomainCreator(self, k) for k in range(self.market.n_domains)]
        self.platform = Platform(self)
        self.union = CreatorUnion(self) if mechanism == "M4" else None
        self.broker = DataBroker(self) if mechanism in ("M5", "M6") else None
        self.record: dict[str, float] = {}
        self.datacollector = mesa.DataCollector(
            model_reporters={name: (lambda model, name=name: model.record[name]) for name in self.columns()})

    def columns(self) -> list[str]:
        """The DataCollector's columns, one value per round (means over the round's draws).

        ``round``, ``seed`` (an integer; ``nan`` if the model was given a Generator);
        ``revenue`` (minus the platform's payment) and ``welfare`` (minus the creators' true
        cost) of the mechanism played; per domain ``k``:
        ``cost_k``, ``report_k``, ``x_k`` (content produced), ``payment_k``, ``utility_k``;
        ``union_payment`` and ``broker_profit`` (``nan`` without union / broker);
        ``misreport_gain`` (the largest gain any creator's search found; ``nan`` when
        truthful); with ``compare``: ``revenue_M`` and ``welfare_M`` of every playable
        mechanism ``M`` evaluated on this round's reports (welfare at the true costs).
        """
        names = ["round", "seed", "revenue", "welfare"]
        for k in range(self.market.n_domains):
            names += [f"cost_{k}", f"report_{k}", f"x_{k}", f"payment_{k}", f"utility_{k}"]
        names += ["union_payment", "broker_profit", "misreport_gain"]
        if self.compare:
            names += [f"{measure}_{m}" for m in ROUND_MECHANISMS for measure in ("revenue", "welfare")]
        return names

    def round_costs(self) -> np.ndarray:
        """This round's true costs, shape ``(draws_per_round, K)``."""
        return np.column_stack([creator.cost for creator in self.creators])

    def round_reports(self) -> np.ndarray:
        """This round's reports, shape ``(draws_per_round, K)``."""
        return np.column_stack([creator.report_made for creator in self.creators])

    def step(self) -> None:
        """Play one round: draw, report, settle, compare, record."""
        creators = self.agents_by_type[DomainCreator]
        creators.do("draw")
        if self.union is not None:
            self.union.report()
        else:
            creators.do("report")
        reports = self.round_reports()
        (self.broker or self.platform).settle(reports)
        self.record = self._round_record(reports)
        self.datacollector.collect(self)
        if self.steps >= self.rounds:
            self.running = False

    def run(self, rounds: int | None = None) -> pd.DataFrame:
        """Play ``rounds`` rounds (default: until ``running`` is ``False``) by calling :meth:`step`.

        Returns
        -------
        pandas.DataFrame
            The DataCollector's table (one row per round played so far).
        """
        if rounds is None:
            while self.running:
                self.step()
        else:
            for _ in range(_positive_integer(rounds, "rounds")):
                self.step()
        return self.datacollector.get_model_vars_dataframe().reset_index(drop=True)

    def _round_record(self, reports: np.ndarray) -> dict[str, float]:
        costs = self.round_costs()
        record = {"round": float(self.steps),
                  "revenue": float(self.platform.revenue.mean()),
                  "welfare": -float(sum((c.cost * c.allocation ** self.market.rho[c.domain]).mean()
                                        for c in self.creators))}
        for c in self.creators:
            k = c.domain
            record |= {f"cost_{k}": c.cost.mean(), f"report_{k}": c.report_made.mean(), f"x_{k}": c.allocation.mean(),
                       f"payment_{k}": c.payment.mean(), f"utility_{k}": c.utility.mean()}
        record["union_payment"] = float(self.union.received.mean()) if self.union else np.nan
        record["broker_profit"] = float(self.broker.profit.mean()) if self.broker else np.nan
        record["misreport_gain"] = (float(np.max([c.misreport_gain.max() for c in self.creators]))
                                    if self.strategy == "best_response" else np.nan)
        if self.compare:
            for name in ROUND_MECHANISMS:
                y, payments = (self._played(reports) if name == self.mechanism
                               else mechanism_round(self.market, name, reports))
                record[f"revenue_{name}"] = -float(payments.sum(axis=1).mean())
                record[f"welfare_{name}"] = -float((costs * y).sum(axis=1).mean())
        record = {name: float(value) for name, value in record.items()}
        return record | {"seed": np.nan if self.seed is None else self.seed}

    def _played(self, reports: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The settled round's ``y`` and payments, from the agents' books."""
        y = np.column_stack([c.allocation ** self.market.rho[c.domain] for c in self.creators])
        return y, np.column_stack([c.payment for c in self.creators])
