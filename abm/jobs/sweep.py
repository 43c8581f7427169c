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
    parser.add_argument("--retry-failed", action="store_true",
                        help="with --resume: run the failed runs (status error, e.g. a worker died) again")
    parser.add_argument("--allow-version-change", action="store_true",
                        help="with --resume: continue although the package versions changed (sweep.json records "
                             "every version the sweep ran under)")
    parser.add_argument("--workers", type=int, default=_Default(2), help="local worker processes")
    parser.add_argument("--scheduler", default=None, help="address tcp://HOST:PORT of a dask.distributed scheduler")
    parser.add_argument("--scheduler-timeout", type=float, default=_Default(10),
                        help="seconds to wait for the --scheduler to answer")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


class _Default(int):
    """A default value that remembers it was not given (so a given one can be refused)."""


def _given(value) -> bool:
    return not isinstance(value, _Default)


def _check(args) -> None:
    """Options the chosen mode would ignore are refused, not silently dropped."""
    if args.scheduler is not None and _given(args.workers):
        raise ValueError("--workers sets the local process pool: not used with --scheduler (the cluster has its own)")
    if args.scheduler is None and _given(args.scheduler_timeout):
        raise ValueError("--scheduler-timeout is used only with --scheduler")
    if not args.scheduler_timeout > 0:
        raise ValueError(f"--scheduler-timeout must be > 0 seconds, got {args.scheduler_timeout}")
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if args.retry_failed and not args.resume:
        raise ValueError("--retry-failed is used only with --resume (a new sweep has no failed runs)")
    if args.allow_version_change and not args.resume:
        raise ValueError("--allow-version-change is used only with --resume (a new sweep mixes no versions)")


def run(args) -> int:
    """Run the sweep; an interruption keeps every finished run and says how to resume."""
    from abm.simulation.sweep import SweepAborted, load_sweep, run_sweep
    from abm.storage import output_dir

    _check(args)
    out = output_dir(args.out if args.out is not None else Path("results") / f"sweep_{args.spec.stem}")
    spec = load_sweep(args.spec)
    try:
        results = run_sweep(spec, out, resume=args.resume, workers=int(args.workers), scheduler=args.scheduler,
                            progress=not args.no_progress, retry_failed=args.retry_failed,
                            allow_version_change=args.allow_version_change,
                            scheduler_timeout=float(args.scheduler_timeout))
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished runs are saved in {out}; continue with --resume", file=sys.stderr)
        return 130
    except SweepAborted as error:
        print(f"abm sweep: {error}", file=sys.stderr)
        return 1
    failed = results[results["status"] != "ok"]
    print(f"{len(results)} runs in {out}/results.parquet: {len(results) - len(failed)} ok, {len(failed)} failed")
    for _, row in failed.head(5).iterrows():
        print(f"  run {row['run_id']} (seed {row['seed']}): {row['error'].splitlines()[0]}")
    if len(failed):
        print(f"retry the failed runs with: abm sweep {args.spec} --out {out} --resume --retry-failed")
    _sweep_figures(spec, results, out)
    return 0


def _sweep_figures(spec, results, out: Path) -> None:
    from analysis.plots import plot_sweep

    if spec.design == "sobol":
        from analysis.sensitivity import sobol_indices

        try:
            indices = sobol_indices(spec, results)
        except ValueError as error:  # failed points: the dataset is kept, the indices wait for a retry
            print(f"no Sobol indices: {error}")
            return
        indices.to_csv(out / "sobol.csv", index=False)
        print("Sobol indices (first order S1, total ST):")
        print(indices.to_string(index=False, float_format="{:.3f}".format))
    elif len(spec.parameters) == 1 and not spec.parameters[0].values:
        plot_sweep(results, spec.parameters[0].path, spec.outputs).savefig(out / "sweep.png", dpi=120)
        print(f"wrote {out / 'sweep.png'}")
