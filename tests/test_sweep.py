"""Sweeps: specification checks, seeds, resuming without loss or mixing, failures recorded,
provenance, locks, Dask = local. Process faults (killed parent or worker, concurrent sweeps)
are in test_sweep_faults.py."""

import numpy as np
import pandas as pd
import pytest

import abm.simulation.sweep as sweep_module
from abm.simulation.sweep import load_sweep, read_results, run_requests, run_sweep, sweep_from_dict

TINY = {"simulation.agents": 30, "simulation.horizon": 2.0, "simulation.dt": 0.5}


def spec(**changes):
    data = {
        "description": "tiny test sweep",
        "design": "grid",
        "replications": 2,
        "seed": 11,
        "outputs": ["precision_final", "innovator_participation_final"],
        "overrides": dict(TINY),
        "parameters": {"rank_and_file.outside_option.exponent": {"values": [1.0, 2.0, 3.0]}},
    }
    data.update(changes)
    return sweep_from_dict(data)


def test_seeds_are_distinct_reproducible_children_of_one_seed_sequence():
    requests = run_requests(spec())
    assert len(requests) == 6 and len({r.seed for r in requests}) == 6
    assert [r.seed for r in requests] == [r.seed for r in run_requests(spec())]
    assert [r.seed for r in requests] != [r.seed for r in run_requests(spec(seed=12))]


def test_every_row_carries_its_parameters_and_seed(tmp_path):
    results = run_sweep(spec(), tmp_path, workers=1, progress=False)
    assert len(results) == 6 and (results["status"] == "ok").all()
    assert sorted(results["param:rank_and_file.outside_option.exponent"].unique()) == [1.0, 2.0, 3.0]
    seeds = {r.run_id: r.seed for r in run_requests(spec())}
    assert all(seeds[row.run_id] == row.seed for row in results.itertuples())
    assert (tmp_path / "results.parquet").exists() and (tmp_path / "sweep.json").exists()


def test_interrupted_sweep_resumes_without_losing_or_repeating_runs(tmp_path, monkeypatch):
    full = run_sweep(spec(), tmp_path / "full", workers=1, progress=False)
    real, calls = sweep_module.execute_run, []

    def stop_after_three(*args):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(sweep_module, "execute_run", stop_after_three)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec(), tmp_path / "cut", workers=1, progress=False)
    assert len(read_results(tmp_path / "cut")) == 3
    with pytest.raises(ValueError, match="--resume"):
        run_sweep(spec(), tmp_path / "cut", workers=1, progress=False)
    monkeypatch.setattr(sweep_module, "execute_run", real)
    resumed = run_sweep(spec(), tmp_path / "cut", workers=1, progress=False, resume=True)
    assert list(resumed["run_id"]) == list(range(6))
    columns = ["run_id", "seed", "precision_final", "innovator_participation_final"]
    pd.testing.assert_frame_equal(resumed[columns], full[columns])


def test_resume_refuses_a_different_sweep(tmp_path):
    run_sweep(spec(), tmp_path, workers=1, progress=False)
    with pytest.raises(ValueError, match="different sweep"):
        run_sweep(spec(seed=99), tmp_path, workers=1, progress=False, resume=True)


def _fail_when_exponent_is(monkeypatch, bad_value):
    """Make the run whose rank-and-file exponent is ``bad_value`` raise (in this process)."""
    import abm.simulation.run as run_module

    real = run_module.simulate

    def simulate(scenario, **kwargs):
        if scenario.market.rank_and_file.outside_option.exponent == bad_value:
            raise RuntimeError("injected failure")
        return real(scenario, **kwargs)

    monkeypatch.setattr(run_module, "simulate", simulate)
    return real


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    _fail_when_exponent_is(monkeypatch, 2.0)
    results = run_sweep(spec(replications=1), tmp_path, workers=1, progress=False)
    assert list(results["status"]) == ["ok", "error", "ok"]
    assert "injected failure" in results["error"].iloc[1]
    assert np.isnan(results["precision_final"].iloc[1])


def test_failed_runs_are_kept_on_resume_and_retried_on_request(tmp_path, monkeypatch):
    real = _fail_when_exponent_is(monkeypatch, 2.0)
    run_sweep(spec(replications=1), tmp_path, workers=1, progress=False)
    import abm.simulation.run as run_module

    monkeypatch.setattr(run_module, "simulate", real)
    kept = run_sweep(spec(replications=1), tmp_path, workers=1, progress=False, resume=True)
    assert list(kept["status"]) == ["ok", "error", "ok"]  # a resume does not silently redo failures
    retried = run_sweep(spec(replications=1), tmp_path, workers=1, progress=False, resume=True, retry_failed=True)
    assert list(retried["status"]) == ["ok", "ok", "ok"] and list(retried["run_id"]) == [0, 1, 2]
    with pytest.raises(ValueError, match="retry_failed"):
        run_sweep(spec(replications=1), tmp_path, workers=1, progress=False, retry_failed=True)


