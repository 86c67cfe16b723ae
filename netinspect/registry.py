"""The one registry: which reader opens a file, and which handler converts each layer type.

Readers: each format's light `detect` module (netinspect.converters.<format>.detect) declares a
`Reader` — its detection, companion files, own options, reading function and reference runtime —
named in the entry-point group `netinspect.readers`, as an outside package does for a format of its
own. `match` is cheap (looks at the probe's head bytes), and the reading module is imported only
for a file it matched: detecting a file's format imports no converter, nor onnx (whose import costs
more than the rest of a small `info`; benchmarks/bench_cli_latency.py). The format is decided by
content, never by extension.

Layer handlers: `@layer(format, type, ...)` registers netinspect's own; a user adds or overrides one
with `register_layer(format, type, fn)` or through the entry-point group `netinspect.layers.<format>`
(entry names are layer types, values handler functions). `netinspect.build.convert_layers` looks
handlers up with `handler`, and names every layer without one at once (`how_to_add` ends that error).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netinspect.entry_points import EntryPoint, entry_points
from netinspect.errors import ModelFormatError, NetinspectError
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
        for entry in entry_points(group):
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


@dataclass(frozen=True)
class LoadOptions:
    """What a user can tell a reader that the file does not say, for every command that reads one.

    `keep_source_layout`: leave a channels-last model's inputs and outputs channels-last (the
    interior is still NCHW). `input_shapes`: pin input shapes (name → dims). `fixed_size`: pin free
    spatial dims to the size the file records as nominal (metadata.preprocessing.image_size).
    `permute_all_weights`: permute every weight for its op, even one the layout pass would keep as
    stored (layout.KEPT_WEIGHT_BYTES) and move the activations for instead.
    The per-format part is named by the readers: `companions` holds the extra files a format reads
    beside the model (`Reader.companions`, e.g. Keras' "config"), `format_options` the values of
    its own options (`Reader.options`, e.g. Keras' "backend"). A reader ignores the ones it does
    not declare, so one LoadOptions can serve both sides of a `check` or `diff`.
    """

    keep_source_layout: bool = False
    input_shapes: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    fixed_size: bool = False
    permute_all_weights: bool = False
    companions: dict[str, Path] = field(default_factory=dict)
    format_options: dict[str, Any] = field(default_factory=dict)


HEAD_BYTES = 4096

READER_GROUP = "netinspect.readers"
"""The entry-point group naming every reader, netinspect's own included: `name = "module:READER"`."""


class Probe:
    """A file under inspection: its size and head bytes, read once for every reader's `match`, and
    the companion files given with it (by `Companion.name`), which the matched reader may read."""

    def __init__(self, path: Path, companions: dict[str, Path] | None = None) -> None:
        self.path = path
        self.companions: dict[str, Path] = dict(companions or {})
        self.size = path.stat().st_size
        with path.open("rb") as f:
            self.head = f.read(HEAD_BYTES)


@dataclass(frozen=True)
class Companion:
    """A file a format reads beside the model (Keras' architecture JSON for a weights-only .h5).

    The CLI offers it as `--<name> FILE` on every command that reads a model; it reaches the reader
    and the reference runtime as `probe.companions[name]`."""

    name: str
    help: str


@dataclass(frozen=True)
class FormatOption:
    """A value only one format understands (Keras' `--backend`): `--<name> VALUE` on the CLI,
    `LoadOptions.format_options[name]` in the API. `choices` limits the values when not empty."""

    name: str
    help: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Runtime:
    """A format's reference runtime for `check`: `factory` (a dotted attribute of `module`) is called
    as `factory(probe, options)` and returns a check Runner that reads the source file itself.
    `extra` is what to install when the runtime's package is missing; `packages` the third-party
    modules it runs on, which no reader, renderer or core module may import (tests/test_architecture.py).
    The module is imported only when a check needs it."""

    name: str
    module: str
    factory: str
    extra: str = "netinspect"
    packages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reader:
    """One model format, everything about it: how to recognise it, read it, check it.

    `match` is cheap (it looks at the probe's head bytes) and returns a tag naming the variant, or
    None; readers are tried by ascending `priority` (content checks are exclusive, so order only
    keeps detection deterministic). `open` names the function `(probe, tag, options) -> Graph`
    as "module:function": the reader's heavy module is imported only for a file it matched.
    A Reader is declared in its format's light `detect` module and found through the entry-point
    group `netinspect.readers`."""

    name: str
    description: str
    supports: str
    match: Callable[[Probe], str | None]
    open: str
    runtime: Runtime
    priority: int = 100
    companions: tuple[Companion, ...] = ()
    options: tuple[FormatOption, ...] = ()
    operators: str | None = None
    """"module:function" giving every operator the format defines → what netinspect does with it
    (`netinspect formats NAME`); imported only when asked for."""

    def operator_status(self) -> dict[str, str] | None:
        if self.operators is None:
            return None
        module, _, function = self.operators.partition(":")
        status: dict[str, str] = getattr(importlib.import_module(module), function)()
        return status

    def read(self, probe: Probe, tag: str, options: LoadOptions) -> Graph:
        """The Graph of a file this reader matched, as its `open` function builds it."""
        module, _, function = self.open.partition(":")
        return getattr(importlib.import_module(module), function)(probe, tag, options)


_readers: list[Reader] | None = None


def readers() -> list[Reader]:
    """Every installed reader, in the order their `match` is tried (by priority, then name).

    Loading one imports only its format's `detect` module (match function and declaration); the
    reading code is imported when a file matches."""
    global _readers
    if _readers is None:
        found = []
        for entry in _reader_entry_points():
            try:
                reader = entry.load()
            except Exception as e:  # a broken plugin package must not look like a broken model
                raise NetinspectError(f"the reader {entry.name!r} ({entry.value}) failed to load: {e}") from e
            if not isinstance(reader, Reader):
                raise NetinspectError(f"the reader entry point {entry.name!r} ({entry.value}) is no Reader")
            found.append(reader)
        if not found:  # an install from before the entry points (editable ones keep old metadata)
            raise NetinspectError(
                f"no model readers are registered (entry-point group {READER_GROUP}): reinstall netinspect"
            )
        _readers = sorted(found, key=lambda r: (r.priority, r.name))
    return _readers


def _reader_entry_points() -> list[EntryPoint]:
    """The group's entry points of every installed distribution, the first of each name kept.

    Not `importlib.metadata.entry_points(group=...)`: it reads one distribution per name, the first
    on sys.path, and a stale `netinspect.egg-info` left in a checkout (found first when Python runs
    there) would hide the installed package's readers; netinspect.entry_points reads them all."""
    return entry_points(READER_GROUP)


def open_probe(path: str | Path, companions: dict[str, Path] | None = None) -> Probe:
    p = Path(path)
    for name, companion in (companions or {}).items():
        if not Path(companion).is_file():
            raise ModelFormatError(f"its {name} file {companion} (--{name}) does not exist", p)
    if not p.exists():
        raise ModelFormatError("no such file", p)
    if p.is_dir():
        raise ModelFormatError("is a directory, not a model file", p)
    try:
        probe = Probe(p, {name: Path(c) for name, c in (companions or {}).items()})
    except OSError as e:
        raise ModelFormatError(f"cannot read: {e.strerror}", p) from e
    if probe.size == 0:
        raise ModelFormatError("is empty", p)
    return probe


def detect(path: str | Path, options: LoadOptions | None = None) -> tuple[Reader, str, Probe]:
    """The reader for a file, with the variant tag its `match` gave; the probe carries the
    companion files of `options`."""
    probe = open_probe(path, (options or LoadOptions()).companions)
    found = readers()
    for reader in found:
        tag = reader.match(probe)
        if tag:
            return reader, tag, probe
    known = ", ".join(r.name for r in found)
    pickled = " — it is a Python pickle, which netinspect never unpickles" if _is_pickle(probe.head) else ""
    raise ModelFormatError(f"unknown model format (not one of: {known}){pickled}", probe.path)


def _is_pickle(head: bytes) -> bool:
    """A pickle of protocol 2–5 (`pickle.dump`, joblib: models saved as Python objects, as a
    real `transformer.h5` made by keras.saving.pickle_utils is): unpickling would run its code."""
    return len(head) > 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def load(path: str | Path, options: LoadOptions | None = None) -> Graph:
    """Read any supported model file into the IR, in the canonical layout (see layout.py).

    Readers raise NetinspectError for problems they recognise; anything else a hostile or corrupted
    file provokes in a parsing library is still the file's fault, and reported as such."""
    return open_detected(*detect(path, options), options)


def open_detected(reader: Reader, tag: str, probe: Probe, options: LoadOptions | None = None) -> Graph:
    """`load` for a file already detected (`check` needs the reader too, and detects once)."""
    path = probe.path
    options = options or LoadOptions()
    try:
        graph = reader.read(probe, tag, options)
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

    canonicalize(graph, options.keep_source_layout, options.permute_all_weights)
    graph.relink_source_layers()
    return graph
