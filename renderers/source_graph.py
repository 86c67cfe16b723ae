"""The source graph: a model's own layers (`Graph.source_layers`) as boxes and edges, the way its
framework draws it — one box per Keras layer, TFLite operator or MatConvNet layer, labelled with
the file's own type (`Conv2D`, `CONV_2D`, `conv`) — for `view`'s default picture. The HTML page and
Graphviz draw it from here.

Ids: `s<k>` is layer k of `Graph.source_layers`; `sin<i>` / `sout<i>` are the tensors the layers read
from outside (the model's inputs) and make for outside (its outputs). A layer's counterparts are the
IR nodes it became (`SourceLayer.nodes`), and a node's the layers naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netinspect.ir import Graph, SourceLayer, SourceTensor
from netinspect.renderers import ops

PRIORITY = ("conv", "linear", "pool", "norm", "activation", "math", "quantize", "tensor", "control")
"""A layer takes the colour of the most telling op it became (a Conv2D with a fused ReLU is a conv)."""
UNTRANSLATED = "untranslated"
"""The colour category of a layer shown without a translation (an opaque node)."""


@dataclass
class SourceGraph:
    """The layers with their edges; `edges` are (from id, to id, source tensor name)."""

    layers: list[SourceLayer]
    inputs: list[SourceTensor] = field(default_factory=list)
    outputs: list[SourceTensor] = field(default_factory=list)
    edges: list[tuple[str, str, str]] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    """Per layer: its colour category."""


def layer_id(k: int) -> str:
    return f"s{k}"


def source_graph(graph: Graph) -> SourceGraph | None:
    """The source graph of a model read from Keras, TFLite, MatConvNet…; None for an ONNX file (its
    graph is its source)."""
    if not graph.source_layers:
        return None
    made: dict[str, str] = {}
    for k, layer in enumerate(graph.source_layers):
        for tensor in layer.outputs:
            made.setdefault(tensor.name, layer_id(k))
            if tensor.value:
                made.setdefault(tensor.value, layer_id(k))
    drawn = SourceGraph(graph.source_layers)
    outside: dict[str, str] = {}
    read: set[str] = set()
    for k, layer in enumerate(graph.source_layers):
        stored = {w.name for w in layer.weights}
        for tensor in layer.inputs:
            read.add(tensor.name)
            source = made.get(tensor.name) or (made.get(tensor.value) if tensor.value else None)
            if source is None and (tensor.name in stored or _constant(graph, tensor)):
                continue  # a weight (TFLite lists them among an operator's inputs): in the panel, not drawn
            if source is None:
                source = outside.get(tensor.name)
                if source is None:
                    source = outside[tensor.name] = f"sin{len(drawn.inputs)}"
                    drawn.inputs.append(tensor)
            if source != layer_id(k):
                drawn.edges.append((source, layer_id(k), tensor.name))
    for k, layer in enumerate(graph.source_layers):
        for tensor in layer.outputs:
            if tensor.name not in read:
                drawn.edges.append((layer_id(k), f"sout{len(drawn.outputs)}", tensor.name))
                drawn.outputs.append(tensor)
    by_name = {node.name: node for node in graph.nodes}
    for layer in graph.source_layers:
        found = {ops.category(by_name[n].op_type) for n in layer.nodes if n in by_name}
        best = next((c for c in PRIORITY if c in found), "other")
        drawn.categories.append(best if layer.supported else UNTRANSLATED)
    return drawn


def _constant(graph: Graph, tensor: SourceTensor) -> bool:
    return tensor.name in graph.tensors or (tensor.value is not None and tensor.value in graph.tensors)


def layers_of_nodes(graph: Graph) -> dict[str, list[int]]:
    """IR node name → the indices of the source layers that became it."""
    owners: dict[str, list[int]] = {}
    for k, layer in enumerate(graph.source_layers):
        for name in layer.nodes:
            owners.setdefault(name, []).append(k)
    return owners
