"""The format-agnostic half of every importer: a graph under construction and the context a layer
converter emits through.

A reader lists its file's layers and makes a `LayerContext` for each (a format subclasses it only to
read its own layer fields and parameters: `MatconvnetContext`, `KerasContext`, `TfliteContext`);
`convert_layers` is the one loop that refuses every layer without a handler at once and calls each
layer's handler. The handler emits ONNX-vocabulary nodes with `ctx.node`, stating every output's shape in the
layout the reader declared, and records what it did with `ctx.step`. `ctx.finish()` then stamps
every node it emitted with the same provenance (framework, layer name and type, steps), which is
how `check` finds the ONNX value a source layer became. Layout is not decided here: a reader in a
channels-last format tags nodes, values and weights with its source layout and `netinspect.layout`
makes the graph NCHW/OIHW afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from netinspect import registry
from netinspect.errors import ModelFormatError, NetinspectError, UnsupportedError
from netinspect.ir import (
    Dim,
    Graph,
    Metadata,
    Node,
    Provenance,
    SourceLayer,
    SourceTensor,
    Step,
    Tensor,
    Value,
)
from netinspect.jsonsafe import plain

Shape = tuple[Dim, ...]


def fresh_name(hint: str, taken: set[str]) -> str:
    """`hint`, or `hint_1`, `hint_2`, … : the first not in `taken` (which it is added to)."""
    name, k = hint, 1
    while name in taken:
        name, k = f"{hint}_{k}", k + 1
    taken.add(name)
    return name


class GraphBuilder:
    """The IR under construction: nodes, constants, value shapes, names in use, notes.

    `framework` is what provenance names as the source ("matconvnet", "keras", "tflite").
    """

    def __init__(self, framework: str, path: str | Path | None) -> None:
        self.framework = framework
        self.path = path
        self.nodes: list[Node] = []
        self.tensors: dict[str, Tensor] = {}
        self.values: dict[str, Value] = {}
        self.inputs: list[Value] = []
        self.notes: list[str] = []
        self.used: set[str] = set()
        self.node_names: set[str] = set()
        self._shared: dict[tuple[str, str], str] = {}
        self.record = SourceRecord(framework, path)
        self.nested = False

    def nest_in(self, outer: GraphBuilder) -> None:
        """Make this the builder of a subgraph of `outer` (a loop body, a branch): it shares the
        names in use (ONNX forbids shadowing an outer value) and the record of source layers."""
        self.used = outer.used
        self.node_names = outer.node_names
        self.record = outer.record
        self.nested = True

    def mark(self) -> tuple[int, int, int, int, int]:
        """What exists now, for `rollback` (a layer whose handler failed is emitted again as itself):
        the sizes of what only grows (values, constants and shared parameters are added, never
        removed, except by `rollback`), so marking costs nothing whatever the graph's size."""
        return len(self.nodes), len(self.inputs), len(self.values), len(self.tensors), len(self._shared)

    def rollback(self, mark: tuple[int, int, int, int, int]) -> set[str]:
        """Forget what was emitted since `mark`; returns the value and constant names dropped."""
        nodes, inputs, values, tensors, shared = mark
        del self.nodes[nodes:]
        del self.inputs[inputs:]
        dropped = set(list(self.values)[values:]) | set(list(self.tensors)[tensors:])
        for name in dropped:
            self.values.pop(name, None)
            self.tensors.pop(name, None)
        for key in list(self._shared)[shared:]:
            del self._shared[key]
        return dropped

    def attach_source(self, graph: Graph) -> Graph:
        """Give a finished top-level graph the file's layer records, the refusal `convert` raises
        for layers shown without a translation, and the opset of their custom domain."""
        if self.nested:
            return graph
        graph.source_layers = self.record.layers
        graph.refusal = self.record.refusal()
        if graph.untranslated():
            graph.opset = {**graph.opset, opaque_domain(self.framework): 1}
        return graph

    def unique(self, hint: str) -> str:
        """A value or tensor name not used yet."""
        return fresh_name(hint, self.used)

    def node_name(self, hint: str) -> str:
        """A node name not used yet (nodes and values have separate namespaces)."""
        return fresh_name(hint, self.node_names)

    def shape(self, name: str) -> Shape | None:
        value = self.values.get(name)
        if value is None and name in self.tensors:
            return self.tensors[name].shape
        return None if value is None else value.shape

    def dtype(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None and name in self.tensors:
            return self.tensors[name].dtype
        return None if value is None else value.dtype

    def add_input(self, hint: str, shape: Shape, dtype: str = "float32", layout: str | None = None) -> str:
        """Declare a graph input; `layout` names its axes when they are not the canonical NCHW."""
        name = self.unique(hint)
        value = Value(name, dtype, tuple(shape), layout=layout)
        self.inputs.append(value)
        self.values[name] = value
        return name

    def add_tensor(self, hint: str, tensor: Tensor) -> str:
        """Store a constant under a fresh name derived from `hint`; returns the name."""
        name = self.unique(hint)
        tensor.name = name
        self.tensors[name] = tensor
        return name

    def shared_tensor(self, key: tuple[str, str], make: Callable[[], Tensor], hint: str) -> str:
        """One constant per `key` (a source parameter and the way it is used), made on first use.

        Frameworks share weights between layers (DagNN params, Keras shared layers, TFLite buffers
        read by several ops): the IR keeps one initializer for each (parameter, transform) pair.
        """
        if key not in self._shared:
            self._shared[key] = self.add_tensor(hint, make())
        return self._shared[key]

    def finish(
        self,
        name: str,
        outputs: Sequence[str],
        metadata: Metadata | None = None,
        opset: dict[str, int] | None = None,
    ) -> Graph:
        """The finished graph, its outputs being the named values (with the shapes emitted)."""
        graph_outputs = []
        for out in outputs:
            known = self.values.get(out)
            if known is None:
                raise ModelFormatError(f"the model's output {out!r} is never computed", self.path)
            graph_outputs.append(Value(out, known.dtype, known.shape, layout=known.layout))
        metadata = metadata or Metadata(source_format=self.framework)
        metadata.notes = [*metadata.notes, *(n for n in self.notes if n not in metadata.notes)]
        graph = Graph(
            name=name,
            inputs=list(self.inputs),
            outputs=graph_outputs,
            nodes=self.nodes,
            tensors=self.tensors,
            values=self.values,
            metadata=metadata,
        )
        if opset is not None:
            graph.opset = dict(opset)
        return self.attach_source(graph)


def opaque_domain(framework: str) -> str:
    """The ONNX domain of layers kept without a translation, e.g. `netinspect.keras`."""
    return f"netinspect.{framework}"


class SourceRecord:
    """What the layer loop learns about a file's own layers (shared by its nested builders): the
    layer records, the layers without a handler (for the one refusal), and the values computed
    from a layer shown without a translation (whose shapes may be unknown)."""

    def __init__(self, framework: str, path: str | Path | None) -> None:
        self.framework = framework
        self.path = path
        self.layers: list[SourceLayer] = []
        self.items: list[str] = []
        self.listed: set[tuple[str, str]] = set()
        self.reasons: dict[tuple[str, str], str] = {}
        self.hint = False
        self.what = "layers"
        self.untranslated: set[str] = set()

    def unsupported(self, name: str, layer_type: str, refusal: str | None, registrable: bool) -> None:
        if (name, layer_type) in self.listed:
            return
        self.listed.add((name, layer_type))
        self.items.append(f"layer {name!r} (type {layer_type!r})" + (f": {refusal}" if refusal else ""))
        if refusal:
            self.reasons[(name, layer_type)] = refusal
        self.hint = self.hint or refusal is None or registrable

    def refusal(self) -> UnsupportedError | None:
        """The error `convert` and `check` raise: every layer without a handler, at once."""
        if not self.items:
            return None
        hint = registry.how_to_add(self.framework) if self.hint else None
        return UnsupportedError(self.items, self.path, what=self.what, hint=hint)


class LayerContext:
    """What a layer handler sees and how it emits IR (also what user plugins receive).

    Attributes: `name`, `type`, `inputs` (IR value names), `input_shapes`, `outputs` (the names this
    layer's outputs must have: the last node emitted must produce the last of them).
    A format subclasses this to add readers of its own layer fields and parameters.
    """

    def __init__(
        self,
        builder: GraphBuilder,
        name: str,
        layer_type: str,
        inputs: list[str],
        outputs: list[str],
        steps: Sequence[Step] = (),
    ) -> None:
        self.builder = builder
        self.name = name
        self.type = layer_type
        self.inputs = inputs
        self.outputs = outputs
        self.input_shapes: list[Shape] = [self._known_shape(x) for x in inputs]
        self.steps: list[Step] = list(steps)
        self.emitted: list[Node] = []
        self._given_steps = list(steps)
        self._read = [SourceTensor(x, builder.shape(x), builder.dtype(x), value=x) for x in inputs]
        self.weight_links: dict[str, tuple[str, str | None]] = {}
        """Stored weight name → (the IR constant it became, the layout it is stored in)."""

    def _known_shape(self, name: str) -> Shape:
        shape = self.builder.shape(name)
        return shape if shape is not None else (None, None, None, None)

    @property
    def framework(self) -> str:
        return self.builder.framework

    # -- errors -----------------------------------------------------------------------------------
    def error(self, message: str) -> ModelFormatError:
        return ModelFormatError(f"layer {self.name!r} ({self.type}): {message}", self.builder.path)

    # -- emitting IR ------------------------------------------------------------------------------
    def constant(self, hint: str, array: np.ndarray | Tensor, layout: str | None = None) -> str:
        """A constant made by the handler (or a lazy file parameter) under a fresh name.

        `layout` tags a weight with its source axis order (e.g. "HWIO"); the layout pass permutes
        it to what its consuming op needs and records the permutation.
        """
        if isinstance(array, Tensor):  # the same bytes, so where they lie in the file still holds
            tensor = Tensor(
                array.name, array.dtype, array.shape, loader=array.numpy, layout=layout, span=array.span
            )
        else:
            tensor = Tensor.from_array(hint, np.asarray(array))
            tensor.layout = layout
        return self.builder.add_tensor(f"{self.name}_{hint}", tensor)

    def node(
        self,
        op_type: str,
        inputs: list[str],
        shape: Shape | None,
        attributes: dict[str, Any] | None = None,
        output: str | None = None,
        domain: str = "",
        dtype: str = "float32",
        layout: str | None = None,
    ) -> str:
        """Emit one node with one output and return the output's name.

        `output` is the value name (one of `self.outputs` for the layer's result); otherwise a
        fresh name derived from the layer and op is made. `shape` is the output's shape in the
        node's layout: `layout` ("NHWC", …) says the op works on channels-last data (the layout
        pass rewrites it); None means the canonical channels-first layout, or no layout at all.
        """
        return self.node_multi(
            op_type, inputs, [(shape, dtype)], attributes, [output], domain=domain, layout=layout
        )[0]

    def node_multi(
        self,
        op_type: str,
        inputs: list[str],
        results: Sequence[tuple[Shape | None, str]],
        attributes: dict[str, Any] | None = None,
        outputs: Sequence[str | None] | None = None,
        domain: str = "",
        layout: str | None = None,
    ) -> list[str]:
        """Emit one node with several outputs, `results` giving (shape, dtype) of each."""
        names = list(outputs) if outputs is not None else [None] * len(results)
        if len(names) != len(results):
            raise self.error(f"{op_type} node given {len(results)} result types for {len(names)} outputs")
        made: list[str] = []
        for index, given in enumerate(names):
            if given is None:
                suffix = op_type.lower() if len(names) == 1 else f"{op_type.lower()}_{index}"
                made.append(self.builder.unique(f"{self.name}/{suffix}"))
            else:
                self.builder.used.add(given)
                made.append(given)
        node_name = self.builder.node_name(
            self.name if not self.emitted else f"{self.name}/{op_type.lower()}"
        )
        node = Node(node_name, op_type, list(inputs), made, dict(attributes or {}), domain=domain)
        node.layout = layout
        self.builder.nodes.append(node)
        self.emitted.append(node)
        for name, (shape, dtype) in zip(made, results, strict=True):
            value_layout = layout if shape is not None and layout and len(shape) == len(layout) else None
            self.builder.values[name] = Value(
                name, dtype, None if shape is None else tuple(shape), layout=value_layout
            )
        return made

    # -- the layer as its source describes it (formats override these) -----------------------------
    def source_config(self) -> dict[str, Any]:
        """The layer's configuration as the file states it (Keras config, TFLite options, …)."""
        return {}

    def stored_weights(self) -> list[tuple[SourceTensor, Tensor | None]]:
        """The layer's stored weights, each with a lazy tensor of its values as stored (None when
        netinspect cannot read it as an array)."""
        return []

    def source_inputs(self) -> list[SourceTensor]:
        return list(self._read)

    def source_outputs(self) -> list[SourceTensor]:
        return [SourceTensor(o, self.builder.shape(o), self.builder.dtype(o), value=o) for o in self.outputs]

    def opaque_results(self) -> list[tuple[Shape | None, str]]:
        """Shape (in the source's layout) and dtype of each output of the layer when it is shown
        without a translation: what the file records, or unknown."""
        return [(None, "float32") for _ in self.outputs]

    def opaque_inputs(self, weights: list[str]) -> list[str]:
        """The inputs of the layer's opaque node: its data, then its weights (as stored)."""
        return [*self.inputs, *weights]

    def link_weight(self, stored: str, constant: str, layout: str | None = None) -> None:
        """Say that stored weight `stored` became IR constant `constant` (laid out as `layout`)."""
        self.weight_links.setdefault(stored, (constant, layout))

    def rolled_back(self, dropped: set[str]) -> None:
        """The handler's output was discarded (`dropped` names are gone): forget any cache of them."""
        self.emitted = []
        self.steps = list(self._given_steps)

    def opaque(self, note: str) -> None:
        """Emit the layer as one node of its own type in the domain `netinspect.<framework>`,
        its configuration as attributes and its stored weights, as stored, as inputs: what `info`
        and `view` show, and what `convert --keep-unsupported` writes for a custom kernel to run."""
        weights: list[str] = []
        for record, tensor in self.stored_weights():
            if tensor is None:
                continue
            hint = _hint(record.name)
            name = self.builder.add_tensor(hint if self.name in hint else f"{self.name}_{hint}", tensor)
            self.link_weight(record.name, name, record.layout)
            weights.append(name)
        node_name = self.builder.node_name(self.name)
        node = Node(
            node_name,
            self.type,
            self.opaque_inputs(weights),
            list(self.outputs),
            onnx_attributes(self.source_config()),
            domain=opaque_domain(self.framework),
        )
        node.provenance = Provenance(self.framework, self.name, self.type, list(self.steps))
        self.builder.nodes.append(node)
        self.emitted.append(node)
        for name, (shape, dtype) in zip(self.outputs, self.opaque_results(), strict=True):
            self.builder.used.add(name)
            self.builder.values[name] = Value(name, dtype, None if shape is None else tuple(shape))

    def source_layer(self, supported: bool, note: str | None) -> SourceLayer:
        """The record of this layer as its file describes it, and what it became."""
        weights = []
        for record, _tensor in self.stored_weights():
            constant, layout = self.weight_links.get(record.name, (None, None))
            record.value = constant
            record.layout = record.layout or layout
            weights.append(record)
        return SourceLayer(
            self.name,
            self.type,
            plain(self.source_config()),
            self.source_inputs(),
            self.source_outputs(),
            weights,
            [n.name for n in self.emitted],
            supported,
            note,
        )

    def step(self, kind: str, text: str) -> None:
        """Record a transform in the provenance of every node of this layer."""
        self.steps.append(Step(kind, text))

    def note(self, text: str) -> None:
        """A model-level remark (IR metadata.notes)."""
        self.builder.notes.append(text)

    def add_input(self, name: str, shape: Shape, dtype: str = "float32", layout: str | None = None) -> str:
        """Declare an extra graph input this layer reads (e.g. a noise level map)."""
        return self.builder.add_input(name, shape, dtype, layout)

    def refine(self, name: str, shape: Shape) -> None:
        """Say more about a value's shape than the reader knew (e.g. a graph input's channels)."""
        for value in (*self.builder.inputs, self.builder.values.get(name)):
            if value is not None and value.name == name:
                value.shape = tuple(shape)
        if name in self.inputs:
            self.input_shapes[self.inputs.index(name)] = tuple(shape)

    def finish(self) -> None:
        """Attach provenance; check the layer's last node produces its declared output."""
        if not self.emitted:
            raise self.error("its converter emitted no node")
        if self.emitted[-1].outputs[-1] != self.outputs[-1]:
            raise self.error(f"its converter's last node does not produce {self.outputs[-1]!r}")
        produced = {out for node in self.emitted for out in node.outputs}
        missing = [o for o in self.outputs if o not in produced]
        if missing:
            raise self.error(f"its converter produced no value for output(s) {missing}")
        for node in self.emitted:
            node.provenance = Provenance(self.framework, self.name, self.type, list(self.steps))


def run_handler(ctx: LayerContext, handler: Callable[[LayerContext], None]) -> None:
    """Call a layer handler; a bug in it (ours or a plugin's) names the layer, not a traceback."""
    try:
        handler(ctx)
    except NetinspectError:
        raise
    except Exception as e:
        origin = f"{handler.__module__}.{handler.__qualname__}"
        raise ctx.error(f"converter {origin} failed: {type(e).__name__}: {e}") from e
    ctx.finish()


def same_pads(
    size: int, kernel: int, stride: int, dilation: int = 1, out: int | None = None
) -> tuple[int, int]:
    """(before, after) padding of one axis under TensorFlow's SAME rule, shared by Keras and TFLite.

    The output is ceil(size / stride) (or `out`, when the file records it); the window's total
    overhang is split with the odd cell at the end, as TensorFlow's GetWindowedOutputSize and
    TFLite's ComputePaddingWithOffset do.
    """
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride) if out is None else out
    total = max(0, (out - 1) * stride + effective - size)
    return total // 2, total - total // 2


