"""The bad-input corpus (tests/bad_inputs/*.toml): every case is refused with a one-line error
naming the input and the rule, before any work, and never with a traceback.

Scenario and sweep cases run both through the command line (``abm.cli.main`` in this process:
exit 2, every expected fragment on stderr, no traceback) and through the library
(``ValueError``/``FileNotFoundError``/``FileExistsError`` with every fragment). Command-line
cases run through the command line only, library cases through the library only. A case
whose fix belongs to another module's owner is marked ``xfail`` with that file named
(``run = false`` when, still accepted, it would run a whole job).
"""

import pytest

from tests.bad_inputs.corpus import MODES, load_cases, run_case

CASES = load_cases()


def _params():
    for case in CASES:
        for mode in MODES[case.kind]:
            marks = [pytest.mark.xfail(reason=case.xfail, strict=False, run=case.data.get("run", True))] \
                if case.xfail else []
            yield pytest.param(case, mode, id=f"{case.kind}-{mode}-{case.id}", marks=marks)


def test_the_corpus_is_broad_and_well_formed():
    ids = [(case.kind, case.id) for case in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique within a kind"
    assert len(CASES) >= 150
    assert all(case.expect and all(isinstance(f, str) and f for f in case.expect) for case in CASES)
    assert {case.kind for case in CASES} == {"scenario", "sweep", "cli", "library"}


@pytest.mark.slow  # ~1,000 cases, half a minute: the quick subset leaves them to CI
@pytest.mark.parametrize("case,mode", _params())
def test_bad_input_is_refused_clearly(case, mode, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # a wrongly accepted "--out ''" must not write into the checkout
    outcome = run_case(case, mode, tmp_path / "case")
    assert outcome.kind == "clear", (f"{case} via {mode}: expected a refusal containing {case.expect}, "
                                     f"got {outcome.describe()}")
    if mode == "cli":
        lines = [line for line in outcome.message.strip().splitlines() if "error:" in line]
        assert len(lines) == 1, f"{case}: the error must be one line, got {outcome.message!r}"
    assert outcome.seconds < 30, f"{case} took {outcome.seconds:.1f} s: a refusal must come before any work"
