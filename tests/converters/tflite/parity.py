"""Run a .tflite file in LiteRT and its netinspect conversion in onnxruntime on the same inputs.

Both sides are real: LiteRT's interpreter on the file (netinspect's runner), onnxruntime on the ONNX
model the writer produced from the IR. Interface values the layout pass moved to NCHW are fed and
read back in TFLite's NHWC (graph.metadata.properties["netinspect.io_layout"]). With `layers=True`
every TFLite operator's output is compared too (found by provenance: netinspect.check.layers),
which is how a quantized model shows where its steps appear (values the layout pass moved to NCHW
are compared after the same transpose, graph.metadata.properties["netinspect.value_layouts"]).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from netinspect.check.layers import graph_layers
from netinspect.check.runtimes.litert import LiteRTRunner
from netinspect.converters.onnx.writer import to_model_proto
from netinspect.layout import channels_first, permute
from netinspect.layout_metadata import IO_LAYOUT, VALUE_LAYOUTS
from netinspect.registry import load


@dataclass
class Pair:
    name: str
    expected: np.ndarray
    actual: np.ndarray

    def steps(self) -> np.ndarray:
        """|difference| in quantization steps (integer outputs)."""
        return np.abs(self.expected.astype(np.int64) - self.actual.astype(np.int64))

    def describe(self) -> str:
        if self.expected.dtype.kind in "iu":
            d = self.steps()
            return (
                f"{self.name}: max {d.max()} steps, {np.mean(d > 1):.2%} > 1 step, "
                f"{np.mean(d > 0):.2%} differ"
            )
        d = np.abs(self.expected.astype(np.float64) - self.actual)
        return f"{self.name}: max abs {d.max():.3g}, max |ref| {np.abs(self.expected).max():.3g}"


def feeds_for(runner: LiteRTRunner, seed: int = 0) -> dict[str, np.ndarray]:
    """Images in [0, 1) for float inputs; quantized inputs get the same range, quantized."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for detail in runner._interpreter.get_input_details():
        shape = tuple(int(s) for s in detail["shape"])
        values = rng.uniform(0, 1, shape).astype(np.float32)
        dtype = np.dtype(detail["dtype"])
        if dtype.kind in "iu":
            scale, zero = detail["quantization"]
            info = np.iinfo(dtype)
            values = np.clip(np.round(values / (scale or 1.0)) + zero, info.min, info.max)
        feeds[detail["name"]] = values.astype(dtype)
    return feeds


def run_both(
    path: Path, layers: bool = False, seed: int = 0, feeds: dict[str, np.ndarray] | None = None
) -> list[Pair]:
    graph = load(path)
    model = to_model_proto(graph)
    onnx.checker.check_model(model, full_check=True)  # what the writer demands before writing
    io = json.loads(graph.metadata.properties.get(IO_LAYOUT, "{}"))
    moved = json.loads(graph.metadata.properties.get(VALUE_LAYOUTS, "{}"))
    reference = LiteRTRunner(path)
    feeds = feeds if feeds is not None else feeds_for(reference, seed)
    names = [o.name for o in model.graph.output]
    sources = {name: name for name in names}
    if layers:
        for layer in graph_layers(graph):
            if layer.name in reference._details and layer.value not in sources:
                sources[layer.value] = layer.name
        extra = [n for n in sources if n not in names]
        model.graph.output.extend(onnx.ValueInfoProto(name=n) for n in extra)
        names += extra
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    onnx_feeds = {k: permute(a, io[k], channels_first(io[k])) if k in io else a for k, a in feeds.items()}
    outputs = dict(zip(names, session.run(names, onnx_feeds), strict=True))
    expected = reference.run(feeds)
    if layers:
        expected.update(
            reference.run_values(feeds, [sources[n] for n in names if sources[n] not in expected])
        )
    pairs = []
    for name in names:
        actual = outputs[name]
        reference_value = expected[sources[name]]
        if name in io:
            actual = permute(actual, channels_first(io[name]), io[name])
        elif name in moved:
            reference_value = np.transpose(reference_value, moved[name])
        pairs.append(Pair(sources[name], reference_value, actual))
    return pairs


def run_isolated(path: Path, seed: int = 0) -> list[Pair]:
    """Every layer of the converted model fed LiteRT's own values of its inputs, so each operator's
    conversion is compared alone and differences cannot accumulate from layer to layer."""
    graph = load(path)
    model = to_model_proto(graph)
    io = json.loads(graph.metadata.properties.get(IO_LAYOUT, "{}"))
    moved = json.loads(graph.metadata.properties.get(VALUE_LAYOUTS, "{}"))
    reference = LiteRTRunner(path)
    feeds = feeds_for(reference, seed)
    sources = {v.name: v.name for v in graph.inputs}
    sources.update(
        {layer.value: layer.name for layer in graph_layers(graph) if layer.name in reference._details}
    )
    expected = reference.run(feeds)
    expected.update(reference.run_values(feeds, [s for s in sources.values() if s not in expected]))

    def source_value(value: str) -> np.ndarray:
        array = expected[sources[value]]
        if value in io:  # a graph input or output the layout pass made NCHW
            return permute(array, io[value], channels_first(io[value]))
        return np.transpose(array, moved[value]) if value in moved else array

    fed: dict[str, np.ndarray] = {}
    inputs = {v.name for v in model.graph.input}
    for node in model.graph.node:
        for k, name in enumerate(node.input):
            if name in sources and name not in inputs:
                node.input[k] = f"{name}__fed"
                fed[f"{name}__fed"] = source_value(name)
    for name, array in fed.items():
        elem = onnx.helper.np_dtype_to_tensor_dtype(array.dtype)
        model.graph.input.append(onnx.helper.make_tensor_value_info(name, elem, array.shape))
    names = [v for v in sources if v not in inputs]
    present = {o.name for o in model.graph.output}
    model.graph.output.extend(onnx.ValueInfoProto(name=n) for n in names if n not in present)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    onnx_feeds = {v.name: source_value(v.name) for v in graph.inputs}
    used = {i for n in model.graph.node for i in n.input}
    onnx_feeds.update({k: a for k, a in fed.items() if k in used})
    outputs = dict(zip(names, session.run(names, onnx_feeds), strict=True))
    return [Pair(sources[n], source_value(n), outputs[n]) for n in names]
