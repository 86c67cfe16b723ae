"""What the renderers read from the ONNX operator schemas (input names, attribute defaults, the
panel's documentation), remembered per installed onnx version in a per-user cache.

The schemas ship with the `onnx` package, whose import costs more than drawing a small model
(onnx, protobuf, ml_dtypes: ~0.14 s of CPU, against 0.12 s for numpy; benchmarks/bench_cli_latency.py).
So each (domain, op, opset) record is read from onnx once, written to
`$XDG_CACHE_HOME/netinspect/onnx-schemas/<onnx version>.json`, and later views of a model that is
not ONNX never import onnx. The file is named after the installed onnx's version, so an upgrade
reads the new schemas; a cache that cannot be read or written only costs the import.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import tempfile
from functools import cache
from typing import Any

from netinspect.entry_points import version
from netinspect.io.files import user_cache

FORMAT = 1
"""Bumped when a record's layout changes, so older cache files are not read."""


class _Records:
    """The records of one onnx version: loaded from the cache file, added to, saved at exit."""

    def __init__(self) -> None:
        onnx_version = version("onnx") or "unknown"  # not importlib.metadata: ~11 ms of every view
        self.path = user_cache("onnx-schemas") / f"{onnx_version}-{FORMAT}.json"
        self.records: dict[str, dict[str, Any] | None] = {}
        self.added = False
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(self.path.read_text())
            if isinstance(loaded, dict):
                self.records = loaded
        atexit.register(self.save)

    def get(self, op_type: str, domain: str, opset: int) -> dict[str, Any] | None:
        key = f"{domain}|{op_type}|{opset}"
        record = self.records.get(key, ())
        if not (record is None or _well_formed(record)):  # absent, or a damaged cache file
            record = self.records[key] = _from_onnx(op_type, domain, opset)
            self.added = True
        return record

    def save(self) -> None:
        """Write the records atomically; a cache that cannot be written is not an error."""
        if not self.added:
            return
        with contextlib.suppress(OSError, TypeError, ValueError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".schemas.", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w") as f:
                    json.dump(self.records, f, separators=(",", ":"))
                os.replace(tmp, self.path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            self.added = False


@cache
def _records() -> _Records:
    return _Records()


def schema(op_type: str, domain: str, opset: int) -> dict[str, Any] | None:
    """The operator's record at an opset, or None when onnx knows no such operator.

    `doc`: description, attributes, inputs (name, type, option "", "optional" or "variadic"),
    outputs and type constraints, for the panel; `defaults`: attribute name → default value
    (plain JSON values; bytes as text)."""
    return _records().get(op_type, "" if domain == "ai.onnx" else domain, opset)


def _well_formed(record: Any) -> bool:
    return (
        isinstance(record, dict)
        and isinstance(record.get("defaults"), dict)
        and isinstance(record.get("doc"), dict)
        and isinstance(record["doc"].get("inputs"), list)
        and all(isinstance(i, dict) and "name" in i and "option" in i for i in record["doc"]["inputs"])
    )


def _from_onnx(op_type: str, domain: str, opset: int) -> dict[str, Any] | None:
    import onnx.defs
    import onnx.helper

    try:
        found = onnx.defs.get_schema(op_type, opset, domain)
    except onnx.defs.SchemaError:
        return None
    options = {
        onnx.defs.OpSchema.FormalParameterOption.Optional: "optional",
        onnx.defs.OpSchema.FormalParameterOption.Variadic: "variadic",
    }

    def formal(p: Any) -> dict[str, Any]:
        return {"name": p.name, "type": p.type_str, "option": options.get(p.option, ""),
                "description": p.description.strip()}  # fmt: skip

    defaults = {
        name: _plain(onnx.helper.get_attribute_value(attr.default_value))
        for name, attr in found.attributes.items()
        if attr.default_value.name
    }
    doc = {
        "name": found.name,
        "domain": found.domain or "ai.onnx",
        "since": found.since_version,
        "deprecated": found.deprecated,
        "doc": (found.doc or "").strip(),
        "attributes": [
            {
                "name": a.name,
                "type": a.type.name.lower(),
                "required": a.required,
                "description": a.description.strip(),
                "default": None if defaults.get(name) is None else str(defaults[name]),
            }
            for name, a in found.attributes.items()
        ],
        "inputs": [formal(p) for p in found.inputs],
        "outputs": [formal(p) for p in found.outputs],
        "constraints": [
            {"parameter": c.type_param_str, "types": list(c.allowed_type_strs), "description": c.description}
            for c in found.type_constraints
        ],
    }
    return {"doc": doc, "defaults": {k: v for k, v in defaults.items() if v is not None}}


def _plain(value: Any) -> Any:
    """An attribute default as a JSON value: numbers, text, lists of them; None for tensors/graphs."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list) and all(isinstance(v, bool | int | float | str | bytes) for v in value):
        return [_plain(v) for v in value]
    return None
