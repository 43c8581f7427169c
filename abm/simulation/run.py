"""The one run function: agents and the fluid limit of the same regime and settings.

:func:`simulate` is what ``abm run``, ``abm compare``, ``abm sweep``, ``abm validate`` and the
library use. It runs the agent-based model and solves the fluid limit of *the same
scenario* (market, regime and regime settings) on the agents' own round times, so the two
trajectories join on ``time`` exactly. :func:`summarise` turns a :class:`RunResult` into the
scalar outputs every job reports and every sweep keeps, so no job computes its own.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from abm.regimes import get_regime
from abm.scenario import Scenario, apply_overrides, resolve_scenario
from abm.simulation.dynamic_market.model import DataMarketModel, RunningTotals
from abm.theory.fluid import SupplyAssumptionWarning, check_supply_ratio, solve_fluid

__all__ = ["RunResult", "simulate", "fluid_limit", "sup_distances", "summarise", "DISTANCE_COLUMNS",
           "SUMMARY_FIELDS", "MAX_FLUID_POINTS", "Replications", "replicate", "replication_seeds",
           "confidence_interval"]

#: Columns compared between the agents and the fluid limit.
DISTANCE_COLUMNS = ("price", "precision", "stock_innovators", "stock_rank_and_file",
                    "active_innovators", "active_rank_and_file")
#: The fluid limit is reported at every ``stride``-th round time (and the last), at most this many.
MAX_FLUID_POINTS = 501


@dataclass(frozen=True)
class RunResult:
    """One run of a scenario.

    Attributes
    ----------
    scenario : Scenario
        As run (its ``simulation.seed`` is the seed used).
    agents : DataFrame
        The agent-based trajectory (:data:`~abm.theory.fluid.TRAJECTORY_COLUMNS`), one row per
        recorded round: every ``simulation.record_every``-th round and the last.
    fluid : DataFrame or None
        The fluid limit of the same regime and settings at every ``fluid_stride``-th round
        time and at the last round's; ``None`` when not requested.
    fluid_stride : int
        In rounds; a multiple of ``simulation.record_every``, so every fluid time is a
        recorded round's time.
    warnings : tuple of str
        Assumption warnings raised during the run (e.g. Eq. 7 violated).
    seconds : float
        Wall time of the run.
    totals : dict or None
        The run-wide outputs over every round played, recorded or not
        (:meth:`~abm.simulation.dynamic_market.model.RunningTotals.summary`); ``None`` for a
        result built from a trajectory alone, which must then hold every round.
    """

    scenario: Scenario
    agents: pd.DataFrame = field(repr=False)
    fluid: pd.DataFrame | None = field(repr=False)
    fluid_stride: int = 1
    warnings: tuple = ()
    seconds: float = 0.0
    totals: dict | None = field(default=None, repr=False)

    @property
    def seed(self) -> int:
        """The seed the agents were drawn with."""
        return self.scenario.simulation.seed


def fluid_times(agent_times: np.ndarray, record_every: int = 1) -> tuple[np.ndarray, int]:
    """Every ``stride``-th recorded time and the last, at most :data:`MAX_FLUID_POINTS`;
    ``(times, stride)`` with ``stride`` counted in rounds.

    ``agent_times`` are the recorded rounds' times (every ``record_every``-th round and the
    last), so the fluid limit is reported at every ``stride = record_every * s``-th round with
    ``s`` the smallest whole number that keeps the points within the bound: always at times
    the agents recorded, and the two trajectories join on ``time``.
    """
    rows = max(1, int(np.ceil(len(agent_times) / (MAX_FLUID_POINTS - 1))))
    picked = agent_times[::rows]
    if picked[-1] != agent_times[-1]:
        picked = np.append(picked, agent_times[-1])
    return picked, rows * int(record_every)


def fluid_limit(scenario: Scenario, times) -> pd.DataFrame:
    """The fluid limit of ``scenario``'s market under its own regime and regime settings.

    When a type's creators follow a rule other than best response (``[type.behaviour]``), it
    is that behaviour's fluid map on the agents' rounds under the scenario's regime
    (:func:`abm.theory.behaviour_limits.behaviour_rounds`: the columns of
    :data:`~abm.theory.behaviour_limits.BEHAVIOUR_COLUMNS`).
    """
    if scenario.simulation.firms > 1:  # rival AI firms: one stock vector per firm (abm.theory.rivals)
        from abm.theory.rivals import solve_rival_fluid

        simulation = scenario.simulation
        return solve_rival_fluid(scenario.market, simulation.firms, simulation.licensing, simulation.horizon, times)
    if not all(behaviour.is_default for behaviour in scenario.behaviours):
        from abm.theory.behaviour_limits import behaviour_rounds

        simulation, market = scenario.simulation, scenario.market
        rounds = behaviour_rounds(market, scenario.behaviours, simulation.dt, simulation.n_rounds,
                                  regime=get_regime(simulation.regime), settings=scenario.regime)
        rounds = rounds[rounds["time"].isin(set(np.asarray(times)))].reset_index(drop=True)
        return _with_reference_columns(rounds, market)
    return solve_fluid(scenario.market, scenario.simulation.horizon, times=times,
                       regime=get_regime(scenario.simulation.regime), settings=scenario.regime)


def _with_reference_columns(rounds: pd.DataFrame, market) -> pd.DataFrame:
    """A behaviour's fluid rounds with the cap, trap and barrier of Props. 5 and 6 added, and
    every other trajectory column present as ``nan`` (the behaviour map does not settle trades)."""
    from abm.theory.fluid import TRAJECTORY_COLUMNS, precision_barrier, price_cap, price_trap, rank_and_file_discount

    stocks = rounds[["stock_innovators", "stock_rank_and_file"]].to_numpy()
    discount = [float(rank_and_file_discount(market, x, p)) for x, p in zip(stocks, rounds["precision"])]
    extra = {"discount": discount, "price_cap": [price_cap(market, g) for g in discount],
             "price_trap": price_trap(market),
             "precision_barrier": precision_barrier(market.sigma0_sq, market.kappa, market.rank_and_file.beta_mean)}
    frame = rounds.assign(**extra)
    return frame.reindex(columns=list(TRAJECTORY_COLUMNS))


def simulate(scenario=None, *, seed: int | None = None, stepping: str = "array", fluid: bool = True,
             progress: bool = False, **parameters) -> RunResult:
    """Run the agent-based model and, on its round times, the fluid limit of the same scenario.

    Parameters
    ----------
    scenario : Scenario, str, path or None
        As for :class:`~abm.simulation.dynamic_market.model.DataMarketModel`.
    seed : int, optional
        Seed of the agents' draws; defaults to the scenario's ``simulation.seed``.
    stepping : {"array", "agents"}
    fluid : bool
        Also solve the fluid limit (a sweep that keeps no fluid output skips it).
    progress : bool
        Show a progress bar over the rounds.
    **parameters
        Keyword overrides of scenario fields (:func:`abm.scenario.apply_overrides`), e.g.
        ``record_every=10`` to keep every tenth round (and the last) in ``agents`` while the
        summary's run-wide outputs still cover every round.
    """
    started = time.perf_counter()
    scenario = apply_overrides(resolve_scenario(scenario), parameters)
    seed = scenario.simulation.seed if seed is None else seed
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SupplyAssumptionWarning)
        model = DataMarketModel(scenario, rng=seed, stepping=stepping)
        agents = model.run(progress=progress)
        fluid_frame, stride = None, 1
        if fluid:
            times, stride = fluid_times(agents["time"].to_numpy(), scenario.simulation.record_every)
            fluid_frame = fluid_limit(model.scenario, times)
        totals = _model_totals(model, agents)
        if model.regime.firm_prices:  # Eq. 7 is an assumption about the firm's uniform price
            prices = pd.Series(totals.price_range)  # over every round, recorded or not
            if fluid:
                prices = pd.concat([prices, fluid_frame["price"]])
            positive = prices[prices > 0]
            if len(positive):
                check_supply_ratio(scenario.market, float(positive.min()), float(positive.max()))
    messages = tuple(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, SupplyAssumptionWarning)))
    for message in messages:
        warnings.warn(message, SupplyAssumptionWarning, stacklevel=2)
    return RunResult(scenario=model.scenario, agents=agents, fluid=fluid_frame, fluid_stride=stride,
                     warnings=messages, seconds=time.perf_counter() - started, totals=totals.summary())


def _model_totals(model: DataMarketModel, agents: pd.DataFrame) -> RunningTotals:
    """The model's running totals over every round; for a model whose ``step`` does not keep
    them (a subclass recording rows of its own), those of its trajectory, which must then
    hold every round."""
    if model.running_totals.rounds == model.round:
        return model.running_totals
    simulation = model.scenario.simulation
    if simulation.record_every > 1:
        raise ValueError(f"{type(model).__name__} keeps no running totals, so simulation.record_every must be 1 "
                         f"(its cumulative outputs are summed from every recorded round), got {simulation.record_every}")
    return RunningTotals.from_frame(agents, model.market, simulation.dt)


def sup_distances(agents: pd.DataFrame, fluid: pd.DataFrame, columns=DISTANCE_COLUMNS) -> dict:
    """Largest absolute gap over the shared round times, column by column.

    Rows are joined on ``time`` exactly: both frames take their times from the same round
    grid (``round * dt``).
    """
    merged = agents.merge(fluid, on="time", suffixes=("_agents", "_fluid"))
    if merged.empty:
        raise ValueError("the two trajectories share no time points")
    return {c: float(np.max(np.abs(merged[f"{c}_agents"] - merged[f"{c}_fluid"]))) for c in columns}


#: The scalar outputs of :func:`summarise` (those ending ``_fluid`` or starting ``sup_distance_``
#: need the fluid limit).
SUMMARY_FIELDS = (
    "rounds", "precision_final", "precision_mean", "price_final", "stock_innovators_final",
    "stock_rank_and_file_final", "innovator_participation_final", "rank_and_file_participation_final",
    "precision_barrier", "price_trap", "below_barrier_final", "welfare_cumulative", "trade_surplus_cumulative",
    "firm_profit_cumulative", "firm_trade_profit_cumulative", "surplus_innovators_cumulative",
    "surplus_rank_and_file_cumulative", "intermediary_balance_max_abs",
    "round_change_max", "dt_suggested",
    "precision_final_fluid", "price_final_fluid", "innovator_participation_final_fluid",
    *(f"sup_distance_{column}" for column in DISTANCE_COLUMNS),
)


def _final_values(frame: pd.DataFrame, scenario: Scenario, suffix: str = "") -> dict:
    last = frame.iloc[-1]
    return {
        f"precision_final{suffix}": float(last["precision"]),
        f"price_final{suffix}": float(last["price"]),
        f"innovator_participation_final{suffix}": float(last["active_innovators"] / scenario.market.innovators.mass),
    }


def _run_totals(result: RunResult) -> dict:
    """The run-wide outputs: the model's running totals, or those of a trajectory holding every round."""
    if result.totals is not None:
        return result.totals
    simulation = result.scenario.simulation
    if simulation.record_every > 1:
        raise ValueError(f"this result has no running totals and its trajectory keeps every "
                         f"{simulation.record_every}-th round only (simulation.record_every): its cumulative "
                         "outputs cannot be summed from it; summarise the RunResult that simulate returned")
    return RunningTotals.from_frame(result.agents, result.scenario.market, simulation.dt).summary()


