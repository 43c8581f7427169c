"""Command-line entry point ``abm``: a registry of jobs, nothing else.

Every sub-command is a module of :mod:`abm.jobs` with ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``; :data:`COMMANDS` lists them in the
order ``abm --help`` shows them.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from abm.jobs import compare, dashboard, procurement, reproduce, run, static, sweep, validate

#: The sub-commands, in the order ``abm --help`` lists them.
COMMANDS = (run, compare, sweep, validate, reproduce, procurement, static, dashboard)


def build_parser() -> argparse.ArgumentParser:
    """The ``abm`` argument parser with every registered sub-command."""
    parser = argparse.ArgumentParser(prog="abm", description="Agent-based simulator of the market for AI training data.",
                                     allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", required=True)
    for job in COMMANDS:
        job_parser = sub.add_parser(job.NAME, help=job.HELP, description=job.HELP, allow_abbrev=False,
                                    formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        job.add_arguments(job_parser)
        for action in job_parser._actions:  # every job's --out is a directory: refuse '' and files up front
            if action.dest == "out" and action.type is Path:
                action.type = _output_directory
        job_parser.set_defaults(run=job.run)
    return parser


def _output_directory(text: str) -> Path:
    """``--out`` as a path; an empty string (which ``Path`` would turn into ``.``) or an existing
    file is refused by argparse with exit status 2."""
    from abm.storage import output_dir

    try:
        return output_dir(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run ``abm`` with ``argv``; a bad input exits with status 2 and a one-line message,
    SIGTERM and Ctrl-C exit with status 130 and say what was kept."""
    args = build_parser().parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")  # jobs draw into files, never onto a screen
    signal.signal(signal.SIGTERM, _interrupt)  # a batch system's stop is an interruption too
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"abm {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nabm {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
