"""`check(source, target)`: run both models on the same inputs and compare, layer by layer on mismatch.

The order of work follows Polygraphy's comparator: build both runners, plan the feeds once, run
each runner on identical feeds, compare per output, and only when something fails pay for the
intermediate-output search.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np

from netinspect.check import data
from netinspect.check.compare import Comparison, Tolerance, compare_arrays, tolerance_for
from netinspect.check.divergence import DEFAULT_MEMORY_BUDGET, activation_sizes, compare_layers
from netinspect.check.layers import Layer, graph_layers, pair_layers
from netinspect.check.result import CheckResult, ModelSide, OutputResult
from netinspect.check.runtimes.base import Runner, runner_for
from netinspect.check.runtimes.onnxruntime import OnnxRuntimeRunner
from netinspect.errors import NetinspectError
from netinspect.ir import Graph
from netinspect.registry import Reader, detect, load

LAYER_MODES = ("auto", "always", "never")
"""auto: compare layers only when an output fails; always: compare every layer; never: outputs only."""

QUANTIZED_DTYPES = ("int8", "uint8")
"""Output dtypes compared in quantization steps (one step = one unit of the stored integer)."""

T = TypeVar("T")


class CheckSetupError(NetinspectError):
    """The two models cannot be checked against each other (their inputs or outputs do not pair)."""


def check(
    source: str | Path,
    target: str | Path | None = None,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    quant_steps: float | None = None,
    seed: int = 0,
    runs: int = 1,
    dims: Mapping[str, int] | None = None,
    input_files: Mapping[str, str | Path] | None = None,
    inputs_npz: str | Path | None = None,
    image: str | Path | None = None,
    layers: str = "auto",
    name: str | None = None,
    layer_search: str = "auto",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> CheckResult:
    """Check that TARGET (an ONNX file; SOURCE converted in memory when omitted) computes SOURCE.

    Tolerances default by output dtype (compare.DEFAULT_TOLERANCES); `quant_steps` is the
    tolerance, in quantization steps, for int8/uint8 outputs. Given inputs (files or an image)
    make a single run; otherwise `runs` seeded random feeds are used. `layer_search` and
    `memory_budget` (bytes of activations held at once) steer the layer comparison
    (divergence.compare_layers).
    """
    if layers not in LAYER_MODES:
        raise ValueError(f"layers must be one of {LAYER_MODES}, not {layers!r}")
    if runs < 1:
        raise CheckSetupError(f"--runs must be at least 1, not {runs}")
    timings: dict[str, float] = {}
    timed = _stopwatch(timings)
    started = time.perf_counter()
    source_path = Path(source)
    source_reader, source_graph = timed("read_source", lambda: _read(source_path))
    source_runner, (target_runner, target_graph, target_side) = timed(
        "prepare", lambda: _load_runtimes(source_reader, source_path, source_graph, target)
    )
    result = CheckResult(
        name=name or source_path.stem,
        source=ModelSide(
            str(source_path), source_graph.metadata.source_format or source_reader.name, source_runner.label
        ),
        target=target_side,
    )
    specs = source_runner.input_specs()
    input_map = _pair_inputs(specs, target_runner.input_specs())
    output_map = _pair_outputs(source_runner.output_names(), target_runner.output_names(), target_graph)
    plan = data.plan_feeds(
        specs,
        dict(dims or {}),
        source_graph.metadata.preprocessing,
        seed,
        runs,
        input_files,
        inputs_npz,
        image,
    )
    result.inputs = plan
    tolerance = _tolerance_rule(rtol, atol, quant_steps)

    result.outputs, first_failing = timed(
        "compare_outputs",
        lambda: _compare_outputs(source_runner, target_runner, plan, input_map, output_map, tolerance),
    )
    if layers == "always" or (layers == "auto" and first_failing is not None):
        result.layer_run = first_failing if first_failing is not None else 0
        source_layers = _source_layers(source_runner, source_graph)
        pairs = pair_layers(source_layers, target_graph)
        paired = {p.layer for p in pairs}
        result.unmatched_layers = [layer.name for layer in source_layers if layer.name not in paired]
        feeds = plan.feeds(result.layer_run)
        target_feeds = _rename(feeds, input_map)
        result.layers = timed(
            "compare_layers",
            lambda: compare_layers(
                source_runner,
                target_runner,
                pairs,
                feeds,
                target_feeds,
                tolerance,
                stop_at_first=layers != "always",
                strategy=layer_search,
                memory_budget=memory_budget,
                size_of=activation_sizes(target_graph, target_feeds),
            ),
        )
    timings["source_inference"] = float(getattr(source_runner, "inference_seconds", 0.0))
    timings["target_inference"] = float(getattr(target_runner, "inference_seconds", 0.0))
    timings["total"] = time.perf_counter() - started
    result.timings = timings
    return result


def _stopwatch(timings: dict[str, float]) -> Callable[[str, Callable[[], T]], T]:
    def timed(label: str, work: Callable[[], T]) -> T:
        start = time.perf_counter()
        try:
            return work()
        finally:
            timings[label] = time.perf_counter() - start

    return timed


def _tolerance_rule(
    rtol: float | None, atol: float | None, quant_steps: float | None
) -> Callable[[str], Tolerance]:
    def tolerance(dtype: str) -> Tolerance:
        quant_step = 1.0 if dtype in QUANTIZED_DTYPES else None
        return tolerance_for(dtype, rtol, atol, quant_step=quant_step, steps=quant_steps)

    return tolerance


def _read(path: Path) -> tuple[Reader, Graph]:
    """The model's reader (for its runtime) and graph; detection is cheap, so `load` repeats it."""
    reader, _tag, _probe = detect(path)
    return reader, load(path)


