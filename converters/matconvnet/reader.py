"""The MatConvNet reader: a .mat file (MAT v5/v7 or v7.3) holding a SimpleNN or DagNN network → IR.

Matched by content (the MATLAB header; v7.3 is HDF5 after a 512-byte MATLAB header). Weights stay
in the file until the exporter streams them; activations become NCHW and filters OIHW.

Value names: a DagNN value is named after its MatConvNet var. A SimpleNN layer's output is named
after the layer, an unnamed layer getting vl_simplenn_tidy's default `layer<i>` (1-based); the
input is `meta.inputs(1).name`, or "input". For every MatConvNet layer L, the value holding L's
output is the last output of the last IR node whose provenance.layer is L. Loss layers are
training-only and dropped (noted in metadata.notes and as a "drop" step on the layer they read).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from netinspect.build import GraphBuilder, LayerEntry, convert_layers
from netinspect.converters.matconvnet.blocks_extra import (
    NOISE_LEVEL_DOC,
    NOISE_LEVEL_INPUT,
    is_aggregating_pdist,
)
from netinspect.converters.matconvnet.layers import (
    MATCONVNET,
    LayerSpec,
    MatconvnetContext,
    is_loss_type,
    restore_dims,
    unsupported_reason,
)
from netinspect.converters.matconvnet.matfile import (
    MatArray,
    MatCell,
    MatOpaque,
    MatStruct,
    MatValue,
    open_mat,
)
from netinspect.converters.matconvnet.network import Network, find_network
from netinspect.errors import ModelFormatError, UnsupportedError
from netinspect.ir import Dim, Graph, Metadata, Preprocessing, Step, Tensor, Value
from netinspect.layout import permute
from netinspect.registry import LoadOptions, Probe


def open_graph(probe: Probe, tag: str, options: LoadOptions) -> Graph:
    mat = open_mat(probe.path, probe.head)
    network = find_network(mat)
    graph = convert(network, probe.path, options)
    where = f", {network.where}" if network.where else ""
    graph.metadata.format_version = f"{network.kind} {network.layout} ({mat.version}{where})"
    graph.metadata.producer = "MatConvNet"
    return graph


def convert(network: Network, path: Path, options: LoadOptions | None = None) -> Graph:
    options = options or LoadOptions()
    builder = GraphBuilder(MATCONVNET, path)
    kept, dropped = _split_losses(network, path)
    if not kept:
        raise ModelFormatError("the network has no layers to convert", path)
    survey = [LayerEntry(s.name, s.type, unsupported_reason(s.type, s)) for s in kept]
    inputs, nominal = _declare_inputs(network, kept, builder, options)
    wiring = _wire(network, kept, inputs, builder, path)
    last_node_of: dict[str, int] = {}

    image = builder.inputs[0].shape if builder.inputs else None
    noise_levels = _noise_levels(kept, image[1] if image and len(image) == 4 else None)

    def contexts() -> Iterator[MatconvnetContext]:
        for spec, (ins, outs) in zip(kept, wiring, strict=True):
            yield MatconvnetContext(builder, spec, ins, outs, noise_levels=noise_levels)
            last_node_of.update({out: len(builder.nodes) - 1 for out in outs})

    convert_layers(builder, contexts(), survey, "MatConvNet layers")
    outputs = _graph_outputs(network, kept, wiring, builder)
    for spec, reads in dropped:
        text = f"dropped loss layer {spec.name!r} ({spec.type}): training only, not part of inference"
        builder.notes.append(text)
        for value in reads:
            index = last_node_of.get(value)
            if index is not None and builder.nodes[index].provenance is not None:
                builder.nodes[index].provenance.steps.append(Step("drop", text))  # type: ignore[union-attr]
    graph = Graph(
        name=path.stem,
        inputs=[builder.values[v.name] for v in builder.inputs],
        outputs=[Value(o, "float32", builder.values[o].shape) for o in outputs],
        nodes=builder.nodes,
        tensors=builder.tensors,
        values=builder.values,
        metadata=Metadata(source_format=MATCONVNET, notes=network.notes + builder.notes),
    )
    builder.attach_source(graph)
    _metadata(network, graph, path)
    if nominal is not None:
        graph.metadata.preprocessing.image_size = nominal
    if any(v.name == NOISE_LEVEL_INPUT for v in graph.inputs) and not graph.metadata.doc:
        graph.metadata.doc = f"FFDNet-style denoiser; {NOISE_LEVEL_DOC}"  # the ONNX model's doc_string
    return graph


def _is_loss(spec: LayerSpec) -> bool:
    if spec.type in ("pdist", "dagnn.PDist"):
        return is_aggregating_pdist(spec.fields)
    return is_loss_type(spec.type)


def _split_losses(network: Network, path: Path) -> tuple[list[LayerSpec], list[tuple[LayerSpec, list[str]]]]:
    """Layers to convert, and the loss layers dropped with the values they read."""
    kept: list[LayerSpec] = []
    dropped: list[tuple[LayerSpec, list[str]]] = []
    if network.kind == "SimpleNN":
        end = len(network.layers)
        while end and _is_loss(network.layers[end - 1]):
            end -= 1
        middle = [s for s in network.layers[:end] if _is_loss(s)]
        if middle:
            items = [f"layer {s.name!r} (type {s.type!r}: a loss before other layers)" for s in middle]
            raise UnsupportedError(items, path)
        kept = network.layers[:end]
        previous = kept[-1].name if kept else "input"
        dropped = [(s, [previous]) for s in network.layers[end:]]
        return kept, dropped
    for spec in network.layers:
        if _is_loss(spec):
            dropped.append((spec, spec.inputs))
        else:
            kept.append(spec)
    return kept, dropped


NOISE_LEVELS_PER_CONCAT = 1
"""Channels of FFDNet's noise level map: vl_simplenn's `concat` appends permute(sigmas, [3 4 1 2]),
one channel per value of the global `sigmas`, which the authors' demos (FFDNet and FDnCNN, gray and
colour) set to a scalar σ: one channel, whatever the image's. So a colour FFDNet's first conv has
depth 4·3 + 1 = 13 and a colour FDnCNN's 3 + 1 = 4."""


