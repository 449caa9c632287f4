"""One headless Chromium (Debian's, driven through its own chromedriver: nothing is downloaded)
and one service behind a gate proxy, shared by a module's browser tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.threaded import ThreadedService
from tests.gateproxy import GateProxy
from tests.servicekit import REPO

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SHOTS = REPO / "reports" / "out" / "tests"
# A short heartbeat, so the page's dead-socket deadline (interval + timeout) is 2 s here.
SERVICE = {"heartbeat.interval_s": 1.0, "heartbeat.timeout_s": 1.0, "engine.speed": 50.0, "cache.ttl_s": 0.0}


def chromium_paths() -> tuple[str, str]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists() and not shutil.which(Path(p).name)]
    if missing:
        pytest.fail(f"browser tests need Debian's chromium and chromium-driver (missing: {', '.join(missing)}); "
                    "`make test` installs them", pytrace=False)
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1000,1200", "--lang=en-US"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[ThreadedService, GateProxy]]:
    """The service, and a proxy in front of it that the page is loaded through (faults off)."""
    with ThreadedService(**SERVICE) as svc, GateProxy(svc.url) as proxy:
        yield svc, proxy
