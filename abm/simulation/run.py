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
from abm.simulation.dynamic_market.model import DataMarketModel
from abm.theory.fluid import SupplyAssumptionWarning, check_supply_ratio, solve_fluid

__all__ = ["RunResult", "simulate", "fluid_limit", "sup_distances", "summarise", "DISTANCE_COLUMNS",
           "SUMMARY_FIELDS", "MAX_FLUID_POINTS"]

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
        The agent-based trajectory, one row per round (:data:`~abm.theory.fluid.TRAJECTORY_COLUMNS`).
    fluid : DataFrame or None
        The fluid limit of the same regime and settings at every ``fluid_stride``-th round
        time of ``agents`` and at its last; ``None`` when not requested.
    fluid_stride : int
    warnings : tuple of str
        Assumption warnings raised during the run (e.g. Eq. 7 violated).
    seconds : float
        Wall time of the run.
    """

    scenario: Scenario
    agents: pd.DataFrame = field(repr=False)
    fluid: pd.DataFrame | None = field(repr=False)
    fluid_stride: int = 1
    warnings: tuple = ()
    seconds: float = 0.0

    @property
    def seed(self) -> int:
        """The seed the agents were drawn with."""
        return self.scenario.simulation.seed


def fluid_times(agent_times: np.ndarray) -> tuple[np.ndarray, int]:
    """Every ``stride``-th round time and the last, at most :data:`MAX_FLUID_POINTS`; ``(times, stride)``."""
    stride = max(1, int(np.ceil(len(agent_times) / (MAX_FLUID_POINTS - 1))))
    picked = agent_times[::stride]
    if picked[-1] != agent_times[-1]:
        picked = np.append(picked, agent_times[-1])
    return picked, stride


def fluid_limit(scenario: Scenario, times) -> pd.DataFrame:
    """The fluid limit of ``scenario``'s market under its own regime and regime settings."""
    return solve_fluid(scenario.market, scenario.simulation.horizon, times=times,
                       regime=get_regime(scenario.simulation.regime), settings=scenario.regime)


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
        Keyword overrides of scenario fields (:func:`abm.scenario.apply_overrides`).
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
            times, stride = fluid_times(agents["time"].to_numpy())
            fluid_frame = fluid_limit(model.scenario, times)
        if model.regime.firm_prices:  # Eq. 7 is an assumption about the firm's uniform price
            prices = pd.concat([agents["price"]] + ([fluid_frame["price"]] if fluid else []))
            positive = prices[prices > 0]
            if len(positive):
                check_supply_ratio(scenario.market, float(positive.min()), float(positive.max()))
    messages = tuple(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, SupplyAssumptionWarning)))
    for message in messages:
        warnings.warn(message, SupplyAssumptionWarning, stacklevel=2)
    return RunResult(scenario=model.scenario, agents=agents, fluid=fluid_frame, fluid_stride=stride,
                     warnings=messages, seconds=time.perf_counter() - started)


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


def summarise(result: RunResult) -> dict:
    """Every scalar a job reports or a sweep keeps, from one :class:`RunResult`.

    Cumulative figures are sums of per-round rates times ``dt`` (the agents' rounds);
    ``firm_trade_profit_cumulative`` is the firm's gain from trades alone, before the
    depreciation of its stock. Fluid outputs are ``nan`` when the result has no fluid limit.
    """
    run, scenario = result.agents, result.scenario
    dt, last = scenario.simulation.dt, run.iloc[-1]
    summary = {
        "rounds": len(run),
        **_final_values(run, scenario),
        "precision_mean": float(run["precision"].mean()),
        "stock_innovators_final": float(last["stock_innovators"]),
        "stock_rank_and_file_final": float(last["stock_rank_and_file"]),
        "rank_and_file_participation_final": float(last["active_rank_and_file"] / scenario.market.rank_and_file.mass),
        "precision_barrier": float(last["precision_barrier"]),
        "price_trap": float(last["price_trap"]),
        "below_barrier_final": float(last["precision"] < last["precision_barrier"]),
        "welfare_cumulative": float(run["welfare"].sum() * dt),
        "trade_surplus_cumulative": float(run["trade_surplus"].sum() * dt),
        "firm_profit_cumulative": float(run["firm_profit"].sum() * dt),
        "firm_trade_profit_cumulative": float((run["firm_profit"] + run["trade_surplus"] - run["welfare"]).sum() * dt),
        "surplus_innovators_cumulative": float(run["surplus_innovators"].sum() * dt),
        "surplus_rank_and_file_cumulative": float(run["surplus_rank_and_file"].sum() * dt),
        "intermediary_balance_max_abs": float(run["intermediary_balance"].abs().max()),
    }
    if result.fluid is None:
        summary.update({name: float("nan") for name in SUMMARY_FIELDS if name not in summary})
        return summary
    summary.update(_final_values(result.fluid, scenario, "_fluid"))
    summary.update({f"sup_distance_{c}": d for c, d in sup_distances(run, result.fluid).items()})
    return summary
