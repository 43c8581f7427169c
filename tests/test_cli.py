"""The command-line jobs write what they promise."""

import json

import pandas as pd
import pytest

from abm.cli import main
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


def test_run_job_writes_both_trajectories_and_the_summary(tmp_path, capsys):
    scenario = tmp_path / "s.toml"
    scenario.write_text((__import__("pathlib").Path(__file__).parent.parent / "scenarios"
                         / "curse_of_precision.toml").read_text().replace("horizon = 200.0", "horizon = 4.0"))
    assert main(["run", str(scenario), "--out", str(tmp_path / "out"), "--seed", "5", "--agents", "300",
                 "--no-progress"]) == 0
    out = tmp_path / "out"
    abm, fluid = pd.read_parquet(out / "abm.parquet"), pd.read_parquet(out / "fluid.parquet")
    assert list(abm.columns) == list(fluid.columns) == list(TRAJECTORY_COLUMNS)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 5 and summary["scenario"]["simulation"]["agents"] == 300
    assert set(summary["sup_distance_abm_vs_fluid"]) >= {"price", "precision"}
    assert (out / "dynamics.png").stat().st_size > 10_000
    assert "sup over time" in capsys.readouterr().out


def test_run_job_reports_a_missing_file(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing.toml"), "--no-progress"]) == 2
    assert "no scenario file" in capsys.readouterr().err
