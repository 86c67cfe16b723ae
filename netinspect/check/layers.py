"""Which value holds a source layer's output, in the source runtime and in the converted graph.

The contract every importer follows: a source layer L may become several IR nodes, all with
`provenance.layer == L`; L's output is the last output of the LAST of those nodes. A node
without provenance (an ONNX file not written by netinspect) is its own layer, named by its node
name, or by its output when unnamed. Comparing the two sides therefore needs no knowledge of
any converter, only this rule.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from netinspect.ir import Graph, Node, Step
from netinspect.layout_metadata import AxisMove, value_moves


@dataclass(frozen=True)
class Layer:
    """One layer whose output can be read: `value` is the name the runner reads it by."""

    name: str
    layer_type: str
    value: str
    steps: tuple[Step, ...] = ()


@dataclass(frozen=True)
class LayerPair:
    """A source layer and the converted graph's value that must equal its output."""

    layer: str
    layer_type: str
    source_value: str
    target_value: str
    steps: tuple[Step, ...]
    source_move: AxisMove | None = None
    """How the converted value holds the source value (a channels-last source whose activation the
    layout pass made NCHW; layout_metadata.VALUE_LAYOUTS); None when the axes agree."""


def layer_key(node: Node) -> str:
    if node.provenance is not None and node.provenance.layer:
        return node.provenance.layer
    return node.name or next((o for o in reversed(node.outputs) if o), "")


def graph_layers(graph: Graph) -> list[Layer]:
    """The graph's layers in topological order (the position of each layer's last node)."""
    last: dict[str, Node] = {}
    steps: dict[str, list[Step]] = {}
    order: dict[str, int] = {}
    for index, node in enumerate(graph.nodes):
        key = layer_key(node)
        if not key or not any(node.outputs):
            continue
        last[key] = node
        order[key] = index
        if node.provenance is not None:
            steps.setdefault(key, []).extend(node.provenance.steps)
    layers = []
    for key in sorted(last, key=order.__getitem__):
        node = last[key]
        layer_type = (
            node.provenance.layer_type if node.provenance and node.provenance.layer_type else node.op_type
        )
        value = next(o for o in reversed(node.outputs) if o)
        # a layer's nodes often share one provenance: each step once
        layers.append(Layer(key, layer_type, value, tuple(dict.fromkeys(steps.get(key, ())))))
    return layers


def pair_layers(source_layers: list[Layer], target: Graph) -> list[LayerPair]:
    """Source layers (in source order) paired with the converted graph's values.

    A layer is matched by name, else by the value name when the converter kept value names.
    Layers the conversion removed (dropout at inference, loss layers) have no partner and are
    skipped: there is nothing to compare them with.
    """
    target_layers = graph_layers(target)
    by_name = {layer.name: layer for layer in target_layers}
    produced = {out: node for node in target.nodes for out in node.outputs if out}
    target_steps = {layer.name: layer.steps for layer in target_layers}
    moved = value_moves(target)
    pairs: list[LayerPair] = []
    seen_values: set[str] = set()
    for layer in source_layers:
        match = by_name.get(layer.name)
        if match is not None:
            pair = LayerPair(
                layer.name, layer.layer_type or match.layer_type, layer.value, match.value, match.steps
            )
        elif layer.value in produced:
            node = produced[layer.value]
            pair = LayerPair(
                layer.name,
                layer.layer_type or node.op_type,
                layer.value,
                layer.value,
                target_steps.get(layer_key(node), ()),
            )
        else:
            continue
        if pair.target_value in seen_values:
            continue
        seen_values.add(pair.target_value)
        if pair.target_value in moved:
            pair = replace(pair, source_move=moved[pair.target_value])
        pairs.append(pair)
    return pairs
