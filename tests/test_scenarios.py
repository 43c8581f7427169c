"""Scenario files: strict parsing, the embedded default, and a short run of every shipped file."""

from pathlib import Path

import numpy as np
import pytest

from abm.simulation.dynamic_market.model import DataMarketModel
from abm.scenario import SCENARIO_DIR, default_scenario, load_scenario, scenario_from_dict

SCENARIOS = sorted(SCENARIO_DIR.glob("*.toml"))


def test_shipped_scenarios_exist():
    names = {path.stem for path in SCENARIOS}
    assert {"curse_of_precision", "healthy_market", "elasticity_contrast", "price_trap",
            "precision_barrier"} <= names


def test_default_scenario_equals_the_curse_of_precision_file():
    from_file = load_scenario(SCENARIOS[[p.stem for p in SCENARIOS].index("curse_of_precision")])
    default = default_scenario()
    assert from_file.market == default.market
    assert from_file.simulation == default.simulation
    assert from_file.learning == default.learning
    # the file's description is the embedded one plus a sentence saying so
    assert " ".join(from_file.description.split()).startswith(" ".join(default.description.split()))


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


@pytest.mark.slow
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
        ("[simulation]\nagents = 0\n", "simulation.agents must be"),
        ("[simulation]\nfirm = 'oracle'\n", "simulation.firm must be one of"),
        ("[simulation]\ndt = 5.0\nhorizon = 1.0\n", "dt must not exceed"),
        ("[simulation]\nsampling = 'sobol'\n", "simulation.sampling must be one of"),
        ("[learning]\nprobe = 1.0\n", "learning.probe must lie strictly between 0 and 1"),
        ("[market]\nkappa = -1.0\n", "market.kappa must be >= 0"),
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


# --- every number a shipped description states ---------------------------------------------------
#
# Each claim is (the number as written, what it measures). Tolerances are fixed by how the
# number is written, before any run: half a unit of its last digit; a number the text calls
# "about" or "near" gets one unit; "within x" and "at least x" are one-sided bounds. Numbers that
# are inputs of the scenario, times, or proposition numbers are listed as context. A test
# extracts every number from each description and fails on one that is neither claimed nor
# context, so a new number in a description cannot go unchecked.

import re

from abm.simulation.run import fluid_limit
from abm.theory.fluid import precision_barrier, price_trap

NUMBER = re.compile(r"(?<![\w.^])\d+(?:\.\d+)?%?")


def _unit(written: str) -> float:
    digits = written.rstrip("%")
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    return 10.0**-decimals / (100.0 if written.endswith("%") else 1.0)


def _value(written: str) -> float:
    return float(written.rstrip("%")) / (100.0 if written.endswith("%") else 1.0)


def _fluid(name, times):
    scenario = load_scenario(SCENARIO_DIR / f"{name}.toml")
    frame = fluid_limit(scenario, np.asarray(times, dtype=float)).set_index("time")
    return scenario, frame


def _curse_claims():
    scenario, f = _fluid("curse_of_precision", np.linspace(0.0, 200.0, 81))
    m = scenario.market
    trap, barrier = price_trap(m), precision_barrier(m.sigma0_sq, m.kappa, m.rank_and_file.beta)
    end, late = f.iloc[-1], f[f.index >= 100.0]
    return [
        ("4", 2 * m.rank_and_file.outside_option.exponent, "exact"),
        ("2", 2 * m.innovators.outside_option.exponent, "exact"),
        ("2%", m.depreciation, "exact"),
        ("0.243", f["price"].iloc[0], "rounded"),
        ("0.12", f.loc[20.0, "price"], "about"),
        ("0.121", end["price"], "rounded"),
        ("28%", 1 - end["price"] / end["price_cap"], "rounded"),
        ("0.169", end["price_cap"], "rounded"),
        ("57%", end["price"] / trap - 1, "rounded"),
        ("0.0773", trap, "rounded"),
        ("2.6", late["stock_rank_and_file"], "near"),
        ("0.15", late["discount"], "near"),
        ("1.5%", late["active_innovators"] / m.innovators.mass, "about"),
        ("2", f["stock_innovators"].iloc[0], "exact"),
        ("0.125", end["stock_innovators"], "rounded"),
        ("2.55", f["precision"].iloc[0], "rounded"),
        ("1.15", end["precision"], "rounded"),
        ("75%", end["precision"] / barrier, "rounded"),
        ("1.531", barrier, "rounded"),
    ], {"20", "200", "0", "5", "6"}


