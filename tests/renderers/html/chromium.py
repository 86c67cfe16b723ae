"""Debian's headless Chromium, started the one way this offline machine needs: for the browser
tests, the viewer benchmark and the README screenshot script alike.

The background-networking flags matter here: without them Chromium keeps dialling Google's hosts,
which this machine's closed network refuses.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def available() -> bool:
    return CHROMIUM.exists() and CHROMEDRIVER.exists()


def start(
    profile: Path, size: tuple[int, int] = (1400, 900), extra: Iterable[str] = (), logs: bool = False
) -> Any:
    """A selenium driver on a fresh profile folder; `logs` records console and network events."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--window-size={size[0]},{size[1]}", *extra, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    if logs:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
