"""Drive a viewer page in headless Chromium: what the browser tests and `bench/tree_viewer.py`
share. Needs Debian's `chromium` and `chromium-driver` and the `selenium` package (in the `dev`
extra: pip install 'lmzero[dev]'); nothing else in lmzero imports this module.

The flags keep Chromium off the network: on a closed network its background requests (component
updates, sync, QUIC probes) made it hang at start-up.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage")


def binaries() -> tuple[str | None, str | None]:
    """The paths of chromium and chromedriver, None where missing."""
    return (shutil.which("chromium") or shutil.which("chromium-browser"),
            shutil.which("chromedriver"))


def missing() -> str | None:
    """Why no headless Chromium can be driven here (one line), or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install 'lmzero[dev]')"
    browser, driver = binaries()
    if browser is None or driver is None:
        return "chromium and chromedriver are not installed (apt-get install chromium " \
               "chromium-driver)"
    return None


@contextmanager
def chromium(width: int = 1400, height: int = 900):
    """A headless Chromium WebDriver with a fresh profile and the browser log on."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    browser, driver_path = binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    with tempfile.TemporaryDirectory(prefix="lmzero-chromium-") as profile:
        for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def open_page(driver, path: Path, timeout: float = 30.0) -> float:
    """Load the page at `path` and wait for `window.viewerReady`; returns the page's own
    render time in ms (navigation start to ready: `performance.now()` at that moment)."""
    driver.get(Path(path).resolve().as_uri())
    deadline = time.monotonic() + timeout
    while not driver.execute_script("return window.viewerReady === true"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path}: the viewer was not ready after {timeout:.0f} s "
                               f"(console: {console_errors(driver)})")
        time.sleep(0.02)
    return float(driver.execute_script("return window.viewerRenderMs"))


def console_errors(driver) -> list[str]:
    """The browser console's errors since the last call (the log is drained on reading)."""
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE"]