def _price_trap_claims():
    scenario, f = _fluid("price_trap", np.linspace(0.0, 2000.0, 201))
    m = scenario.market
    trap, end = price_trap(m), f.iloc[-1]
    assert (f["price"] <= f["price_cap"]).all() and (np.diff(f["price_cap"]) < 0).all()
    assert (np.diff(f["precision"]) > 0).all()  # "precision keeps rising"
    return [
        ("0", m.depreciation, "exact"),
        ("0.303", f["discount"].iloc[0], "rounded"),
        ("0.0127", end["discount"], "rounded"),
        ("0.306", f["price_cap"].iloc[0], "rounded"),
        ("0.0816", end["price_cap"], "rounded"),
        ("6%", end["price_cap"] / trap - 1, "within"),
        ("0.0773", trap, "rounded"),
        ("0.0618", end["price"], "rounded"),
        ("3.54", end["precision"], "rounded"),
    ], {"5", "0", "2000", "6"}


def _precision_barrier_claims():
    scenario, f = _fluid("precision_barrier", np.linspace(0.0, 2000.0, 201))
    m = scenario.market
    barrier = precision_barrier(m.sigma0_sq, m.kappa, m.rank_and_file.beta)
    options = m.innovators.outside_option
    assert (f["active_innovators"] == 0).all() and (f["precision"] < barrier).all()
    assert (np.diff(f["price"]) < 0).all()  # "only falls"
    return [
        ("0.125", options.low, "exact"),
        ("0.5", options.high, "exact"),
        ("0.5", np.sqrt(2 * m.innovators.cost * options.low), "exact"),
        ("1", np.sqrt(2 * m.innovators.cost * options.high), "exact"),
        ("0.80", m.value * f["marginal_value_innovators"], "at least"),
        ("0.316", f["price"].iloc[0], "rounded"),
        ("0.661", f["precision"].iloc[0], "rounded"),
        ("1.531", barrier, "rounded"),
        ("1.217", f.loc[1000.0, "precision"], "rounded"),
        ("1.237", f.iloc[-1]["precision"], "rounded"),
        ("4.56", f.loc[1000.0, "stock_rank_and_file"], "rounded"),
        ("4.92", f.iloc[-1]["stock_rank_and_file"], "rounded"),
    ], {"6", "1000", "2000"}


def _healthy_claims():
    scenario, f = _fluid("healthy_market", np.linspace(0.0, 200.0, 81))
    m, end = scenario.market, f.iloc[-1]
    curse = default_scenario().market.rank_and_file
    prices = np.linspace(0.01, 0.3, 30)
    ratio = curse.active_mass(prices) / m.rank_and_file.active_mass(prices)
    assert np.allclose(ratio, 1000.0)  # "a thousand times smaller at every price below full entry"
    barrier = precision_barrier(m.sigma0_sq, m.kappa, m.rank_and_file.beta)
    assert 1 / 4 - 0.005 <= end["active_innovators"] / m.innovators.mass <= 1 / 4 + 0.005  # "a quarter"
    assert 3 - 0.5 <= end["precision"] / barrier < 3 + 0.5  # "three times"
    return [
        ("2", m.rank_and_file.mass, "exact"),
        ("0.5", m.rank_and_file.outside_option.scale, "exact"),
        ("20", curse.mass, "exact"),
        ("0.05", curse.outside_option.scale, "exact"),
        ("0", m.kappa, "exact"),
        ("0.499", end["price"], "rounded"),
        ("24.9%", end["active_innovators"] / m.innovators.mass, "rounded"),
        ("2", f["stock_innovators"].iloc[0], "exact"),
        ("6.18", end["stock_innovators"], "rounded"),
        ("2.71", f["precision"].iloc[0], "rounded"),
        ("7.56", end["precision"], "rounded"),
        ("2.469", barrier, "rounded"),
    ], {"200"}


