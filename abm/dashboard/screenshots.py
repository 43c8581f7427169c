"""Screenshots of every dashboard page, taken in headless Chromium by :mod:`abm.dashboard.browser`.

``abm reproduce --only dashboard`` calls :func:`take_screenshots`, which writes
``dynamic.png``, ``regimes.png``, ``static.png`` and ``procurement.png`` (the figures of
``docs/dashboard.md`` and the README) into ``docs/figures/dashboard/``. It refuses to write
a page whose browser console logged an error.
"""

from __future__ import annotations

from pathlib import Path

from abm.dashboard import PAGES
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

__all__ = ["take_screenshots", "SCREENSHOT_WINDOW", "DYNAMIC_STEPS"]

#: Window of the screenshots (CSS pixels).
SCREENSHOT_WINDOW = (1500, 1150)
#: Clicks on Step at the largest render interval (500 rounds each) before the dynamic page's screenshot.
DYNAMIC_STEPS = 8


def _rounds(driver) -> int:
    return int(read_table(driver, "abm-numbers")["round"].split()[0])


def _dynamic(driver, url: str) -> None:
    from selenium.webdriver.common.keys import Keys

    driver.get(url)
    wait_for(lambda: "round" in read_table(driver, "abm-numbers"), 120, what="the numbers panel")
    wait_for(lambda: "solving the fluid limit" not in page_text(driver), 120, what="the fluid limit")
    press_slider(driver, "render-interval", [Keys.END])
    wait_for(lambda: "render interval (rounds per Step or render): 500" in page_text(driver), 30,
             what="the render interval at 500")
    for _ in range(DYNAMIC_STEPS):
        before = _rounds(driver)
        click_button(driver, "Step")
        wait_for(lambda: _rounds(driver) > before, 120, what="a Step")


def _wait_for_figure(css_class: str, timeout: float):
    def ready(driver, url: str) -> None:
        from selenium.webdriver.common.by import By

        driver.get(url)
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, f".{css_class} img")
                 and not driver.find_elements(By.CSS_SELECTOR, ".abm-progress"), timeout,
                 what=f"the figure {css_class} with nothing in progress")

    return ready


#: How to bring each page to the state its screenshot shows.
PREPARE = {
    "dynamic": _dynamic,
    "regimes": _wait_for_figure("abm-regimes", 300),
    "static": _wait_for_figure("abm-static", 60),
    "procurement": _wait_for_figure("abm-procurement", 120),
}


def take_screenshots(out, pages=None) -> list[Path]:
    """Serve the dashboard, bring each page of ``pages`` (default all) to its state, and save
    ``<page>.png`` into ``out``. ``RuntimeError`` if a page logs a console error."""
    import time

    out = Path(out)
    written = []
    with dashboard_server() as url, headless_chromium(SCREENSHOT_WINDOW) as driver:
        for name in pages or PAGES:
            path, _ = PAGES[name]
            PREPARE[name](driver, url + path)
            time.sleep(1.5)  # let the last image reach the page
            errors = console_errors(driver)
            if errors:
                raise RuntimeError(f"the {name} page logged console errors: {errors}")
            written.append(save_screenshot(driver, out / f"{name}.png"))
    return written
