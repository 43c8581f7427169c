"""The ``abm run`` job: a scenario's agents and its fluid limit, side by side.

The run itself is :func:`abm.simulation.run.replicate` (one or more replications of
:func:`abm.simulation.run.simulate`); this module parses the command line, prints the
summary and writes ``agents.parquet``, ``agents_long.parquet``, ``fluid.parquet``,
``distances.csv``, ``summary.json`` and ``dynamics.png``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from abm.simulation.run import Replications, replicate
from abm.storage import claim_output_dir, write_json, write_parquet
from abm.theory.fluid import ROUND_CHANGE_TARGET, SupplyAssumptionWarning

__all__ = ["NAME", "HELP", "add_arguments", "run", "write_run", "format_run", "scenario_arguments",
           "scenario_from_arguments"]

NAME = "run"
HELP = "run a scenario's agent-based market and its fluid limit (same regime, same round times)"


def write_run(runs: Replications, out: Path) -> list[Path]:
    """Write a run's files into ``out``.

    ``agents.parquet`` stacks every replication's trajectory (``replication`` and ``seed``
    columns first), ``agents_long.parquet`` holds the same in long format (``seed,
    replication, time, variable, value``), ``fluid.parquet`` the fluid limit; all three
    carry the scenario, seeds, fluid stride and versions in their metadata.
    ``distances.csv`` gives each agents-vs-fluid distance, absolute and relative, with its
    95% confidence interval across replications.
    """
    from analysis.plots import plot_dynamics

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in ("agents.parquet", "agents_long.parquet", "fluid.parquet", "distances.csv",
                                     "summary.json", "dynamics.png")]
    first = runs.results[0]
    metadata = {"job": NAME, "scenario": runs.scenario.to_dict(), "seed": runs.scenario.simulation.seed,
                "replication_seeds": runs.seeds, "fluid_stride": first.fluid_stride}
    agents = runs.agents()
    write_parquet(agents, paths[0], metadata)
    write_parquet(runs.long(), paths[1], metadata)
    write_parquet(runs.fluid, paths[2], metadata)
    distances = runs.distances()
    distances.to_csv(paths[3], index=False)
    write_json(paths[4], {
        "job": NAME,
        "scenario_name": runs.scenario.name,
        "seed": runs.scenario.simulation.seed,
        "replications": len(runs.results),
        "replication_seeds": runs.seeds,
        "scenario": runs.scenario.to_dict(),
        "fluid_stride": first.fluid_stride,
        "fluid_times": f"the fluid limit is reported at every {first.fluid_stride}-th round time and the last",
        "summary": runs.summaries().drop(columns=["replication"]).to_dict(orient="records"),
        "distances": distances.to_dict(orient="records"),
        "seconds": sum(result.seconds for result in runs.results),
        "warnings": sorted({message for result in runs.results for message in result.warnings}),
    })
    plot_dynamics(agents, runs.fluid, runs.scenario).savefig(paths[5], dpi=120)
    return paths


def format_run(runs: Replications) -> str:
    """Terminal summary of a run (means over replications)."""
    agents = runs.agents()
    last_agents = agents[agents["time"] == agents["time"].max()].mean(numeric_only=True)
    last_fluid = runs.fluid.iloc[-1]
    simulation, count = runs.scenario.simulation, len(runs.results)
    lines = [
        f"scenario {runs.scenario.name!r}: {simulation.agents} agents per type, {len(runs.results[0].agents)} rounds of "
        f"dt={simulation.dt}, regime={simulation.regime}, firm={simulation.firm}, seed={simulation.seed}"
        + (f", {count} replications" if count > 1 else ""),
        "",
        f"{'at the end':<28}{'agents' + (' (mean)' if count > 1 else ''):>14}{'fluid limit':>14}",
    ]
    for column in ("price", "precision", "stock_innovators", "stock_rank_and_file", "active_innovators",
                   "active_rank_and_file", "price_cap", "price_trap", "precision_barrier"):
        lines.append(f"{column:<28}{last_agents[column]:>14.5g}{last_fluid.get(column, float('nan')):>14.5g}")
    lines += ["", "sup over the shared round times of |agents - fluid limit|"
              + (" (mean and 95% CI over replications)" if count > 1 else "") + ":"]
    for row in runs.distances().itertuples():
        interval = f"  [{row.absolute_low:.3g}, {row.absolute_high:.3g}]" if count > 1 else ""
        lines.append(f"  {row.column:<26}{row.absolute:.4g}{interval}   relative {row.relative:.3g}")
    lines += [f"warning: {message}" for message in sorted({m for r in runs.results for m in r.warnings})]
    change = runs.summaries()["round_change_max"].max()
    if change > ROUND_CHANGE_TARGET:
        suggested = runs.summaries()["dt_suggested"].min()
        lines.append(f"warning: a round moved a data stock or a marginal value by {change:.3g} of itself (tolerated "
                     f"{ROUND_CHANGE_TARGET:g}): rounds this long depart from the fluid ODE; dt <= {suggested:.3g} "
                     "would not (summary.json: round_change_max, dt_suggested)")
    return "\n".join(lines)


def scenario_arguments(parser, out_default: str) -> None:
    """The arguments every scenario job shares."""
    parser.add_argument("scenario", nargs="?", default=None,
                        help="scenario TOML file or the name of a shipped scenario "
                             "(default: the embedded curse-of-precision scenario)")
    parser.add_argument("--out", type=Path, default=None, help=f"output directory (default {out_default})")
    parser.add_argument("--seed", type=int, default=None, help="seed of the agents' draws (default: the scenario's)")
    parser.add_argument("--agents", type=int, default=None, help="creator agents per type (default: the scenario's)")
    parser.add_argument("--force", action="store_true",
                        help="replace results of another run already in --out")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def scenario_from_arguments(args):
    """The scenario named on the command line, with ``--agents`` and ``--seed`` applied."""
    from abm.scenario import resolve_scenario

    scenario = resolve_scenario(args.scenario)
    if args.seed is not None:
        if args.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {args.seed}")
        scenario = scenario.with_simulation(seed=args.seed)
    if args.agents is not None:
        scenario = scenario.with_simulation(agents=args.agents)
    return scenario


def add_arguments(parser) -> None:
    """Arguments of ``abm run``."""
    scenario_arguments(parser, "results/<scenario name>")
    parser.add_argument("--stepping", choices=("array", "agents"), default="array",
                        help="creators respond as arrays or agent by agent (identical results)")
    parser.add_argument("--replications", type=int, default=1,
                        help="independent replications; their seeds are children of SeedSequence(seed)")


def run(args) -> int:
    """Run the scenario, print the summary, write the results."""
    scenario = scenario_from_arguments(args)
    out = claim_output_dir(args.out or Path("results") / _safe_name(scenario.name), NAME,
                           {"scenario_name": scenario.name, "seed": scenario.simulation.seed}, args.force)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SupplyAssumptionWarning)  # format_run prints them
        runs = replicate(scenario, args.replications, progress=not args.no_progress, stepping=args.stepping)
    print(format_run(runs))
    paths = write_run(runs, out)
    print("\nwrote " + ", ".join(str(p) for p in paths))
    return 0


def _safe_name(name: str) -> str:
    """A scenario name usable as one folder name under ``results/`` (no separators, no ``..``)."""
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name).strip(".")
    return cleaned or "scenario"
