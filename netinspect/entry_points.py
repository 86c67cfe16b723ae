"""Installed packages' entry points and versions, read from their metadata folders, not `importlib.metadata`.

Why not the standard library: every command looks up the readers' entry-point group, and
`import importlib.metadata` (email, zipfile, csv, its path machinery) cost ~19 ms of a 0.3 s
`info` (benchmarks/bench_cli_latency.py); the files themselves are small INI texts. Read here: every
`*.dist-info` and `*.egg-info` folder on sys.path, in path order, as `importlib.metadata.distributions`
finds them (zipped eggs, which nothing installs any more, are not read).
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from dataclasses import dataclass
from typing import Any

_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")
"""`module[:attr] [extras]`, the entry-point value syntax of the packaging specification."""


@dataclass(frozen=True)
class EntryPoint:
    """One `name = module:attr` line of a group, with what `importlib.metadata.EntryPoint` offers the
    registry: its name, value, group and `load`."""

    name: str
    value: str
    group: str

    def load(self) -> Any:
        """The object the value names: the module imported, then its attribute path followed."""
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"malformed entry point value {self.value!r}")
        found: Any = importlib.import_module(match.group("module"))
        for part in filter(None, (match.group("attr") or "").split(".")):
            found = getattr(found, part)
        return found


def _metadata_folders() -> list[str]:
    folders = []
    for entry in sys.path:
        root = entry or os.getcwd()
        try:
            names = sorted(os.listdir(root))
        except OSError:  # a zip file or a missing folder on the path
            continue
        folders += [os.path.join(root, n) for n in names if n.endswith((".dist-info", ".egg-info"))]
    return folders


def _parse(text: str) -> list[EntryPoint]:
    """entry_points.txt: `[group]` headers, `name = value` lines, `#`/`;` comments."""
    found = []
    group = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip()
        elif group is not None and "=" in line:
            name, value = line.split("=", 1)
            found.append(EntryPoint(name.strip(), value.strip(), group))
    return found


def entry_points(group: str) -> list[EntryPoint]:
    """The group's entry points of every installed distribution, in sys.path order, the first of
    each name kept (a later, shadowed copy of a package does not override it)."""
    chosen: dict[str, EntryPoint] = {}
    for folder in _metadata_folders():
        try:
            with open(os.path.join(folder, "entry_points.txt"), encoding="utf-8") as f:
                text = f.read()
        except OSError:
            continue
        for entry in _parse(text):
            if entry.group == group:
                chosen.setdefault(entry.name, entry)
    return list(chosen.values())


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def version(distribution: str) -> str | None:
    """The installed version of a distribution (its metadata's `Version:`), the first on sys.path, or
    None when it is not installed; as `importlib.metadata.version`, without importing it."""
    wanted = _normalized(distribution)
    for folder in _metadata_folders():
        if _normalized(os.path.basename(folder).rsplit(".", 1)[0].split("-", 1)[0]) != wanted:
            continue
        for metadata in ("METADATA", "PKG-INFO"):
            try:
                with open(os.path.join(folder, metadata), encoding="utf-8") as f:
                    for line in f:
                        if line.startswith("Version:"):
                            return line.split(":", 1)[1].strip()
                        if not line.strip():  # the headers end here
                            break
            except OSError:
                continue
    return None
