"""How shapes, counts and attribute values read in text, tables and graph labels."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
_BINARY = ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"))
LIST_SHOWN = 8


def format_shape(shape: Sequence[Any] | None) -> str:
    """`1×3×224×224`, symbolic dims by name, unknown dims as `?`; a scalar is `scalar`."""
    if shape is None:
        return "?"
    if isinstance(shape, tuple):  # the IR's shapes: a big page formats the same few thousand times
        return _format_dims(shape)
    return _format_dims(tuple(shape))


@functools.lru_cache(maxsize=4096)
def _format_dims(shape: tuple[Any, ...]) -> str:
    if len(shape) == 0:
        return "scalar"
    return "×".join("?" if d is None else str(d) for d in shape)


def human_count(n: int, unit: str = "") -> str:
    """`138.36 M`, `4.09 GMACs`: exact below a thousand, two decimals above."""
    for scale, prefix in _SI:
        if abs(n) >= scale:
            return f"{n / scale:.2f} {prefix}{unit}"
    return f"{n} {unit}".rstrip()


def human_bytes(n: int) -> str:
    for scale, unit in _BINARY:
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"


def format_value(value: Any) -> str:
    """An attribute or metadata value in one short line (long lists cut after a few items)."""
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        shown = ", ".join(format_value(v) for v in value[:LIST_SHOWN])
        return f"[{shown}{', …' if len(value) > LIST_SHOWN else ''}]"
    if isinstance(value, dict):
        if "tensor" in value and "shape" in value:
            return f"tensor {format_shape(value['shape'])} {value.get('dtype', '')}".rstrip()
        if "graph" in value and "nodes" in value:
            return f"graph {value['graph']!r} ({value['nodes']} nodes)"
        if "length" in value and "first" in value:
            shown = ", ".join(format_value(v) for v in value["first"][:LIST_SHOWN])
            return f"[{shown}, … ({value['length']} items)]"
        return ", ".join(f"{k}={format_value(v)}" for k, v in value.items())
    return str(value)