def test_every_design_point_is_checked_before_any_run(tmp_path):
    with pytest.raises(ValueError, match=r"market.kappa = 'abc'.*must be a number"):
        spec(parameters={"market.kappa": {"values": [0.1, "abc"]}})
    with pytest.raises(ValueError, match="simulation.dt must not exceed simulation.horizon"):
        spec(parameters={"simulation.dt": {"values": [0.5, 5.0]}})
    with pytest.raises(ValueError, match="at most 1000000"):
        spec(replications=10**6)


@pytest.mark.parametrize("where", ["parameters", "overrides"])
def test_a_swept_or_overridden_seed_is_refused(where):
    changes = ({"parameters": {"simulation.seed": {"values": [1, 2]}}} if where == "parameters"
               else {"overrides": {**TINY, "simulation.seed": 4}})
    with pytest.raises(ValueError, match="simulation.seed.*SeedSequence"):
        spec(**changes)


def _scenario_file(tmp_path, kappa=0.2):
    from pathlib import Path

    path = tmp_path / "base.toml"
    text = (Path(__file__).resolve().parent / "bad_inputs" / "base_scenario.toml").read_text()
    path.write_text(text.replace("kappa = 0.2", f"kappa = {kappa}"))
    return path


def test_resume_refuses_a_changed_base_scenario_naming_the_change(tmp_path):
    base = _scenario_file(tmp_path)
    data = {"description": "base file", "base": base.name, "outputs": ["precision_final"],
            "overrides": {"simulation.agents": 10}, "parameters": {"market.depreciation": {"values": [0.01, 0.02]}}}
    run_sweep(sweep_from_dict(data, tmp_path), tmp_path / "out", workers=1, progress=False)
    _scenario_file(tmp_path, kappa=0.3)
    with pytest.raises(ValueError, match=r"base scenario \(base.toml\) changed.*market.kappa: 0.2 -> 0.3"):
        run_sweep(sweep_from_dict(data, tmp_path), tmp_path / "out", workers=1, progress=False, resume=True)
    assert len(read_results(tmp_path / "out")) == 2


def test_run_files_without_a_manifest_are_not_adopted(tmp_path):
    (tmp_path / "runs").mkdir()
    pd.DataFrame([{"run_id": 0, "seed": 1, "status": "ok"}]).to_parquet(tmp_path / "runs" / "run-0000000.parquet")
    with pytest.raises(FileExistsError, match="run files but no sweep.json"):
        run_sweep(spec(), tmp_path, workers=1, progress=False, resume=True)


def test_rows_and_manifest_record_provenance_and_a_version_change_is_refused(tmp_path, monkeypatch):
    import json

    import abm.storage as storage

    first = run_sweep(spec(replications=1), tmp_path, workers=1, progress=False)
    assert (first["abm_version"] == storage.versions()["abm"]).all() and "commit" in first
    manifest = json.loads((tmp_path / "sweep.json").read_text())
    assert manifest["versions"] == storage.versions() and len(manifest["runs_under"]) == 1
    assert manifest["base_scenario"]["simulation"]["agents"] == 30
    (tmp_path / "runs" / "run-0000002.parquet").unlink()
    real = storage.versions
    monkeypatch.setattr(storage, "versions", lambda: {**real(), "abm": "99.0"})
    with pytest.raises(ValueError, match=r"abm .* -> 99.0.*--allow-version-change"):
        run_sweep(spec(replications=1), tmp_path, workers=1, progress=False, resume=True)
    resumed = run_sweep(spec(replications=1), tmp_path, workers=1, progress=False, resume=True,
                        allow_version_change=True)
    assert list(resumed["abm_version"]) == [real()["abm"], real()["abm"], "99.0"]
    history = json.loads((tmp_path / "sweep.json").read_text())["runs_under"]
    assert [h["versions"]["abm"] for h in history] == [real()["abm"], "99.0"]


def test_an_unreadable_run_file_is_redone_and_reported(tmp_path, capsys):
    full = run_sweep(spec(), tmp_path, workers=1, progress=False)
    victim = tmp_path / "runs" / "run-0000003.parquet"
    victim.write_bytes(victim.read_bytes()[:20])
    with pytest.raises(ValueError, match="cannot be read"):
        read_results(tmp_path)
    resumed = run_sweep(spec(), tmp_path, workers=1, progress=False, resume=True)
    assert "could not be read" in capsys.readouterr().err
    columns = ["run_id", "seed", "precision_final", "innovator_participation_final"]
    pd.testing.assert_frame_equal(resumed[columns], full[columns])
    assert (tmp_path / "runs" / "run-0000003.parquet.unreadable").exists()


