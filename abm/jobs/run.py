"""The ``abm run`` job: the agent-based market and its fluid limit, side by side.

:func:`run_scenario` is the one run function: it returns a :class:`RunResult` (both
trajectories as DataFrames plus the metadata and distances); :func:`write_run` writes it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from abm.storage import write_json
from abm.simulation.dynamic_market.model import DataMarketModel
from abm.scenario import Scenario
from abm.theory.fluid import SupplyAssumptionWarning, check_supply_ratio, solve_fluid

__all__ = ["RunResult", "run_scenario", "write_run", "sup_distances", "DISTANCE_COLUMNS"]

#: Columns compared between the agent-based model and the fluid limit.
DISTANCE_COLUMNS = ("price", "precision", "stock_innovators", "stock_rank_and_file",
                    "active_innovators", "active_rank_and_file")
#: At most this many fluid-limit rows are reported (every k-th round's time).
MAX_FLUID_POINTS = 501


@dataclass(frozen=True)
class RunResult:
    """One run of a scenario.

    Attributes
    ----------
    scenario : Scenario
    seed : int
    abm, fluid : DataFrame
        Trajectories with the same columns; ``fluid`` is reported on a subset of the
        agent-based model's round times.
    distances : dict
        ``sup_t |abm - fluid|`` per column of :data:`DISTANCE_COLUMNS`.
    warnings : tuple of str
        Assumption warnings raised during the run (e.g. Eq. 7 violated).
    """

    scenario: Scenario
    seed: int
    abm: pd.DataFrame = field(repr=False)
    fluid: pd.DataFrame = field(repr=False)
    distances: dict
    warnings: tuple = ()


def sup_distances(abm: pd.DataFrame, fluid: pd.DataFrame, columns=DISTANCE_COLUMNS) -> dict:
    """Largest absolute gap over the shared times, column by column.

    Rows are matched on ``time`` (rounded to 1e-9 against floating-point drift).
    """
    keyed = [frame.assign(_key=np.round(frame["time"].to_numpy(), 9)) for frame in (abm, fluid)]
    merged = keyed[0].merge(keyed[1], on="_key", suffixes=("_abm", "_fluid"))
    if merged.empty:
        raise ValueError("the two trajectories share no time points")
    return {c: float(np.max(np.abs(merged[f"{c}_abm"] - merged[f"{c}_fluid"]))) for c in columns}


def run_scenario(scenario: Scenario, seed: int | None = None, progress: bool = False,
                 stepping: str = "array") -> RunResult:
    """Run the agent-based model and solve the fluid limit for the same parameters.

    Parameters
    ----------
    scenario : Scenario
    seed : int, optional
        Overrides ``scenario.simulation.seed``.
    progress : bool
        Show a progress bar over the rounds.
    stepping : {"array", "agents"}
    """
    if seed is not None:
        scenario = scenario.with_simulation(seed=seed)
    simulation = scenario.simulation
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SupplyAssumptionWarning)
        abm = DataMarketModel(scenario, stepping=stepping).run(progress=progress)
        stride = max(1, int(np.ceil(len(abm) / MAX_FLUID_POINTS)))
        fluid = solve_fluid(scenario.market, simulation.horizon, times=abm["time"].to_numpy()[::stride])
        prices = pd.concat([abm["price"], fluid["price"]])
        positive = prices[prices > 0]
        if len(positive):
            check_supply_ratio(scenario.market, float(positive.min()), float(positive.max()))
    messages = tuple(str(w.message) for w in caught if issubclass(w.category, SupplyAssumptionWarning))
    for message in messages:
        warnings.warn(message, SupplyAssumptionWarning, stacklevel=2)
    return RunResult(scenario=scenario, seed=simulation.seed, abm=abm, fluid=fluid,
                     distances=sup_distances(abm, fluid), warnings=messages)


def write_run(result: RunResult, out: Path) -> list[Path]:
    """Write ``abm.parquet``, ``fluid.parquet``, ``summary.json`` and ``dynamics.png`` into ``out``."""
    from analysis.plots import plot_dynamics

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "abm.parquet", out / "fluid.parquet", out / "summary.json", out / "dynamics.png"]
    result.abm.to_parquet(paths[0], index=False)
    result.fluid.to_parquet(paths[1], index=False)
    final = {name: frame.iloc[-1].to_dict() for name, frame in (("abm", result.abm), ("fluid", result.fluid))}
    write_json(paths[2], {
        "job": "run",
        "scenario": result.scenario.to_dict(),
        "seed": result.seed,
        "rounds": len(result.abm),
        "sup_distance_abm_vs_fluid": result.distances,
        "final": final,
        "warnings": list(result.warnings),
    })
    fig = plot_dynamics(result.abm, result.fluid, result.scenario)
    fig.savefig(paths[3], dpi=120)
    return paths


def format_run(result: RunResult) -> str:
    """Terminal summary of a run."""
    last_abm, last_fluid = result.abm.iloc[-1], result.fluid.iloc[-1]
    lines = [
        f"scenario {result.scenario.name!r}: {result.scenario.simulation.agents} agents per type, "
        f"{len(result.abm)} rounds of dt={result.scenario.simulation.dt}, firm={result.scenario.simulation.firm}, "
        f"seed={result.seed}",
        "",
        f"{'at the end':<28}{'agents':>12}{'fluid limit':>14}",
    ]
    for column in ("price", "precision", "stock_innovators", "stock_rank_and_file", "active_innovators",
                   "active_rank_and_file", "price_cap", "price_trap", "precision_barrier"):
        lines.append(f"{column:<28}{last_abm[column]:>12.5g}{last_fluid[column]:>14.5g}")
    lines += ["", "sup over time of |agents - fluid limit|:"]
    lines += [f"  {column:<26}{value:.4g}" for column, value in result.distances.items()]
    lines += [f"warning: {message}" for message in result.warnings]
    return "\n".join(lines)


NAME = "run"
HELP = "run a scenario's agent-based market and its fluid limit"


def scenario_arguments(parser, out_default: str) -> None:
    """The arguments every scenario job shares."""
    parser.add_argument("scenario", nargs="?", type=Path,
                        help="scenario TOML file (default: the embedded curse-of-precision scenario)")
    parser.add_argument("--out", type=Path, default=None, help=f"output directory (default {out_default})")
    parser.add_argument("--seed", type=int, default=None, help="overrides the scenario's seed")
    parser.add_argument("--agents", type=int, default=None, help="creator agents per type (default: the scenario's)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def add_arguments(parser) -> None:
    """Arguments of ``abm run``."""
    scenario_arguments(parser, "results/<scenario name>")
    parser.add_argument("--stepping", choices=("array", "agents"), default="array",
                        help="creators respond as arrays or agent by agent (identical results)")


def run(args) -> int:
    """Run the scenario, print the summary, write the results."""
    from abm.scenario import default_scenario, load_scenario

    scenario = load_scenario(args.scenario) if args.scenario else default_scenario()
    if args.agents is not None:
        scenario = scenario.with_simulation(agents=args.agents)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SupplyAssumptionWarning)  # format_run prints them
        result = run_scenario(scenario, seed=args.seed, progress=not args.no_progress, stepping=args.stepping)
    print(format_run(result))
    paths = write_run(result, args.out or Path("results") / scenario.name)
    print("\nwrote " + ", ".join(str(p) for p in paths))
    return 0