def _learning_claims():
    scenario = load_scenario(SCENARIO_DIR / "learning_firm.toml")
    return [("5%", scenario.learning.probe, "exact")], set()


def _contrast_claims():
    scenario = load_scenario(SCENARIO_DIR / "elasticity_contrast.toml")
    contrast, curse = scenario.market.rank_and_file, default_scenario().market.rank_and_file
    reference = contrast.outside_option.reference_price
    assert np.isclose(contrast.active_mass(reference), curse.active_mass(reference), rtol=1e-12)
    return [
        ("3", contrast.outside_option.elasticity, "exact"),
        ("4", 2 * curse.outside_option.exponent, "exact"),
        ("0.12", reference, "exact"),
        ("2.07%", contrast.outside_option.level, "rounded"),
    ], set()


CLAIMS = {"curse_of_precision": _curse_claims, "price_trap": _price_trap_claims,
          "precision_barrier": _precision_barrier_claims, "healthy_market": _healthy_claims,
          "learning_firm": _learning_claims, "elasticity_contrast": _contrast_claims}


def _holds(written, measured, how) -> bool:
    value, unit = _value(written), _unit(written)
    measured = np.atleast_1d(np.asarray(measured, dtype=float))
    if how == "exact":
        return bool(np.allclose(measured, value, rtol=1e-12, atol=0.0))
    if how == "rounded":
        return bool(np.all(np.abs(measured - value) <= 0.5 * unit * (1 + 1e-9)))
    if how in ("about", "near"):
        return bool(np.all(np.abs(measured - value) <= unit))
    if how == "within":
        return bool(np.all(measured <= value))
    if how == "at least":
        return bool(np.all(measured >= value))
    raise ValueError(how)


SLOW_CLAIMS = {"price_trap", "precision_barrier", "curse_of_precision"}  # fluid solves of 2 s and more


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_CLAIMS else n
                                  for n in sorted(CLAIMS)])
def test_every_number_in_a_description_is_true(name):
    claims, context = CLAIMS[name]()
    text = load_scenario(SCENARIO_DIR / f"{name}.toml").description
    if name == "curse_of_precision":
        text = default_scenario().description
    assert_claims(name, text, claims, context)


def assert_claims(name: str, description: str, claims, context) -> None:
    """Every claim ``(written, measured, how)`` holds, and every number in ``description`` is either
    claimed or in ``context`` (numbers that set the scene, not results)."""
    failures = [(written, how, np.round(np.atleast_1d(measured), 6)) for written, measured, how in claims
                if not _holds(written, measured, how)]
    assert not failures, failures
    unchecked = set(NUMBER.findall(description)) - {written for written, _, _ in claims} - context
    assert not unchecked, f"numbers in {name}'s description that no test checks: {sorted(unchecked)}"


def test_every_shipped_scenario_has_its_claims_checked():
    checked_elsewhere = {"sunk_entry", "logit_entry"}  # creator behaviours: tests/test_behaviours.py
    checked_elsewhere |= {"adaptive_expectations"}  # tests/test_adaptive_expectations.py
    checked_elsewhere |= {"chosen_originality"}  # tests/test_chosen_originality.py
    checked_elsewhere |= {"rival_firms"}  # tests/test_rival_firms.py
    checked_elsewhere |= {"private_broker", "creator_union"}  # tests/test_broker_union.py
    assert {p.stem for p in SCENARIOS} <= set(CLAIMS) | {"threshold_entry", "curse_with_diverse_imitators"} | checked_elsewhere


@pytest.mark.slow
def test_agents_show_what_the_demonstrations_claim():
    """The agents too: innovators never enter the barrier market, and the price never passes
    the cap in the trap market (1,000 agents per type, one seed)."""
    barrier = DataMarketModel(load_scenario(SCENARIO_DIR / "precision_barrier.toml").with_simulation(agents=1000),
                              rng=0).run()
    assert (barrier["active_innovators"] == 0).all()
    assert (barrier["precision"] < barrier["precision_barrier"]).all()
    trap = DataMarketModel(load_scenario(SCENARIO_DIR / "price_trap.toml").with_simulation(agents=1000), rng=0).run()
    assert (trap["price"] <= trap["price_cap"] * (1 + 1e-12)).all()
    assert trap["discount"].iloc[-1] < 0.02
