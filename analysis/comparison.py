"""Regimes side by side: one population, every market regime, static and dynamic.

The dynamic comparison runs :func:`abm.simulation.run.simulate` once per regime (same seed,
so the same agents) and summarises each run with :func:`abm.simulation.run.summarise`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from abm.regimes import REGIMES, RegimeSettings
from abm.scenario import Scenario
from abm.simulation.run import simulate, summarise
from abm.theory.static import InformationMarket, social_optimum

__all__ = ["compare_static", "compare_dynamic", "DynamicComparison", "format_static_comparison",
           "format_dynamic_comparison"]

def compare_static(market: InformationMarket, settings: RegimeSettings | None = None) -> pd.DataFrame:
    """Every regime's static outcome: one row per regime.

    Columns: precision, welfare, firm profit, creator surplus of innovators
    (``beta < settings.innovator_beta``) and of rank-and-file creators, each group's
    mean effort relative to the social optimum, the intermediary's balance and feasibility.
    """
    settings = settings or RegimeSettings()
    innovators = market.beta < settings.innovator_beta
    efficient = social_optimum(market).effort
    rows = []
    for name, regime in REGIMES.items():
        outcome = regime.static(market, settings)
        with np.errstate(invalid="ignore", divide="ignore"):
            relative = outcome.effort / efficient
        rows.append({
            "regime": name,
            "precision": outcome.precision,
            "welfare": outcome.welfare,
            "firm_profit": outcome.firm_profit,
            "surplus_innovators": float(outcome.creator_surplus[innovators].sum()),
            "surplus_rank_and_file": float(outcome.creator_surplus[~innovators].sum()),
            "effort_vs_optimum_innovators": float(np.nanmean(relative[innovators])) if innovators.any() else np.nan,
            "effort_vs_optimum_rank_and_file": float(np.nanmean(relative[~innovators]))
            if (~innovators).any() else np.nan,
            "intermediary_balance": outcome.intermediary_balance,
            "feasible": outcome.feasible,
        })
    return pd.DataFrame(rows).set_index("regime")


def format_static_comparison(table: pd.DataFrame) -> str:
    """The table and its headline in words, with the numbers."""
    strict, broker = table.loc["strict_ip"], table.loc["intermediary"]
    with pd.option_context("display.float_format", "{:.4f}".format, "display.width", 160):
        body = table.to_string()
    return "\n".join([
        "Static market under every regime:", body, "",
        f"Strict IP: innovators get {100 * strict.effort_vs_optimum_innovators:.1f}% of their efficient effort, "
        f"rank-and-file creators {100 * strict.effort_vs_optimum_rank_and_file:.1f}% (originality penalty); "
        f"precision {strict.precision:.4f} of an efficient {broker.precision:.4f}.",
        f"Intermediary: efforts at {100 * broker.effort_vs_optimum_innovators:.1f}% / "
        f"{100 * broker.effort_vs_optimum_rank_and_file:.1f}% of efficient, welfare {broker.welfare:.4f} "
        f"(strict IP {strict.welfare:.4f}), budget balance {broker.intermediary_balance:.1e}.",
    ])


@dataclass(frozen=True)
class DynamicComparison:
    """Every regime run on one population.

    Attributes
    ----------
    scenario : Scenario
    over_time : DataFrame
        Long format: the agents' trajectory columns plus ``regime``.
    fluid : DataFrame
        The fluid limit of each regime, long format with ``regime``.
    summary : DataFrame
        One row per regime: end-of-horizon and time-integrated figures.
    """

    scenario: Scenario
    over_time: pd.DataFrame = field(repr=False)
    fluid: pd.DataFrame = field(repr=False)
    summary: pd.DataFrame


def compare_dynamic(scenario: Scenario, seed: int | None = None, progress: bool = False) -> DynamicComparison:
    """Run the scenario's population under every regime (same seed, so the same agents)."""
    if seed is not None:
        scenario = scenario.with_simulation(seed=seed)
    names = list(REGIMES)
    if progress:
        from tqdm.auto import tqdm

        names = tqdm(names, desc="regimes", unit="regime")
    runs, fluids, rows = [], [], []
    for name in names:
        result = simulate(scenario.with_regime(name))
        runs.append(result.agents.assign(regime=name))
        fluids.append(result.fluid.assign(regime=name))
        rows.append({"regime": name, **summarise(result)})
    return DynamicComparison(scenario=scenario, over_time=pd.concat(runs, ignore_index=True),
                             fluid=pd.concat(fluids, ignore_index=True),
                             summary=pd.DataFrame(rows).set_index("regime"))


def format_dynamic_comparison(comparison: DynamicComparison) -> str:
    """The summary table and its headline in words, with the numbers."""
    table = comparison.summary
    strict, broker = table.loc["strict_ip"], table.loc["intermediary"]
    columns = ["precision_final", "precision_final_fluid", "innovator_participation_final",
               "trade_surplus_cumulative", "firm_trade_profit_cumulative", "surplus_innovators_cumulative",
               "surplus_rank_and_file_cumulative", "intermediary_balance_max_abs"]
    with pd.option_context("display.float_format", "{:.4g}".format, "display.width", 200):
        body = table[columns].to_string()
    simulation = comparison.scenario.simulation
    return "\n".join([
        f"scenario {comparison.scenario.name!r} under every regime ({simulation.agents} agents per type, "
        f"horizon {simulation.horizon}, seed {simulation.seed}):", body, "",
        f"Strict IP: precision ends at {strict.precision_final:.4g} against the barrier "
        f"{strict.precision_barrier:.4g}; {100 * strict.innovator_participation_final:.2f}% of innovators still sell "
        "(curse of precision).",
        f"Intermediary: precision ends at {broker.precision_final:.4g}, "
        f"{100 * broker.innovator_participation_final:.2f}% of innovators sell, cumulative trade surplus "
        f"{broker.trade_surplus_cumulative:.4g} (strict IP {strict.trade_surplus_cumulative:.4g}); the largest "
        f"budget imbalance in any round is {broker.intermediary_balance_max_abs:.1e}.",
    ])