def _leading_chain(specs: list[LayerSpec]) -> tuple[int, float, int] | None:
    """(first conv's filter depth, channel factor of the SubP layers before it, concats before it).

    Layers before the first convolution must keep the channel count, or be FFDNet's SubP (× or ÷
    scale²) and noise concat; anything else, or no readable filter, gives None."""
    factor, concats = 1.0, 0
    for spec in specs:
        if spec.type in ("conv", "dagnn.Conv") and spec.params and isinstance(spec.params[0].value, MatArray):
            dims = restore_dims(spec.params[0].value.shape, 4)
            return (dims[2], factor, concats) if dims is not None else None
        if spec.type == "SubP":
            scale = spec.fields.get("scale") if spec.fields is not None else None
            if not isinstance(scale, MatArray) or not scale.size or concats:
                return None
            value = scale.values()[0]
            factor *= round(1 / value) ** 2 if value < 1 else 1 / round(value) ** 2
        elif spec.type == "concat":
            concats += 1
        elif spec.type not in CHANNEL_KEEPING:
            return None
    return None


def _first_filter_depth(specs: list[LayerSpec]) -> int | None:
    """Input channels implied by the first convolution's filter depth: the image channel count C
    with C·factor + NOISE_LEVELS_PER_CONCAT·concats = depth (FFDNet 4C + 1, FDnCNN C + 1)."""
    chain = _leading_chain(specs)
    if chain is None:
        return None
    depth, factor, concats = chain
    channels = (depth - NOISE_LEVELS_PER_CONCAT * concats) / factor
    return int(channels) if channels >= 1 and channels == int(channels) else None


