"""`netinspect check --suite models.toml`: many models in one run, as a CI job wants them.

    [defaults]                 # optional; any per-model key below
    rtol = 1e-3

    [[models]]
    name = "vgg19"             # optional; defaults to the source file's stem
    source = "models/vgg19.mat"
    target = "build/vgg19.onnx"  # optional; without it the source is converted in memory
    atol = 1e-4                # rtol, atol, quant_steps, seed, runs, layers
    dims = { N = 2 }
    inputs = "data/batch.npz"  # or: input = { data = "x.npy" }, or: image = "cat.jpg"

Paths are relative to the suite file. A model that cannot be checked is reported as an error
and the suite goes on, so one bad entry does not hide the results of the others.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from netinspect.check.api import LAYER_MODES, check
from netinspect.check.result import CheckResult, ModelSide
from netinspect.errors import NetinspectError

KEYS: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "source": str,
    "target": str,
    "rtol": (int, float),
    "atol": (int, float),
    "quant_steps": (int, float),
    "seed": int,
    "runs": int,
    "dims": dict,
    "inputs": str,
    "input": dict,
    "image": str,
    "layers": str,
}
PATH_KEYS = ("source", "target", "inputs", "image")


class SuiteError(NetinspectError):
    """The suite file is unreadable or describes a model wrongly."""


def load_suite(path: Path) -> list[dict[str, Any]]:
    """The suite's model entries with defaults applied and paths made absolute, all validated first."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise SuiteError("no such file", path) from e
    except (OSError, UnicodeDecodeError) as e:
        raise SuiteError(f"cannot read: {e}", path) from e
    except tomllib.TOMLDecodeError as e:
        raise SuiteError(f"not valid TOML: {e}", path) from e
    unknown = sorted(set(document) - {"defaults", "models"})
    if unknown:
        raise SuiteError(
            f"unknown top-level key(s) {', '.join(unknown)} (expected [defaults] and [[models]])", path
        )
    defaults = document.get("defaults", {})
    models = document.get("models")
    if not isinstance(defaults, dict):
        raise SuiteError("[defaults] must be a table", path)
    if not isinstance(models, list) or not models:
        raise SuiteError("no [[models]] entries", path)
    problems: list[str] = []
    _validate(defaults, "[defaults]", problems, allow_missing_source=True)
    entries = []
    for index, model in enumerate(models, start=1):
        if not isinstance(model, dict):
            problems.append(f"models entry {index} is not a table")
            continue
        entry = {**defaults, **model}
        _validate(entry, f"models entry {index}", problems)
        for key in PATH_KEYS:
            if isinstance(entry.get(key), str):
                entry[key] = path.parent / entry[key]
        if isinstance(entry.get("input"), dict):
            entry["input"] = {k: path.parent / v for k, v in entry["input"].items() if isinstance(v, str)}
        entries.append(entry)
    if problems:
        raise SuiteError("; ".join(problems), path)
    return entries


def _validate(
    entry: dict[str, Any], where: str, problems: list[str], allow_missing_source: bool = False
) -> None:
    for key, value in entry.items():
        if key not in KEYS:
            problems.append(f"{where}: unknown key {key!r}")
        elif not isinstance(value, KEYS[key]) or isinstance(value, bool):
            problems.append(f"{where}: {key} has the wrong type ({type(value).__name__})")
    if not allow_missing_source and "source" not in entry:
        problems.append(f"{where}: no source")
    if "layers" in entry and entry["layers"] not in LAYER_MODES:
        problems.append(f"{where}: layers must be one of {', '.join(LAYER_MODES)}")
    for key in ("dims", "input"):
        table = entry.get(key)
        if isinstance(table, dict):
            wanted = int if key == "dims" else str
            if not all(isinstance(v, wanted) and not isinstance(v, bool) for v in table.values()):
                problems.append(
                    f"{where}: every value of {key} must be a{'n integer' if key == 'dims' else ' path'}"
                )


def run_suite(
    path: Path, on_result: Callable[[CheckResult], None] | None = None, **overrides: Any
) -> list[CheckResult]:
    """Check every model of the suite; `overrides` (from the command line) beat the file's values."""
    results = []
    for entry in load_suite(path):
        entry = {**entry, **{k: v for k, v in overrides.items() if v is not None}}
        source = Path(entry["source"])
        name = entry.get("name") or source.stem
        try:
            result = check(
                source,
                entry.get("target"),
                rtol=entry.get("rtol"),
                atol=entry.get("atol"),
                quant_steps=entry.get("quant_steps"),
                seed=entry.get("seed", 0),
                runs=entry.get("runs", 1),
                dims=entry.get("dims"),
                input_files=entry.get("input"),
                inputs_npz=entry.get("inputs"),
                image=entry.get("image"),
                layers=entry.get("layers", "auto"),
                name=name,
            )
        except NetinspectError as e:
            target = entry.get("target")
            result = CheckResult(
                name=name,
                source=ModelSide(str(source), "unknown", "none"),
                target=ModelSide(
                    str(target) if target else None, "onnx", "none", converted_in_memory=target is None
                ),
                error=str(e),
            )
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results
