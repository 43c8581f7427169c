"""Command-line entry point ``abm``.

Sub-commands are registered in :data:`COMMANDS`; each adds its own arguments and runs a
job that writes its results, with parameters, seed and versions, into ``--out``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import warnings
from pathlib import Path


def _add_static(sub) -> None:
    parser = sub.add_parser("static", help="solve the static market (equilibrium, optimum, penalty)")
    parser.add_argument("--beta", type=float, nargs="+", help="loadings beta_i (default: embedded market)")
    parser.add_argument("--cost", type=float, default=1.0)
    parser.add_argument("--sigma2", type=float, default=1.0)
    parser.add_argument("--value", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=200,
                        help="rounds of the learning firm's tatonnement (0 to skip)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the learning firm's initial prices")
    parser.add_argument("--out", type=Path, default=Path("results/static"))
    parser.set_defaults(run=_run_static)


def _run_static(args) -> int:
    import numpy as np

    from abm.jobs.static import (
        DEFAULT_BETA,
        format_static_report,
        static_report,
        write_static_report,
    )
    from abm.theory.static import InformationMarket

    beta = np.array(args.beta if args.beta else DEFAULT_BETA)
    market = InformationMarket(beta, cost=args.cost, sigma2=args.sigma2, value=args.value)
    if args.rounds < 0:
        raise ValueError(f"--rounds must be >= 0, got {args.rounds}")
    report = static_report(market, rounds=args.rounds, seed=args.seed)
    print(format_static_report(report))
    paths = write_static_report(report, args.out)
    print("\nwrote " + ", ".join(str(p) for p in paths))
    return 0


def _scenario_arguments(parser, out_default: str) -> None:
    """The arguments every scenario job shares."""
    parser.add_argument("scenario", nargs="?", type=Path,
                        help="scenario TOML file (default: the embedded curse-of-precision scenario)")
    parser.add_argument("--out", type=Path, default=None, help=f"output directory (default {out_default})")
    parser.add_argument("--seed", type=int, default=None, help="overrides the scenario's seed")
    parser.add_argument("--agents", type=int, default=None, help="creator agents per type")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _add_run(sub) -> None:
    parser = sub.add_parser("run", help="run a scenario's agent-based market and its fluid limit")
    _scenario_arguments(parser, "results/<name>")
    parser.add_argument("--stepping", choices=("array", "agents"), default="array")
    parser.set_defaults(run=_run_run)


def _run_run(args) -> int:
    from abm.jobs.run import format_run, run_scenario, write_run
    from abm.scenario import default_scenario, load_scenario
    from abm.theory.fluid import SupplyAssumptionWarning

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


def _add_compare(sub) -> None:
    parser = sub.add_parser("compare", help="run one population under every market regime")
    _scenario_arguments(parser, "results/compare_<name>")
    parser.add_argument("--static", action="store_true",
                        help="compare the regimes in the static market instead (default market or --beta)")
    parser.add_argument("--beta", type=float, nargs="+", help="static market loadings (with --static)")
    parser.set_defaults(run=_run_compare)


def _run_compare(args) -> int:
    from abm.jobs import compare as compare_job
    from abm.scenario import default_scenario, load_scenario

    scenario = load_scenario(args.scenario) if args.scenario else default_scenario()
    if args.static:
        import numpy as np

        from abm.jobs.static import DEFAULT_BETA
        from abm.theory.static import InformationMarket

        market = InformationMarket(np.array(args.beta if args.beta else DEFAULT_BETA))
        table = compare_job.compare_static(market, scenario.regime)
        print(compare_job.format_static_comparison(table))
        paths = compare_job.write_static_comparison(table, market, scenario.regime,
                                                    args.out or Path("results") / "compare_static")
    else:
        if args.agents is not None:
            scenario = scenario.with_simulation(agents=args.agents)
        comparison = compare_job.compare_dynamic(scenario, seed=args.seed, progress=not args.no_progress)
        print(compare_job.format_dynamic_comparison(comparison))
        paths = compare_job.write_dynamic_comparison(comparison, args.out or Path("results") / f"compare_{scenario.name}")
    print("\nwrote " + ", ".join(str(p) for p in paths))
    return 0


def _add_sweep(sub) -> None:
    parser = sub.add_parser("sweep", help="run a parameter sweep (local processes or a Dask cluster)")
    parser.add_argument("spec", type=Path, help="sweep specification TOML (see docs/sweeps.md)")
    parser.add_argument("--out", type=Path, default=None, help="dataset directory (default results/sweep_<name>)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted sweep in --out")
    parser.add_argument("--workers", type=int, default=2, help="local worker processes (default 2)")
    parser.add_argument("--scheduler", default=None, help="address tcp://HOST:PORT of a dask.distributed scheduler")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(run=_run_sweep)


def _run_sweep(args) -> int:
    from abm.simulation.sweep import load_sweep, run_sweep

    spec = load_sweep(args.spec)
    out = args.out or Path("results") / f"sweep_{args.spec.stem}"
    signal.signal(signal.SIGTERM, _interrupt)  # a batch system's stop is an interruption too
    try:
        results = run_sweep(spec, out, resume=args.resume, workers=args.workers, scheduler=args.scheduler,
                            progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished runs are saved in {out}; continue with --resume", file=sys.stderr)
        return 130
    failed = results[results["status"] != "ok"]
    print(f"{len(results)} runs in {out}/results.parquet: {len(results) - len(failed)} ok, {len(failed)} failed")
    for _, row in failed.head(5).iterrows():
        print(f"  run {row['run_id']} (seed {row['seed']}): {row['error'].splitlines()[0]}")
    _sweep_figures(spec, results, out)
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _sweep_figures(spec, results, out: Path) -> None:
    from analysis.plots import plot_sweep

    if spec.design == "sobol":
        from analysis.sensitivity import sobol_indices

        indices = sobol_indices(spec, results)
        indices.to_csv(out / "sobol.csv", index=False)
        print("Sobol indices (first order S1, total ST):")
        print(indices.to_string(index=False, float_format="{:.3f}".format))
    elif len(spec.parameters) == 1 and not spec.parameters[0].values:
        plot_sweep(results, spec.parameters[0].path, spec.outputs).savefig(out / "sweep.png", dpi=120)
        print(f"wrote {out / 'sweep.png'}")


def _add_validate(sub) -> None:
    parser = sub.add_parser("validate", help="run every emergent-vs-analytic check and write a report")
    parser.add_argument("--out", type=Path, default=Path("results/validation"))
    parser.add_argument("--quick", action="store_true", help="fewer populations and replications (about 30 s)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.set_defaults(run=_run_validate)


def _run_validate(args) -> int:
    from analysis.validation import run_checks, write_report

    checks = run_checks(args.out, quick=args.quick, seed=args.seed)
    for check in checks:
        result = "skipped" if check.details.get("skipped") else ("pass" if check.passed else "FAIL")
        print(f"{result:>7}  {check.name}: {check.observed} (distance {check.distance:.3g}, "
              f"tolerance {check.tolerance:.3g})")
    print(f"\nwrote {write_report(checks, args.out, args.seed, args.quick)}")
    failed = [c for c in checks if not c.passed and not c.details.get("skipped")]
    return 1 if failed else 0


def _add_reproduce(sub) -> None:
    parser = sub.add_parser("reproduce", help="regenerate every figure and table the docs show")
    parser.add_argument("--out", type=Path, default=Path("docs/figures"))
    parser.add_argument("--quick", action="store_true", help="small populations and horizons (about a minute)")
    parser.add_argument("--only", nargs="+", help="some of: static run compare sweep procurement validate")
    parser.set_defaults(run=_run_reproduce)


def _run_reproduce(args) -> int:
    from abm.jobs.reproduce import reproduce

    for name, paths in reproduce(args.out, quick=args.quick, only=args.only).items():
        print(f"{name}: " + ", ".join(str(p) for p in paths))
    return 0


def _add_procurement(sub) -> None:
    parser = sub.add_parser("procurement", help="procurement across domains: Table 1, Table 2, overproduction")
    parser.add_argument("experiment", choices=("table1", "genai", "overproduction"))
    parser.add_argument("--draws", type=int, default=1000, help="cost draws (table1; genai uses 200 per market)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--market-seed", type=int, default=3, help="seed of the table1 market's hyperparameters")
    parser.add_argument("--out", type=Path, default=Path("results/procurement"))
    parser.set_defaults(run=_run_procurement)


def _run_procurement(args) -> int:
    import time

    import numpy as np
    import pandas as pd

    from abm.jobs import procurement as job
    from abm.storage import write_json

    args.out.mkdir(parents=True, exist_ok=True)
    if args.experiment == "table1":
        start = time.perf_counter()
        per_draw, table, market = job.table1(args.draws, args.seed, args.market_seed)
        print(f"Table 1 ({args.draws} cost draws, market seed {args.market_seed}, exact payment quadrature, "
              f"{time.perf_counter() - start:.1f} s):")
        print(table.to_string(float_format="{:.3f}".format))
        paths = job.write_table1(per_draw, table, market, args.out, args.seed, args.market_seed)
    elif args.experiment == "genai":
        table = job.genai_table(seed=args.seed)
        print("Table 2: M1 with and without GenAI (mu = 0), one market per row:")
        print(table.to_string(index=False, float_format="{:.2f}".format))
        means = table.mean()
        print(f"means: revenue {means.revenue_without_genai:.2f} -> {means.revenue_with_genai:.2f}, "
              f"welfare {means.welfare_without_genai:.2f} -> {means.welfare_with_genai:.2f}")
        paths = [args.out / "table2.csv", args.out / "table2.json"]
        table.to_csv(paths[0], index=False)
        write_json(paths[1], {"job": "procurement genai", "seed": args.seed,
                              "table": table.to_dict(orient="records")})
    else:
        from analysis.plots import plot_overproduction

        demands, allocation = job.overproduction_maps()
        x1 = allocation[:, -1, 0]
        print(f"overproduction (c = (0.5, 0.5), rho = 4, gamma = 0.5, mu_12 = 1): at d_2 = 20, x_1 = "
              f"{x1[0]:.4f} for d_1 = {demands[0]:.1f} and {x1[demands < 9].min():.4f}..{x1[demands < 9].max():.4f} "
              "for every d_1 below 9")
        paths = [args.out / "overproduction.png", args.out / "overproduction.csv"]
        plot_overproduction(demands, allocation).savefig(paths[0], dpi=120)
        grid = np.array([(a, b, *allocation[i, j]) for i, a in enumerate(demands) for j, b in enumerate(demands)])
        pd.DataFrame(grid, columns=["d1", "d2", "x1", "x2"]).to_csv(paths[1], index=False)
    print("\nwrote " + ", ".join(str(p) for p in paths))
    return 0


COMMANDS = [_add_run, _add_compare, _add_sweep, _add_validate, _add_reproduce, _add_procurement, _add_static]


def build_parser() -> argparse.ArgumentParser:
    """The ``abm`` argument parser with every registered sub-command."""
    parser = argparse.ArgumentParser(prog="abm", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``abm`` with ``argv``; a bad input exits with status 2 and a one-line message."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"abm {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
