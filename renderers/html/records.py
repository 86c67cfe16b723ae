"""The records the HTML page reads, and their field names: the one contract between Python and the
page's script. Each record kind is a named tuple, sent as a JSON array; `RECORDS` (sent once, as
`view.fields`) names the fields, and the page reads every field by its name (assets/state.js).
"""

from __future__ import annotations

from typing import Any, NamedTuple

WEIGHT_FIELDS = (
    "dtype",
    "shape",
    "size",
    "bytes",
    "sampled",
    "counted",
    "all_values",
    "values",
    "zeros",
    "nan",
    "inf",
    "min",
    "max",
    "mean",
    "std",
    "histogram",
    "problem",
)
"""Weight statistics go to the page as rows in this order (the page reads them by these names); the
histogram as its counts alone (its range is min..max)."""


class Item(NamedTuple):
    """A drawn box of one graph: a node (a source layer in the source graph), or a graph input or
    output. `lines` are its label (the op or the layer's type first for a node or layer, the value's
    name first for an input or output); w and h its size in pixels."""

    id: str
    kind: str
    """"node", "layer", "input" or "output"."""
    lines: list[str]
    category: str
    w: int
    h: int


class GroupRow(NamedTuple):
    """A name scope of one graph with its level layout (graph_layout.Level): `members` are item
    indices, or -(group index + 1) for a child group; rank and order per member slot; `virtual`
    holds (rank, order) points of long edges and `edges` (source slot, target slot, virtual points)."""

    name: str
    lines: list[str]
    parent: int | None
    w: int
    h: int
    members: list[int]
    rank: list[int]
    order: list[int]
    virtual: list[tuple[int, int]]
    edges: list[tuple[int, int, list[int]]]


class EdgeRow(NamedTuple):
    """An edge between two items, the value it carries, and where it is drawn: the group whose level
    holds it and the index of its level edge there."""

    source: int
    target: int
    value: str
    level: int
    level_edge: int


class InputRow(NamedTuple):
    role: str
    name: str
    dtype: str | None
    shape: str
    kind: str
    """"value", "weight", "outer" (from an enclosing graph) or "omitted"."""
    weight: str | None = None
    """The key of its statistics in the weights block, for a weight."""


class OutputRow(NamedTuple):
    name: str
    dtype: str | None
    shape: str


class AttributeRow(NamedTuple):
    name: str
    text: str
    default: bool
    weight: str | None = None
    """The key of its statistics in the weights block, for a tensor attribute."""


class StepRow(NamedTuple):
    kind: str
    text: str


class ProvenanceRow(NamedTuple):
    framework: str
    layer: str
    layer_type: str
    steps: list[StepRow]


class SubgraphRow(NamedTuple):
    attribute: str
    graph: int
    """The index of the subgraph in `view.graphs`."""


class ValueRow(NamedTuple):
    """A value of one graph: its type, the node making it (None for a weight) and the ids using it."""

    dtype: str | None
    shape: str
    producer: str | None
    users: list[str]


class NodeRow(NamedTuple):
    """What the side panel shows of one node; rows go in chunks, each parsed on first use."""

    id: str
    name: str
    op: str
    domain: str
    graph: int
    scope: str
    attributes: list[AttributeRow]
    inputs: list[InputRow]
    outputs: list[OutputRow]
    provenance: ProvenanceRow | None
    layout: str | None
    doc: str
    metadata: dict[str, str]
    operator: str | None
    subgraphs: list[SubgraphRow]
    layers: list[str]
    """The ids (s<k>) of the source layers this node came from: its counterparts in the source graph."""


class SettingRow(NamedTuple):
    """One entry of a source layer's configuration, as text."""

    key: str
    text: str


class SourceTensorRow(NamedTuple):
    """A source layer's input, output or stored weight as the file describes it: shape and dtype as
    stored, the axis order it is stored in, TFLite quantization, and the IR value it became."""

    name: str
    dtype: str | None
    shape: str
    layout: str | None
    quantization: dict[str, Any] | None
    value: str | None
    weight: str | None
    """The key of its statistics in the weights block, for a stored weight netinspect could read."""


class LayerRow(NamedTuple):
    """What the side panel shows of one source layer; `nodes` are its counterparts' ids (n<k>)."""

    id: str
    name: str
    type: str
    config: list[SettingRow]
    inputs: list[SourceTensorRow]
    outputs: list[SourceTensorRow]
    weights: list[SourceTensorRow]
    nodes: list[str]
    supported: bool
    note: str | None


RECORDS: dict[str, tuple[str, ...]] = {
    "item": Item._fields,
    "group": GroupRow._fields,
    "virtual_point": ("rank", "order"),
    "level_edge": ("source", "target", "chain"),
    "edge": EdgeRow._fields,
    "node": NodeRow._fields,
    "input": InputRow._fields,
    "output": OutputRow._fields,
    "attribute": AttributeRow._fields,
    "provenance": ProvenanceRow._fields,
    "step": StepRow._fields,
    "subgraph": SubgraphRow._fields,
    "value": ValueRow._fields,
    "weight": WEIGHT_FIELDS,
    "layer": LayerRow._fields,
    "setting": SettingRow._fields,
    "source_tensor": SourceTensorRow._fields,
}
"""Field names per record kind. Records travel as JSON arrays (named tuples), with these names sent
once in the page's header (`view.fields`): the page reads every field by name, and a page of 50,000
nodes does not repeat its keys 50,000 times."""
