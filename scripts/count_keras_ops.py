"""Count the public `keras.ops` functions netinspect converts, refuses with a reason, has not
mapped yet, and those that make no graph node (the README's "Operation nodes, counted").

    .venv/bin/python scripts/count_keras_ops.py

A function's operation is the first `keras.src.ops` Operation class its source instantiates;
a function instantiating none makes no node of a functional graph.
"""

from __future__ import annotations

import inspect
import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
from keras.src.ops.operation import Operation

from netinspect import registry
from netinspect.converters.keras import opcalls
from netinspect.converters.keras import reader as _reader  # noqa: F401  (registers the handlers)
from netinspect.converters.keras.context import KERAS


def operation(function: object) -> str | None:
    """The Operation class a `keras.ops` function records, or None."""
    inner = inspect.unwrap(function)  # type: ignore[arg-type]
    module = sys.modules[inner.__module__]
    for name in re.findall(r"\b([A-Z][A-Za-z0-9]*)\(", inspect.getsource(inner)):
        cls = getattr(module, name, None)
        if inspect.isclass(cls) and issubclass(cls, Operation):
            return name
    return None


def main() -> None:
    groups: dict[str, list[str]] = {"convert": [], "refused": [], "unmapped": [], "no node": []}
    public = {n: f for n, f in vars(keras.ops).items() if not n.startswith("_") and inspect.isfunction(f)}
    for name, function in sorted(public.items()):
        cls = operation(function)
        full = opcalls.KERAS3_OP_PREFIX + (cls or "")
        if cls is None:
            groups["no node"].append(name)
        elif registry.handler(KERAS, full) is not None:
            groups["convert"].append(name)
        elif full in opcalls.INEXPRESSIBLE:
            groups["refused"].append(name)
        else:
            groups["unmapped"].append(name)
    print(f"{len(public)} public keras.ops functions (Keras {keras.__version__})")
    for group, names in groups.items():
        print(f"{len(names):4d} {group}" + ("" if group == "convert" else ": " + ", ".join(names)))


if __name__ == "__main__":
    main()
