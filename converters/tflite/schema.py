"""The `tflite` package (TFLite's schema.fbs compiled by flatc), its generated modules imported one by one.

Why: the package's `__init__` star-imports all ~190 generated modules (every options table, every
builder function), ~50 ms of a ~0.35 s `info` of a small model (benchmarks/bench_cli_latency.py),
while reading a file touches a dozen of them. `package()` puts the package in `sys.modules`
without running that `__init__`: `tflite.<Name>` imports the one module `tflite/<Name>.py` and gives
its `<Name>` (the class or enum the real package exports under that name), and any other name runs
the real `__init__` into it first, so code that imports `tflite` itself still sees the whole package.
The generated modules import each other as `from tflite.X import X`, which works the same on it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Any

NAME = "tflite"


class _Package(ModuleType):
    """`tflite` with its generated modules imported when first named."""

    _complete = False

    def __setattr__(self, name: str, value: Any) -> None:
        # Importing `tflite.Model` binds the submodule on the package; the real `__init__` then
        # rebinds the name to the class (`from tflite.Model import *`): do the same here.
        if isinstance(value, ModuleType) and value.__name__ == f"{NAME}.{name}" and hasattr(value, name):
            value = getattr(value, name)
        super().__setattr__(name, value)

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("_"):
            try:
                module = importlib.import_module(f"{NAME}.{name}")
            except ModuleNotFoundError as e:
                if e.name != f"{NAME}.{name}":
                    raise
            else:
                return getattr(module, name)
        if not self._complete:
            self._complete = True
            _run_init(self)
            return getattr(self, name)
        raise AttributeError(f"module {NAME!r} has no attribute {name!r}")


def _run_init(module: ModuleType) -> None:
    """The real `__init__` (every generated module), run into the lazy package's namespace."""
    spec = module.__spec__
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(module)


def package() -> ModuleType:
    """The `tflite` package: the one already imported, else a lazy one (see the module docstring)."""
    found = sys.modules.get(NAME)
    if found is not None:
        return found
    spec = importlib.util.find_spec(NAME)
    if spec is None or spec.submodule_search_locations is None:
        raise ModuleNotFoundError(f"No module named {NAME!r}", name=NAME)
    module = _Package(NAME)
    module.__spec__ = spec
    module.__loader__ = spec.loader
    module.__file__ = spec.origin
    module.__path__ = list(spec.submodule_search_locations)
    module.__package__ = NAME
    sys.modules[NAME] = module
    return module


def generated(name: str) -> type | None:
    """The class or enum the module `tflite/<name>.py` defines, or None when there is no such module."""
    package()
    try:
        module = importlib.import_module(f"{NAME}.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"{NAME}.{name}":
            raise
        return None
    found = getattr(module, name, None)
    return found if isinstance(found, type) else None
