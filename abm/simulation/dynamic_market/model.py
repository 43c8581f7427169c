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
   round's price, as in :func:`~abm.theory.fluid.fluid_rounds`.

Step 3 runs either as array operations (``stepping="array"``, the default) or agent by
agent through ``shuffle_do("step")`` (``stepping="agents"``); both give identical results.

The model takes a scenario (object, shipped name or file) plus flat keyword overrides of
any scenario field, and follows Mesa's seeding convention, so ``mesa.batch_run`` and
SolaraViz drive it unchanged::

    DataMarketModel(scenario="curse_of_precision", kappa=0.3, agents=500, rng=1)
"""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd

from abm.regimes import get_regime
from abm.scenario import Scenario, apply_overrides, resolve_scenario
from abm.simulation.dynamic_market.agents import (
    PRICING_RULES,
    AIFirm,
    Innovator,
    Intermediary,
    LearningPricing,
    RankAndFileCreator,
)
from abm.theory.empirical import EmpiricalSupply
from abm.theory.heterogeneity import characteristic_from_value
from abm.theory.fluid import (
    TRAJECTORY_COLUMNS,
    PricingContext,
    model_state,
    price_cap,
    round_factors,
    trajectory_row,
)
from abm.theory.information import marginal_precision_weight, precision_fixed_point, recursive_weights
from abm.theory.mechanism import settle_round
from abm.theory.supply import best_response, entry_price

__all__ = ["Population", "DataMarketModel", "STEPPING", "fresh_seed"]

STEPPING = ("array", "agents")
CREATOR_CLASSES = (Innovator, RankAndFileCreator)


def fresh_seed() -> int:
    """A new seed from the operating system's entropy, small enough for every consumer (63 bits)."""
    return int(np.random.SeedSequence().entropy % (2**63))


