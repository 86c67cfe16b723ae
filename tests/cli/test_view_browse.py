"""`view MODEL` without `-o`: the page goes to the per-user cache and opens in the browser; with no
browser its path is printed; `--serve` serves that one page on 127.0.0.1 and nothing else.

Every command runs as a real process with its own XDG cache folder; the browser is a script that
records what it was asked to open; the server is talked to through real sockets, with timeouts.
"""

from __future__ import annotations

import http.client
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from netinspect.cli.browse import page_server

ROOT = Path(__file__).resolve().parents[2]
MAT = ROOT / "fixtures" / "matconvnet" / "simplenn_beta17.mat"
OTHER = ROOT / "fixtures" / "matconvnet" / "simplenn_blocks.mat"
NETINSPECT = [sys.executable, "-m", "netinspect"]
TIMEOUT = 60


def environment(tmp_path: Path, browser: Path | None = None) -> dict[str, str]:
    """A session with no display (as over SSH), its own cache, and a browser only if given."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    if browser is not None:
        env["BROWSER"] = str(browser)
    return env


def run(args: list[str | Path], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NETINSPECT, *map(str, args)], capture_output=True, text=True, env=env, timeout=TIMEOUT, cwd=ROOT
    )


def recording_browser(tmp_path: Path) -> tuple[Path, Path]:
    """A `$BROWSER` that appends each URL it is given to a log file, and that log."""
    log = tmp_path / "opened.log"
    script = tmp_path / "browser.sh"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{log}"\n')
    script.chmod(0o755)
    return script, log


def pages(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "netinspect" / "pages").glob("*.html"))


@pytest.mark.parametrize("suffix", [".mat", ".onnx"])
def test_view_without_output_opens_the_cached_page_in_the_browser(tmp_path: Path, suffix: str) -> None:
    browser, log = recording_browser(tmp_path)
    model = MAT
    if suffix == ".onnx":
        model = tmp_path / "simplenn_beta17.onnx"
        assert run(["convert", MAT, "-o", model], environment(tmp_path)).returncode == 0
    result = run(["view", model], environment(tmp_path, browser))
    assert result.returncode == 0, result.stderr
    [page] = pages(tmp_path)
    assert page.name.startswith("simplenn_beta17-")
    assert str(page) in result.stdout
    assert log.read_text().splitlines() == [page.as_uri()]
    assert "<html" in page.read_text()[:2000].lower() and "simplenn_beta17" in page.read_text()


def test_the_page_is_reused_while_the_model_and_options_are_unchanged(tmp_path: Path) -> None:
    env = environment(tmp_path)
    model = tmp_path / "model.mat"
    model.write_bytes(MAT.read_bytes())
    assert run(["view", model, "--no-browser"], env).returncode == 0
    [first] = pages(tmp_path)
    written = first.stat().st_mtime_ns
    again = run(["view", model, "--no-browser"], env)
    assert again.returncode == 0 and "cached" in again.stdout
    assert pages(tmp_path) == [first] and first.stat().st_mtime_ns == written
    assert run(["view", model, "--no-browser", "--expand"], env).returncode == 0
    assert len(pages(tmp_path)) == 2  # another option, another page
    model.write_bytes(OTHER.read_bytes())  # same name, other content
    assert run(["view", model, "--no-browser"], env).returncode == 0
    assert len(pages(tmp_path)) == 3


def test_with_no_browser_the_path_is_printed(tmp_path: Path) -> None:
    result = run(["view", MAT], environment(tmp_path))
    assert result.returncode == 0, result.stderr
    [page] = pages(tmp_path)
    assert "no browser opened (no display)" in result.stdout
    assert page.as_uri() in result.stdout and "--serve" in result.stdout
    assert result.stderr == ""


def test_no_browser_opens_none_even_where_one_is_set(tmp_path: Path) -> None:
    browser, log = recording_browser(tmp_path)
    result = run(["view", MAT, "--no-browser"], environment(tmp_path, browser))
    assert result.returncode == 0, result.stderr
    [page] = pages(tmp_path)
    assert str(page) in result.stdout
    assert not log.exists()


def test_output_still_writes_where_asked_and_opens_nothing(tmp_path: Path) -> None:
    browser, log = recording_browser(tmp_path)
    out = tmp_path / "page.html"
    result = run(["view", MAT, "-o", out], environment(tmp_path, browser))
    assert result.returncode == 0, result.stderr
    assert out.is_file() and pages(tmp_path) == [] and not log.exists()
    assert result.stdout.strip() == f"wrote {out}"


@pytest.fixture
def served() -> Iterator[tuple[int, bytes]]:
    """A page server on a free port in a thread, shut down after the test."""
    page = b"<!doctype html><title>the page</title>"
    server = page_server(page, 0)
    assert server.socket.getsockname()[0] == "127.0.0.1"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], page
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def get(port: int, path: str, method: str = "GET", host: str = "127.0.0.1") -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_the_server_answers_the_page_at_root_only(served: tuple[int, bytes]) -> None:
    port, page = served
    assert get(port, "/") == (200, page)
    assert get(port, "/?x=1") == (200, page)
    others = ("/etc/passwd", "/..", "/../etc/passwd", "/%2e%2e/etc/passwd", "/x", "/a.html", "//etc/passwd")
    for path in others:
        status, body = get(port, path)
        assert status == 404, path
        assert page not in body
    assert get(port, "/", method="POST")[0] == 501
    assert get(port, "/", method="HEAD") == (200, b"")


def test_the_server_listens_on_127_0_0_1_and_nowhere_else(served: tuple[int, bytes]) -> None:
    port, _ = served
    assert get(port, "/")[0] == 200
    # Another loopback address of this machine: a server bound to every interface would answer it.
    with socket.socket() as s:
        s.settimeout(5)
        assert s.connect_ex(("127.0.0.2", port)) != 0


def test_view_serve_prints_the_url_serves_the_page_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = environment(tmp_path)
    child = subprocess.Popen(
        [*NETINSPECT, "view", str(MAT), "--serve", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    try:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in child.stdout or ()], daemon=True).start()
        port = None
        while port is None:
            line = lines.get(timeout=TIMEOUT)
            found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
            port = int(found.group(1)) if found else None
        [page] = pages(tmp_path)
        assert get(port, "/") == (200, page.read_bytes())
        assert get(port, "/etc/passwd")[0] == 404
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=TIMEOUT) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
