"""The ``abm compare`` job: one population under every market regime, side by side.

The comparison itself is :mod:`analysis.comparison`; this module parses the command line,
prints and writes the tables and figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from abm.regimes import RegimeSettings
from abm.scenario import apply_overrides
from abm.storage import claim_output_dir, write_json, write_parquet
from abm.theory.static import InformationMarket

__all__ = ["NAME", "HELP", "add_arguments", "run", "write_static_comparison", "write_dynamic_comparison",
           "write_behaviour_comparison", "parse_overrides"]

NAME = "compare"
HELP = "run one population under every market regime (agents and each regime's fluid limit)"


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


def write_dynamic_comparison(comparison: DynamicComparison, out: Path) -> list[Path]:
    """Write ``regimes.csv``, ``regimes_over_time.parquet``, ``regimes_fluid.parquet``,
    ``summary.json``, ``regimes.png``, and the market structures' answer ``structures.csv`` and
    ``structures.png`` (:func:`analysis.comparison.structure_table`) into ``out``."""
    from analysis.comparison import structure_table
    from analysis.plots import plot_regimes, plot_structures

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "regimes.csv", out / "regimes_over_time.parquet", out / "regimes_fluid.parquet",
             out / "summary.json", out / "regimes.png", out / "structures.csv", out / "structures.png"]
    comparison.summary.to_csv(paths[0])
    metadata = {"job": NAME, "scenario": comparison.scenario.to_dict(), "seed": comparison.scenario.simulation.seed}
    write_parquet(comparison.over_time, paths[1], metadata)
    write_parquet(comparison.fluid, paths[2], metadata)
    write_json(paths[3], {"job": NAME, "scenario_name": comparison.scenario.name,
                          "scenario": comparison.scenario.to_dict(), "seed": comparison.scenario.simulation.seed,
                          "table": comparison.summary.reset_index().to_dict(orient="records")})
    plot_regimes(comparison.over_time, comparison.summary).savefig(paths[4], dpi=120)
    structures = structure_table(comparison)
    structures.to_csv(paths[5], index=False)
    plot_structures(structures).savefig(paths[6], dpi=120)
    return paths


def write_behaviour_comparison(table: pd.DataFrame, scenario, out: Path) -> list[Path]:
    """Write ``behaviours.csv``, ``summary.json`` and ``behaviours.png`` (behaviour x regime at the horizon)."""
    from analysis.comparison import plot_behaviour_regimes

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "behaviours.csv", out / "summary.json", out / "behaviours.png"]
    table.to_csv(paths[0], index=False)
    write_json(paths[1], {"job": f"{NAME} --behaviours", "scenario_name": scenario.name,
                          "scenario": scenario.to_dict(), "seed": scenario.simulation.seed,
                          "table": table.to_dict(orient="records")})
    plot_behaviour_regimes(table).savefig(paths[2], dpi=120)
    return paths


def parse_overrides(pairs) -> dict:
    """``["key=value", ...]`` as keyword overrides (values read as TOML: numbers, strings, tables)."""
    import tomllib

    overrides = {}
    for pair in pairs:
        key, separator, text = pair.partition("=")
        if not separator or not key.strip():
            raise ValueError(f"--set takes KEY=VALUE, got {pair!r}")
        try:
            value = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()  # a bare word: a string (e.g. a rule's name)
        overrides[key.strip()] = value
    return overrides


def add_arguments(parser) -> None:
    """Arguments of ``abm compare``."""
    from abm.jobs.run import scenario_arguments

    scenario_arguments(parser, "results/compare_<scenario name>")
    parser.add_argument("--static", action="store_true",
                        help="compare the regimes in the static market instead (default market or --beta)")
    parser.add_argument("--beta", type=float, nargs="+", help="static market loadings (with --static)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a scenario field by keyword before comparing, repeatable; e.g. "
                             "--set rank_and_file.behaviour.rule=logit --set rank_and_file.behaviour.temperature=0.01 "
                             "runs every regime with that behaviour (keys: abm.scenario.keyword_paths)")
    parser.add_argument("--behaviours", action="store_true",
                        help="run every creator behaviour (as its shipped scenario applies it: the same types, "
                             "the same parameters) under every regime: behaviours.csv and behaviours.png")


def run(args) -> int:
    """Compare the regimes, print the table, write the results."""
    from abm.jobs.run import _safe_name, scenario_from_arguments
    from analysis.comparison import compare_dynamic, compare_static, format_dynamic_comparison, format_static_comparison

    if not args.static and args.beta:
        raise ValueError("--beta sets the static market's loadings: use it with --static")
    if args.static and (args.seed is not None or args.agents is not None):
        raise ValueError("--seed and --agents set the dynamic market's agents: not used with --static")
    overrides = parse_overrides(args.overrides)
    scenario = apply_overrides(scenario_from_arguments(args), overrides)
    claim = {"scenario_name": scenario.name, "seed": scenario.simulation.seed,
             **({"overrides": overrides} if overrides else {})}
    if args.behaviours and args.static:
        raise ValueError("--behaviours compares creator behaviours in the dynamic market: not used with --static")
    if args.behaviours:
        from analysis.comparison import compare_behaviours, format_behaviour_comparison

        out = claim_output_dir(args.out or Path("results") / f"behaviours_{_safe_name(scenario.name)}",
                               f"{NAME} --behaviours", claim, args.force)
        table = compare_behaviours(scenario, progress=not args.no_progress)
        print(format_behaviour_comparison(table, scenario))
        paths = write_behaviour_comparison(table, scenario, out)
    elif args.static:
        from abm.theory.static import DEFAULT_BETA

        out = claim_output_dir(args.out or Path("results") / "compare_static", "compare --static", {}, args.force)
        market = InformationMarket(np.array(args.beta if args.beta else DEFAULT_BETA))
        table = compare_static(market, scenario.regime)
        print(format_static_comparison(table))
        paths = write_static_comparison(table, market, scenario.regime, out)
    else:
        out = claim_output_dir(args.out or Path("results") / f"compare_{_safe_name(scenario.name)}", NAME, claim,
                               args.force)
        from analysis.comparison import format_structure_table, structure_table

        comparison = compare_dynamic(scenario, progress=not args.no_progress)
        print(format_dynamic_comparison(comparison))
        print("\n" + format_structure_table(structure_table(comparison)))
        paths = write_dynamic_comparison(comparison, out)
    print("\nwrote " + ", ".join(str(p) for p in paths))
    return 0
