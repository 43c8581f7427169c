"""Sweeps: specification checks, seeds, resuming without loss, failures recorded, Dask = local."""

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


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path):
    bad = spec(parameters={"rank_and_file.outside_option.exponent": {"values": [2.0, -1.0]}}, replications=1)
    results = run_sweep(bad, tmp_path, workers=1, progress=False)
    assert list(results["status"]) == ["ok", "error"]
    assert "exponent must be > 0" in results["error"].iloc[1]
    assert np.isnan(results["precision_final"].iloc[1])


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
        ({"overrides": {"simulation.agents": 0}}, "simulation.agents must be a whole number"),
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
