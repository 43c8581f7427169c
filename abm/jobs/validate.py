"""The ``abm validate`` job: every emergent-vs-analytic check, written as one report."""

from __future__ import annotations

from pathlib import Path

__all__ = ["NAME", "HELP", "add_arguments", "run"]

NAME = "validate"
HELP = "run every emergent-vs-analytic check, measure the departures, write a report (exit 1 if a test fails)"


def add_arguments(parser) -> None:
    """Arguments of ``abm validate``."""
    parser.add_argument("--out", type=Path, default=Path("results/validation"), help="output directory")
    parser.add_argument("--quick", action="store_true", help="fewer populations and replications (a few minutes)")
    parser.add_argument("--seed", type=int, default=2026, help="seed of every random draw of the checks")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args) -> int:
    """Run the checks, print one line each, write the report."""
    from analysis.validation import IDENTITY, run_checks, run_departures, write_report
    from abm.storage import output_dir

    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    args.out = output_dir(args.out)
    checks = run_checks(args.out, quick=args.quick, seed=args.seed, progress=not args.no_progress)
    for check in checks:
        if check.details.get("skipped"):
            result = "skipped"
        elif check.kind == IDENTITY:
            result = "identity" if check.passed else "BROKEN"
        else:
            result = "pass" if check.passed else "FAIL"
        print(f"{result:>8}  [{check.kind}] {check.name}: {check.observed} (distance {check.distance:.3g}, "
              f"tolerance {check.tolerance:.3g})")
    departures = run_departures(args.out, quick=args.quick, seed=args.seed, progress=not args.no_progress)
    print("\ndepartures of the agents from the theory (relative, mean [95% CI]):")
    for d in departures:
        print(f"  {d.name}: {d.quantity}: {d.relative:+.3f} [{d.low:+.3f}, {d.high:+.3f}] over "
              f"{d.replications} runs; {d.direction}{f' ({d.note})' if d.note else ''}")
    print(f"\nwrote {write_report(checks, args.out, args.seed, args.quick, departures)}")
    tests = [c for c in checks if c.counted]
    failed = [c for c in tests if not c.passed]
    print(f"{len(tests) - len(failed)} of {len(tests)} tests pass "
          f"({sum(c.kind == IDENTITY for c in checks)} identities shown, not counted)")
    return 1 if failed else 0
