"""`check(source, target)`: run both models on the same inputs and compare, layer by layer on mismatch.

The order of work follows Polygraphy's comparator: build both runners, make the feeds once,
run each runner on identical feeds, compare per output, and only when something fails pay for
the intermediate-output search.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from netinspect.check import data
from netinspect.check.compare import tolerance_for
from netinspect.check.divergence import DEFAULT_MEMORY_BUDGET, activation_sizes, compare_layers
from netinspect.check.layers import Layer, graph_layers, pair_layers
from netinspect.check.result import CheckResult, InputsUsed, ModelSide, OutputResult
from netinspect.check.runners import OnnxRuntimeRunner, Runner, runner_for
from netinspect.errors import NetinspectError
from netinspect.formats import Reader, detect, load
from netinspect.ir import Graph

LAYER_MODES = ("auto", "always", "never")
"""auto: compare layers only when an output fails; always: compare every layer; never: outputs only."""


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
    started = time.perf_counter()
    timings: dict[str, float] = {}
    source_path = Path(source)
    source_reader, source_graph = _read(source_path)
    timings["read_source"] = time.perf_counter() - started

    step = time.perf_counter()
    # The two runtimes load their models side by side: reading a large source (VGG-19's 575 MB
    # .mat) and building the ONNX Runtime session are both mostly spent outside the GIL.
    with ThreadPoolExecutor(max_workers=1) as pool:
        loading = pool.submit(runner_for, source_reader.runtime, source_path, source_graph)
        target_runner, target_graph, target_side = _target_runner(target, source_graph, source_path)
        target_runner.prepare()
        source_runner = loading.result()
    timings["prepare"] = time.perf_counter() - step

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
    dims = dict(dims or {})
    preprocessing = source_graph.metadata.preprocessing
    feed_runs, result.inputs = _feeds(specs, dims, preprocessing, seed, runs, input_files, inputs_npz, image)

    def tolerance(dtype: str) -> Any:
        quantized = dtype in ("int8", "uint8")
        return tolerance_for(dtype, rtol, atol, quant_step=1.0 if quantized else None, steps=quant_steps)

    step = time.perf_counter()
    per_output: dict[str, list[Any]] = {name: [] for name in output_map}
    first_failing: int | None = None
    for index, make_feeds in enumerate(feed_runs):
        feeds = make_feeds()
        source_outputs = source_runner.run(feeds)
        target_outputs = target_runner.run(_rename(feeds, input_map))
        for source_name, target_name in output_map.items():
            source_array = source_outputs.pop(source_name)
            comparison = _compare(source_name, source_array, target_outputs.pop(target_name), tolerance)
            per_output[source_name].append(comparison)
            if not comparison.passed and first_failing is None:
                first_failing = index
        del source_outputs, target_outputs
    timings["compare_outputs"] = time.perf_counter() - step
    result.outputs = [
        OutputResult(name, output_map[name], comparisons) for name, comparisons in per_output.items()
    ]

    want_layers = layers == "always" or (layers == "auto" and first_failing is not None)
    if want_layers:
        step = time.perf_counter()
        layer_run = first_failing if first_failing is not None else 0
        source_layers = _source_layers(source_runner, source_graph)
        pairs = pair_layers(source_layers, target_graph)
        paired = {p.layer for p in pairs}
        result.unmatched_layers = [layer.name for layer in source_layers if layer.name not in paired]
        feeds = feed_runs[layer_run]()
        result.layers = compare_layers(
            source_runner,
            target_runner,
            pairs,
            feeds,
            _rename(feeds, input_map),
            tolerance,
            stop_at_first=layers != "always",
            strategy=layer_search,
            memory_budget=memory_budget,
            size_of=activation_sizes(target_graph, _rename(feeds, input_map)),
        )
        result.layer_run = layer_run
        timings["compare_layers"] = time.perf_counter() - step
    timings["source_inference"] = float(getattr(source_runner, "inference_seconds", 0.0))
    timings["target_inference"] = float(getattr(target_runner, "inference_seconds", 0.0))
    timings["total"] = time.perf_counter() - started
    result.timings = timings
    return result


def _read(path: Path) -> tuple[Reader, Graph]:
    """The model's reader (for its runtime) and graph; detection is cheap, so `load` repeats it."""
    reader, _tag, _probe = detect(path)
    return reader, load(path)


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
    from netinspect.converters.onnx_writer import to_model_proto

    skeleton = to_model_proto(graph, include_weights=False)
    present = {t.name for t in skeleton.graph.initializer}
    streamed = {name: tensor for name, tensor in graph.tensors.items() if name not in present}
    return OnnxRuntimeRunner(skeleton, owned=True, name=f"{source_path.name} (converted)", streamed=streamed)


