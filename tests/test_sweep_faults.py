"""Fault injection for sweeps: nothing hangs, nothing mixes, nothing is lost.

Each test breaks a sweep the way a machine or a user does — SIGKILL of the sweep process,
SIGKILL of a worker, a truncated run file, a base scenario edited between the interrupt and
``--resume``, a second sweep into the same folder — and then checks that no worker survives
its parent, and that after ``--resume`` every run is there exactly once, with the seed and
the outputs of an undisturbed sweep (nothing lost, repeated or mixed).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from abm.cli import main
from abm.simulation.sweep import load_sweep, read_results, run_sweep

HERE = Path(__file__).resolve().parent
COLUMNS = ["run_id", "point", "replication", "seed", "status", "precision_final", "price_final"]
#: Runs long enough (about a second each) that a signal lands while a worker is busy.
SPEC = """description = "fault injection"
base = "base.toml"
replications = 2
seed = 5
outputs = ["precision_final", "price_final"]
[overrides]
"simulation.agents" = 2000
"simulation.horizon" = 60.0
"simulation.dt" = 0.05
[parameters."market.kappa"]
values = [0.1, 0.2, 0.3]
"""


def _write_spec(folder: Path, kappa_line: str = "kappa = 0.2") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    base = (HERE / "bad_inputs" / "base_scenario.toml").read_text()
    (folder / "base.toml").write_text(base.replace("kappa = 0.2", kappa_line))
    (folder / "spec.toml").write_text(SPEC)
    return folder / "spec.toml"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The undisturbed sweep, run in this process."""
    folder = tmp_path_factory.mktemp("reference")
    spec = load_sweep(_write_spec(folder))
    return run_sweep(spec, folder / "out", workers=1, progress=False)[COLUMNS]


def _same_as_reference(results: pd.DataFrame, reference: pd.DataFrame) -> None:
    assert results["run_id"].is_unique, "a run was repeated"
    assert list(results["run_id"]) == list(range(len(reference))), "a run was lost"
    pd.testing.assert_frame_equal(results[COLUMNS], reference)  # same seeds and outputs: nothing mixed


def _start(spec: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "abm.cli", "sweep", str(spec), "--out", str(out), "--no-progress",
                             *extra], cwd=spec.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _busy_worker(out: Path):
    """``(pid, run_id)`` of a worker that is running a run (its marker in out/.inflight)."""
    for marker in (out / ".inflight").glob("*") if (out / ".inflight").is_dir() else []:
        try:
            return int(marker.name), int(marker.read_text())
        except (ValueError, OSError):
            continue
    return None


def _state(pid: int) -> str | None:
    """The process state letter (``"Z"`` for a zombie), or ``None`` if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            import psutil

            return {"zombie": "Z"}.get(psutil.Process(pid).status(), "R")
        except Exception:  # noqa: BLE001 - no such process (or no way to tell: treat as gone)
            return None
    return stat.rsplit(")", 1)[1].split()[0]


def _descendants(pid: int) -> set[int]:
    try:
        import psutil

        return {child.pid for child in psutil.Process(pid).children(recursive=True)}
    except ImportError:
        parents = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    pass
        found, frontier = set(), {pid}
        while frontier:
            frontier = {child for child, parent in parents.items() if parent in frontier} - found
            found |= frontier
        return found


def _alive(pids) -> set[int]:
    return {pid for pid in pids if _state(pid) not in (None, "Z")}


@pytest.mark.slow
def test_sigkill_of_the_sweep_leaves_no_orphans_and_resume_completes(tmp_path, reference):
    spec = _write_spec(tmp_path)
    out = tmp_path / "out"
    sweep = _start(spec, out, "--workers", "2")
    try:
        _wait_for(lambda: _busy_worker(out), 120, "a busy worker")
        children = _descendants(sweep.pid)
        assert len(children) >= 2
        sweep.send_signal(signal.SIGKILL)
        sweep.wait(timeout=30)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    survivors = _wait_for(lambda: not _alive(children) or None, 10, f"workers {_alive(children)} to exit") and set()
    assert not survivors
    resumed = run_sweep(load_sweep(spec), out, workers=1, progress=False, resume=True)
    _same_as_reference(resumed, reference)


@pytest.mark.slow
def test_sigkill_of_a_worker_fails_its_run_and_the_sweep_goes_on(tmp_path, reference):
    spec = _write_spec(tmp_path)
    out = tmp_path / "out"
    sweep = _start(spec, out, "--workers", "2")
    try:
        pid, _ = _wait_for(lambda: _busy_worker(out), 120, "a busy worker")
        os.kill(pid, signal.SIGKILL)
        stdout, stderr = sweep.communicate(timeout=300)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert sweep.returncode == 0, stderr
    assert "Traceback" not in stderr and "BrokenProcessPool" not in stderr
    assert "--resume --retry-failed" in stderr and "1 failed" in stdout
    results = read_results(out)
    failed = results[results["status"] != "ok"]
    assert len(results) == len(reference) and len(failed) == 1
    assert failed["error"].iloc[0].startswith(f"WorkerDied: the worker process {pid}") and "SIGKILL" in failed["error"].iloc[0]
    assert _alive(_descendants(os.getpid()) & {pid}) == set()
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--no-progress", "--resume",
                 "--retry-failed"]) == 0
    _same_as_reference(read_results(out), reference)


@pytest.mark.slow
def test_a_truncated_run_file_is_redone_on_resume(tmp_path, reference, capsys):
    spec = _write_spec(tmp_path)
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    victim = out / "runs" / "run-0000004.parquet"
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    capsys.readouterr()
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--no-progress", "--resume"]) == 0
    err = capsys.readouterr().err
    assert "could not be read" in err and "[4]" in err
    _same_as_reference(read_results(out), reference)


@pytest.mark.slow
def test_a_changed_base_scenario_is_refused_on_resume(tmp_path, reference, monkeypatch, capsys):
    import abm.simulation.sweep as sweep_module

    spec = _write_spec(tmp_path)
    out = tmp_path / "out"
    real, calls = sweep_module.execute_run, []

    def interrupt_after_two(*args):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(sweep_module, "execute_run", interrupt_after_two)
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--no-progress"]) == 130
    monkeypatch.setattr(sweep_module, "execute_run", real)
    (tmp_path / "base.toml").write_text((tmp_path / "base.toml").read_text().replace("depreciation = 0.02",
                                                                                   "depreciation = 0.05"))
    capsys.readouterr()
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--no-progress", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "base scenario (base.toml) changed" in err and "market.depreciation: 0.02 -> 0.05" in err
    assert len(read_results(out)) == 2  # nothing was added to the two runs of the first experiment
    _write_spec(tmp_path)  # restored: the sweep continues where it stopped
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--no-progress", "--resume"]) == 0
    _same_as_reference(read_results(out), reference)


@pytest.mark.slow
def test_a_second_sweep_into_the_same_folder_is_refused(tmp_path, reference, capsys):
    spec = _write_spec(tmp_path)
    out = tmp_path / "out"
    first = _start(spec, out, "--workers", "1")
    try:
        _wait_for(lambda: (out / "sweep.json").exists(), 120, "the first sweep to start")
        assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--no-progress", "--resume"]) == 2
        err = capsys.readouterr().err
        assert f"another sweep (process {first.pid}) is writing into {out}" in err
        assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--no-progress"]) == 2
        _, stderr = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, stderr
    assert not list((out / "runs").glob("*.tmp"))
    _same_as_reference(read_results(out), reference)