def test_a_folder_locked_by_another_sweep_is_refused(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    (tmp_path / ".lock").write_text("4242")
    with open(tmp_path / ".lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(FileExistsError, match=r"another sweep \(process 4242\) is writing"):
            run_sweep(spec(), tmp_path, workers=1, progress=False)
    assert not list(tmp_path.glob("runs/*.parquet")) and not (tmp_path / "sweep.json").exists()  # nothing written
    assert len(run_sweep(spec(), tmp_path, workers=1, progress=False)) == 6  # free again


def test_temporary_files_carry_the_writer_and_stale_ones_are_removed(tmp_path, monkeypatch):
    seen = []
    real = pd.DataFrame.to_parquet

    def spy(frame, path, *args, **kwargs):
        seen.append(str(path))
        return real(frame, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", spy)
    run_sweep(spec(replications=1), tmp_path, workers=1, progress=False)
    import os

    assert seen and all(f".{os.getpid()}." in name and name.endswith(".tmp") for name in seen)
    (tmp_path / "runs" / "run-0000001.parquet.999.dead.tmp").write_text("left by a killed writer")
    run_sweep(spec(replications=1), tmp_path, workers=1, progress=False, resume=True)
    assert not list((tmp_path / "runs").glob("*.tmp"))


@pytest.mark.slow
def test_process_pool_gives_the_same_rows_as_one_process(tmp_path):
    columns = ["run_id", "seed", "precision_final", "innovator_participation_final"]
    serial = run_sweep(spec(), tmp_path / "serial", workers=1, progress=False)
    pooled = run_sweep(spec(), tmp_path / "pool", workers=2, progress=False)
    pd.testing.assert_frame_equal(serial[columns], pooled[columns])


@pytest.mark.slow
def test_local_dask_cluster_gives_identical_results(tmp_path):
    distributed = pytest.importorskip("distributed")
    columns = ["run_id", "seed", "precision_final", "innovator_participation_final"]
    local = run_sweep(spec(), tmp_path / "local", workers=1, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        remote = run_sweep(spec(), tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False)
    pd.testing.assert_frame_equal(local[columns], remote[columns])


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"colour": 1}, r"unknown key\(s\) \['colour'\]"),
        ({"design": "factorial"}, "design must be one of"),
        ({"outputs": ["happiness"]}, "unknown output"),
        ({"parameters": {"market.kapa": {"values": [0.1]}}}, "unknown parameter path 'market.kapa'"),
        ({"parameters": {}}, "at least one entry under"),
        ({"replications": 0}, "replications must be >= 1"),
        ({"design": "latin_hypercube"}, "points must be >= 1"),
        ({"parameters": {"market.kappa": {"low": 1.0, "high": 0.5}}}, "high > low"),
        ({"overrides": {"simulation.agents": 0}}, "simulation.agents must be >= 1"),
        ({"overrides": {"simulation.agents": 1.5}}, "simulation.agents must be a whole number"),
        ({"replications": 1.5}, "replications must be a whole number"),
        ({"replications": "2"}, "replications must be a whole number"),
        ({"parameters": {"market.kappa": {"low": 0.0, "high": 1.0, "num": 0}}}, "num must be >= 2"),
    ],
)
def test_bad_specifications_name_the_broken_key(changes, message):
    with pytest.raises(ValueError, match=message):
        spec(**changes)


def test_latin_hypercube_covers_each_range_once_per_stratum():
    lhs = spec(design="latin_hypercube", points=10,
               parameters={"market.kappa": {"low": 0.0, "high": 1.0}, "market.depreciation": {"low": 0.01, "high": 0.1}})
    values = np.array([r.parameters["market.kappa"] for r in run_requests(lhs)[::2]])
    assert sorted(np.floor(values * 10).astype(int)) == list(range(10))


def test_sobol_indices_find_a_parameter_that_does_not_matter(tmp_path):
    from analysis.sensitivity import sobol_indices

    # Quantile sampling makes each run a deterministic function of its parameters, so a
    # parameter the model ignores has Sobol indices of exactly zero, not sampling noise.
    sobol = spec(design="sobol", points=8, replications=1, overrides={**TINY, "simulation.sampling": "quantile"},
                 parameters={"market.kappa": {"low": 0.0, "high": 1.0},
                             "learning.probe": {"low": 0.01, "high": 0.5}})  # unused by the myopic firm
    results = run_sweep(sobol, tmp_path, workers=1, progress=False)
    indices = sobol_indices(sobol, results).set_index(["output", "parameter"])
    irrelevant = indices.loc[("precision_final", "learning.probe")]
    assert irrelevant["ST"] == pytest.approx(0.0, abs=1e-12) and irrelevant["S1"] == pytest.approx(0.0, abs=1e-12)
    assert indices.loc[("precision_final", "market.kappa"), "ST"] > 0.5


def test_shipped_sweep_specifications_load():
    from pathlib import Path

    for path in (Path(__file__).resolve().parent.parent / "sweeps").glob("*.toml"):
        assert load_sweep(path).description.strip()
