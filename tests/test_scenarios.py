"""Scenario files: strict parsing, the embedded default, and a short run of every shipped file."""

from pathlib import Path

import numpy as np
import pytest

from abm.simulation.dynamic_market.model import DataMarketModel
from abm.scenario import SCENARIO_DIR, default_scenario, load_scenario, scenario_from_dict

SCENARIOS = sorted(SCENARIO_DIR.glob("*.toml"))


def test_shipped_scenarios_exist():
    names = {path.stem for path in SCENARIOS}
    assert {"curse_of_precision", "healthy_market", "elasticity_contrast"} <= names


def test_default_scenario_equals_the_curse_of_precision_file():
    from_file = load_scenario(SCENARIOS[[p.stem for p in SCENARIOS].index("curse_of_precision")])
    default = default_scenario()
    assert from_file.market == default.market
    assert from_file.simulation == default.simulation
    assert from_file.learning == default.learning


def test_round_trip_through_dict():
    default = default_scenario()
    assert scenario_from_dict(default.to_dict()) == default


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_scenario_runs_and_keeps_precision_positive(path):
    scenario = load_scenario(path).with_simulation(agents=200, horizon=5.0, dt=0.1)
    assert scenario.description.strip()
    trajectory = DataMarketModel(scenario, rng=0).run()
    assert len(trajectory) == 50 and (trajectory["precision"] > 0).all()
    assert np.isfinite(trajectory.to_numpy()).all()


def test_curse_and_healthy_markets_differ_as_described():
    """The curse of precision ends below its barrier; the healthy market ends far above it."""
    by_name = {p.stem: load_scenario(p).with_simulation(agents=500, dt=0.5) for p in SCENARIOS}
    curse = DataMarketModel(by_name["curse_of_precision"], rng=0).run()
    healthy = DataMarketModel(by_name["healthy_market"], rng=0).run()
    assert curse["precision"].iloc[-1] < curse["precision_barrier"].iloc[-1]
    assert curse["active_innovators"].iloc[-1] < 0.02  # of an innovator mass of 1
    assert curse["stock_innovators"].iloc[-1] < 0.2 * curse["stock_innovators"].iloc[0]
    assert healthy["precision"].iloc[-1] > 2 * healthy["precision_barrier"].iloc[-1]
    assert healthy["active_innovators"].iloc[-1] > 0.2


def _write(tmp_path, text):
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


BASE = """
description = "x"
[innovators]
mass = 1.0
beta = 0.0
outside_option = { distribution = "power_law", scale = 0.5, exponent = 1.0 }
[rank_and_file]
mass = 1.0
beta = 0.9
outside_option = { distribution = "power_law", scale = 0.5, exponent = 2.0 }
"""


@pytest.mark.parametrize(
    "extra,message",
    [
        ("colour = 'red'\n", r"scenario: unknown key\(s\) \['colour'\]"),
        ("[market]\nkapa = 0.1\n", r"market: unknown key\(s\) \['kapa'\]"),
        ("[simulation]\nagents = 0\n", "simulation.agents must be a whole number >= 1"),
        ("[simulation]\nfirm = 'oracle'\n", "simulation.firm must be one of"),
        ("[simulation]\ndt = 5.0\nhorizon = 1.0\n", "dt must not exceed"),
        ("[simulation]\nsampling = 'sobol'\n", "simulation.sampling must be one of"),
        ("[learning]\nprobe = 1.0\n", "learning.probe must lie strictly between 0 and 1"),
        ("[market]\nkappa = -1.0\n", "market: kappa must be >= 0"),
    ],
)
def test_bad_scenarios_name_the_broken_key(tmp_path, extra, message):
    text = BASE.replace('description = "x"\n', 'description = "x"\n' + extra) if not extra.startswith("[") \
        else BASE + extra
    with pytest.raises(ValueError, match=message):
        load_scenario(_write(tmp_path, text))


def test_unknown_key_inside_a_creator_type(tmp_path):
    with pytest.raises(ValueError, match=r"innovators: unknown key\(s\) \['betta'\]"):
        load_scenario(_write(tmp_path, BASE.replace("beta = 0.0", "betta = 0.0")))


def test_missing_description_and_file(tmp_path):
    with pytest.raises(ValueError, match="missing key"):
        load_scenario(_write(tmp_path, BASE.replace('description = "x"', "")))
    with pytest.raises(FileNotFoundError):
        load_scenario(tmp_path / "nope.toml")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_scenario(_write(tmp_path, "description = "))
