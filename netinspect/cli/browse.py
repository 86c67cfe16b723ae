"""`view MODEL` without `-o`: where the page goes (a per-user cache), how it is shown (the default
browser, or a path to open), and `--serve`: that one page over HTTP on 127.0.0.1, nothing else.

The cache is `$XDG_CACHE_HOME/netinspect/pages` (default `~/.cache/netinspect/pages`). A page is
named after the model and a digest of its content and of everything else that shapes the page
(netinspect's version, the view and reading options), so it is reused while those are unchanged
and a changed model gets a new page. The server binds 127.0.0.1 only, so the page is reachable from
another machine only through a tunnel its user opens (`ssh -L`); it answers `/` with the page and
every other path with 404: no directory listing, no file is ever looked up from a request.
"""

from __future__ import annotations

import hashlib
import os
import sys
import webbrowser
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from netinspect._version import __version__
from netinspect.errors import OutputError
from netinspect.io.files import user_cache

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8080


def content_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, read in blocks (a model can be gigabytes)."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def cached_page_path(model: Path, variant: str) -> Path:
    """Where the page of `model` goes: `<model stem>-<digest>.html`, the digest covering the model's
    content, netinspect's version and `variant` (a description of every option that shapes the page)."""
    digest = hashlib.sha256()
    digest.update(content_digest(model).encode())
    digest.update(f"\0{__version__}\0{variant}".encode())
    folder = user_cache("pages")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create the page cache: {e.strerror}", folder) from e
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in model.stem)[:80] or "model"
    return folder / f"{stem}-{digest.hexdigest()[:16]}.html"


def browser_missing() -> str | None:
    """Why no graphical browser can be opened here, or None when one may be.

    `$BROWSER` always counts (webbrowser honours it). On Linux and the BSDs a graphical browser
    needs a display; without one webbrowser would fall back to a text browser in this terminal
    (lynx, w3m), which cannot run the page, so that case is reported instead.
    """
    if os.environ.get("BROWSER"):
        return None
    if sys.platform in ("darwin", "win32"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return "no display" + (" (SSH session)" if os.environ.get("SSH_CONNECTION") else "")


def open_in_browser(page: Path) -> str | None:
    """Open the page in the default browser; None if it was handed to one, else why not."""
    missing = browser_missing()
    if missing:
        return missing
    try:
        opened = webbrowser.open(page.resolve().as_uri())
    except webbrowser.Error as e:
        return f"no browser found ({e})"
    return None if opened else "no browser found"


class _PageHandler(BaseHTTPRequestHandler):
    """Answers GET/HEAD `/` with the page; any other path, 404; any other method, 405."""

    page: bytes = b""
    server_version = "netinspect"
    sys_version = ""

    def _respond(self, body: bool) -> None:
        if self.path.partition("?")[0] != "/":
            self.send_error(404, "only / is served")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.page)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if body:
            self.wfile.write(self.page)

    def do_GET(self) -> None:
        self._respond(body=True)

    def do_HEAD(self) -> None:
        self._respond(body=False)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One line per request on stderr: what was asked and the answer."""
        print(f"netinspect: {self.command} {self.path} → {code}", file=sys.stderr)

    def log_error(self, format: str, *args: object) -> None:
        """Already said by log_request."""


def page_server(page: bytes, port: int) -> ThreadingHTTPServer:
    """An HTTP server bound to 127.0.0.1:`port` (0: any free port) serving `page` at `/` only."""
    handler = type("PageHandler", (_PageHandler,), {"page": page})
    try:
        return ThreadingHTTPServer((LOOPBACK, port), handler)
    except OSError as e:
        hint = "choose another with --port; 0 picks a free one"
        raise OutputError(f"cannot listen on {LOOPBACK}:{port}: {e.strerror} ({hint})") from e


def _say(line: str) -> None:
    print(line, flush=True)


def serve(page: Path, port: int, announce: Callable[[str], None] = _say) -> None:
    """Serve the page until Ctrl-C, announcing its URL first."""
    server = page_server(page.read_bytes(), port)
    host, bound = server.server_address[:2]
    announce(f"serving {page.name} at http://{host}:{bound}/ (this machine only; Ctrl-C stops)")
    tunnel = f"ssh -L {bound}:{LOOPBACK}:{bound} HOST"
    announce(f"from another machine: {tunnel}, then open http://{LOOPBACK}:{bound}/ there")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        announce("stopped")
    finally:
        server.server_close()
