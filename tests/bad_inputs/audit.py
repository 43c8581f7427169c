"""Classify every case of the bad-input corpus against the checkout on ``sys.path``.

    python3 -m tests.bad_inputs.audit [--jobs 2] [--timeout 60] [--json audit.json]

Each case runs in its own process (a case the code wrongly accepts may run a whole job, and
one that hangs is stopped after ``--timeout`` seconds and counted as accepted). Prints the
count of each outcome (clear, unclear, traceback, accepted) and every case that is not clear.
Run it against an older checkout by putting that checkout first on ``PYTHONPATH`` with this
folder copied into its ``tests/``.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.bad_inputs.corpus import MODES, load_cases, run_case


def _one(label: str, tmp: str) -> None:
    kind, mode, case_id = label.split(":", 2)
    case = next(c for c in load_cases((kind,)) if c.id == case_id)
    import warnings

    warnings.simplefilter("ignore")
    outcome = run_case(case, mode, Path(tmp))
    print("\n@@OUTCOME@@" + json.dumps({"kind": outcome.kind, "message": outcome.message[-3000:],
                                        "seconds": outcome.seconds}))


def _spawn(label: str, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            done = subprocess.run([sys.executable, "-m", "tests.bad_inputs.audit", "--one", label, "--tmp", tmp],
                                  capture_output=True, text=True, timeout=timeout, cwd=tmp)
        except subprocess.TimeoutExpired:
            return {"kind": "accepted", "message": f"still running after {timeout} s (timed out)", "seconds": timeout}
    marker = done.stdout.rfind("@@OUTCOME@@")
    if marker < 0:
        return {"kind": "traceback", "message": f"process died (exit {done.returncode}): {done.stderr[-2000:]}",
                "seconds": 0.0}
    return json.loads(done.stdout[marker + len("@@OUTCOME@@"):])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--json", type=Path, default=None, help="write every outcome here")
    parser.add_argument("--only", default="", help="only cases whose label contains this")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        _one(args.one, args.tmp)
        return 0
    labels = [f"{case.kind}:{mode}:{case.id}" for case in load_cases() for mode in MODES[case.kind]]
    labels = [label for label in labels if args.only in label]
    new = {f"{case.kind}:{case.id}" for case in load_cases() if case.data.get("new")}
    xfail = {f"{case.kind}:{case.id}" for case in load_cases() if case.data.get("xfail")}
    with ThreadPoolExecutor(args.jobs) as pool:
        outcomes = dict(zip(labels, pool.map(lambda label: _spawn(label, args.timeout), labels)))
    counts = collections.Counter(o["kind"] for o in outcomes.values())
    cases = {label.split(":")[0] + ":" + label.split(":", 2)[2] for label in labels}
    order = ["accepted", "traceback", "unclear", "clear"]
    by_case = collections.defaultdict(list)
    for label, outcome in outcomes.items():
        kind, _, case_id = label.split(":", 2)
        by_case[f"{kind}:{case_id}"].append(outcome["kind"])
    groups = {"existing inputs": collections.Counter(), "options added by the fix (new = true)": collections.Counter(),
              "of which xfail (owned by others)": collections.Counter()}
    for name, kinds in by_case.items():
        groups["options added by the fix (new = true)" if name in new else "existing inputs"][
            min(kinds, key=order.index)] += 1
        if name in xfail:
            groups["of which xfail (owned by others)"][min(kinds, key=order.index)] += 1
    print(f"{len(cases)} cases, {len(labels)} runs (command line and library)")
    print("runs:  " + ", ".join(f"{k} {counts.get(k, 0)}" for k in order))
    for group, tally in groups.items():
        print(f"cases, {group} (worst of their runs): " + ", ".join(f"{k} {tally.get(k, 0)}" for k in order))
    for label, outcome in outcomes.items():
        if outcome["kind"] != "clear":
            message = " ".join(outcome["message"].strip().splitlines()[-1:])[:220]
            print(f"  {outcome['kind']:<9} {label}: {message}")
    if args.json:
        args.json.write_text(json.dumps(outcomes, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
