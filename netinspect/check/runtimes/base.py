"""Runners: one model in one runtime, fed and read in the IR's layout (NCHW).

Every runner answers three questions: what inputs it takes (`input_specs`), what the model
outputs for a feed (`run`), and what chosen intermediate values are for that feed
(`run_values`, names in the runner's own vocabulary: an ONNX value name, a MatConvNet layer).
Runtimes are imported when a runner is built, never at module import, so `netinspect info`
works without any of them and a missing one is a clear MissingDependencyError.

Which runner runs a source is decided by its Reader's `runtime` field (formats.py): see
`RUNTIMES`, where the Keras and LiteRT runners plug in.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from netinspect.check.data import InputSpec
from netinspect.errors import MissingDependencyError, NetinspectError

if TYPE_CHECKING:
    from netinspect.ir import Graph


class RuntimeFailure(NetinspectError):
    """The runtime refused the model or failed while running it."""


class Runner(Protocol):
    """A model in a runtime. Arrays in and out are in IR layout (NCHW activations)."""

    label: str
    """Which runtime this is, for reports ("onnxruntime 1.18.0")."""

    def input_specs(self) -> list[InputSpec]: ...

    def output_names(self) -> list[str]: ...

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def run_values(self, feeds: Mapping[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
        """Only the named intermediate values, computing no more of the model than needed."""
        ...


@dataclass(frozen=True)
class RuntimeEntry:
    """How to build the runner for a Reader's `runtime`, and what to install when it is missing."""

    module: str
    factory: str
    extra: str


RUNTIMES: dict[str, RuntimeEntry] = {
    "onnxruntime": RuntimeEntry(
        "netinspect.check.runtimes.onnxruntime", "OnnxRuntimeRunner.from_path", "netinspect"
    ),
    "matconvnet-reference": RuntimeEntry(
        "netinspect.check.runtimes.matconvnet", "MatConvNetRunner.from_path", "netinspect"
    ),
    "litert": RuntimeEntry("netinspect.check.runtimes.litert", "LiteRTRunner.from_path", "netinspect[tflite]"),
    "keras": RuntimeEntry("netinspect.check.runtimes.keras", "KerasRunner.from_path", "netinspect[keras]"),
}
"""Reader.runtime → runner factory `(path, graph) -> Runner`. Keras (TensorFlow) and TFLite (LiteRT)
runners join here with their readers, each naming the optional extra that installs its runtime."""


def runtime_entry(runtime: str, path: Path) -> RuntimeEntry:
    if runtime not in RUNTIMES:
        raise NetinspectError(f"no reference runtime for this format (runtime {runtime!r})", path)
    return RUNTIMES[runtime]


def runner_for(runtime: str, path: Path, graph: Graph | None) -> Runner:
    """The runner a Reader's `runtime` names, built for the file at `path`."""
    entry = runtime_entry(runtime, path)
    try:
        module = importlib.import_module(entry.module)
    except ImportError as e:
        raise MissingDependencyError(
            f"checking this format needs the {runtime} runtime ({e.name or e}): pip install '{entry.extra}'",
            path,
        ) from e
    factory: Any = module
    for part in entry.factory.split("."):
        factory = getattr(factory, part)
    return factory(path, graph)


def import_runtime(module: str, extra: str, path: Path | None = None) -> Any:
    """Import a runtime package, turning its absence into an install hint."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependencyError(f"needs {module}: pip install '{extra}'", path) from e
