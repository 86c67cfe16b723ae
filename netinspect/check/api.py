"""`check(source, target)`: run both models on the same inputs and compare, layer by layer on mismatch.

The order of work follows Polygraphy's comparator: build both runners, plan the feeds once, run
each runner on identical feeds, compare per output, and only when something fails pay for the
intermediate-output search.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import numpy as np

from netinspect.check import data
from netinspect.check.compare import (
    Comparison,
    Tolerance,
    ToleranceRule,
    check_against_kernels,
    compare_values,
    tolerance_for,
)
from netinspect.check.divergence import DEFAULT_MEMORY_BUDGET, activation_sizes, compare_layers
from netinspect.check.io_layout import in_ir_layout
from netinspect.check.layers import graph_layers, pair_layers
from netinspect.check.result import CheckResult, ModelSide, OutputResult
from netinspect.check.runtimes.base import Runner, runner_for
from netinspect.check.runtimes.onnxruntime import OnnxRuntimeRunner
from netinspect.check.shapes import Choice, choose_sizes
from netinspect.errors import NetinspectError
from netinspect.io.ahead import alongside
from netinspect.ir import Graph, Preprocessing
from netinspect.registry import LoadOptions, Probe, Reader, detect, open_detected

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
    options: LoadOptions | None = None,
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

    `options` are the reading options (companion files such as a weights-only Keras file's
    architecture JSON, the saving backend, pinned input shapes...): they read both sides and reach
    the source's reference runtime, as they reach `convert`.
    Tolerances default by output dtype (compare.DEFAULT_TOLERANCES); `quant_steps` is the
    tolerance, in quantization steps, for int8/uint8 outputs. Given inputs (files or an image)
    make a single run; otherwise `runs` seeded random feeds are used. `dims` sizes free
    dimensions by name ("N") or by input and axis ("data:2"); others are chosen (check.shapes).
    `layer_search` and `memory_budget` (bytes of activations held at once) steer the layer
    comparison (divergence.compare_layers).
    """
    if layers not in LAYER_MODES:
        raise ValueError(f"layers must be one of {LAYER_MODES}, not {layers!r}")
    if runs < 1:
        raise CheckSetupError(f"--runs must be at least 1, not {runs}")
    dims = dict(dims or {})
    clock = _Clock()
    source_path = Path(source)
    options = options or LoadOptions()
    source_reader, tag, probe = detect(source_path, options)
    source_graph = open_detected(source_reader, tag, probe, options)
    if source_graph.refusal is not None:  # layers `info` shows without a translation: nothing to check
        raise source_graph.refusal
    clock.lap("read_source")
    source_runner, target_runner, target_graph, target_side = _load_runners(
        source_reader, probe, options, source_graph, target
    )
    clock.lap("prepare")
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
    feeds_for_target = _TargetFeeds(input_map, source_graph, target_graph)
    plan = _plan_feeds(
        specs,
        target_runner,
        input_map,
        source_graph.metadata.preprocessing,
        feeds_for_target.source_preprocessing is None,
        dims,
        seed,
        runs,
        input_files,
        inputs_npz,
        image,
    )
    result.inputs = plan
    if quant_steps is None:  # a runner may demand exactness (LiteRT with --exact-int8 on: 0 steps)
        quant_steps = getattr(source_runner, "demanded_steps", None)
    tolerance = _tolerance_rule(rtol, atol, quant_steps)

    result.outputs, first_failing = _compare_outputs(
        source_runner, target_runner, plan, feeds_for_target, output_map, tolerance
    )
    clock.lap("compare_outputs")
    if layers == "always" or (layers == "auto" and first_failing is not None):
        result.layer_run = first_failing if first_failing is not None else 0
        source_layers = source_runner.layers() or graph_layers(source_graph)
        pairs = pair_layers(source_layers, target_graph)
        paired = {p.layer for p in pairs}
        result.unmatched_layers = [layer.name for layer in source_layers if layer.name not in paired]
        feeds = plan.feeds(result.layer_run)
        target_feeds = feeds_for_target(feeds)
        result.layers = compare_layers(
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
        )
        clock.lap("compare_layers")
    result.timings = {
        **clock.laps,
        "source_inference": source_runner.inference_seconds,
        "target_inference": target_runner.inference_seconds,
        "total": clock.total(),
    }
    return result


