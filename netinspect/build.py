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

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from netinspect import registry
from netinspect.errors import ModelFormatError, NetinspectError
from netinspect.ir import Dim, Graph, Metadata, Node, Provenance, Step, Tensor, Value

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
        return graph


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
) -> None:
    """The one loop over a file's layers, for every format.

    `survey` is every layer of the file (nested models and subgraphs included), gone through before
    any is converted so that all the layers without a handler are refused in one error naming each
    (`what` says what they are: "Keras layers", "TFLite operators"). `contexts` yields one context
    per layer in execution order; it may be a generator that makes each after the previous one is
    converted (its inputs then exist). A layer's handler is the registry's: a user's, then a plugin
    package's, then netinspect's own.
    """
    if survey is not None:
        unsupported = registry.Unsupported(builder.framework, builder.path)
        for entry in survey:
            if registry.handler(builder.framework, entry.type) is None:
                unknown = entry.refusal is None or entry.registrable
                unsupported.add(entry.name, entry.type, entry.refusal, unknown=unknown)
        unsupported.check(what)
    for ctx in contexts:
        handler = registry.handler(ctx.framework, ctx.type)
        if handler is None:
            raise ctx.error("no handler is registered for this layer type")
        run_handler(ctx, handler)
