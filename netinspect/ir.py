"""The graph IR every reader produces and every renderer and exporter consumes.

Plain data classes, no framework objects: ONNX operator vocabulary with NCHW as the canonical
layout, weights that load lazily (so `info` and `view` never touch weight bytes), and on every
node the provenance of what an importer did to get there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from netinspect.dtypes import ITEMSIZE
from netinspect.io.blocks import rows_taken, transposed

Dim = int | str | None
"""A dimension: a size, a symbolic name such as ``"N"``, or ``None`` when unknown."""

STEP_KINDS = ("transpose", "flip", "layout", "dropout", "pad", "param", "drop", "fold", "split")
"""What an importer may do to a layer: the kinds a provenance step can have."""


class GraphError(ValueError):
    """The graph breaks an IR invariant (raised by `Graph.validate`)."""


@dataclass(frozen=True)
class Step:
    """One transformation an importer applied, e.g. Step("transpose", "kernel HWIO → OIHW")."""

    kind: str
    text: str

    def __post_init__(self) -> None:
        if self.kind not in STEP_KINDS:
            raise ValueError(f"unknown provenance step kind {self.kind!r}")


@dataclass
class Provenance:
    """Where a node came from, so a user (and `check`) can trace it back to the source layer."""

    framework: str
    layer: str
    layer_type: str
    steps: list[Step] = field(default_factory=list)

    def add(self, kind: str, text: str) -> None:
        self.steps.append(Step(kind, text))


@dataclass(frozen=True)
class TensorType:
    """A tensor inside a sequence, map or optional (a plain tensor value uses Value.dtype/shape)."""

    dtype: str | None
    shape: tuple[Dim, ...] | None = None


@dataclass(frozen=True)
class SequenceType:
    """ONNX seq(T): a list of values of one type (SplitToSequence, skl2onnx's ZipMap output)."""

    elem: ValueType


@dataclass(frozen=True)
class MapType:
    """ONNX map(K, V): `key` is a dtype name ("int64" or "string")."""

    key: str
    value: ValueType


@dataclass(frozen=True)
class OptionalType:
    """ONNX optional(T): a value of type T, or none."""

    elem: ValueType


ValueType = TensorType | SequenceType | MapType | OptionalType


def type_string(t: ValueType) -> str:
    """ONNX's notation with netinspect dtype names: "seq(map(int64,tensor(float32)))"."""
    if isinstance(t, TensorType):
        return f"tensor({t.dtype or '?'})"
    if isinstance(t, SequenceType):
        return f"seq({type_string(t.elem)})"
    if isinstance(t, MapType):
        return f"map({t.key},{type_string(t.value)})"
    return f"optional({type_string(t.elem)})"


@dataclass
class Value:
    """A named activation: its dtype (numpy name, e.g. "float32") and shape, where known.

    A sequence, map or optional value has its structure in `type`, `dtype` set to the type's
    string (e.g. "seq(map(int64,tensor(float32)))", never a numpy name) and no shape.
    """

    name: str
    dtype: str | None = None
    shape: tuple[Dim, ...] | None = None
    layout: str | None = None
    """Axis letters of a rank-4 (or 3, 5) activation when not canonical (e.g. "NHWC"); see layout.py."""
    type: SequenceType | MapType | OptionalType | None = None
    doc: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    """Free-form facts about the value from its source (ONNX value_info doc_string/metadata_props)."""

    @classmethod
    def of_type(cls, name: str, t: ValueType) -> Value:
        """A value of any ONNX type: a plain tensor becomes dtype/shape, the rest `type`."""
        if isinstance(t, TensorType):
            return cls(name, t.dtype, t.shape)
        return cls(name, type_string(t), None, type=t)

    @property
    def is_tensor(self) -> bool:
        return self.type is None


@dataclass(frozen=True)
class FileSpan:
    """Where in its file a reader found a tensor's bytes, exactly as a writer would write them
    (little-endian, C order, the tensor's dtype): the writer then has the kernel copy them
    (copy_file_range, as `cp` does) instead of reading them through this process."""

    path: Path
    offset: int
    length: int


class TensorSource(Protocol):
    """How a lazy tensor's elements are had. Readers give one (`Stored` from a loader, or their own
    kind); the layout pass derives new ones (`Permuted`, `Rows`) through `Tensor.permuted` and
    `Tensor.rows`. A source only describes: `netinspect.io` decides how to move its bytes.

    `storage_order` and `stored_span` say how the file holds the elements, the same for every
    container of a format (a MAT v5 array is column-major whether its bytes lie as they are or
    compressed): the layout rule decides from the order alone, and a permutation that moves no
    element (`same_bytes`) keeps the file's bytes, so the writer can copy them file to file.
    """

    @property
    def storage_order(self) -> tuple[int, ...] | None:
        """The tensor's axes, slowest first, in the order its source holds the elements; None for
        C order."""
        ...

    @property
    def stored_span(self) -> FileSpan | None:
        """The run of a file holding the elements as they are (in `storage_order`), if any."""
        ...

    def numpy(self) -> np.ndarray:
        """The whole contents (C order or not: the Tensor checks its shape)."""
        ...

    def chunks(self) -> Iterator[np.ndarray] | None:
        """The C-order contents as consecutive arrays, the source's own way (e.g. slab by slab,
        releasing pages), each valid until the one after next is asked for; None when it has no
        way of its own (the writer then streams it, see netinspect.io.streams)."""
        ...

    def permuted(self, base: Tensor, axes: tuple[int, ...]) -> TensorSource:
        """The source of `base` (whose source this is) transposed by `axes`."""
        ...

    def rows(self, base: Tensor, order: np.ndarray, by_columns: bool) -> TensorSource:
        """The source of `base` with its rows (its columns, `by_columns`) taken in `order`."""
        ...


def same_bytes(shape: tuple[int, ...], storage_order: tuple[int, ...] | None, axes: tuple[int, ...]) -> bool:
    """Whether `shape`'s elements, held in `storage_order`, lie in C order once transposed by `axes`:
    the axes that are not 1 come in the same order (a 1×1 filter bank's HWIO → OIHW moves nothing)."""
    held = storage_order if storage_order is not None else tuple(range(len(shape)))
    return [a for a in axes if shape[a] != 1] == [a for a in held if shape[a] != 1]


class Stored:
    """A reader's tensor: its elements from a loader, maybe also piece by piece (`chunks`) and as a
    run of its file (`stored_span`, in `storage_order`)."""

    def __init__(
        self,
        loader: Callable[[], np.ndarray],
        chunks: Callable[[], Iterator[np.ndarray]] | None = None,
        stored_span: FileSpan | None = None,
        storage_order: tuple[int, ...] | None = None,
    ) -> None:
        self.loader = loader
        self._chunks = chunks
        self.stored_span = stored_span
        self.storage_order = storage_order

    def numpy(self) -> np.ndarray:
        return self.loader()

    def chunks(self) -> Iterator[np.ndarray] | None:
        return self._chunks() if self._chunks is not None else None

    def permuted(self, base: Tensor, axes: tuple[int, ...]) -> TensorSource:
        return Permuted(base, axes)

    def rows(self, base: Tensor, order: np.ndarray, by_columns: bool) -> TensorSource:
        return Rows(base, order, by_columns)


class Permuted(Stored):
    """`base` transposed by `axes`: its file's bytes still, when that moves no element."""

    def __init__(self, base: Tensor, axes: tuple[int, ...]) -> None:
        held = base.storage_order if base.storage_order is not None else tuple(range(len(base.shape)))
        super().__init__(self._load, None, base.stored_span, tuple(axes.index(a) for a in held))
        self.base = base
        self.axes = axes

    def _load(self) -> np.ndarray:
        return transposed(self.base.numpy(), self.axes)


class Rows(Stored):
    """`base` with its rows (its columns, `by_columns`) in `order`."""

    def __init__(self, base: Tensor, order: np.ndarray, by_columns: bool) -> None:
        super().__init__(self._load)
        self.base = base
        self.order = order
        self.by_columns = by_columns

    def _load(self) -> np.ndarray:
        return rows_taken(self.base.numpy(), self.order, self.by_columns)


class Tensor:
    """A constant (weight) whose bytes are read only when `numpy()` is called.

    Readers give a loader (a slice of an mmap, an HDF5 dataset, ...) or a `TensorSource`; `map`,
    `permuted` and `rows` compose lazy transformations, so a permute costs nothing until the writer
    streams the tensor. Results are not cached: holding every weight twice is what the memory
    targets forbid.
    """

    def __init__(
        self,
        name: str,
        dtype: str,
        shape: tuple[int, ...],
        data: np.ndarray | None = None,
        loader: Callable[[], np.ndarray] | None = None,
        layout: str | None = None,
        missing: str | None = None,
        chunks: Callable[[], Iterator[np.ndarray]] | None = None,
        span: FileSpan | None = None,
        source: TensorSource | None = None,
    ) -> None:
        if sum(x is not None for x in (data, loader, source)) != 1:
            raise ValueError("a Tensor needs exactly one of data, loader or source")
        self.name = name
        self.dtype = dtype
        self.shape = tuple(int(d) for d in shape)
        self._data = data
        self.source: TensorSource = source or Stored(loader or (lambda: data), chunks, span)  # type: ignore[arg-type,return-value]
        """Where the elements come from (see TensorSource)."""
        self.layout = layout
        """The source axis order of a weight (e.g. "HWIO") until the layout pass permutes it."""
        self.missing = missing
        """The file that should hold this tensor's bytes and is absent (ONNX external data): the
        graph can be shown, but `numpy()` raises naming it."""

    @classmethod
    def from_array(cls, name: str, array: np.ndarray) -> Tensor:
        array = np.asarray(array)
        return cls(name, array.dtype.name if array.dtype.kind != "U" else "string", array.shape, data=array)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * dtype_itemsize(self.dtype)

    @property
    def is_loaded(self) -> bool:
        return self._data is not None

    @property
    def storage_order(self) -> tuple[int, ...] | None:
        """How the source holds the elements (see TensorSource); None for C order."""
        return self.source.storage_order

    @property
    def stored_span(self) -> FileSpan | None:
        return self.source.stored_span

    @property
    def span(self) -> FileSpan | None:
        """The file bytes this tensor is, unchanged, in C order (see FileSpan), if any: a permutation
        that moves no element keeps them, any other derived tensor has none."""
        stored = self.source.stored_span
        if stored is None or not same_bytes(self.shape, self.storage_order, tuple(range(len(self.shape)))):
            return None
        return stored

    @span.setter
    def span(self, span: FileSpan | None) -> None:
        """Say the tensor's C-order contents are this run of a file (a reader's own tensor only)."""
        if not isinstance(self.source, Stored) or isinstance(self.source, Permuted | Rows):
            raise ValueError(f"tensor {self.name!r} is derived: its bytes are no run of a file")
        self.source.stored_span, self.source.storage_order = span, None

    def numpy(self) -> np.ndarray:
        if self._data is not None:
            return self._data
        array = np.asarray(self.source.numpy())
        if tuple(array.shape) != self.shape:
            raise GraphError(f"tensor {self.name!r}: loader gave shape {array.shape}, declared {self.shape}")
        return array

    def chunks(self) -> Iterator[np.ndarray] | None:
        """The source's own pieces (see TensorSource.chunks), or None."""
        return None if self._data is not None else self.source.chunks()

    def permuted(self, axes: tuple[int, ...], name: str | None = None) -> Tensor:
        """This tensor transposed by `axes`, lazily (its source's own way when it has one)."""
        shape = tuple(self.shape[i] for i in axes)
        source = self.source.permuted(self, tuple(axes))
        return Tensor(name or self.name, self.dtype, shape, source=source, missing=self.missing)

    def rows(self, order: np.ndarray, by_columns: bool = False, name: str | None = None) -> Tensor:
        """This 2-D tensor with its rows (its columns, `by_columns`) in `order`, lazily."""
        source = self.source.rows(self, order, by_columns)
        return Tensor(name or self.name, self.dtype, self.shape, source=source, missing=self.missing)

    def map(
        self,
        fn: Callable[[np.ndarray], np.ndarray],
        shape: tuple[int, ...],
        name: str | None = None,
        dtype: str | None = None,
    ) -> Tensor:
        """A lazy tensor computed from this one when read."""
        load = lambda: fn(self.numpy())  # noqa: E731
        return Tensor(name or self.name, dtype or self.dtype, shape, loader=load, missing=self.missing)

    def __repr__(self) -> str:
        return f"Tensor({self.name!r}, {self.dtype}, {self.shape})"


def dtype_itemsize(dtype: str) -> int:
    """Bytes per element; non-numpy ONNX types (bfloat16, float8, int4) by their storage width."""
    return ITEMSIZE[dtype] if dtype in ITEMSIZE else np.dtype(dtype).itemsize


@dataclass(eq=False)
class Node:
    """One operation in the ONNX vocabulary. An empty input name marks an omitted optional input.

    Attribute values are plain Python: int, float, str, bytes, lists of those, `Tensor`, or `Graph`
    (a subgraph of If/Loop/Scan, which may read values of the enclosing graph).

    Compared by identity: rewrites find and remove nodes in lists, and must remove that node, not
    one with equal fields (which took a field-by-field comparison per list entry, besides).
    """

    name: str
    op_type: str
    inputs: list[str]
    outputs: list[str]
    attributes: dict[str, Any] = field(default_factory=dict)
    domain: str = ""
    provenance: Provenance | None = None
    doc: str = ""
    layout: str | None = None
    """Set by a channels-last reader ("NHWC"): the op works on data in that layout. The layout
    pass (layout.py) rewrites such nodes to the canonical layout and clears it."""
    metadata: dict[str, str] = field(default_factory=dict)
    """Free-form key/value facts about the node from its source (ONNX node metadata_props, e.g.
    PyTorch's stack trace and module scope), kept on export."""

    def subgraphs(self) -> Iterator[Graph]:
        for value in self.attributes.values():
            if isinstance(value, Graph):
                yield value
            elif isinstance(value, list):
                yield from (v for v in value if isinstance(v, Graph))


@dataclass(frozen=True)
class AttributeRef:
    """An attribute of a node inside a function body that takes the value of the calling node's
    attribute `name` (ONNX ref_attr_name); `type` is ONNX's attribute type name ("FLOAT", "INTS", ...)."""

    name: str
    type: str


@dataclass
class Function:
    """A model-local function (ONNX FunctionProto): a node whose (domain, op_type) is
    (domain, name) runs `nodes` with its inputs and attributes bound to the function's."""

    name: str
    domain: str
    inputs: list[str]
    outputs: list[str]
    nodes: list[Node]
    opset: dict[str, int]
    attributes: list[str] = field(default_factory=list)
    """Attribute names without a default value."""
    attribute_defaults: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Value] = field(default_factory=dict)
    doc: str = ""
    overload: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class Preprocessing:
    """What the source model expects done to an image before its first layer.

    `mean` is per channel in the model's channel order; `mean_image` a full image (C, H, W) when
    the source stores one; `value_range` the range of the raw input (0..255 for MatConvNet).
    """

    mean: list[float] | None = None
    mean_image: Tensor | None = None
    std: list[float] | None = None
    image_size: tuple[int, int] | None = None
    channel_order: str | None = None
    input_layout: str | None = None
    value_range: tuple[float, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return self == Preprocessing()


@dataclass
class Metadata:
    """Facts about the model as a whole; `properties` is written to ONNX metadata_props."""

    source_format: str = ""
    format_version: str = ""
    producer: str = ""
    doc: str = ""
    labels: list[str] | None = None
    label_descriptions: list[str] | None = None
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    properties: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    ir_version: int | None = None
    """The source file's ONNX IR version; the writer keeps it unless the opset needs a newer one."""
    source_producer: tuple[str, str] | None = None
    """(name, version) of the program that wrote the source file, as it records them."""
    model_version: int | None = None
    domain: str = ""
    checker_error: str | None = None
    """Why the source file fails onnx.checker (after the repairs in `notes`), or None."""


@dataclass
class SourceTensor:
    """A tensor as the source file describes it: a layer's input or output, or a stored weight.

    `shape` and `dtype` are as stored (a Keras kernel HWIO, a MatConvNet filter in MATLAB's
    H×W×Cin×Cout, a TFLite filter OHWI), `layout` names that axis order when it is known, and
    `quantization` is TFLite's {"scale", "zero_point", "quantized_dimension"} (lists; None when
    the tensor is not quantized). `value` is the IR value (an edge) or constant (a weight, whose
    values and statistics `info --tensor` shows) it is; None when it became none.
    """

    name: str
    shape: tuple[Dim, ...] | None = None
    dtype: str | None = None
    layout: str | None = None
    quantization: dict[str, Any] | None = None
    value: str | None = None


@dataclass
class SourceLayer:
    """One layer of a Keras, TFLite or MatConvNet (or Caffe) file as its framework describes it.

    `type` is the framework's own name (Keras class `Conv2D`, TFLite builtin `FULLY_CONNECTED` or
    `CUSTOM:<code>`, MatConvNet `conv` / `dagnn.Conv`); `config` the layer's configuration as the
    file states it, JSON-safe (Keras config, TFLite builtin options, MatConvNet fields). `inputs`
    and `outputs` are the source edges: a layer reads what another's output `value` names (or a
    graph input). `weights` are the stored parameters. `nodes` names the IR nodes the layer became
    (in `Graph.nodes`; none for a layer that is an identity at inference, such as Dropout).
    `supported` is False for a layer shown without a translation: one node of its own type, in
    the domain `netinspect.<framework>`, that `convert` refuses; `note` says why, or, for a layer
    that became no node of its own (a TFLite DEQUANTIZE of a constant, folded), what became of it.
    An ONNX file has no separate source: its `Graph.source_layers` is empty.
    """

    name: str
    type: str
    config: dict[str, Any] = field(default_factory=dict)
    inputs: list[SourceTensor] = field(default_factory=list)
    outputs: list[SourceTensor] = field(default_factory=list)
    weights: list[SourceTensor] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    supported: bool = True
    note: str | None = None


@dataclass
class Graph:
    """A model: inputs, outputs, nodes in topological order, constants, and what we know of it.

    `values` holds dtype/shape of intermediate values where a reader or shape inference knows them.
    `opset` maps an operator domain ("" is ai.onnx) to the opset version whose semantics apply.
    """

    name: str
    inputs: list[Value]
    outputs: list[Value]
    nodes: list[Node] = field(default_factory=list)
    tensors: dict[str, Tensor] = field(default_factory=dict)
    values: dict[str, Value] = field(default_factory=dict)
    metadata: Metadata = field(default_factory=Metadata)
    opset: dict[str, int] = field(default_factory=lambda: {"": 17})
    doc: str = ""
    functions: list[Function] = field(default_factory=list)
    """Model-local functions (top-level graph only)."""
    source_layers: list[SourceLayer] = field(default_factory=list)
    """The file's own layers, in execution order (empty for an ONNX file: the graph is its source)."""
    refusal: Exception | None = None
    """Why `convert` and `check` refuse this graph though `info` and `view` show it (layers without
    a translation, all listed), or None. The ONNX writer raises it unless told to keep them."""

    def untranslated(self) -> list[SourceLayer]:
        """The source layers shown without a translation (one opaque node each)."""
        return [layer for layer in self.source_layers if not layer.supported]

    def relink_source_layers(self) -> None:
        """Bring the layer records up to date after a pass rewrote the graph: node names it
        removed are dropped, nodes it added with a layer's provenance (the layout pass's
        Transposes) are added to that layer, and weight links to constants it replaced are cut."""
        order = {n.name: k for k, n in enumerate(self.walk())}  # a loop body's layers are in subgraphs
        claimed = {n for layer in self.source_layers for n in layer.nodes if n in order}
        calls = Counter(layer.name for layer in self.source_layers)
        added: dict[str, list[str]] = {}
        for node in self.walk():
            if node.provenance is not None and node.name not in claimed:
                added.setdefault(node.provenance.layer, []).append(node.name)
        for layer in self.source_layers:
            kept = [n for n in layer.nodes if n in order]
            if kept and calls[layer.name] == 1:  # a shared layer's calls cannot be told apart
                kept += added.get(layer.name, [])
            layer.nodes = sorted(kept, key=order.__getitem__)
            for weight in layer.weights:
                if weight.value is not None and weight.value not in self.tensors:
                    weight.value = None

    def value(self, name: str) -> Value | None:
        """What is known of a value: graph input/output, constant, or intermediate."""
        for values in (self.inputs, self.outputs):
            for v in values:
                if v.name == name:
                    return v
        if name in self.tensors:
            t = self.tensors[name]
            return Value(name, t.dtype, t.shape)
        return self.values.get(name)

    def producers(self) -> dict[str, Node]:
        return {out: node for node in self.nodes for out in node.outputs if out}

    def walk(self) -> Iterator[Node]:
        """Every node, subgraphs included, depth first."""
        for node in self.nodes:
            yield node
            for sub in node.subgraphs():
                yield from sub.walk()

    def parameter_count(self) -> int:
        return sum(t.size for t in self.tensors.values())

    def validate(self, outer: frozenset[str] = frozenset()) -> None:
        """Check topological order, single definition of every value, and shape/dtype agreement."""
        defined: set[str] = set()

        def define(name: str, what: str) -> None:
            if name in defined:
                raise GraphError(f"graph {self.name!r}: value {name!r} is defined twice ({what})")
            defined.add(name)

        for v in self.inputs:
            define(v.name, "graph input")
        for name, tensor in self.tensors.items():
            if name != tensor.name:
                raise GraphError(f"graph {self.name!r}: tensor stored as {name!r} is named {tensor.name!r}")
            declared = next((v for v in self.inputs if v.name == name), None)
            if declared is not None:  # an initializer that is also an input (old ONNX style)
                _agree(self.name, name, declared, Value(name, tensor.dtype, tensor.shape))
                continue
            define(name, "constant")
        for node in self.nodes:
            for name in node.inputs:
                if name and name not in defined and name not in outer:
                    raise GraphError(
                        f"graph {self.name!r}: node {node.name!r} ({node.op_type}) reads {name!r} "
                        "before it is defined"
                    )
            for sub in node.subgraphs():
                sub.validate(frozenset(defined | outer))
            for name in node.outputs:
                if name:
                    define(name, f"output of node {node.name!r}")
        for v in self.outputs:
            if v.name not in defined and v.name not in outer:
                raise GraphError(f"graph {self.name!r}: output {v.name!r} is never computed")
        for v in (*self.inputs, *self.outputs):
            known = self.values.get(v.name)
            if known is not None:
                _agree(self.name, v.name, v, known)
            if v.name in self.tensors:
                t = self.tensors[v.name]
                _agree(self.name, v.name, v, Value(v.name, t.dtype, t.shape))


def _agree(graph: str, name: str, a: Value, b: Value) -> None:
    if a.dtype and b.dtype and a.dtype != b.dtype:
        raise GraphError(f"graph {graph!r}: value {name!r} has dtype {a.dtype} and {b.dtype}")
    if a.shape is not None and b.shape is not None:
        if len(a.shape) != len(b.shape):
            raise GraphError(f"graph {graph!r}: value {name!r} has shapes {a.shape} and {b.shape}")
        for x, y in zip(a.shape, b.shape, strict=True):
            if isinstance(x, int) and isinstance(y, int) and x != y:
                raise GraphError(f"graph {graph!r}: value {name!r} has shapes {a.shape} and {b.shape}")
