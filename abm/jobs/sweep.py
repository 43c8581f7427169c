"""The ``abm sweep`` job: run a declared sweep and write its dataset and figures."""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["NAME", "HELP", "add_arguments", "run"]

NAME = "sweep"
HELP = "run a parameter sweep (local processes or a Dask cluster)"


def add_arguments(parser) -> None:
    """Arguments of ``abm sweep``."""
    parser.add_argument("spec", type=Path, help="sweep specification TOML (see docs/sweeps.md)")
    parser.add_argument("--out", type=Path, default=None, help="dataset directory (default results/sweep_<spec name>)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted sweep in --out")
    parser.add_argument("--workers", type=int, default=2, help="local worker processes")
    parser.add_argument("--scheduler", default=None, help="address tcp://HOST:PORT of a dask.distributed scheduler")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args) -> int:
    """Run the sweep; an interruption keeps every finished run and says how to resume."""
    from abm.simulation.sweep import load_sweep, run_sweep

    spec = load_sweep(args.spec)
    out = args.out or Path("results") / f"sweep_{args.spec.stem}"
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
