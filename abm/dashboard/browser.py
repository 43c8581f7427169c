"""Drive the served dashboard in headless Chromium (Selenium): shared by the test and the screenshots.

The browser is Debian's ``chromium`` with its matching ``chromium-driver`` (``.ci/run``
installs both); nothing is downloaded at run time (Selenium Manager is never asked: the
driver's path is given). :func:`dashboard_server` starts ``abm dashboard`` in a subprocess on
a free loopback port, waits until it answers and always stops it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from abm.dashboard.server import DEFAULT_HOST, free_port, url_of

__all__ = ["BrowserUnavailable", "find_browser", "dashboard_server", "headless_chromium", "console_errors",
           "wait_for", "click_button", "press_slider", "read_table", "page_text", "save_screenshot"]

#: Window size of the headless browser (CSS pixels): wide enough for the sidebar and two columns.
WINDOW = (1500, 1000)


class BrowserUnavailable(RuntimeError):
    """Chromium, its driver or Selenium is missing."""


def find_browser() -> tuple[str, str]:
    """Paths of the ``chromium`` binary and of ``chromedriver``; :class:`BrowserUnavailable` saying
    what is missing and how to install it."""
    missing = []
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the Python package selenium (pip install -e '.[test]')")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None:
        missing.append("chromium (apt-get install chromium)")
    if driver is None:
        missing.append("chromedriver (apt-get install chromium-driver)")
    if missing:
        raise BrowserUnavailable("no headless browser: missing " + ", ".join(missing))
    return browser, driver


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def dashboard_server(port: int | None = None, host: str = DEFAULT_HOST, timeout: float = 120.0):
    """Run ``abm dashboard`` on ``host:port`` (a free port by default) and yield its address.

    Waits until the server answers (raising with its output if it dies or takes longer than
    ``timeout`` seconds) and terminates it on exit, killing it if it does not stop.
    """
    port = port or free_port(host)
    url = url_of(host, port)
    log = tempfile.TemporaryFile()
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "abm.cli", "dashboard", "--host", host, "--port", str(port)],
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=environment)
    try:
        deadline = time.monotonic() + timeout
        while not _answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                output = log.read().decode(errors="replace")[-4000:]
                state = f"exited with {process.returncode}" if process.poll() is not None else f"no answer in {timeout} s"
                raise RuntimeError(f"abm dashboard {state} at {url}:\n{output}")
            time.sleep(0.25)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@contextmanager
def headless_chromium(window=WINDOW):
    """A Selenium driver of headless Chromium (``--headless=new --no-sandbox``) that records
    the browser console; quit on exit."""
    browser, driver_path = find_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={window[0]},{window[1]}", "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    # The window includes room for browser controls even when headless: fix the page's own size.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": window[0], "height": window[1], "deviceScaleFactor": 1, "mobile": False})
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver) -> list[str]:
    """Messages the browser logged at level SEVERE since the last call, favicon requests aside."""
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and "favicon" not in entry["message"]]


def wait_for(condition, timeout: float = 60.0, interval: float = 0.2, what: str = "the page"):
    """Poll ``condition()`` until it returns something true, and return it; ``TimeoutError`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except Exception:  # the page is re-rendering: elements come and go
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(interval)


def page_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def click_button(driver, label: str, timeout: float = 60.0) -> None:
    """Click the enabled button whose text is ``label`` (case-insensitive)."""
    from selenium.webdriver.common.by import By

    def find():
        for button in driver.find_elements(By.TAG_NAME, "button"):
            if button.text.strip().lower() == label.lower() and button.is_enabled():
                return button
        return None

    wait_for(find, timeout, what=f"an enabled button {label!r}").click()


def press_slider(driver, key: str, keys) -> None:
    """Send ``keys`` (e.g. ``Keys.ARROW_RIGHT`` repeated) to the slider of control ``key``
    (CSS class ``abm-control-<key>``); each arrow moves it by one step."""
    from selenium.webdriver.common.by import By

    thumb = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, f".abm-control-{key} [role=slider]"),
                     what=f"the slider {key!r}")
    for key_press in keys:
        thumb.send_keys(key_press)
        time.sleep(0.15)


def read_table(driver, css_class: str) -> dict[str, str]:
    """The rows of a table of class ``css_class`` as ``{key: value}``, the key being the row's
    ``<code>`` element (the numbers panel), read as the browser shows them."""
    from selenium.webdriver.common.by import By

    rows = {}
    for row in driver.find_elements(By.CSS_SELECTOR, f"table.{css_class} tbody tr"):
        key = row.find_element(By.TAG_NAME, "code").text.strip()
        rows[key] = row.find_elements(By.TAG_NAME, "td")[-1].text.strip()
    return rows


def save_screenshot(driver, path: Path) -> Path:
    """A PNG of the browser's window at ``path`` (folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not driver.save_screenshot(str(path)):
        raise RuntimeError(f"the browser did not save a screenshot to {path}")
    return path
