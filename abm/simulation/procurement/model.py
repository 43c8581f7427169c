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
from abm.simulation.procurement.learning import (DEFAULT_SHADING_GRID, LEARNING_RULES, HedgeLearner,
                                                 LearningSettings, default_learning_rate)
from abm.theory.procurement.mechanisms import COMPARISON_MECHANISMS
from abm.theory.procurement.population import creators_per_domain as validate_creators
from abm.theory.procurement import (
    ROUND_MECHANISMS,
    ProcurementMarket,
    mechanism_round,
    overproduction_market,
    sample_table1_market,
    union_payment,
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


def _one_each(creators_per_domain) -> bool:
    """Whether ``creators_per_domain`` asks for exactly one creator per domain (today's model)."""
    values = creators_per_domain if isinstance(creators_per_domain, (list, tuple, np.ndarray)) else [creators_per_domain]
    return all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v == 1 for v in values)


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
    mechanism : {"M1", "M2", "M4", "M5", "M6", "PAB"}
        The mechanism played (M3 has only bounds; ``"PAB"``, pay-as-bid, is a comparison
        mechanism outside the paper).
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
    creators_per_domain : int or list of int
        Creators per domain, ``>= 1`` (one integer for all, or one per domain). With any
        domain above 1 the model built is a
        :class:`~abm.simulation.procurement.population.PopulationProcurementModel`
        (the paper's Appendix C.4); the default 1 is the representative-creator model.
    creator_learning : {None, "hedge"}
        ``"hedge"``: every creator learns a shading factor over the rounds
        (:mod:`abm.simulation.procurement.learning`); needs ``strategy="truthful"``, not M4.
    learning_rate : float or None
        Hedge's rate per unit of utility scaled by ``b . y(b)``; ``None``: ``sqrt(8 ln G / rounds)``.
    shading_grid : sequence of float
        Factors ``s`` (report ``s`` times the cost), increasing, containing 1.
    rng : int, numpy.random.Generator or None
        The model's generator (Mesa's convention). ``None`` draws a fresh seed; an integer
        seed (given or drawn) is recorded as ``self.seed`` and in the ``seed`` column.

    Raises
    ------
    ValueError
        Naming the parameter and the rule it breaks.
    """

    def __new__(cls, *args, creators_per_domain=1, **kwargs):
        # Many creators per domain (Appendix C.4) is its own model; exactly one keeps this one.
        if cls is ProcurementModel and not _one_each(creators_per_domain):
            from abm.simulation.procurement.population import PopulationProcurementModel

            cls = PopulationProcurementModel
        return super().__new__(cls)

    def __init__(self, market="table1", *, mechanism: str = "M1", draws_per_round: int = 1, rounds: int = 100,
                 strategy: str = "truthful", market_seed: int = 3, report_grid: int = 20, compare: bool = True,
                 rng=None, creators_per_domain=1, creator_learning=None, learning_rate=None,
                 shading_grid=DEFAULT_SHADING_GRID, broker_penalty=None, union_sharing="proportional",
                 union_exit=False) -> None:
        self.market = _resolve_market(market, _positive_integer(market_seed, "market_seed", 0))
        if mechanism not in ROUND_MECHANISMS and mechanism not in COMPARISON_MECHANISMS:
            raise ValueError(f"mechanism must be one of {list(ROUND_MECHANISMS) + list(COMPARISON_MECHANISMS)} "
                             "(M3 has only bounds), "
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
        self.creators_per_domain = validate_creators(creators_per_domain, self.market.n_domains)
        self.draws_per_round = _positive_integer(draws_per_round, "draws_per_round")
        self.rounds = _positive_integer(rounds, "rounds")
        self.report_grid = _positive_integer(report_grid, "report_grid")
        self.payment_scale = union_payment(self.market)
        self.creators = [DomainCreator(self, k) for k in range(self.market.n_domains)]
        self.creator_learning = self._attach_learners(creator_learning, learning_rate, shading_grid)
        self.platform = Platform(self)
        self.union = CreatorUnion(self, union_sharing, union_exit) if mechanism == "M4" else None
        self.broker = DataBroker(self, broker_penalty) if mechanism in ("M5", "M6") else None
        if broker_penalty is not None and self.broker is None:
            raise ValueError(f"broker_penalty needs a broker (M5 or M6), got mechanism {mechanism!r}")
        if self.union is not None and self.union.acts and strategy != "truthful":
            raise ValueError("union_exit and union_sharing='equal' need strategy='truthful'")
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
        if self.creator_learning:
            for k in range(self.market.n_domains):
                names += [f"shading_{k}", f"truthful_weight_{k}", f"mean_shading_{k}"]
        if self.broker is not None and self.broker.acts:
            names += [f"broker_price_{k}" for k in range(self.market.n_domains)]
            names += ["broker_contract_mean", "broker_expected_profit", "broker_outside"]
        if self.union is not None and self.union.acts:
            names += ["union_size"] + [f"union_member_{k}" for k in range(self.market.n_domains)]
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
        if self.broker is not None:  # what the round is played with (the broker re-chooses after it)
            self.played_prices, self.played_anchor = self.broker.prices.copy(), self.broker.anchor
            self.played_expected_profit = self.broker.expected_profit
        (self.broker or self.platform).settle(reports)
        if self.creator_learning:
            creators.do("learn")
        self.record = self._round_record(reports)
        self.datacollector.collect(self)
        if self.union is not None:
            self.union.update_membership()  # the membership of the next round
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
        if self.creator_learning:
            for c in self.creators:
                record |= {f"shading_{c.domain}": c.learner.played,
                           f"truthful_weight_{c.domain}": c.learner.truthful_weight,
                           f"mean_shading_{c.domain}": c.learner.mean_factor}
        if self.broker is not None and self.broker.acts:
            record |= {f"broker_price_{k}": price for k, price in enumerate(self.played_prices)}
            record |= {"broker_contract_mean": float(self.played_anchor == "mean"),
                       "broker_expected_profit": self.played_expected_profit,
                       "broker_outside": float(self.broker.outside.mean())}
        if self.union is not None and self.union.acts:
            record["union_size"] = float(len(self.union.members))
            record |= {f"union_member_{k}": float(k in self.union.members) for k in range(self.market.n_domains)}
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

    def _attach_learners(self, creator_learning, learning_rate, shading_grid):
        """Give every creator a Hedge learner (``creator_learning="hedge"``); ``None`` keeps
        the reporting strategy of ``strategy``."""
        if creator_learning is None:
            return None
        if creator_learning not in LEARNING_RULES:
            raise ValueError(f"creator_learning must be None or one of {list(LEARNING_RULES)}, got {creator_learning!r}")
        if self.strategy != "truthful" or self.mechanism == "M4":
            raise ValueError("creator_learning needs strategy='truthful' and a mechanism without a union (not M4): "
                             "the learners choose the reports")
        grid = tuple(shading_grid)
        rate = default_learning_rate(len(grid), self.rounds) if learning_rate is None else learning_rate
        settings = LearningSettings(grid, rate)
        for creator in self.creators:
            creator.learner = HedgeLearner(settings, self.payment_scale)
        return creator_learning

    def _played(self, reports: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The settled round's ``y`` and payments, from the agents' books."""
        y = np.column_stack([c.allocation ** self.market.rho[c.domain] for c in self.creators])
        return y, np.column_stack([c.payment for c in self.creators])
