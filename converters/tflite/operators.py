"""Every TFLite builtin operator and what netinspect does with it, for `netinspect formats tflite`.

The list is the schema's BuiltinOperator enum (the `tflite` package), which LiteRT's kernel
registry (BuiltinOpResolver) draws from: each is "converted" when a handler is registered, else
refused with the reason the reader gives, or "not converted" (no handler yet).
"""

from __future__ import annotations

from netinspect import registry
from netinspect.converters.tflite import reader  # noqa: F401  (registers the handlers)
from netinspect.converters.tflite.context import TFLITE
from netinspect.converters.tflite.refused import REFUSED
from netinspect.converters.tflite.schema import generated


def operator_status() -> dict[str, str]:
    """Builtin name → "converted", "refused: why" or "not converted", in the schema's code order."""
    BuiltinOperator = generated("BuiltinOperator")

    codes = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}
    status = {}
    for _code, name in sorted(codes.items()):
        if name == "PLACEHOLDER_FOR_GREATER_OP_CODES":
            continue
        if registry.handler(TFLITE, name) is not None:
            status[name] = "converted"
        elif name in REFUSED:
            status[name] = f"refused: {REFUSED[name]}"
        else:
            status[name] = "not converted"
    return status
