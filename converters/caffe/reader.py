"""The Caffe reader: a deploy .prototxt (with its .caffemodel given as `--weights`), or a
.caffemodel alone (it stores its own net) → IR. Caffe is NCHW with OIHW filters, as ONNX is.

Both files are `caffe.NetParameter` (text and binary), read without Caffe or protobuf: text.py
and binary.py, with the field numbers in schema.py. net.py builds the inference net as Caffe
does; each layer is converted by its handler (layers_*.py).

Value names: a Caffe blob written once keeps its name. In-place layers (top == bottom, e.g. a
ReLU after a convolution) write a blob again: the last write keeps the blob's name, earlier ones
are named `<blob>@<layer>`, so the net's outputs keep Caffe's blob names.
"""

from __future__ import annotations

from pathlib import Path

from netinspect.build import GraphBuilder, LayerEntry, convert_layers
from netinspect.converters.caffe import (  # noqa: F401  (handlers)
    layers_math,
    layers_more,
    layers_nn,
    layers_recurrent,
    layers_shape,
    layers_ssd,
)
from netinspect.converters.caffe.binary import CaffeModelFile
from netinspect.converters.caffe.context import CAFFE, CaffeContext
from netinspect.converters.caffe.message import Msg
from netinspect.converters.caffe.net import CaffeNet, InputSpec, build
from netinspect.converters.caffe.schema import DATA_TYPES
from netinspect.converters.caffe.text import TextFormatError, parse
from netinspect.errors import ModelFormatError
from netinspect.ir import Dim, Graph, Metadata, Preprocessing, Value
from netinspect.protowire import WireError
from netinspect.registry import LoadOptions, Probe

MAX_PROTOTXT_BYTES = 64 << 20
"""A deploy prototxt is kilobytes; one this large is not one (and would be parsed in memory)."""


