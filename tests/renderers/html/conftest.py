"""One headless Chromium (Debian's, driven by selenium) for the whole session of browser tests."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.renderers.html import chromium


@dataclass
class Browser:
    """The driver plus what each page load must be checked for."""

    driver: Any

    def open(self, page: Path) -> None:
        self.driver.get_log("browser")  # start each page with empty logs
        self.driver.get_log("performance")
        self.driver.get(page.as_uri())
        deadline = time.monotonic() + 30
        while not self.driver.execute_script("return document.body.dataset.ready === '1'"):
            assert time.monotonic() < deadline, f"{page.name}: the page never drew"
            time.sleep(0.05)

    def console_errors(self) -> list[dict[str, Any]]:
        return [e for e in self.driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]

    def requests(self, page: Path) -> list[str]:
        """URLs the page asked for (DevTools network events of documents loaded from the page, so
        the browser's own chrome:// pages do not count), besides the page itself."""
        urls = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if (
                message["method"] == "Network.requestWillBeSent"
                and params.get("documentURL") == page.as_uri()
            ):
                urls.append(params["request"]["url"])
        resources = self.driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        return [u for u in [*urls, *resources] if u != page.as_uri()]

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def click_at(self, x: float, y: float) -> None:
        from selenium.webdriver.common.actions.action_builder import ActionBuilder

        actions = ActionBuilder(self.driver)
        actions.pointer_action.move_to_location(int(x), int(y)).click()
        actions.perform()

    def click_box(self, ident: str) -> None:
        box = self.js("return window.netinspect.locate(arguments[0])", ident)
        assert box is not None, f"{ident} is not drawn"
        self.click_at(box["x"] + min(20, box["w"] / 2), box["y"] + min(10, box["h"] / 2))

    def panel(self) -> str:
        return self.js("return document.getElementById('panel').innerText")

    def screenshot(self, path: Path) -> None:
        self.driver.save_screenshot(str(path))


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not chromium.available():
        pytest.skip(
            "Chromium and chromedriver are absent (scripts/setup.sh installs Debian's chromium packages)"
        )
    profile = tempfile.mkdtemp(prefix="netinspect-chromium-")
    driver = chromium.start(Path(profile), logs=True)
    try:
        yield Browser(driver)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