def _source_layers(runner: Runner, graph: Graph) -> list[Layer]:
    """The runner's own layers when its runtime has them (MatConvNet), else the source graph's nodes."""
    own = getattr(runner, "layers", None)
    return own() if callable(own) else graph_layers(graph)


def _pair_inputs(source: list[data.InputSpec], target: list[data.InputSpec]) -> dict[str, str]:
    """Source input name → target input name: by name, else by position when both have as many."""
    target_names = [s.name for s in target]
    if all(s.name in target_names for s in source) and len(source) == len(target):
        return {s.name: s.name for s in source}
    if len(source) == len(target):
        return {s.name: t for s, t in zip(source, target_names, strict=True)}
    raise CheckSetupError(
        f"the models take different inputs: source {', '.join(s.name for s in source)}; "
        f"target {', '.join(target_names)}"
    )


def _pair_outputs(source: list[str], target: list[str], target_graph: Graph) -> dict[str, str]:
    """Source output → target output: same name, else the target output the source layer became."""
    producers = target_graph.producers()
    by_layer: dict[str, str] = {}
    for name in target:
        node = producers.get(name)
        if node is not None and node.provenance is not None:
            by_layer.setdefault(node.provenance.layer, name)
    pairs: dict[str, str] = {}
    for name in source:
        if name in target:
            pairs[name] = name
        elif name in by_layer:
            pairs[name] = by_layer[name]
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


def _compare(name: str, source: np.ndarray, target: np.ndarray, tolerance: Any) -> Any:
    from netinspect.check.compare import compare_arrays

    return compare_arrays(name, source, target, tolerance(np.asarray(source).dtype.name))


def _feeds(
    specs: list[data.InputSpec],
    dims: dict[str, int],
    preprocessing: Any,
    seed: int,
    runs: int,
    input_files: Mapping[str, str | Path] | None,
    inputs_npz: str | Path | None,
    image: str | Path | None,
) -> tuple[list[Any], InputsUsed]:
    """One feed maker per run (feeds are made when needed, so only one run's data is alive)."""
    arrays: dict[str, np.ndarray] = {}
    origin: dict[str, str] = {}
    if inputs_npz is not None:
        for key, array in data.load_npz(Path(inputs_npz)).items():
            arrays[key], origin[key] = array, f"{inputs_npz}[{key}]"
    for key, file in (input_files or {}).items():
        arrays[key], origin[key] = data.load_npy(Path(file)), str(file)
    if image is not None:
        free = [s for s in specs if s.name not in arrays]
        if len(free) != 1:
            raise data.InputError(
                f"--image feeds one input, but {len(free)} input(s) are not given otherwise: "
                f"{', '.join(s.name for s in free)}"
            )
        arrays[free[0].name] = data.load_image(Path(image), free[0], preprocessing)
        origin[free[0].name] = str(image)
    if arrays:
        feeds = data.given_feeds(specs, arrays, origin, dims)
        used = InputsUsed(
            "image" if image is not None else "files",
            None,
            1,
            {k: tuple(v.shape) for k, v in feeds.items()},
            {k: v.dtype.name for k, v in feeds.items()},
            dict(origin),
        )
        return [lambda: feeds], used

    def maker(index: int) -> Any:
        return lambda: data.random_feeds(specs, seed, index, dims, preprocessing)

    shapes = {s.name: data.concrete_shape(s, dims) for s in specs}
    dtypes = {s.name: s.dtype for s in specs}
    return [maker(i) for i in range(runs)], InputsUsed("random", seed, runs, shapes, dtypes)