def _noise_levels(specs: list[LayerSpec], image_channels: Dim) -> int | None:
    """Channels of the noise level map the (one) leading concat appends: the first conv's depth less
    the image's channels after SubP (with the image's channels pinned by --input-shape, what is left)."""
    chain = _leading_chain(specs)
    if chain is None or chain[2] != 1 or not isinstance(image_channels, int):
        return None
    levels = chain[0] - image_channels * chain[1]
    return int(levels) if levels >= 1 and levels == int(levels) else None


CHANNEL_KEEPING = {"relu", "dagnn.ReLU", "sigmoid", "dagnn.Sigmoid", "dropout", "dagnn.DropOut", "bnorm"}


def _nominal_size(size: list[float] | None) -> tuple[int, int] | None:
    """MATLAB [H W ...] → (H, W) when both are positive integers."""
    if not size or len(size) < 2 or not all(v >= 1 and v == int(v) for v in size[:2]):
        return None
    return int(size[0]), int(size[1])


def _channels_from_size(size: list[float] | None) -> int | None:
    if not size or len(size) < 3 or not (size[2] >= 1 and size[2] == int(size[2])):
        return None
    return int(size[2])


def _declare_inputs(
    network: Network, kept: list[LayerSpec], builder: GraphBuilder, options: LoadOptions
) -> tuple[list[str], tuple[int, int] | None]:
    """The graph inputs, and the nominal image size the file records (for `info`, `check`).

    MatConvNet runs a network on inputs of any spatial size (trackers, denoisers and style transfer
    do), so spatial dims are symbolic unless pinned: `normalization.imageSize` and `meta.inputs`
    only say what size the network was trained at. `options.input_shapes` pins an input by name;
    `options.fixed_size` pins every input to its recorded size.
    """
    declared = {spec.name: spec.size for spec in network.inputs}
    image_size = None
    normalization = network.meta.get("normalization") if network.meta is not None else None
    if isinstance(normalization, MatStruct) and isinstance(normalization.get("imageSize"), MatArray):
        image_size = normalization["imageSize"].values()
    produced = {out for spec in kept for out in spec.outputs}
    if network.kind == "SimpleNN":
        names = [network.inputs[0].name if network.inputs else "input"]
        builder.used.update(spec.name for spec in kept)
        readers = {names[0]: kept}
    else:
        names = []
        for spec in kept:
            names.extend(v for v in spec.inputs if v not in produced and v not in names)
        builder.used.update(produced | set(names))
        readers = {var: [s for s in kept if var in s.inputs][:1] for var in names}
    unknown = sorted(set(options.input_shapes) - set(names))
    if unknown:
        raise ModelFormatError(
            f"--input-shape names {', '.join(map(repr, unknown))}, not an input "
            f"(the inputs are {', '.join(map(repr, names))})",
            builder.path,
        )
    first_nominal: tuple[int, int] | None = None
    for index, var in enumerate(names):
        size = declared.get(var) or (image_size if len(names) == 1 or index == 0 else None)
        nominal = _nominal_size(size)
        first_nominal = first_nominal or (nominal if nominal != (1, 1) else None)
        channels = _channels_from_size(size) or _first_filter_depth(readers[var])
        symbols = ("H", "W") if index == 0 else (f"{var}_H", f"{var}_W")
        shape: tuple[Dim, ...] = ("N", channels, *symbols)
        if nominal == (1, 1):  # a 1×1×C vector (transform parameters, noise levels), not an image
            shape = ("N", channels, 1, 1)
        if var in options.input_shapes:
            shape = _pinned(var, options.input_shapes[var], channels, builder.path)
        elif options.fixed_size and nominal is not None:
            shape = ("N", channels, *nominal)
        if network.kind == "SimpleNN":
            var = _add_input(builder, var, shape)
            names[index] = var
        else:
            value = Value(var, "float32", shape)
            builder.inputs.append(value)
            builder.values[var] = value
    return names, first_nominal