class _Clock:
    """Seconds per step of a check: each `lap` ends the step that began at the previous one."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, label: str) -> None:
        now = time.perf_counter()
        self.laps[label] = now - self.last
        self.last = now

    def total(self) -> float:
        return time.perf_counter() - self.started


def _tolerance_rule(rtol: float | None, atol: float | None, quant_steps: float | None) -> ToleranceRule:
    def tolerance(dtype: str) -> Tolerance:
        quant_step = 1.0 if dtype in QUANTIZED_DTYPES else None
        return tolerance_for(dtype, rtol, atol, quant_step=quant_step, steps=quant_steps)

    return tolerance


def _load_runners(
    reader: Reader, probe: Probe, options: LoadOptions, source_graph: Graph, target: str | Path | None
) -> tuple[Runner, OnnxRuntimeRunner, Graph, ModelSide]:
    """Both runners, prepared side by side: reading a large source (VGG-19's 575 MB .mat) and
    building the ONNX Runtime session both spend most of their time outside the GIL."""
    with alongside(_source_runner, reader, probe, options, source_graph) as loading:
        target_runner, target_graph, target_side = _target_runner(target, source_graph, probe.path, options)
        target_runner.prepare()
        return loading.result(), target_runner, target_graph, target_side


def _source_runner(reader: Reader, probe: Probe, options: LoadOptions, graph: Graph) -> Runner:
    """The source in its reference runtime, which reads the file itself, seen in the IR layout."""
    runner = in_ir_layout(runner_for(reader, probe, options), graph)
    runner.prepare()
    return runner


def _target_runner(
    target: str | Path | None, source_graph: Graph, source_path: Path, options: LoadOptions
) -> tuple[OnnxRuntimeRunner, Graph, ModelSide]:
    """The ONNX model to check, in onnxruntime: TARGET, or SOURCE converted in memory; either way
    built from the IR graph, so the target file is read once."""
    if target is None:
        runner = OnnxRuntimeRunner.from_graph(source_graph, f"{source_path.name} (converted)")
        return runner, source_graph, ModelSide(None, "onnx", runner.label, converted_in_memory=True)
    target_path = Path(target)
    reader, tag, probe = detect(target_path, options)
    if reader.name != "onnx":
        raise CheckSetupError(f"the target must be an ONNX model, this is {reader.name}", target_path)
    target_graph = open_detected(reader, tag, probe, options)
    runner = OnnxRuntimeRunner.from_graph(target_graph, target_path.name)
    return runner, target_graph, ModelSide(str(target_path), "onnx", runner.label)


class _TargetFeeds:
    """The source's feeds, renamed and made what the target takes.

    A model converted with --with-preprocessing takes raw images where its source takes
    preprocessed ones: it is fed the raw values, recovered with the source's recorded
    preprocessing (never with the target's own constants, which are under test). Checking such a
    model as the source against one without, the target gets the source's own preprocessing.
    """

    def __init__(self, input_map: Mapping[str, str], source_graph: Graph, target_graph: Graph) -> None:
        self.input_map = dict(input_map)
        self.source_preprocessing = data.embedded_preprocessing(source_graph)
        in_target = data.embedded_preprocessing(target_graph)
        self.adapt: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
        if self.source_preprocessing is None and in_target is not None:
            recorded = source_graph.metadata.preprocessing
            if recorded.mean is None and recorded.mean_image is None and recorded.std is None:
                raise CheckSetupError(
                    "the target subtracts a mean the source does not record, so its raw input is unknown"
                )
            source_input = next(s for s, t in self.input_map.items() if t == in_target.input)
            self.adapt[source_input] = lambda x: _raw(x, recorded)
        elif self.source_preprocessing is not None and in_target is None:
            self.adapt[self.source_preprocessing.input] = self.source_preprocessing.apply

    def __call__(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {
            self.input_map[name]: self.adapt[name](array) if name in self.adapt else array
            for name, array in feeds.items()
        }


def _raw(preprocessed: np.ndarray, recorded: Preprocessing) -> np.ndarray:
    return data.apply_preprocessing(preprocessed, recorded, inverse=True).astype(preprocessed.dtype)


def _plan_feeds(
    specs: list[data.InputSpec],
    target: OnnxRuntimeRunner,
    input_map: Mapping[str, str],
    preprocessing: Preprocessing,
    preprocessed: bool,
    dims: Mapping[str, int],
    seed: int,
    runs: int,
    input_files: Mapping[str, str | Path] | None,
    inputs_npz: str | Path | None,
    image: str | Path | None,
) -> data.FeedPlan:
    """The feeds of every run; free dims get sizes (check.shapes) unless the user gives every array.
    `preprocessed=False`: the source takes raw images (it applies its preprocessing itself)."""
    choices: list[Choice] = []
    if image is not None or not (input_files or inputs_npz):
        by_target = {spec.name: spec for spec in target.input_specs()}
        specs, choices = choose_sizes(
            specs,
            {name: by_target[input_map[name]] for name in input_map},
            dims,
            preprocessing,
            lambda shapes: target.accepts(_rename(shapes, input_map)),
        )
    plan = data.plan_feeds(
        specs, dims, preprocessing, seed, runs, input_files, inputs_npz, image, preprocessed=preprocessed
    )
    plan.chosen = [choice.describe() for choice in choices if not choice.is_default_batch]
    return plan


def _compare_outputs(
    source: Runner,
    target: Runner,
    plan: data.FeedPlan,
    feeds_for_target: Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]],
    output_map: Mapping[str, str],
    tolerance: ToleranceRule,
) -> tuple[list[OutputResult], int | None]:
    """Every run through both runtimes; per output, one comparison per run. Also: the first failing run."""
    per_output: dict[str, list[Comparison]] = {name: [] for name in output_map}
    first_failing: int | None = None
    for run in range(plan.runs):
        feeds = plan.feeds(run)
        variants = _kernel_variants(source, feeds)
        source_outputs = variants[next(iter(variants))] if variants else source.run(feeds)
        target_outputs = target.run(feeds_for_target(feeds))
        for source_name, target_name in output_map.items():
            expected, actual = source_outputs[source_name], target_outputs.pop(target_name)
            comparison = compare_values(source_name, expected, actual, tolerance)
            if variants and isinstance(expected, np.ndarray):
                by_kernels = {label: outputs[source_name] for label, outputs in variants.items()}
                comparison = check_against_kernels(
                    comparison, by_kernels, actual, tolerance(expected.dtype.name)
                )
            per_output[source_name].append(comparison)
            if not comparison.passed and first_failing is None:
                first_failing = run
    return [OutputResult(name, output_map[name], runs) for name, runs in per_output.items()], first_failing


def _kernel_variants(source: Runner, feeds: Mapping[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """The source's outputs under each of its runtime's kernel sets, when the runtime has several that
    round differently (LiteRT on quantized models: runtimes/litert.py); {} otherwise."""
    variants = getattr(source, "kernel_variants", None)
    return variants(feeds) if variants is not None else {}


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


def _rename(values: Mapping[str, T], names: Mapping[str, str]) -> dict[str, T]:
    return {names[name]: value for name, value in values.items()}
