"""`netinspect check --suite models.toml`: many models in one run, as a CI job wants them.

    [defaults]                 # optional; any per-model key below
    rtol = 1e-3

    [[models]]
    name = "vgg19"             # optional; defaults to the source file's stem
    source = "models/vgg19.mat"
    target = "build/vgg19.onnx"  # optional; without it the source is converted in memory
    atol = 1e-4                # rtol, atol, quant_steps, seed, runs, layers
    dims = { N = 2, "data:2" = 64 }  # by name, or one axis of one input
    inputs = "data/batch.npz"  # or: input = { data = "x.npy" }, or: image = "cat.jpg"
    read = { config = "arch.json", backend = "theano" }  # reading options, as on the command line

`read` takes the reading options `convert` takes, by their flag names without dashes: the
installed readers' companion files (paths) and own options (`config`, `backend`, `weights`...),
and `keep-nhwc`, `fixed-size`, `permute-all-weights` (booleans), `input-shape` (a table of lists).

Paths are relative to the suite file. A model that cannot be checked is reported as an error
and the suite goes on, so one bad entry does not hide the results of the others. `--jobs N`
checks N models at a time in separate processes; `--shard I/N` checks every N-th model from the
I-th, so N CI jobs split a suite between them, each writing its own report.
"""

from __future__ import annotations

import multiprocessing
import os
import tomllib
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netinspect.check.api import LAYER_MODES, check
from netinspect.check.result import CheckResult
from netinspect.errors import NetinspectError
from netinspect.registry import LoadOptions, readers

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
    "read": dict,
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
        if isinstance(entry.get("read"), dict):
            entry["read"] = reading_options(entry["read"], path.parent, f"models entry {index}", problems)
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


_FLAGS = {"keep-nhwc": "keep_source_layout", "fixed-size": "fixed_size",
          "permute-all-weights": "permute_all_weights"}  # fmt: skip


def reading_options(table: dict[str, Any], folder: Path, where: str, problems: list[str]) -> LoadOptions:
    """A `read` table as LoadOptions: companion paths relative to the suite, format options checked
    against the values their reader allows."""
    found = readers()
    companions = {c.name for r in found for c in r.companions}
    choices = {o.name: o.choices for r in found for o in r.options}
    flags: dict[str, Any] = {}
    files: dict[str, Path] = {}
    values: dict[str, Any] = {}
    shapes: dict[str, tuple[Any, ...]] = {}
    for key, value in table.items():
        if key in _FLAGS and isinstance(value, bool):
            flags[_FLAGS[key]] = value
        elif key == "input-shape" and isinstance(value, dict) and _lists(value):
            shapes = {name: tuple(dims) for name, dims in value.items()}
        elif key in companions and isinstance(value, str):
            files[key] = folder / value
        elif key in choices and isinstance(value, str) and (not choices[key] or value in choices[key]):
            values[key] = value
        else:
            problems.append(f"{where}: read.{key} is not a reading option or has a wrong value ({value!r})")
    return LoadOptions(**flags, input_shapes=shapes, companions=files, format_options=values)


def _lists(table: dict[str, Any]) -> bool:
    return all(isinstance(v, list) for v in table.values())


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (1-based, as CI matrices number their jobs): every count-th model
    of the suite from the index-th on, so the shards of a suite are disjoint, cover it, and do
    not change from run to run."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        index, sep, count = text.partition("/")
        if not sep or not index.strip().isdigit() or not count.strip().isdigit():
            raise SuiteError(f"--shard {text!r}: expected I/N, e.g. 1/4")
        shard = cls(int(index), int(count))
        if not 1 <= shard.index <= shard.count:
            raise SuiteError(f"--shard {text!r}: I must be between 1 and N")
        return shard

    def select(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return entries[self.index - 1 :: self.count]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def run_suite(
    path: Path,
    on_result: Callable[[CheckResult], None] | None = None,
    jobs: int = 1,
    shard: Shard | None = None,
    **overrides: Any,
) -> list[CheckResult]:
    """Check every model of the suite (or of one shard of it), in suite order.

    `overrides` (from the command line) beat the file's values; `dims` are merged, the command
    line's sizes beating the file's for the same dimension. With `jobs` > 1 the models are
    checked by that many processes (each runtime then gets its share of the cores); results still
    arrive, and are reported, in suite order.
    """
    entries = load_suite(path)
    if shard is not None:
        entries = shard.select(entries)
    entries = [_overridden(entry, overrides) for entry in entries]
    if jobs <= 1 or len(entries) <= 1:
        return _collect(map(check_entry, entries), on_result)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    context = multiprocessing.get_context("spawn")  # forking a process that holds runtime threads is unsafe
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(entries)), mp_context=context, initializer=_worker, initargs=(threads,)
    ) as pool:
        futures = [pool.submit(check_entry, entry) for entry in entries]
        return _collect(
            (_outcome(future, entry) for future, entry in zip(futures, entries, strict=True)), on_result
        )


def _overridden(entry: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(entry)
    for key, value in overrides.items():
        if value is not None:
            merged[key] = {**entry.get(key, {}), **value} if key == "dims" else value
    return merged


def _outcome(future: Future[CheckResult], entry: dict[str, Any]) -> CheckResult:
    """The worker's result; a worker that died (a runtime crashing the process) is that model's error."""
    try:
        return future.result()
    except Exception as e:
        source = Path(entry["source"])
        return CheckResult.from_error(entry.get("name") or source.stem, source, entry.get("target"), e)


def _collect(
    done: Iterable[CheckResult], on_result: Callable[[CheckResult], None] | None
) -> list[CheckResult]:
    results = []
    for result in done:
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def _worker(threads: int) -> None:
    from netinspect.check.runtimes.onnxruntime import set_threads

    set_threads(threads)


def check_entry(entry: dict[str, Any]) -> CheckResult:
    """One suite model; any failure to check it is its own `error` result, never the suite's end."""
    source = Path(entry["source"])
    name = entry.get("name") or source.stem
    try:
        return check(
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
            options=entry.get("read"),
        )
    except Exception as e:  # a broken model (or a bug it triggers) must not stop the other models
        return CheckResult.from_error(name, source, entry.get("target"), e)
