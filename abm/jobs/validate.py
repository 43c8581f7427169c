"""The ``abm validate`` job: every emergent-vs-analytic check, written as one report."""

from __future__ import annotations

from pathlib import Path

__all__ = ["NAME", "HELP", "add_arguments", "run"]

NAME = "validate"
HELP = "run every emergent-vs-analytic check and write a report (exit 1 if a check fails)"


def add_arguments(parser) -> None:
    """Arguments of ``abm validate``."""
    parser.add_argument("--out", type=Path, default=Path("results/validation"), help="output directory")
    parser.add_argument("--quick", action="store_true", help="fewer populations and replications (about 30 s)")
    parser.add_argument("--seed", type=int, default=2026, help="seed of every random draw of the checks")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args) -> int:
    """Run the checks, print one line each, write the report."""
    from analysis.validation import run_checks, write_report

    checks = run_checks(args.out, quick=args.quick, seed=args.seed, progress=not args.no_progress)
    for check in checks:
        result = "skipped" if check.details.get("skipped") else ("pass" if check.passed else "FAIL")
        print(f"{result:>7}  {check.name}: {check.observed} (distance {check.distance:.3g}, "
              f"tolerance {check.tolerance:.3g})")
    print(f"\nwrote {write_report(checks, args.out, args.seed, args.quick)}")
    failed = [c for c in checks if not c.passed and not c.details.get("skipped")]
    return 1 if failed else 0
