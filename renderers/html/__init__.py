"""`netinspect view MODEL -o page.html`: one self-contained page to explore a model, offline.

Everything is inline (script, style, data); the page's Content-Security-Policy forbids every
network request. Python does the expensive parts (grouping, ranks and orders of the layered
layout, weight statistics under a read budget, operator docs); the page draws on a canvas.
"""

from __future__ import annotations

import gc
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

from netinspect import __version__
from netinspect.analysis.tensors import Budget
from netinspect.io.files import atomic_write
from netinspect.ir import Graph
from netinspect.renderers.html.data import page_data


def _embed(value: Any) -> str:
    """JSON safe inside a <script> element: no `<` at all (it only occurs inside JSON strings, where
    `\\u003c` means the same), so no `</script>` or `<!--` in a layer name can end or bend it."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)
    return text.replace("<", "\\u003c")


SCRIPTS = ("state.js", "layout.js", "draw.js", "navigate.js", "panel.js", "search.js", "input.js", "start.js")
"""The page's script, one file per job under assets/, inlined in this order into one closure (the page
template wraps them): state first, as every other part uses it; start last, as it draws the first
paint. One inline script keeps the page a single offline file under its Content-Security-Policy."""


def _asset(name: str) -> str:
    return resources.files("netinspect.renderers.html").joinpath("assets", name).read_text(encoding="utf-8")


def html_page(
    graph: Graph,
    overlay: dict[str, Any] | None = None,
    budget: Budget | None = None,
    expand: bool = False,
    start: str = "source",
) -> str:
    """The page as text; `overlay` is renderers.html.overlay.overlay()'s result, or None; `expand`
    opens every group from the start (large graphs otherwise open collapsed); `start` is the drawing
    the page opens on: "source" (the file's own layers, when it is not ONNX) or "onnx"."""
    collecting = gc.isenabled()
    gc.disable()  # the page data is hundreds of thousands of small acyclic objects: collections only cost
    try:
        view, details = page_data(graph, budget, expand, start)
    finally:
        if collecting:
            gc.enable()
    parts = {
        "__TITLE__": _escape_html(view["model"]["name"]),
        "__VERSION__": __version__,
        "__STYLE__": _asset("page.css"),
        "__VIEW__": _embed(view),
        "__OVERLAY__": _embed(overlay),
        "__DETAILS__": "\n".join(
            f'<script type="application/json" id="nv-{name}">{_embed(value)}</script>'
            for name, value in _blocks(details, view["chunk"])
        ),
        "__SCRIPT__": "\n".join(_asset(name) for name in SCRIPTS),
    }
    pattern = re.compile("|".join(map(re.escape, parts)))
    return pattern.sub(lambda m: parts[m.group(0)], _asset("page.html"))  # one pass: data is never rescanned


def _blocks(details: dict[str, Any], chunk: int) -> list[tuple[str, Any]]:
    """The panel's data as separate script elements, node rows in chunks, each parsed on first use."""
    nodes = details["nodes"]
    chunks = [(f"nodes-{i // chunk}", nodes[i : i + chunk]) for i in range(0, len(nodes), chunk)]
    return [
        *chunks,
        ("values", details["values"]),
        ("weights", details["weights"]),
        ("operators", details["operators"]),
        ("layers", details["layers"]),
    ]


def _escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_html(
    graph: Graph,
    path: str | Path,
    overlay: dict[str, Any] | None = None,
    expand: bool = False,
    start: str = "source",
) -> None:
    """Write the page to `path` atomically."""
    page = html_page(graph, overlay, expand=expand, start=start)
    with atomic_write(Path(path)) as f:
        f.write(page.encode("utf-8"))