def read_prototxt(path: Path) -> Msg:
    if path.stat().st_size > MAX_PROTOTXT_BYTES:
        raise ModelFormatError("is too large to be a Caffe prototxt", path)
    try:
        return parse(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ModelFormatError(f"not a Caffe prototxt: not UTF-8 text (byte {e.start})", path) from e
    except TextFormatError as e:
        raise ModelFormatError(f"not a valid Caffe prototxt: {e}", path) from e


def read_caffemodel(path: Path) -> CaffeModelFile:
    try:
        return CaffeModelFile(path)
    except WireError as e:
        raise ModelFormatError(f"not a valid .caffemodel: {e}", path) from e
    except (OSError, ValueError) as e:
        raise ModelFormatError(f"cannot read the .caffemodel: {e}", path) from e


def open_graph(probe: Probe, tag: str, options: LoadOptions) -> Graph:
    weights_path = probe.companions.get("weights")
    if tag == "caffemodel":
        if weights_path is not None:
            raise ModelFormatError(
                "--weights goes with a prototxt; this is a .caffemodel already", probe.path
            )
        model = read_caffemodel(probe.path)
        net = build(model.net, model, probe.path, own_weights=True)
        graph = convert(net, probe.path, options)
        graph.metadata.notes.insert(0, "structure from the .caffemodel's own (training) net")
        return graph
    structure = read_prototxt(probe.path)
    weights = None
    if weights_path is not None:  # registry.open_probe made sure the file exists
        weights = read_caffemodel(weights_path)
    net = build(structure, weights, probe.path)
    return convert(net, probe.path, options, weights is None)


def convert(net: CaffeNet, path: Path, options: LoadOptions, structure_only: bool = False) -> Graph:
    builder = GraphBuilder(CAFFE, path)
    _declare_inputs(net.inputs, builder, options, path)
    wiring = _wire(net, path)
    contexts = (
        CaffeContext(builder, spec, ins, outs, structure_only)
        for spec, (ins, outs) in zip(net.layers, wiring, strict=True)
    )
    survey = [LayerEntry(spec.name, spec.type) for spec in net.layers]
    convert_layers(builder, contexts, survey, "Caffe layers")
    for spec, reason in net.dropped:
        builder.notes.append(f"dropped layer {spec.name!r} ({spec.type}): {reason}")
    consumed = {v for ins, _ in wiring for v in ins}
    outputs = [v for _, outs in wiring for v in outs if v not in consumed]
    if not outputs:
        raise ModelFormatError("the net has no layers to convert", path)
    metadata = Metadata(source_format=CAFFE, notes=[*net.notes])
    metadata.preprocessing = preprocessing(net, {v.name: v.shape for v in builder.inputs})
    metadata.format_version = "+".join(sorted(net.versions)) + " layers"
    metadata.producer = "Caffe"
    if structure_only:
        metadata.notes.append("no --weights given: structure and shapes only")
    graph = builder.finish(net.name, outputs, metadata)
    for value in graph.outputs:
        value.shape = builder.values[value.name].shape
    return graph


def preprocessing(net: CaffeNet, shapes: dict[str, tuple[Dim, ...] | None]) -> Preprocessing:
    """What the data layer feeding the net's one image input did to it (its transform_param):
    `(x − mean_value) · scale`, cropped to crop_size. Caffe reads images with OpenCV, so BGR and
    0–255 are stated as assumed; a mean_file is named, not read."""
    image = [i for i in net.inputs if len(i.shape) == 4]
    sources = [s for s, _ in net.dropped if s.type in DATA_TYPES and image and image[0].name in s.tops]
    transform = sources[0].param("transform_param") if sources else None
    if transform is None or not transform.fields:
        return Preprocessing()
    channels = (shapes.get(image[0].name) or image[0].shape)[1]  # as the first filter refined it
    pre = Preprocessing(input_layout="NCHW", value_range=(0.0, 255.0))
    pre.extra["assumed"] = ["value_range"]
    if channels == 3:
        pre.channel_order = "BGR"
        pre.extra["assumed"].insert(0, "channel_order")
    means = [float(v) for v in transform.all("mean_value")]
    if means:
        pre.mean = means * channels if len(means) == 1 and isinstance(channels, int) else means
    scale = float(transform.get("scale", 1.0))
    if scale not in (0.0, 1.0):
        count = channels if isinstance(channels, int) else len(pre.mean or [1])
        pre.std = [1.0 / scale] * count
    if transform.has("crop_size"):
        size = int(transform.get("crop_size"))
        pre.image_size = (size, size)
    if transform.has("mean_file"):
        pre.extra["mean_file"] = str(transform.get("mean_file"))
    pre.extra["from"] = f"transform_param of {sources[0].type} layer {sources[0].name!r}"
    return pre


def _declare_inputs(inputs: list[InputSpec], builder: GraphBuilder, options: LoadOptions, path: Path) -> None:
    names = [i.name for i in inputs]
    unknown = sorted(set(options.input_shapes) - set(names))
    if unknown:
        raise ModelFormatError(
            f"--input-shape names {', '.join(map(repr, unknown))}, not an input (the inputs are "
            f"{', '.join(map(repr, names))})",
            path,
        )
    for spec in inputs:
        shape: tuple[Dim, ...] = tuple(options.input_shapes.get(spec.name, spec.shape))
        builder.used.add(spec.name)
        value = Value(spec.name, "float32", shape, doc=f"declared by {spec.origin}")
        builder.inputs.append(value)
        builder.values[spec.name] = value


def _wire(net: CaffeNet, path: Path) -> list[tuple[list[str], list[str]]]:
    """Each layer's IR input and output names: SSA versions of Caffe's blobs (see module doc)."""
    writes: dict[str, int] = {}
    for spec in net.layers:
        for top in spec.tops:
            writes[top] = writes.get(top, 0) + 1
    current = {i.name: i.name for i in net.inputs}
    seen: dict[str, int] = {}
    wiring = []
    for spec in net.layers:
        ins = []
        for bottom in spec.bottoms:
            if bottom not in current:
                raise ModelFormatError(
                    f"layer {spec.name!r} ({spec.type}) reads blob {bottom!r}, which no earlier layer makes",
                    path,
                )
            ins.append(current[bottom])
        outs = []
        for top in spec.tops:
            seen[top] = seen.get(top, 0) + 1
            last = seen[top] == writes[top] and top not in {i.name for i in net.inputs}
            name = top if last else f"{top}@{spec.name}"
            if name in outs or (not last and name in current.values()):
                name = f"{name}#{seen[top]}"
            current[top] = name
            outs.append(name)
        if not outs:
            raise ModelFormatError(f"layer {spec.name!r} ({spec.type}) has no top", path)
        wiring.append((ins, outs))
    return wiring
