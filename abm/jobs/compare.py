"""The ``abm compare`` job: one population under every market regime, side by side."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from abm.storage import write_json
from abm.simulation.dynamic_market.model import DataMarketModel
from abm.regimes import REGIMES, RegimeSettings
from abm.scenario import Scenario
from abm.theory.fluid import solve_fluid
from abm.theory.static import InformationMarket, social_optimum

__all__ = ["compare_static", "compare_dynamic", "DynamicComparison", "write_dynamic_comparison",
           "write_static_comparison", "format_static_comparison", "format_dynamic_comparison"]


# --- static market ---------------------------------------------------------------------------


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


def write_static_comparison(table: pd.DataFrame, market: InformationMarket, settings: RegimeSettings,
                            out: Path) -> list[Path]:
    """Write ``regimes_static.csv``, ``summary.json`` and ``regimes_static.png``."""
    from analysis.plots import plot_static_regimes

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "regimes_static.csv", out / "summary.json", out / "regimes_static.png"]
    table.to_csv(paths[0])
    write_json(paths[1], {"job": "compare --static", "market": market, "regime_settings": settings,
                          "table": table.reset_index().to_dict(orient="records")})
    plot_static_regimes(table).savefig(paths[2], dpi=120)
    return paths


# --- dynamic market --------------------------------------------------------------------------


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


def _summarise(name: str, run: pd.DataFrame, fluid: pd.DataFrame, scenario: Scenario) -> dict:
    dt, last = scenario.simulation.dt, run.iloc[-1]
    return {
        "regime": name,
        "precision_final": last["precision"],
        "precision_final_fluid": fluid["precision"].iloc[-1],
        "precision_mean": run["precision"].mean(),
        "precision_barrier": last["precision_barrier"],
        "innovator_participation_final": last["active_innovators"] / scenario.market.innovators.mass,
        "rank_and_file_participation_final": last["active_rank_and_file"] / scenario.market.rank_and_file.mass,
        "welfare_cumulative": float(run["welfare"].sum() * dt),
        "trade_surplus_cumulative": float(run["trade_surplus"].sum() * dt),
        "firm_profit_cumulative": float(run["firm_profit"].sum() * dt),
        # The firm's gain from the trades alone, before the depreciation of its stock.
        "firm_trade_profit_cumulative": float((run["firm_profit"] + run["trade_surplus"] - run["welfare"]).sum() * dt),
        "surplus_innovators_cumulative": float(run["surplus_innovators"].sum() * dt),
        "surplus_rank_and_file_cumulative": float(run["surplus_rank_and_file"].sum() * dt),
        "intermediary_balance_max_abs": float(run["intermediary_balance"].abs().max()),
    }


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
        variant = scenario.with_regime(name)
        run = DataMarketModel(variant).run()
        times = run["time"].to_numpy()[:: max(1, len(run) // 200)]
        fluid = solve_fluid(variant.market, variant.simulation.horizon, times=times, regime=REGIMES[name],
                            settings=variant.regime)
        runs.append(run.assign(regime=name))
        fluids.append(fluid.assign(regime=name))
        rows.append(_summarise(name, run, fluid, variant))
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


def write_dynamic_comparison(comparison: DynamicComparison, out: Path) -> list[Path]:
    """Write ``regimes.csv``, ``regimes_over_time.parquet``, ``regimes_fluid.parquet``,
    ``summary.json`` and ``regimes.png`` into ``out``."""
    from analysis.plots import plot_regimes

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "regimes.csv", out / "regimes_over_time.parquet", out / "regimes_fluid.parquet",
             out / "summary.json", out / "regimes.png"]
    comparison.summary.to_csv(paths[0])
    comparison.over_time.to_parquet(paths[1], index=False)
    comparison.fluid.to_parquet(paths[2], index=False)
    write_json(paths[3], {"job": "compare", "scenario": comparison.scenario.to_dict(),
                          "seed": comparison.scenario.simulation.seed,
                          "table": comparison.summary.reset_index().to_dict(orient="records")})
    plot_regimes(comparison.over_time, comparison.summary).savefig(paths[4], dpi=120)
    return paths


NAME = "compare"
HELP = "run one population under every market regime"


def add_arguments(parser) -> None:
    """Arguments of ``abm compare``."""
    from abm.jobs.run import scenario_arguments

    scenario_arguments(parser, "results/compare_<scenario name>")
    parser.add_argument("--static", action="store_true",
                        help="compare the regimes in the static market instead (default market or --beta)")
    parser.add_argument("--beta", type=float, nargs="+", help="static market loadings (with --static)")


def run(args) -> int:
    """Compare the regimes, print the table, write the results."""
    from abm.scenario import default_scenario, load_scenario

    scenario = load_scenario(args.scenario) if args.scenario else default_scenario()
    if args.static:
        from abm.jobs.static import DEFAULT_BETA

        market = InformationMarket(np.array(args.beta if args.beta else DEFAULT_BETA))
        table = compare_static(market, scenario.regime)
        print(format_static_comparison(table))
        paths = write_static_comparison(table, market, scenario.regime, args.out or Path("results") / "compare_static")
    else:
        if args.agents is not None:
            scenario = scenario.with_simulation(agents=args.agents)
        comparison = compare_dynamic(scenario, seed=args.seed, progress=not args.no_progress)
        print(format_dynamic_comparison(comparison))
        paths = write_dynamic_comparison(comparison, args.out or Path("results") / f"compare_{scenario.name}")
    print("\nwrote " + ", ".join(str(p) for p in paths))
    return 0
