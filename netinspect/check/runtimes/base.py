"""Runners: one model in one runtime, and the table that picks a source's runtime.

`Runner` is everything `check` asks of a runtime. A runner built from a file
(its Reader's `runtime.factory(probe, options)`) reads that file itself, sharing no code with the converter it
checks; the ONNX side of a check is built from the IR graph instead (onnxruntime.py,
`OnnxRuntimeRunner.from_graph`), so the converted model is read once.
Runtimes are imported when a runner is built, never at module import, so `netinspect info`
works without any of them and a missing one is a clear MissingDependencyError.

Which runner runs a source is decided by its Reader's `runtime` (registry.Runtime), declared with
the format: a new format brings its runtime module and names it there, nothing here changes.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from netinspect.check.data import InputSpec
from netinspect.errors import MissingDependencyError, NetinspectError
from netinspect.registry import LoadOptions, Probe, Reader

if TYPE_CHECKING:
    from netinspect.check.layers import Layer


class RuntimeFailure(NetinspectError):
    """The runtime refused the model or failed while running it."""


class Runner(Protocol):
    """A model in a runtime, as `check` uses it.

    Arrays go in and come out in the IR's layout (NCHW activations), except the interface values
    named by `source_layouts`, which the runtime takes and returns in its own layout: `check`
    transposes those itself, so a channels-last runtime (Keras, LiteRT) needs no layout code.
    """

    label: str
    """Which runtime this is, for reports ("onnxruntime 1.18.0")."""

    inference_seconds: float
    """Time spent inside the runtime's own inference calls, summed over every run."""

    def prepare(self) -> None:
        """Do the expensive one-off work now (load weights, build a session); `run` would otherwise."""
        ...

    def layers(self) -> list[Layer] | None:
        """The runtime's own layers in order, read back by `run_values` (None: the IR graph's nodes)."""
        ...

    def input_specs(self) -> list[InputSpec]: ...

    def output_names(self) -> list[str]: ...

    def source_layouts(self, recorded: Mapping[str, str]) -> dict[str, str]:
        """Interface values this runtime takes or returns in a layout other than the IR's: name → layout.

        `recorded` is what the reader found ({value name: "NHWC"}, from
        graph.metadata.properties["netinspect.io_layout"]); a runtime that runs the source file as
        it is returns it (or the part it applies to), one that works in the IR layout returns {}.
        """
        ...

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """Every output: arrays, or lists/dicts for sequence and map outputs."""
        ...

    def run_values(self, feeds: Mapping[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
        """Only the named intermediate values, computing no more of the model than needed."""
        ...


class BaseRunner:
    """What most runners share: nothing to prepare up front, no layers of their own (the IR
    graph's are used), everything in the IR layout. A runner subclasses it and overrides these
    where its runtime differs; the rest of `Runner` it must write."""

    label: str
    inference_seconds: float = 0.0

    def prepare(self) -> None:
        """Nothing to do before the first run."""

    def layers(self) -> list[Layer] | None:
        return None

    def source_layouts(self, recorded: Mapping[str, str]) -> dict[str, str]:
        return {}


def runner_for(reader: Reader, probe: Probe, options: LoadOptions) -> Runner:
    """The runner of a reader's reference runtime (`Reader.runtime`), built for the probed file with
    its companion files and the reading options (a weights-only Keras file needs its --config, a
    Theano-saved one its --backend)."""
    runtime = reader.runtime
    try:
        module = importlib.import_module(runtime.module)
    except ImportError as e:
        raise MissingDependencyError(
            f"checking this format needs the {runtime.name} runtime ({e.name or e}): "
            f"pip install '{runtime.extra}'",
            probe.path,
        ) from e
    factory: Any = module
    for part in runtime.factory.split("."):
        factory = getattr(factory, part)
    return factory(probe, options)


def import_runtime(module: str, extra: str, path: Path | None = None) -> Any:
    """Import a runtime package, turning its absence into an install hint."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependencyError(f"needs {module}: pip install '{extra}'", path) from e