def summarise(result: RunResult) -> dict:
    """Every scalar a job reports or a sweep keeps, from one :class:`RunResult`.

    Cumulative figures are sums of per-round rates times ``dt`` over every round played, and
    ``precision_mean``, ``intermediary_balance_max_abs``, ``round_change_max`` and
    ``dt_suggested`` also cover every round: they come from the model's running totals
    (:class:`~abm.simulation.dynamic_market.model.RunningTotals`), so they do not depend on
    ``simulation.record_every``. ``firm_trade_profit_cumulative`` is the firm's gain from trades
    alone, before the depreciation of its stock. Final values come from the last round (always
    recorded); sup-distances are over the fluid limit's reported times (recorded rounds).
    Fluid outputs are ``nan`` when the result has no fluid limit.
    """
    run, scenario = result.agents, result.scenario
    last = run.iloc[-1]
    totals = _run_totals(result)
    summary = {
        "rounds": totals["rounds"],
        **_final_values(run, scenario),
        "precision_mean": float(totals["precision_mean"]),
        "stock_innovators_final": float(last["stock_innovators"]),
        "stock_rank_and_file_final": float(last["stock_rank_and_file"]),
        "rank_and_file_participation_final": float(last["active_rank_and_file"] / scenario.market.rank_and_file.mass),
        "precision_barrier": float(last["precision_barrier"]),
        "price_trap": float(last["price_trap"]),
        "below_barrier_final": float(last["precision"] < last["precision_barrier"]),
        **{name: float(totals[name]) for name in RunningTotals.CUMULATIVE},
        "intermediary_balance_max_abs": float(totals["intermediary_balance_max_abs"]),
        "round_change_max": float(totals["round_change_max"]),
        "dt_suggested": float(totals["dt_suggested"]),
    }
    if result.fluid is None:
        summary.update({name: float("nan") for name in SUMMARY_FIELDS if name not in summary})
        return summary
    summary.update(_final_values(result.fluid, scenario, "_fluid"))
    summary.update({f"sup_distance_{c}": d for c, d in sup_distances(run, result.fluid).items()})
    return summary


