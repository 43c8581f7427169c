"""The dashboard, served by ``abm dashboard`` and driven in headless Chromium.

The browser test needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs
them) and the ``dashboard`` and ``test`` extras. Without them it skips locally and fails
under CI (the ``CI`` environment variable set), so CI can never pass by skipping it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from abm.dashboard.server import check_host

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = "curse_of_precision"
#: The slider the test moves, its step, and how many steps.
KAPPA_START, KAPPA_STEP, KAPPA_PRESSES = 0.2, 0.01, 5
STEPS = 3


def _need(what: str, error) -> None:
    """Skip with the reason locally; fail under CI."""
    message = f"{what}: {error}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so the browser test must run)")
    pytest.skip(message)


def _browser_ready() -> None:
    """Skip (locally) or fail (under CI) unless the extras, Chromium and its driver are there."""
    missing = [name for name in ("selenium", "solara") if importlib.util.find_spec(name) is None]
    if missing:
        _need("the dashboard and test extras are not installed (pip install -e '.[test]')", f"missing {missing}")
    from abm.dashboard.browser import BrowserUnavailable, find_browser

    try:
        find_browser()
    except BrowserUnavailable as error:
        _need("no browser", error)


def test_only_loopback_hosts_are_served():
    assert check_host("127.0.0.1") == "127.0.0.1" and check_host("::1") == "::1"
    assert check_host("localhost") == "localhost" and check_host("127.5.0.2") == "127.5.0.2"
    for host in ("0.0.0.0", "192.168.1.4", "10.0.0.1", "example.org", "::"):
        with pytest.raises(ValueError, match="loopback"):
            check_host(host)


def test_dashboard_job_refuses_other_hosts(capsys):
    from abm.cli import main

    assert main(["dashboard", "--host", "0.0.0.0"]) == 2
    assert "loopback" in capsys.readouterr().err


def _state(model) -> dict:
    """What the numbers panel shows for ``model``: its latest round, or its initial state."""
    if model.latest:
        return dict(model.latest)
    return {"precision": model.precision, "stock_innovators": model.stocks[0],
            "stock_rank_and_file": model.stocks[1]}


def _assert_panel_matches(panel: dict, model, rounds: int) -> None:
    assert panel["round"].split()[0] == str(rounds)
    expected = _state(model)
    compared = 0
    for key, value in expected.items():
        if key not in panel:
            continue
        shown = float(panel[key])
        assert shown == pytest.approx(float(value), rel=1e-5, abs=1e-12), f"{key}: panel {shown}, model {value}"
        compared += 1
    assert compared >= (14 if rounds else 3), f"only {compared} numbers compared: {panel}"


@pytest.mark.slow
def test_dashboard_in_a_real_browser(tmp_path):
    _browser_ready()
    from matplotlib import image
    from selenium.webdriver.common.keys import Keys

    from abm.dashboard.browser import (
        click_button,
        console_errors,
        dashboard_server,
        headless_chromium,
        page_text,
        press_slider,
        read_table,
        save_screenshot,
        wait_for,
    )
    from abm.dashboard.dynamic import default_settings
    from abm.simulation.dynamic_market.model import DataMarketModel

    defaults = default_settings(SCENARIO)
    assert defaults["kappa"] == KAPPA_START
    kappa = round(KAPPA_START + KAPPA_PRESSES * KAPPA_STEP, 10)

    def model(rounds: int) -> DataMarketModel:
        """The model the test expects: same scenario, seed and slider value, stepped ``rounds`` times."""
        built = DataMarketModel(scenario=SCENARIO, rng=defaults["seed"], kappa=kappa)
        for _ in range(rounds):
            built.step()
        return built

    def panel_at(rounds: int) -> dict:
        return wait_for(lambda: (table := read_table(driver, "abm-numbers")) and
                        table.get("round", "").split()[0] == str(rounds) and table, 120,
                        what=f"the numbers panel at round {rounds}")

    with dashboard_server() as url, headless_chromium() as driver:
        driver.get(url)
        initial = panel_at(0)
        assert float(initial["precision"]) == pytest.approx(
            DataMarketModel(scenario=SCENARIO, rng=defaults["seed"]).precision, rel=1e-5)
        # Move the kappa slider five steps to the right: a fresh run with kappa = 0.25.
        press_slider(driver, "kappa", [Keys.ARROW_RIGHT] * KAPPA_PRESSES)
        wait_for(lambda: f"recursive bias kappa: {kappa:g}" in page_text(driver), 90, what=f"kappa = {kappa:g}")
        wait_for(lambda: "solving the fluid limit" not in page_text(driver), 120, what="the fluid limit")
        for done in range(1, STEPS + 1):
            click_button(driver, "Step")
            panel_at(done)
        after = panel_at(STEPS)
        _assert_panel_matches(after, model(STEPS), STEPS)
        unmoved = DataMarketModel(scenario=SCENARIO, rng=defaults["seed"])
        for _ in range(STEPS):
            unmoved.step()
        assert float(after["precision_barrier"]) != pytest.approx(unmoved.latest["precision_barrier"], rel=1e-3), \
            "the slider did not change the model"
        screenshot = save_screenshot(driver, tmp_path / "dashboard.png")
        # Reset: round 0 again, with the same settings; stepping again gives the same numbers.
        click_button(driver, "Reset")
        _assert_panel_matches(panel_at(0), model(0), 0)
        assert f"recursive bias kappa: {kappa:g}" in page_text(driver)
        click_button(driver, "Step")
        _assert_panel_matches(panel_at(1), model(1), 1)
        errors = console_errors(driver)
        assert errors == [], f"the browser console logged errors: {errors}"

    pixels = image.imread(screenshot)
    assert pixels.shape[0] > 500 and pixels.shape[1] > 1000
    assert float(np.std(pixels[..., :3])) > 0.05, "the screenshot is blank"
    results = ROOT / "results" / "dashboard"
    results.mkdir(parents=True, exist_ok=True)
    shutil.copy(screenshot, results / "test_dashboard.png")