def _pinned(name: str, dims: tuple, channels: int | None, path: Path) -> tuple[Dim, ...]:
    if len(dims) != 4:
        raise ModelFormatError(
            f"--input-shape {name}: MatConvNet inputs are N,C,H,W (4 dims), {len(dims)} given", path
        )
    if isinstance(dims[1], int) and channels is not None and dims[1] != channels:
        raise ModelFormatError(
            f"--input-shape {name}: {dims[1]} channels, but the network takes {channels}", path
        )
    return (dims[0], channels if not isinstance(dims[1], int) and channels else dims[1], *dims[2:])


def _add_input(builder: GraphBuilder, name: str, shape: tuple[Dim, ...]) -> str:
    if name in builder.used:
        name = builder.unique(name)
    builder.used.add(name)
    value = Value(name, "float32", shape)
    builder.inputs.append(value)
    builder.values[name] = value
    return name


def _wire(
    network: Network, kept: list[LayerSpec], inputs: list[str], builder: GraphBuilder, path: Path
) -> list[tuple[list[str], list[str]]]:
    """Each layer's input and output value names, with `kept` put in execution order (in place)."""
    if network.kind == "SimpleNN":
        wiring = []
        previous = inputs[0]
        for spec in kept:
            wiring.append(([previous], [spec.name]))
            previous = spec.name
        return wiring
    order = _topological(kept, set(inputs), path)
    kept[:] = order
    return [(list(spec.inputs), list(spec.outputs)) for spec in kept]


def _topological(specs: list[LayerSpec], available: set[str], path: Path) -> list[LayerSpec]:
    """DagNN execution order: repeatedly the first layer (in file order) whose inputs exist."""
    ready = set(available)
    pending = list(specs)
    order: list[LayerSpec] = []
    while pending:
        for i, spec in enumerate(pending):
            if all(v in ready for v in spec.inputs):
                order.append(pending.pop(i))
                ready.update(spec.outputs)
                break
        else:
            stuck = ", ".join(f"{s.name!r}" for s in pending[:5])
            raise ModelFormatError(f"DagNN layers form a cycle or read vars nothing produces: {stuck}", path)
    return order


def _graph_outputs(
    network: Network, kept: list[LayerSpec], wiring: list[tuple[list[str], list[str]]], builder: GraphBuilder
) -> list[str]:
    if network.kind == "SimpleNN":
        return [wiring[-1][1][-1]]
    consumed = {v for ins, _ in wiring for v in ins}
    return [v for _, outs in wiring for v in outs if v not in consumed]


# -------------------------------------------------------------------------------------------------
# metadata


STRING_OBJECT_LABEL = "<MATLAB string, not decoded>"


def _strings(value: MatValue, notes: list[str], what: str) -> list[str] | None:
    """Class names from a cell of char rows, a char matrix, or MATLAB `string` objects (whose MCOS
    data is read when the file's subsystem holds it, else each shows as a placeholder and a note
    says so)."""
    if isinstance(value, MatOpaque) and value.decoded is not None:
        value = value.decoded
    if isinstance(value, MatCell):
        value = MatCell(value.shape, [v.decoded if isinstance(v, MatOpaque) and v.decoded is not None else v
                                      for v in value.items])  # fmt: skip
    if isinstance(value, MatOpaque):
        notes.append(
            f"classes.{what} is a MATLAB {value.class_name or 'object'} array, which netinspect does not "
            "decode; in MATLAB, cellstr() makes it a cell of char that it reads"
        )
        return None
    if isinstance(value, MatCell):
        opaque = [v for v in value.items if isinstance(v, MatOpaque)]
        if opaque:
            notes.append(
                f"{len(opaque)} of the {len(value.items)} classes.{what} entries are MATLAB "
                f"{opaque[0].class_name or 'object'}s, shown as {STRING_OBJECT_LABEL!r}; in MATLAB, "
                "cellstr() makes them char that netinspect reads"
            )
        return [
            v if isinstance(v, str) else STRING_OBJECT_LABEL if isinstance(v, MatOpaque) else ""
            for v in value.items
        ]
    if isinstance(value, str):
        return value.split("\n") if value else None
    return None


