"""Numbers for JSON reports. JSON has no NaN or infinity (Python's json writes the non-standard
`NaN`/`Infinity`, which strict parsers refuse), so every report netinspect writes — `info --json`,
`check --json`, `diff --json` — passes its floats through `finite`: a non-finite number is null."""

from __future__ import annotations

import math
from numbers import Real


def finite(value: Real | None) -> float | int | None:
    """`value` as a JSON number (numpy scalars included), or None when it is None, NaN or ±inf."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) or (hasattr(value, "dtype") and value.dtype.kind in "iu"):
        return int(value)
    number = float(value)
    return number if math.isfinite(number) else None