@dataclass(frozen=True)
class LayerEntry:
    """A source layer as the unsupported-layer survey sees it: its name, its type, and why
    netinspect does not convert that type (None: no handler is known). A refusal ends with how to
    register a handler when `refusal` is None or `registrable` says one would make sense (a TFLite
    custom op's semantics are not in the file, but its author knows them)."""

    name: str
    type: str
    refusal: str | None = None
    registrable: bool = False


def convert_layers(
    builder: GraphBuilder,
    contexts: Iterable[LayerContext],
    survey: Iterable[LayerEntry] | None = None,
    what: str = "layers",
    show_refused: bool = False,
) -> None:
    """The one loop over a file's layers, for every format.

    `survey` is every layer of the file (nested models and subgraphs included): those without a
    handler are listed before any is converted, for the one error `convert` and `check` raise
    naming them all (`what` says what they are: "Keras layers", "TFLite operators"); `info` and
    `view` show them. `contexts` yields one context per layer in execution order; it may be a
    generator that makes each after the previous one is converted (its inputs then exist).
    A layer's handler is the registry's: a user's, then a plugin package's, then netinspect's own.
    A layer without one becomes one node of its own type (`LayerContext.opaque`); so does a layer
    whose handler fails on what such a node computes (its shapes may be unknown), and, with
    `show_refused`, a layer whose handler refuses it: `info` shows it with the handler's reason and
    `convert` lists that reason in its one refusal. Every layer is recorded as its file describes it
    (`SourceLayer`), with the IR nodes it became.
    """
    record = builder.record
    if survey is not None:
        record.what = what
        for entry in survey:
            if registry.handler(builder.framework, entry.type) is None:
                record.unsupported(entry.name, entry.type, entry.refusal, entry.registrable)
    for ctx in contexts:
        handler = registry.handler(ctx.framework, ctx.type)
        downstream = any(x in record.untranslated for x in ctx.inputs)
        note = None
        if handler is None:
            record.unsupported(ctx.name, ctx.type, None, True)
            note = record.reasons.get((ctx.name, ctx.type), "no handler for this layer type")
            ctx.opaque(note)
        else:
            mark = builder.mark() if downstream or show_refused else None
            try:
                run_handler(ctx, handler)
            except NetinspectError as e:
                if mark is None:
                    raise
                ctx.rolled_back(builder.rollback(mark))
                if downstream:
                    note = f"reads a layer shown without a translation, and its converter said: {e.message}"
                else:
                    note = e.message.removeprefix(f"layer {ctx.name!r} ({ctx.type}): ")
                    record.unsupported(ctx.name, ctx.type, note, False)
                ctx.opaque(note)
        if note is not None or downstream:
            record.untranslated.update(ctx.outputs)
        record.layers.append(ctx.source_layer(note is None, note))


def onnx_attributes(config: dict[str, Any]) -> dict[str, Any]:
    """A layer configuration as ONNX attribute values: numbers, text and lists of one kind of
    them as they are (booleans as 0/1), anything else (nested configs, mixed lists) as JSON text;
    absent (null) and empty entries left out."""
    attributes: dict[str, Any] = {}
    for key, raw in plain(config).items():
        value = _attribute_value(raw)
        if value is not None:
            attributes[str(key)] = value
    return attributes


def _attribute_value(value: Any) -> Any:
    if value is None or value == [] or value == {}:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float | str):
        return value
    if isinstance(value, list):
        if all(isinstance(v, int) for v in value):  # booleans as 0/1
            return [int(v) for v in value]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            return [float(v) for v in value]
        if all(isinstance(v, str) for v in value):
            return value
    return json.dumps(value, sort_keys=True)


def _hint(name: str) -> str:
    """A short constant-name hint from a stored weight's name (Keras' `conv/kernel:0`)."""
    return name.split(":")[0].replace("/", "_")[-48:] or "weight"
