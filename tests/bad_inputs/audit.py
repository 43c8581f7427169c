"""Classify every case of the bad-input corpus against the checkout on ``sys.path``.

    python3 -m tests.bad_inputs.audit [--jobs 2] [--timeout 60] [--json audit.json]

Cases run in batches in fresh processes (a case the code wrongly accepts may run a whole job:
one still running after ``--timeout`` seconds is stopped and counted as accepted; a case that
kills its process is a traceback). Prints the
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


class CaseTimeout(BaseException):
    """Raised by SIGALRM in a case that runs past the timeout (it was accepted and is working)."""


def _alarm(signum, frame):
    raise CaseTimeout


def _batch(labels: str, timeout: float) -> None:
    """Run several cases in this process, one outcome line each, each stopped after ``timeout`` s."""
    import signal
    import warnings

    warnings.simplefilter("ignore")
    for label in labels.split(","):
        kind, mode, case_id = label.split(":", 2)
        case = next(c for c in load_cases((kind,)) if c.id == case_id)
        signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(int(timeout))
        with tempfile.TemporaryDirectory() as tmp:
            try:
                outcome = run_case(case, mode, Path(tmp))
                result = {"kind": outcome.kind, "message": outcome.message[-3000:], "seconds": outcome.seconds}
            except CaseTimeout:
                result = {"kind": "accepted", "message": f"still running after {timeout} s", "seconds": timeout}
            finally:
                signal.alarm(0)
        if "CaseTimeout" in result["message"]:
            result = {"kind": "accepted", "message": f"still running after {timeout} s", "seconds": timeout}
        print("\n@@OUTCOME@@" + json.dumps({"label": label, **result}), flush=True)


def _spawn(labels: list, timeout: float) -> dict:
    """Outcomes of a batch of cases run in one fresh process; if the process dies, the cases it
    did not report are run again one by one (the one that killed it is a traceback)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            done = subprocess.run([sys.executable, "-m", "tests.bad_inputs.audit", "--batch", ",".join(labels),
                                   "--timeout", str(timeout)], capture_output=True, text=True,
                                  timeout=timeout * len(labels) + 120, cwd=tmp)
            stdout, stderr, code = done.stdout, done.stderr, done.returncode
        except subprocess.TimeoutExpired as expired:
            stdout, stderr, code = expired.stdout or "", "", "timeout"
    if isinstance(stdout, bytes):
        stdout = stdout.decode(errors="replace")
    outcomes = {}
    for chunk in stdout.split("@@OUTCOME@@")[1:]:
        record = json.loads(chunk.strip().splitlines()[0])
        outcomes[record.pop("label")] = record
    missing = [label for label in labels if label not in outcomes]
    if missing and len(labels) == 1:
        outcomes[missing[0]] = {"kind": "traceback", "message": f"process died ({code}): {stderr[-2000:]}",
                                "seconds": 0.0}
    elif missing:
        for label in missing:
            outcomes.update(_spawn([label], timeout))
    return outcomes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--json", type=Path, default=None, help="write every outcome here")
    parser.add_argument("--only", default="", help="only cases whose label contains this")
    parser.add_argument("--batch", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.batch:
        _batch(args.batch, args.timeout)
        return 0
    labels = [f"{case.kind}:{mode}:{case.id}" for case in load_cases() for mode in MODES[case.kind]]
    labels = [label for label in labels if args.only in label]
    new = {f"{case.kind}:{case.id}" for case in load_cases() if case.data.get("new")}
    xfail = {f"{case.kind}:{case.id}" for case in load_cases() if case.data.get("xfail")}
    batches = [labels[i:i + 25] for i in range(0, len(labels), 25)]
    outcomes = {}
    with ThreadPoolExecutor(args.jobs) as pool:
        for result in pool.map(lambda batch: _spawn(batch, args.timeout), batches):
            outcomes.update(result)
    outcomes = {label: outcomes[label] for label in labels}
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
