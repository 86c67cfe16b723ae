"""Which reader opens a file, decided by its content, never its extension.

Each reader module (netinspect.converters.*) exposes `READER`, a `Reader` whose `match` is cheap
(looks at the probe's head bytes or an already-open container) and whose `open` builds the Graph.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from netinspect.errors import ModelFormatError, NetinspectError
from netinspect.ir import Graph

HEAD_BYTES = 4096

READER_MODULES = (
    "netinspect.converters.onnx.reader",
    "netinspect.converters.matconvnet.reader",
)


class Probe:
    """A file under inspection: its size and head bytes, read once for every reader's `match`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = path.stat().st_size
        with path.open("rb") as f:
            self.head = f.read(HEAD_BYTES)


@dataclass(frozen=True)
class Reader:
    """One model format. `match` returns a tag naming the variant (or None); `open` reads it."""

    name: str
    description: str
    supports: str
    runtime: str
    match: Callable[[Probe], str | None]
    open: Callable[[Probe, str], Graph]


def readers() -> list[Reader]:
    return [importlib.import_module(m).READER for m in READER_MODULES]


def open_probe(path: str | Path) -> Probe:
    p = Path(path)
    if not p.exists():
        raise ModelFormatError("no such file", p)
    if p.is_dir():
        raise ModelFormatError("is a directory, not a model file", p)
    try:
        probe = Probe(p)
    except OSError as e:
        raise ModelFormatError(f"cannot read: {e.strerror}", p) from e
    if probe.size == 0:
        raise ModelFormatError("is empty", p)
    return probe


def detect(path: str | Path) -> tuple[Reader, str, Probe]:
    """The reader for a file, with the variant tag its `match` gave."""
    probe = open_probe(path)
    for reader in readers():
        tag = reader.match(probe)
        if tag:
            return reader, tag, probe
    known = ", ".join(r.name for r in readers())
    raise ModelFormatError(f"unknown model format (not one of: {known})", probe.path)


def load(path: str | Path) -> Graph:
    """Read any supported model file into the IR.

    Readers raise NetinspectError for problems they recognise; anything else a hostile or corrupted
    file provokes in a parsing library is still the file's fault, and reported as such."""
    reader, tag, probe = detect(path)
    try:
        graph = reader.open(probe, tag)
    except NetinspectError:
        raise
    except MemoryError as e:
        raise ModelFormatError(
            f"not a valid {reader.name} file: it declares more data than fits in memory", path
        ) from e
    except RecursionError as e:
        raise ModelFormatError(f"not a valid {reader.name} file: nesting too deep", path) from e
    except Exception as e:
        raise ModelFormatError(f"not a valid {reader.name} file ({type(e).__name__}: {e})", path) from e
    graph.metadata.source_format = graph.metadata.source_format or reader.name
    return graph