class Population:
    """Per-creator state as arrays, ordered innovators first, then rank-and-file creators.

    Fixed: ``kind``, ``beta``, ``cost``, ``mass``, ``outside_option``, ``entry_price``.
    Changing each round: ``active``, ``effort`` and ``stock`` (data already weighted by the
    agent's mass). ``decay`` and ``growth`` are the exact one-round stock factors.

    Each creator draws its outside option, then its loading, then its cost (in that order
    from ``rng``), independently; a characteristic shared by the whole type draws nothing.
    ``heterogeneous`` says whether loadings differ within a type.
    """

    def __init__(self, scenario: Scenario, rng: np.random.Generator) -> None:
        market, simulation = scenario.market, scenario.simulation
        n = simulation.agents
        self.bounds = [(0, n), (n, 2 * n)]
        self.kind = np.repeat(np.arange(2), n)
        creator_types = market.types
        draw = {"random": lambda t: t.outside_option.sample(n, rng),
                "quantile": lambda t: t.outside_option.quantiles(n)}[simulation.sampling]
        self.outside_option = np.concatenate([draw(t) for t in creator_types])
        loadings = [characteristic_from_value(t.beta, "beta") for t in creator_types]
        costs = [characteristic_from_value(t.cost, "cost") for t in creator_types]
        self.beta = np.concatenate([c.draw(n, rng, simulation.sampling) for c in loadings])
        self.cost = np.concatenate([c.draw(n, rng, simulation.sampling) for c in costs])
        self.heterogeneous = not all(c.is_fixed for c in loadings)
        self.mass = np.repeat([t.mass / n for t in creator_types], n)
        self.entry_price = entry_price(self.outside_option, self.cost)
        self.stock = np.repeat([t.initial_stock / n for t in creator_types], n)
        self.active = np.zeros(2 * n, dtype=bool)
        self.effort = np.zeros(2 * n)
        self.offered = np.zeros(2 * n)
        self.decay, self.growth = round_factors(market.depreciation, simulation.dt)

    def per_creator(self, prices) -> np.ndarray:
        """Unit prices per creator from per-type prices ``(t_O, t_C)`` or per-creator prices."""
        prices = np.asarray(prices, dtype=float)
        return prices if prices.size == self.kind.size else prices[self.kind]

    def offer(self, prices) -> None:
        """Post unit prices (per type or per creator): ``offered`` holds each creator's."""
        self.offered = self.per_creator(prices)

    def type_means(self, values, weights) -> np.ndarray:
        """Per type, the ``weights``-weighted mean of ``values`` (0 where the weights sum to 0)."""
        totals = self.per_type(weights)
        sums = self.per_type(values * weights)
        return np.divide(sums, totals, out=np.zeros(2), where=totals > 0)

    def respond(self) -> None:
        """Every creator's entry and effort at its offered price (the array path of ``Creator.step``)."""
        self.active, self.effort = best_response(self.offered, self.entry_price, self.cost)

    def accumulate(self) -> None:
        """Every creator's stock after the round (the array path of ``Creator.step``)."""
        self.stock = self.decay * self.stock + self.growth * (self.mass * self.effort)

    def per_type(self, values) -> np.ndarray:
        """Sum of ``values`` over each type."""
        return np.array([values[start:stop].sum() for start, stop in self.bounds])


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
    **parameters
        Flat keyword overrides of any scenario field (:func:`abm.scenario.apply_overrides`),
        e.g. ``kappa=0.3, agents=500, rank_and_file_outside_option_exponent=3.0``;
        validated like a scenario file.

    Attributes
    ----------
    population : Population
    firm : AIFirm
    intermediary : Intermediary or None
        Present when the regime settles rounds by the intermediary's tariff.
    regime : Regime
    precision : float
        Current precision of the firm's model.
    margins : ndarray
        Current marginal values ``(m_O, m_C)`` of the two types' data.
    round : int
        Rounds played; ``time = round * dt``.
    running : bool
        ``False`` once the scenario's horizon is reached (``mesa.batch_run`` stops there).
    datacollector : mesa.DataCollector
        One row per round: the :data:`TRAJECTORY_COLUMNS` and the ``seed``.
    """

    def __init__(self, scenario=None, *, rng=None, seed=None, stepping: str = "array", **parameters) -> None:
        if rng is not None and seed is not None:
            raise ValueError("pass either rng or seed, not both")
        chosen = seed if seed is not None else rng
        if chosen is None:
            chosen = fresh_seed()
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
        self.population = Population(scenario, self.rng)
        for index, kind in enumerate(self.population.kind):
            CREATOR_CLASSES[kind](self, index)
        population = self.population
        self.supply = EmpiricalSupply(population.entry_price, population.mass / population.cost, population.kind,
                                      beta=population.beta if population.heterogeneous else None)
        if population.heterogeneous:
            # Mass-weighted loading moments per type: a type's reported marginal value is the
            # mean of its creators' (1 - lambda beta_i)^2 / D.
            self._type_moments = np.array([population.type_means(population.beta**r, population.mass)
                                           for r in (0, 1, 2)])
            self._beta_sq = population.beta**2
        self.regime = get_regime(scenario.simulation.regime)
        self.firm = AIFirm(self, self._pricing_rule())
        self.intermediary = Intermediary(self) if self.regime.settles_by_tariff else None
        self.trap = price_cap(self.market, 0.0, supply=self.supply.supply)
        self.latest: dict = {}
        reporters = {column: (lambda m, c=column: m.latest[c]) for column in TRAJECTORY_COLUMNS}
        self.datacollector = mesa.DataCollector(model_reporters={**reporters, "seed": "seed"})
        self._read_stocks()

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
        its own loading, and ``creator_margins`` holds each creator's marginal value.
        """
        population = self.population
        self.stocks = population.per_type(population.stock)
        if not population.heterogeneous:
            self.precision, self.margins = model_state(self.market, self.stocks)
            return
        stock = population.stock
        s0, s1, s2 = stock.sum(), float(stock @ population.beta), float(stock @ self._beta_sq)
        market = self.market
        self.precision = precision_fixed_point(s0, s1, s2, market.sigma0_sq, market.kappa)
        self.lam, self.feedback = recursive_weights(s1, s2, self.precision, market.sigma0_sq, market.kappa)
        expansion = np.array([1.0, -2.0 * self.lam, self.lam**2]) / self.feedback  # (1 - lam b)^2 / D = this . (1, b, b^2)
        self.margins = expansion @ self._type_moments
        self._stock_value = float(expansion @ (s0, s1, s2))

    @property
    def creator_margins(self) -> np.ndarray:
        """Each creator's marginal value ``(1 - lambda beta_i)^2 / D`` (per type when loadings are shared)."""
        if not self.population.heterogeneous:
            return self.margins
        return marginal_precision_weight(self.lam, self.population.beta) / self.feedback

    def step(self) -> None:
        """One round: prices, entry and effort, settlement and record, stocks."""
        prices = self._post_prices()
        self.population.offer(prices)
        if self.stepping == "agents":
            for creator_class in CREATOR_CLASSES:
                self.agents_by_type[creator_class].shuffle_do("step")
        else:
            self.population.respond()
            self.population.accumulate()
        self._record(prices)
        self.datacollector.collect(self)
        self.round += 1
        self._read_stocks()
        self.running = self.round < self.n_rounds

    def _post_prices(self) -> np.ndarray:
        """The regime's unit prices; a tariff round whose surplus would be negative is called off."""
        self.firm.precision = self.precision
        context = PricingContext(self.market.value, self.creator_margins, self.firm.uniform_price)
        prices = np.asarray(self.regime.unit_prices(context, self.scenario.regime), dtype=float)
        if self.intermediary is not None and not self.settle(prices, would_enter=True).feasible:
            prices = np.zeros_like(prices)
        self.firm.prices = prices
        return prices

    def settle(self, prices, would_enter: bool = False):
        """Settle the round for the active creators (or those who would enter at ``prices``)."""
        population, settings = self.population, self.scenario.regime
        if would_enter:
            offered = population.per_creator(prices)
            active, effort = best_response(offered, population.entry_price, population.cost)
        else:
            offered, active, effort = population.offered, population.active, population.effort
        terms = {}
        if self.intermediary is not None:
            terms = dict(tariff=True, operating_cost=settings.operating_cost, firm_outside=settings.firm_outside,
                         bargaining_power=settings.bargaining_power)
        return settle_round(offered, effort, population.mass, population.cost,
                            np.where(active, population.outside_option, 0.0), population.kind, **terms)

    def _record(self, prices: np.ndarray) -> None:
        population, market = self.population, self.market
        settlement = self.settle(prices)
        if self.intermediary is not None:
            self.intermediary.book(settlement)
        delivered_by_creator = population.mass * population.effort
        delivered = population.per_type(delivered_by_creator)
        active_mass = population.per_type(np.where(population.active, population.mass, 0.0))
        if prices.size != 2:  # per-creator prices: report each type's delivered-weighted mean
            prices = population.type_means(population.offered, delivered_by_creator)
        data_value, stock_value = self._data_values(delivered, delivered_by_creator)
        self.latest = trajectory_row(market, self.time, prices, self.stocks, self.precision, self.margins, delivered,
                                     active_mass, settlement, supply=self.supply.supply, trap=self.trap,
                                     data_value=data_value, stock_value=stock_value)
        self.firm.book(self.latest["firm_profit"], self.dt)
        if self.regime.firm_prices:
            self.firm.learn(data_value - settlement.firm_transfer)

    def _data_values(self, delivered: np.ndarray, delivered_by_creator: np.ndarray) -> tuple:
        """``(v sum_i m_i E_i, sum_i m_i X_i)``: the value of the round's data to the firm's
        model, and the marginal value of its stock (whose depreciation it loses)."""
        if not self.population.heterogeneous:
            return self.market.value * float(self.margins @ delivered), None
        return self.market.value * float(self.creator_margins @ delivered_by_creator), self._stock_value

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
        """Every recorded round as a DataFrame with the :data:`TRAJECTORY_COLUMNS`."""
        frame = self.datacollector.get_model_vars_dataframe().reset_index(drop=True)
        return frame[list(TRAJECTORY_COLUMNS)]
