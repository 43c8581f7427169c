"""Rival AI firms as Mesa agents: ``F`` firms buying content from the same creators.

The economics (the round game, its equilibrium, the licensing regimes) are in
:mod:`abm.theory.rivals`. This module runs them against the agents of
:class:`~abm.simulation.dynamic_market.model.DataMarketModel`: the creators, their entry
prices and the population's prefix sums are the monopsonist market's, drawn from the same
seed in the same order. One round:

1. every firm reads its precision and marginal values off its own stocks
   (:func:`~abm.theory.fluid.model_state`, its own recursive bias);
2. the firms' prices form the round's Nash equilibrium against the agents' exact entry
   prices (:func:`~abm.theory.rivals.round_equilibrium`, warm-started from the last round);
3. every creator faces one price per unit of effort, the sum of the prices (non-exclusive)
   or the best offer (exclusive), and best-responds as always;
4. firm ``f``'s stocks grow with its share of the round's content (all of it under
   non-exclusive licences, the winners' equal split under exclusive ones), and the round is
   recorded with :func:`~abm.theory.rivals.rival_row` (the fluid limit's own row function).

Every firm starts with the scenario's initial stocks (content every firm already holds).
``DataMarketModel(firms=2, ...)`` builds this model; with ``F = 1`` it reproduces the
monopsonist bit for bit (``tests/test_rival_firms.py``).
"""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd

from abm.scenario import apply_overrides, resolve_scenario
from abm.simulation.dynamic_market.agents import LearningPricing
from abm.simulation.dynamic_market.model import DataMarketModel
from abm.theory.fluid import model_state
from abm.theory.mechanism import settle_round
from abm.theory.rivals import PieceSupply, posted_outcome, rival_columns, rival_row, round_equilibrium

__all__ = ["RivalFirm", "RivalFirmsModel", "wants_rivals", "rival_scenarios"]

#: Keywords of the model that are not scenario fields.
_MODEL_KEYWORDS = ("rng", "seed", "stepping", "compiled", "firm_values")


def wants_rivals(scenario, parameters: dict) -> bool:
    """Whether the scenario (with keyword overrides) asks for more than one firm; ``False``
    when it is invalid (the model's constructor then raises the error)."""
    overrides = {key: value for key, value in parameters.items() if key not in _MODEL_KEYWORDS}
    try:
        return apply_overrides(resolve_scenario(scenario), overrides).simulation.firms > 1
    except (ValueError, FileNotFoundError):
        return False


def rival_scenarios(scenario, firms: int = 2) -> dict:
    """The scenario's population bought by ``firms`` rival AI firms, once per licensing regime.

    Strict IP (the only regime rival firms take) with the scenario's own firm behaviour where
    rival firms take it (myopic or learning, else myopic), everything else the scenario's own;
    keyed ``"rival_firms_<licensing>"``: the rows a comparison of market structures adds beside
    the regimes (``docs/regimes.md``, Rival AI firms).
    """
    from abm.theory.rivals import LICENSING

    behaviour = scenario.simulation.firm if scenario.simulation.firm in ("myopic", "learning") else "myopic"
    return {f"rival_firms_{licensing}": scenario.with_simulation(regime="strict_ip", firm=behaviour, firms=firms,
                                                                 licensing=licensing)
            for licensing in LICENSING}


class RivalFirm(mesa.Agent):
    """One of the rival AI firms: its own data stocks, model precision, price and profit.

    Attributes
    ----------
    number : int
        1..F (the suffix of its trajectory columns).
    value : float
        Its value of a unit of precision per unit time, ``v_f``.
    stocks : ndarray
        Its data stocks ``(X_fO, X_fC)``.
    precision : float
        Its model's precision (Eq. 11 with its own recursive bias).
    margins : ndarray
        Its marginal values ``(m_fO, m_fC)``.
    price, share : float
        This round's posted price and share of the content it receives.
    pricing : LearningPricing or None
        Its own Kiefer-Wolfowitz search when ``simulation.firm = "learning"`` (it then posts
        what it has learned instead of the round's equilibrium price).
    profit : float
        Profit booked so far (profit rate times ``dt``, summed over rounds).
    """

    def __init__(self, model, number: int, value: float, stocks) -> None:
        super().__init__(model)
        self.number, self.value = number, float(value)
        self.stocks = np.array(stocks, dtype=float)
        self.price = self.share = self.profit = 0.0
        self.pricing = None
        self.read_state()

    def read_state(self) -> None:
        """Precision and marginal values of its model trained on its own stocks."""
        self.precision, self.margins = model_state(self.model.market, self.stocks)

    def receive(self, share: float, delivered, decay: float, growth: float) -> None:
        """Add its share of the round's content (exact round update of Eq. 8)."""
        self.stocks = self.stocks * decay + growth * (share * delivered)


class _RivalCollector(mesa.DataCollector):
    """Mesa's ``DataCollector`` with one model reporter per rival-firms column and the seed."""

    def __init__(self, columns) -> None:
        self.columns = tuple(columns)
        reporters = {column: (lambda m, c=column: m.latest[c]) for column in self.columns}
        super().__init__(model_reporters={**reporters, "seed": "seed"})