def replication_seeds(seed: int, replications: int) -> list[int]:
    """Seeds of ``replications`` runs: children of ``SeedSequence(seed)`` (63-bit integers).

    The same rule as the sweeps', so replication ``i`` of a run and of a sweep point with the
    same base seed use the same seed.
    """
    if isinstance(replications, bool) or int(replications) != replications or replications < 1:
        raise ValueError(f"replications must be a whole number >= 1, got {replications!r}")
    children = np.random.SeedSequence(int(seed)).spawn(int(replications))
    return [int(child.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for child in children]


def confidence_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean and its Student-t confidence interval (``nan`` bounds for one value)."""
    from scipy import stats

    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if values.size < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size))
    return mean, mean - half, mean + half


@dataclass(frozen=True)
class Replications:
    """Independent replications of one scenario (the same fluid limit, different agent draws).

    Attributes
    ----------
    scenario : Scenario
        As given (``simulation.seed`` is the base seed the replications' seeds come from).
    results : tuple of RunResult
        One per replication; all share one fluid-limit frame (it does not depend on the seed).
    """

    scenario: Scenario
    results: tuple = field(repr=False)

    @property
    def seeds(self) -> list[int]:
        """The seed of each replication."""
        return [result.seed for result in self.results]

    @property
    def fluid(self) -> pd.DataFrame:
        """The fluid limit (deterministic, shared by every replication)."""
        return self.results[0].fluid

    def agents(self) -> pd.DataFrame:
        """Every replication's trajectory, stacked, with ``replication`` and ``seed`` columns first."""
        frames = [result.agents.assign(replication=index, seed=result.seed)
                  for index, result in enumerate(self.results)]
        frame = pd.concat(frames, ignore_index=True)
        return frame[["replication", "seed"] + [c for c in frame.columns if c not in ("replication", "seed")]]

    def long(self) -> pd.DataFrame:
        """Tidy long format: ``seed, replication, time, variable, value``."""
        return self.agents().melt(id_vars=["seed", "replication", "time"], var_name="variable", value_name="value")

    def summaries(self) -> pd.DataFrame:
        """One row of :func:`summarise` per replication."""
        return pd.DataFrame([{"replication": index, "seed": result.seed, **summarise(result)}
                             for index, result in enumerate(self.results)])

    def distances(self, level: float = 0.95) -> pd.DataFrame:
        """Agents-vs-fluid sup-distances across replications: absolute and relative, with CIs.

        Relative distances divide by the fluid limit's largest absolute value of the column
        over the run (``nan`` where it is 0).
        """
        rows, table = [], self.summaries()
        for column in DISTANCE_COLUMNS:
            absolute = table[f"sup_distance_{column}"].to_numpy()
            scale = float(np.max(np.abs(self.fluid[column])))
            relative = absolute / scale if scale > 0 else np.full_like(absolute, np.nan)
            mean, low, high = confidence_interval(absolute, level)
            rel_mean, rel_low, rel_high = confidence_interval(relative, level)
            rows.append({"column": column, "absolute": mean, "absolute_low": low, "absolute_high": high,
                         "relative": rel_mean, "relative_low": rel_low, "relative_high": rel_high,
                         "replications": len(absolute)})
        return pd.DataFrame(rows)


def replicate(scenario=None, replications: int = 1, *, seed: int | None = None, progress: bool = False,
              stepping: str = "array", **parameters) -> Replications:
    """Run ``replications`` independent replications of a scenario beside its fluid limit.

    Replication seeds are :func:`replication_seeds` of ``seed`` (default: the scenario's
    ``simulation.seed``); with one replication the run uses that seed itself, exactly as
    :func:`simulate`. The fluid limit is solved once.
    """
    scenario = apply_overrides(resolve_scenario(scenario), parameters)
    base = scenario.simulation.seed if seed is None else seed
    seeds = [base] if replications == 1 else replication_seeds(base, replications)
    first = simulate(scenario, seed=seeds[0], stepping=stepping, progress=progress and replications == 1)
    results = [first]
    others = seeds[1:]
    if progress and others:
        from tqdm.auto import tqdm

        others = tqdm(others, desc="replications", unit="run", initial=1, total=len(seeds))
    for child in others:
        run = simulate(scenario, seed=child, stepping=stepping, fluid=False)
        results.append(RunResult(run.scenario, run.agents, first.fluid, first.fluid_stride, run.warnings, run.seconds,
                                 run.totals))
    return Replications(scenario=scenario.with_simulation(seed=base), results=tuple(results))