def _load_runtimes(
    source_reader: Reader, source_path: Path, source_graph: Graph, target: str | Path | None
) -> tuple[Runner, tuple[OnnxRuntimeRunner, Graph, ModelSide]]:
    """Both runners, loaded side by side: reading a large source (VGG-19's 575 MB .mat) and
    building the ONNX Runtime session both spend most of their time outside the GIL."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        loading = pool.submit(runner_for, source_reader.runtime, source_path, source_graph)
        target_side = _target_runner(target, source_graph, source_path)
        target_side[0].prepare()
        return loading.result(), target_side


def _target_runner(
    target: str | Path | None, source_graph: Graph, source_path: Path
) -> tuple[OnnxRuntimeRunner, Graph, ModelSide]:
    """The ONNX model to check, in onnxruntime: TARGET, or SOURCE converted in memory."""
    if target is None:
        runner = _converted_runner(source_graph, source_path)
        return runner, source_graph, ModelSide(None, "onnx", runner.label, converted_in_memory=True)
    target_path = Path(target)
    target_reader, target_graph = _read(target_path)
    if target_reader.name != "onnx":
        raise CheckSetupError(f"the target must be an ONNX model, this is {target_reader.name}", target_path)
    runner = OnnxRuntimeRunner.from_path(target_path, target_graph)
    return runner, target_graph, ModelSide(str(target_path), "onnx", runner.label)


def _converted_runner(graph: Graph, source_path: Path) -> OnnxRuntimeRunner:
    """SOURCE converted to ONNX in memory; weights go to onnxruntime without a protobuf copy."""
    from netinspect.converters.onnx.writer import to_model_proto

    skeleton = to_model_proto(graph, include_weights=False)
    present = {t.name for t in skeleton.graph.initializer}
    streamed = {name: tensor for name, tensor in graph.tensors.items() if name not in present}
    return OnnxRuntimeRunner(skeleton, owned=True, name=f"{source_path.name} (converted)", streamed=streamed)


def _compare_outputs(
    source: Runner,
    target: Runner,
    plan: data.FeedPlan,
    input_map: Mapping[str, str],
    output_map: Mapping[str, str],
    tolerance: Callable[[str], Tolerance],
) -> tuple[list[OutputResult], int | None]:
    """Every run through both runtimes; per output, one comparison per run. Also: the first failing run."""
    per_output: dict[str, list[Comparison]] = {name: [] for name in output_map}
    first_failing: int | None = None
    for run in range(plan.runs):
        feeds = plan.feeds(run)
        source_outputs = source.run(feeds)
        target_outputs = target.run(_rename(feeds, input_map))
        for source_name, target_name in output_map.items():
            expected = source_outputs.pop(source_name)
            comparison = compare_arrays(
                source_name, expected, target_outputs.pop(target_name), tolerance(expected.dtype.name)
            )
            per_output[source_name].append(comparison)
            if not comparison.passed and first_failing is None:
                first_failing = run
    return [OutputResult(name, output_map[name], runs) for name, runs in per_output.items()], first_failing


def _source_layers(runner: Runner, graph: Graph) -> list[Layer]:
    """The runner's own layers when its runtime has them (MatConvNet), else the source graph's nodes."""
    own = getattr(runner, "layers", None)
    return own() if callable(own) else graph_layers(graph)


def _pair_inputs(source: list[data.InputSpec], target: list[data.InputSpec]) -> dict[str, str]:
    """Source input name → target input name: by name, else by position when both have as many.
    Inputs whose fixed sizes differ cannot be fed the same data."""
    target_names = [s.name for s in target]
    if len(source) != len(target):
        raise CheckSetupError(
            f"the models take different inputs: source {', '.join(s.name for s in source)}; "
            f"target {', '.join(target_names)}"
        )
    by_name = all(s.name in target_names for s in source)
    pairs = {s.name: s.name if by_name else t for s, t in zip(source, target_names, strict=True)}
    target_specs = {t.name: t for t in target}
    for spec in source:
        other = target_specs[pairs[spec.name]]
        fixed = [
            (a, b)
            for a, b in zip(spec.shape, other.shape, strict=False)
            if isinstance(a, int) and isinstance(b, int) and a > 0 and b > 0
        ]
        if len(spec.shape) != len(other.shape) or any(a != b for a, b in fixed):
            raise CheckSetupError(
                f"input {spec.name!r} has shape {data.format_shape(spec.shape)} in the source and "
                f"{data.format_shape(other.shape)} in the target"
            )
    return pairs


def _pair_outputs(source: list[str], target: list[str], target_graph: Graph) -> dict[str, str]:
    """Source output → target output: same name, else the target output the source layer became,
    else by position when both have as many."""
    producers = target_graph.producers()
    by_layer: dict[str, str] = {}
    for name in target:
        node = producers.get(name)
        if node is not None and node.provenance is not None:
            by_layer.setdefault(node.provenance.layer, name)
    pairs = {
        name: name if name in target else by_layer[name]
        for name in source
        if name in target or name in by_layer
    }
    if len(pairs) == len(source):
        return pairs
    if len(source) == len(target):
        return dict(zip(source, target, strict=True))
    missing = [n for n in source if n not in pairs]
    raise CheckSetupError(
        f"no target output for source output(s) {', '.join(missing)}; target has {', '.join(target)}"
    )


def _rename(feeds: Mapping[str, np.ndarray], names: Mapping[str, str]) -> dict[str, np.ndarray]:
    return {names[name]: array for name, array in feeds.items()}