class RivalFirmsModel(DataMarketModel):
    """Creators and ``F = simulation.firms`` rival AI firms (``simulation.licensing``).

    Parameters
    ----------
    scenario, rng, seed, stepping, compiled, **parameters
        As :class:`~abm.simulation.dynamic_market.model.DataMarketModel`; the market must be
        under strict IP with myopic or learning firms, creators best-responding, one loading
        and cost per type.
    firm_values : sequence of float, optional
        Each firm's ``v_f`` (default: the market's ``value`` for every firm); a test device
        (a firm of value 0 never pays), not a scenario field.

    Attributes
    ----------
    firms : list of RivalFirm
    licensing : str
    equilibrium : RoundEquilibrium
        The last round's equilibrium.
    """

    def __init__(self, scenario=None, *, rng=None, seed=None, stepping: str = "array", compiled: bool | None = None,
                 firm_values=None, **parameters) -> None:
        super().__init__(scenario, rng=rng, seed=seed, stepping=stepping, compiled=compiled, **parameters)
        scenario = self.scenario
        _require_supported(scenario, self.population)
        count = scenario.simulation.firms
        values = np.full(count, self.market.value) if firm_values is None else np.asarray(firm_values, dtype=float)
        if values.shape != (count,) or not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError(f"firm_values must be {count} finite numbers >= 0 (one per firm), got {firm_values!r}")
        self.licensing = scenario.simulation.licensing
        self.firm.remove()  # the monopsonist of the parent model
        initial = self.population.initial_moments[0]
        self.firms = [RivalFirm(self, f + 1, values[f], initial) for f in range(count)]
        self.firm = self.firms[0]
        self.values = values
        self.pieces = PieceSupply(self.supply)
        self.columns = rival_columns(count)
        self.datacollector = _RivalCollector(self.columns)
        self.equilibrium = None
        if scenario.simulation.firm == "learning":
            settings = scenario.learning
            for firm in self.firms:
                firm.pricing = LearningPricing(settings.learning_rate, settings.probe, settings.initial_price)

    def _round_prices(self, margins):
        """The round's equilibrium (myopic firms) or the learned prices' outcome (learning firms)."""
        if self.firms[0].pricing is not None:
            posted = [firm.pricing.price(self) for firm in self.firms]
            return posted_outcome(self.licensing, self.pieces, margins, self.values, posted)
        start = None if self.equilibrium is None else self.equilibrium.firm_prices
        return round_equilibrium(self.licensing, self.pieces, margins, self.values, start)

    def _learn(self, margins, delivered) -> None:
        """Each learning firm observes the price-dependent part of its own profit rate: the value
        of the content it received to its model minus what it paid (as the learning monopsonist)."""
        equilibrium = self.equilibrium
        for f, firm in enumerate(self.firms):
            if firm.pricing is None:
                continue
            received = equilibrium.shares[f] * delivered
            profit = firm.value * float(margins[f] @ received) - float((equilibrium.paid[f] * received).sum())
            firm.pricing.observe(self, float(equilibrium.firm_prices[f]), profit)

    def step(self) -> None:
        """One round: the firms' equilibrium prices, entry and effort, record, stocks."""
        firms, population = self.firms, self.population
        margins = np.array([firm.margins for firm in firms])
        self.equilibrium = equilibrium = self._round_prices(margins)
        prices = np.full(2, equilibrium.creator_price)
        population.offer(prices)
        self._best_responses()
        totals = population.totals()
        settlement = settle_round(*totals.settlement_terms, kind=(0, 1))
        stocks = np.array([firm.stocks for firm in firms])
        self.latest = rival_row(self.market, self.time, equilibrium, stocks, [firm.precision for firm in firms],
                                margins, self.values, totals.delivered, totals.active_mass, settlement,
                                supply=self._cap_supply, trap=self.trap)
        for firm, price, share in zip(firms, equilibrium.firm_prices, equilibrium.shares):
            firm.price, firm.share = float(price), float(share)
            firm.profit += self.latest[f"firm_profit_firm_{firm.number}"] * self.dt
        self._learn(margins, totals.delivered)
        self._collect()
        self.round += 1
        self._moments *= population.decay
        self._moments += population.growth * totals.moments
        for firm, share in zip(firms, equilibrium.shares.tolist()):
            firm.receive(share, totals.delivered, population.decay, population.growth)
            firm.read_state()
        self.stocks = np.mean([firm.stocks for firm in firms], axis=0)
        self.precision = float(np.mean([firm.precision for firm in firms]))
        self.margins = np.mean([firm.margins for firm in firms], axis=0)
        self.running = self.round < self.n_rounds

    def _collect(self) -> None:
        """Add the round to the run's totals and record it, as the parent model does: every
        round feeds :class:`~abm.simulation.dynamic_market.model.RunningTotals`, and only every
        ``simulation.record_every``-th round and the last are kept in the trajectory."""
        self.running_totals.add(self.latest)
        if self.scenario.simulation.is_recorded(self.round):
            self.datacollector.collect(self)

    def trajectory(self) -> pd.DataFrame:
        """Every recorded round with the columns of :func:`~abm.theory.rivals.rival_columns`."""
        frame = self.datacollector.get_model_vars_dataframe().reset_index(drop=True)
        return frame[list(self.columns)]


def _require_supported(scenario, population) -> None:
    """Refuse what the rival-firms market does not model, naming the field."""
    simulation = scenario.simulation
    if simulation.regime != "strict_ip":
        raise ValueError(f"simulation.regime must be 'strict_ip' with rival firms (each firm sets its own price), "
                         f"got {simulation.regime!r}")
    if simulation.firm not in ("myopic", "learning"):
        raise ValueError(f"simulation.firm must be 'myopic' or 'learning' with rival firms, got {simulation.firm!r}")
    if not all(behaviour.is_default for behaviour in scenario.behaviours):
        raise ValueError("rival firms need creators that best-respond ([innovators.behaviour] and "
                         "[rank_and_file.behaviour] rule = 'best_response')")
    if not scenario.market.is_homogeneous or population.heterogeneous:
        raise ValueError("rival firms need one loading and one cost per type (innovators.beta, innovators.cost, "
                         "rank_and_file.beta and rank_and_file.cost must be numbers)")

