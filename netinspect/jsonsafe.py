"""Numbers for JSON reports. JSON has no NaN or infinity (Python's json writes the non-standard
`NaN`/`Infinity`, which strict parsers refuse), so every report netinspect writes — `info --json`,
`check --json`, `diff --json` — passes its floats through `finite`: a non-finite number is null."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any


def finite(value: Real | None) -> float | int | None:
    """`value` as a JSON number (numpy scalars included), or None when it is None, NaN or ±inf."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) or (hasattr(value, "dtype") and value.dtype.kind in "iu"):
        return int(value)
    number = float(value)
    return number if math.isfinite(number) else None


def plain(value: Any) -> Any:
    """A source file's configuration value as plain JSON data: numpy scalars and arrays as numbers
    and lists, bytes as text (or their length when not UTF-8), tuples as lists, non-finite
    numbers as null, anything else as its text. Readers record layer configurations this way."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float) or (hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0):
        return finite(value)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"bytes": len(value)}
    if hasattr(value, "tolist"):
        return plain(value.tolist())
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return str(value)
