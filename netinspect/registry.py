"""The one registry: which reader opens a file, and which handler converts each layer type.

Readers: each format's `detect` module (netinspect.converters.<format>.detect) exposes `READER`, a
`Reader` whose `match` is cheap (looks at the probe's head bytes) and whose `open` imports the
format's reader only when called: detecting a file's format imports no other format's converter,
nor onnx (whose import costs more than the rest of a small `info`; benchmarks/bench_cli_latency.py).
The format is decided by content, never by extension.

Layer handlers: `@layer(format, type, ...)` registers netinspect's own; a user adds or overrides one
with `register_layer(format, type, fn)` or through the entry-point group `netinspect.layers.<format>`
(entry names are layer types, values handler functions). Readers look handlers up with `handler`
and report every layer without one at once through `Unsupported`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from netinspect.errors import ModelFormatError, NetinspectError, UnsupportedError
from netinspect.ir import Graph

Handler = Callable[[Any], None]
"""A layer handler: takes the format's LayerContext (netinspect.build) and emits nodes through it."""

ENTRY_POINT_GROUP = "netinspect.layers.{format}"

_builtin: dict[str, dict[str, Handler]] = {}
_user: dict[str, dict[str, Handler]] = {}
_from_entry_points: dict[str, dict[str, Handler]] = {}


def layer(format_name: str, *types: str) -> Callable[[Handler], Handler]:
    """Register one of netinspect's own handlers for the given source layer types of a format."""

    def register(fn: Handler) -> Handler:
        table = _builtin.setdefault(format_name, {})
        for layer_type in types:
            table[layer_type] = fn
        return fn

    return register


def register_layer(format_name: str, layer_type: str, handler: Handler) -> None:
    """A user's handler for a layer type; it takes precedence over netinspect's own."""
    if not format_name or not layer_type or not callable(handler):
        raise ValueError("register_layer needs a format, a layer type and a callable")
    _user.setdefault(format_name, {})[layer_type] = handler


def unregister_layer(format_name: str, layer_type: str) -> None:
    _user.get(format_name, {}).pop(layer_type, None)


def handler(format_name: str, layer_type: str) -> Handler | None:
    """The handler for a layer type: the user's (in code, then by entry point), else netinspect's."""
    user = _user.get(format_name, {}).get(layer_type)
    if user is not None:
        return user
    plugin = _entry_point_handlers(format_name).get(layer_type)
    if plugin is not None:
        return plugin
    return _builtin.get(format_name, {}).get(layer_type)


def _entry_point_handlers(format_name: str) -> dict[str, Handler]:
    if format_name not in _from_entry_points:
        group = ENTRY_POINT_GROUP.format(format=format_name)
        found: dict[str, Handler] = {}
        for entry in entry_points(group=group):
            try:
                found[entry.name] = entry.load()
            except Exception as e:  # a broken plugin package must not look like a broken model
                raise NetinspectError(
                    f"the {format_name} layer plugin {entry.name!r} ({entry.value}) failed to load: {e}"
                ) from e
        _from_entry_points[format_name] = found
    return _from_entry_points[format_name]


def how_to_add(format_name: str) -> str:
    """The sentence every refusal of an unknown layer ends with."""
    return (
        f"to convert such layers, register a handler: netinspect.registry.register_layer"
        f"({format_name!r}, TYPE, fn), the entry-point group {ENTRY_POINT_GROUP.format(format=format_name)}"
        ", or --plugin module.py"
    )


@dataclass
class Unsupported:
    """Collects every layer a reader cannot convert, so the error lists them all at once."""

    format_name: str
    path: Path | str | None
    items: list[str] = field(default_factory=list)
    unknown_types: bool = False

    def add(self, name: str, layer_type: str, reason: str | None = None, unknown: bool = True) -> None:
        self.items.append(f"layer {name!r} (type {layer_type!r})" + (f": {reason}" if reason else ""))
        self.unknown_types = self.unknown_types or unknown

    def check(self, what: str | None = None) -> None:
        """Raise UnsupportedError naming every collected layer, if there is any."""
        if self.items:
            hint = how_to_add(self.format_name) if self.unknown_types else None
            raise UnsupportedError(
                self.items, self.path, what=what or f"{self.format_name} layers", hint=hint
            )


@dataclass(frozen=True)
class LoadOptions:
    """What a user can tell a reader that the file does not say.

    `keep_source_layout`: leave a channels-last model's inputs and outputs channels-last (the
    interior is still NCHW). `input_shapes`: pin input shapes (name → dims). `backend`: Keras
    convolution semantics ("theano" | "tensorflow") when the file's evidence should be overridden.
    `config`: an architecture JSON for weights-only Keras files. `fixed_size`: pin free spatial
    dims to the size the file records as nominal (metadata.preprocessing.image_size).
    `permute_all_weights`: permute every weight for its op, even one the layout pass would keep as
    stored (layout.KEPT_WEIGHT_BYTES) and move the activations for instead.
    `weights`: a companion weights file (Caffe's .caffemodel for a deploy .prototxt).
    """

    keep_source_layout: bool = False
    input_shapes: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    backend: str | None = None
    config: Path | None = None
    fixed_size: bool = False
    permute_all_weights: bool = False
    weights: Path | None = None


HEAD_BYTES = 4096

READER_MODULES = (
    "netinspect.converters.onnx.detect",
    "netinspect.converters.tflite.detect",
    "netinspect.converters.matconvnet.detect",
    "netinspect.converters.keras.detect",
    "netinspect.converters.caffe.detect",
)
"""Every format, in the order their `match` is tried (content checks are exclusive)."""


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
    open: Callable[[Probe, str, LoadOptions], Graph]


def opener(module: str, function: str = "open_graph") -> Callable[[Probe, str, LoadOptions], Graph]:
    """A Reader's `open` that imports the format's reader module on first use, not at detection."""

    def open_graph(probe: Probe, tag: str, options: LoadOptions) -> Graph:
        return getattr(importlib.import_module(module), function)(probe, tag, options)

    return open_graph


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
    for module in READER_MODULES:
        reader = importlib.import_module(module).READER
        tag = reader.match(probe)
        if tag:
            return reader, tag, probe
    known = ", ".join(r.name for r in readers())
    raise ModelFormatError(f"unknown model format (not one of: {known})", probe.path)


def load(path: str | Path, options: LoadOptions | None = None) -> Graph:
    """Read any supported model file into the IR, in the canonical layout (see layout.py).

    Readers raise NetinspectError for problems they recognise; anything else a hostile or corrupted
    file provokes in a parsing library is still the file's fault, and reported as such."""
    return open_detected(*detect(path), options)


def open_detected(reader: Reader, tag: str, probe: Probe, options: LoadOptions | None = None) -> Graph:
    """`load` for a file already detected (`check` needs the reader too, and detects once)."""
    path = probe.path
    try:
        graph = reader.open(probe, tag, options or LoadOptions())
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
    from netinspect.layout import canonicalize

    options = options or LoadOptions()
    canonicalize(graph, options.keep_source_layout, options.permute_all_weights)
    return graph
