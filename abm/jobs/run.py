"""The ``abm run`` job: a scenario's agents and its fluid limit, side by side.

The run itself is :func:`abm.simulation.run.simulate`; this module parses the command line,
prints the summary and writes ``agents.parquet``, ``fluid.parquet``, ``summary.json`` and
``dynamics.png``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from abm.simulation.run import RunResult, simulate, summarise
from abm.storage import claim_output_dir, write_json, write_parquet
from abm.theory.fluid import SupplyAssumptionWarning

__all__ = ["NAME", "HELP", "add_arguments", "run", "write_run", "format_run", "scenario_arguments",
           "scenario_from_arguments"]

NAME = "run"
HELP = "run a scenario's agent-based market and its fluid limit (same regime, same round times)"


def write_run(result: RunResult, out: Path) -> list[Path]:
    """Write ``agents.parquet``, ``fluid.parquet``, ``summary.json`` and ``dynamics.png`` into ``out``.

    Both Parquet files carry the scenario, seed, fluid stride and versions in their metadata.
    """
    from analysis.plots import plot_dynamics

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "agents.parquet", out / "fluid.parquet", out / "summary.json", out / "dynamics.png"]
    metadata = {"job": NAME, "scenario": result.scenario.to_dict(), "seed": result.seed,
                "fluid_stride": result.fluid_stride}
    write_parquet(result.agents, paths[0], metadata)
    write_parquet(result.fluid, paths[1], metadata)
    write_json(paths[2], {
        "job": NAME,
        "scenario_name": result.scenario.name,
        "seed": result.seed,
        "scenario": result.scenario.to_dict(),
        "fluid_stride": result.fluid_stride,
        "fluid_times": f"the fluid limit is reported at every {result.fluid_stride}-th round time and the last",
        "summary": summarise(result),
        "seconds": result.seconds,
        "warnings": list(result.warnings),
    })
    plot_dynamics(result.agents, result.fluid, result.scenario).savefig(paths[3], dpi=120)
    return paths


def format_run(result: RunResult) -> str:
    """Terminal summary of a run."""
    last_agents, last_fluid = result.agents.iloc[-1], result.fluid.iloc[-1]
    simulation = result.scenario.simulation
    lines = [
        f"scenario {result.scenario.name!r}: {simulation.agents} agents per type, {len(result.agents)} rounds of "
        f"dt={simulation.dt}, regime={simulation.regime}, firm={simulation.firm}, seed={result.seed}",
        "",
        f"{'at the end':<28}{'agents':>12}{'fluid limit':>14}",
    ]
    for column in ("price", "precision", "stock_innovators", "stock_rank_and_file", "active_innovators",
                   "active_rank_and_file", "price_cap", "price_trap", "precision_barrier"):
        lines.append(f"{column:<28}{last_agents[column]:>12.5g}{last_fluid[column]:>14.5g}")
    summary = summarise(result)
    lines += ["", "sup over the shared round times of |agents - fluid limit|:"]
    lines += [f"  {name.removeprefix('sup_distance_'):<26}{value:.4g}" for name, value in summary.items()
              if name.startswith("sup_distance_")]
    lines += [f"warning: {message}" for message in result.warnings]
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


def run(args) -> int:
    """Run the scenario, print the summary, write the results."""
    scenario = scenario_from_arguments(args)
    out = claim_output_dir(args.out or Path("results") / _safe_name(scenario.name), NAME,
                           {"scenario_name": scenario.name, "seed": scenario.simulation.seed}, args.force)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SupplyAssumptionWarning)  # format_run prints them
        result = simulate(scenario, progress=not args.no_progress, stepping=args.stepping)
    print(format_run(result))
    paths = write_run(result, out)
    print("\nwrote " + ", ".join(str(p) for p in paths))
    return 0


def _safe_name(name: str) -> str:
    """A scenario name usable as one folder name under ``results/`` (no separators, no ``..``)."""
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name).strip(".")
    return cleaned or "scenario"
