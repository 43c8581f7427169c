"""The command-line jobs write what they promise."""

import json

import pandas as pd
import pytest

from abm.cli import main
from abm.storage import read_parquet_metadata
from abm.theory.fluid import TRAJECTORY_COLUMNS


def test_static_job_writes_tables_figure_and_summary(tmp_path, capsys):
    assert main(["static", "--out", str(tmp_path), "--rounds", "60"]) == 0
    printed = capsys.readouterr().out
    assert "Originality penalty" in printed and "stackelberg" in printed
    creators = pd.read_csv(tmp_path / "creators.csv")
    assert creators.loc[creators["beta"] == 0, "penalty_ratio"].iloc[0] == pytest.approx(0.5)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["learning_final_effort_gap"] < 1e-10 and "versions" in summary
    assert (tmp_path / "static.png").stat().st_size > 10_000


def test_static_job_rejects_bad_input(tmp_path, capsys):
    assert main(["static", "--beta", "0.1", "-0.5", "--out", str(tmp_path)]) == 2
    assert "beta must be >= 0" in capsys.readouterr().err


@pytest.mark.slow
def test_run_job_writes_both_trajectories_and_the_summary(tmp_path, capsys):
    scenario = tmp_path / "s.toml"
    scenario.write_text((__import__("abm.scenario").scenario.SCENARIO_DIR
                         / "curse_of_precision.toml").read_text().replace("horizon = 200.0", "horizon = 4.0"))
    assert main(["run", str(scenario), "--out", str(tmp_path / "out"), "--seed", "5", "--agents", "300",
                 "--no-progress"]) == 0
    out = tmp_path / "out"
    agents, fluid = pd.read_parquet(out / "agents.parquet"), pd.read_parquet(out / "fluid.parquet")
    assert list(agents.columns) == ["replication", "seed"] + list(fluid.columns)
    assert list(fluid.columns) == list(TRAJECTORY_COLUMNS)
    assert set(fluid["time"]) <= set(agents["time"]) and fluid["time"].iloc[-1] == agents["time"].iloc[-1]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 5 and summary["scenario"]["simulation"]["agents"] == 300
    assert {"sup_distance_price", "sup_distance_precision"} <= set(summary["summary"][0])
    metadata = read_parquet_metadata(out / "agents.parquet")
    assert metadata["seed"] == 5 and metadata["scenario"]["simulation"]["agents"] == 300 and "versions" in metadata
    assert (out / "dynamics.png").stat().st_size > 10_000
    assert "sup over the shared round times" in capsys.readouterr().out
    # Another seed into the same folder is refused before any work; --force replaces.
    assert main(["run", str(scenario), "--out", str(out), "--seed", "6", "--agents", "300", "--no-progress"]) == 2
    assert "already holds results of another run" in capsys.readouterr().err
    assert main(["run", str(scenario), "--out", str(out), "--seed", "6", "--agents", "300", "--no-progress",
                 "--force"]) == 0


def test_run_job_reports_a_missing_file(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing.toml"), "--no-progress"]) == 2
    assert "no scenario file" in capsys.readouterr().err


@pytest.mark.slow
def test_validate_writes_a_report_in_which_every_check_states_its_numbers(tmp_path, capsys):
    assert main(["validate", "--quick", "--out", str(tmp_path)]) == 0
    report = (tmp_path / "report.md").read_text()
    checks = pd.read_csv(tmp_path / "checks.csv")
    ran = checks[checks["tolerance_source"] != "-"]
    assert len(ran) >= 12 and ran["passed"].all()
    assert ran["distance"].notna().all() and ran["tolerance"].notna().all()
    assert "| check | theory | observed | distance | tolerance |" in report
    assert (tmp_path / "convergence_population.png").exists()


@pytest.mark.slow
def test_reproduce_regenerates_the_named_figures(tmp_path):
    assert main(["reproduce", "--quick", "--out", str(tmp_path), "--only", "static", "sweep"]) == 0
    assert (tmp_path / "static" / "static.png").exists()
    assert (tmp_path / "sweep_entry_elasticity" / "sweep.png").exists()
    with pytest.raises(ValueError, match="unknown specification"):
        from abm.jobs.reproduce import reproduce

        reproduce(tmp_path, only=["everything"])


def test_quick_reproduction_never_overwrites_the_documented_figures(capsys):
    from abm.jobs.reproduce import DOCS_FIGURES

    before = {p: p.stat().st_mtime_ns for p in DOCS_FIGURES.rglob("*.png")}
    assert main(["reproduce", "--quick", "--out", str(DOCS_FIGURES), "--only", "static", "--no-progress"]) == 2
    assert "refusing to write" in capsys.readouterr().err
    assert before == {p: p.stat().st_mtime_ns for p in DOCS_FIGURES.rglob("*.png")}


def test_sweep_command_runs_and_resumes(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text('''description = "cli sweep"
base = "default"
replications = 2
seed = 3
outputs = ["precision_final"]
[overrides]
"simulation.agents" = 20
"simulation.horizon" = 1.0
"simulation.dt" = 0.5
[parameters."market.kappa"]
low = 0.0
high = 0.4
num = 3
''')
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    assert "6 runs" in capsys.readouterr().out and (out / "sweep.png").exists()
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--no-progress"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--no-progress", "--resume"]) == 0