def _metadata(network: Network, graph: Graph, path: Path) -> None:
    meta = network.meta
    if meta is None:
        return
    classes = meta.get("classes")
    notes = graph.metadata.notes
    if isinstance(classes, MatStruct):
        graph.metadata.labels = _strings(classes.get("name"), notes, "name")
        graph.metadata.label_descriptions = _strings(classes.get("description"), notes, "description")
        _check_label_count(graph)
    normalization = meta.get("normalization")
    if isinstance(normalization, MatStruct) and normalization.elements:
        graph.metadata.preprocessing = _preprocessing(normalization, graph, path)


def _check_label_count(graph: Graph) -> None:
    """Flag class names that cannot belong to the output (a classifier's output has one channel per
    class); fine-tuned nets often keep their base network's 1000 ImageNet names."""
    labels = graph.metadata.labels
    if not labels or not graph.outputs:
        return
    shape = graph.outputs[0].shape or ()
    channels = shape[1] if len(shape) > 1 else None
    if isinstance(channels, int) and channels != len(labels):
        graph.metadata.notes.append(
            f"label count mismatch: the file lists {len(labels)} classes, but output "
            f"{graph.outputs[0].name!r} has {channels} channels"
        )


def _preprocessing(norm: MatStruct, graph: Graph, path: Path) -> Preprocessing:
    channels = graph.inputs[0].shape[1] if graph.inputs and graph.inputs[0].shape else None
    pre = Preprocessing(input_layout="NCHW", value_range=(0.0, 255.0))
    assumed = ["value_range"]
    if channels == 3:
        pre.channel_order = "RGB"
        assumed.insert(0, "channel_order")
    # MatConvNet files record neither: 0–255 RGB is its convention (doc quick.md, the Caffe importer's
    # BGR→RGB flip), so they are stated as assumed, not as facts read from the file.
    pre.extra["assumed"] = assumed
    size = norm.get("imageSize")
    if isinstance(size, MatArray) and size.size >= 2:
        h, w = (int(v) for v in size.values()[:2])
        pre.image_size = (h, w)
    for key in ("interpolation", "keepAspect", "border", "cropSize"):
        value = norm.get(key)
        if isinstance(value, str) and value:
            pre.extra[key] = value
        elif isinstance(value, MatArray) and value.size:
            numbers = value.values()
            if key == "keepAspect":
                pre.extra[key] = bool(numbers[0])
            else:
                pre.extra[key] = numbers if len(numbers) > 1 else numbers[0]
    average = norm.get("averageImage")
    if isinstance(average, MatArray) and average.size:
        _mean(average, pre, graph, path)
    return pre


def _mean(average: MatArray, pre: Preprocessing, graph: Graph, path: Path) -> None:
    """A mean pixel, a constant mean image (read back as its pixel), or a full mean image."""
    image = np.asarray(average.load(), dtype=np.float64)
    dims = restore_dims(image.shape, 3)
    if dims is None:
        raise ModelFormatError(f"averageImage has shape {image.shape}, expected H×W×C", path)
    if min(image.shape) == 1 and image.ndim == 2:  # a 1×C or C×1 mean pixel
        pre.mean = [float(v) for v in image.reshape(-1, order="F")]
        return
    image = image.reshape(dims, order="F")
    pixel = image[0, 0, :]
    if np.all(image == pixel):
        pre.mean = [float(v) for v in pixel]
        if dims[:2] != (1, 1):
            graph.metadata.notes.append(
                f"averageImage is a constant {dims[0]}×{dims[1]}×{dims[2]} image: recorded as its mean pixel"
            )
        return
    h, w, c = dims
    pre.extra["averageImage"] = f"full mean image {h}×{w}×{c}"
    pre.mean_image = Tensor(
        "mean_image", "float32", (c, h, w),
        loader=lambda: permute(average.load().reshape(dims, order="F"), "HWC", "CHW").astype(np.float32),
    )  # fmt: skip
