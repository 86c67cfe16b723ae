"""The one place that decides layouts: source layouts in, canonical NCHW activations and OIHW
filters out.

Layouts are strings of axis letters; the permutation between two is derived, never written by
hand, so MatConvNet's HWCN→NCHW and Keras' HWIO→OIHW are the same rule (perm 3,2,0,1).
Letters: N batch, C channels, D depth, H height, W width, O output channels, I input channels
(per group; TFLite's depthwise 1HWO is "IHWO" with I = 1).

Readers never permute. They tag what is not canonical and `canonicalize` rewrites the graph:
- a weight `Tensor.layout` ("HWIO", "OHWI", …) is permuted, lazily, to what its op reads
  (Conv: O I spatial; ConvTranspose: I O spatial), and the permutation recorded on the node;
- a node whose `layout` is channels-last ("NHWC") is wrapped in Transposes, and graph inputs and
  outputs tagged channels-last become NCHW (unless the user keeps the source layout);
- then Transposes are pushed through layout-agnostic ops (one rule per op, PUSH_RULES) until
  inverse pairs meet and vanish, and a Transpose that only feeds a Flatten into a MatMul/Gemm
  becomes a permutation of that weight's rows.
A weight of KEPT_WEIGHT_BYTES or more is not permuted where the activations can be instead (a
filter needing only its spatial axes reordered, a Dense kernel after a Flatten): it is written as
stored, and a Transpose of the activations, far cheaper per image than the op itself, stays.

This module is the rule only: it reads no file and starts no thread. Weights are permuted lazily
(`Tensor.permuted`, `Tensor.rows`); netinspect.io moves their bytes when the writer asks.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from netinspect.build import fresh_name
from netinspect.ir import Graph, Node, Provenance, Step, Tensor, Value, same_bytes
from netinspect.layout_metadata import AxisMove, write_io_layouts, write_value_moves

ACTIVATION = "NCHW"
MATLAB_ACTIVATION = "HWCN"
"""MatConvNet arrays: height × width × channels × batch, MATLAB's own order."""

SPATIAL = "DHW"


def perm(src: str, dst: str) -> tuple[int, ...]:
    """Axes to pass to numpy.transpose to turn an array laid out as `src` into `dst`."""
    if sorted(src) != sorted(dst) or len(set(src)) != len(src):
        raise ValueError(f"layouts {src!r} and {dst!r} do not hold the same axes")
    return tuple(src.index(axis) for axis in dst)


def permute(array: np.ndarray, src: str, dst: str) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(array, perm(src, dst)))


def permute_shape(shape: tuple, src: str, dst: str) -> tuple:
    return tuple(shape[i] for i in perm(src, dst))


def axis(src: str, index: int, dst: str) -> int:
    """Where axis `index` of layout `src` lands in layout `dst` (e.g. MATLAB dim 3 → NCHW axis 1)."""
    return dst.index(src[index])


def describe(what: str, src: str, dst: str) -> str:
    """The provenance sentence for a permute, e.g. "kernel HWIO → OIHW (perm 3,2,0,1)"."""
    return f"{what} {src} → {dst} (perm {','.join(map(str, perm(src, dst)))})"


def channels_first(layout: str) -> str:
    """The canonical order of the same axes: "NHWC" → "NCHW", "NWC" → "NCW", "NDHWC" → "NCDHW"."""
    spatial = "".join(a for a in SPATIAL if a in layout)
    return "NC" + spatial


def weight_target(op_type: str, src: str) -> str | None:
    """The layout an op reads its weight in, for a weight tagged `src`; None if the op has none."""
    spatial = "".join(a for a in SPATIAL if a in src)
    if op_type == "Conv":
        return "OI" + spatial
    if op_type == "ConvTranspose":
        return "IO" + spatial
    return None


# -------------------------------------------------------------------------------------------------
# the pass


def canonicalize(graph: Graph, keep_source_layout: bool = False, permute_all_weights: bool = False) -> None:
    """Make every tagged weight and channels-last node canonical, in place (see the module doc);
    `permute_all_weights` keeps no weight as stored (KEPT_WEIGHT_BYTES)."""
    kept_from = None if permute_all_weights else KEPT_WEIGHT_BYTES
    _permute_weights(graph, kept_from)
    tagged = any(_non_canonical(node.layout) for node in graph.nodes) or any(
        _non_canonical(v.layout) for v in graph.inputs
    )
    if tagged:
        _ChannelsFirst(graph, keep_source_layout, kept_from).run()


_WEIGHT_PASSTHROUGH = ("Cast", "DequantizeLinear")
"""Ops between a stored weight and the op that reads it (float16 and quantized weights)."""


def _permute_weights(graph: Graph, kept_from: int | None) -> None:
    done: dict[str, str] = {}
    for node in list(graph.nodes):  # a filter kept as stored puts Transposes around its Conv
        for index, name in enumerate(node.inputs):
            tensor = graph.tensors.get(name)
            if tensor is None or (tensor.layout is None and name not in done):
                continue
            if name in done:
                _record(node, Step("transpose", done[name]))
                continue
            src = tensor.layout
            assert src is not None
            chain, reader, reader_index = _weight_reader(graph, node, index)
            dst = weight_target(reader.op_type, src) if reader_index == 1 else None
            if dst is None:
                raise ValueError(
                    f"weight {name!r} is tagged {src}, but {reader.op_type} input {reader_index} "
                    "takes no laid-out weight"
                )
            if (
                not chain
                and kept_from is not None
                and _filter_kept_as_stored(graph, reader, tensor, src, dst, kept_from)
            ):
                done[name] = "filter kept as stored"
                continue
            graph.tensors[name] = permuted(tensor, src, dst)
            done[name] = describe("filter", src, dst)
            for link in chain:  # a Cast or DequantizeLinear on the way: its output moves too
                out = graph.values.get(link.outputs[0])
                if out is not None and out.shape is not None and len(out.shape) == len(src):
                    out.shape = permute_shape(out.shape, src, dst)
                if link.op_type == "DequantizeLinear" and "axis" in link.attributes:
                    link.attributes["axis"] = dst.index(src[link.attributes["axis"] % len(src)])
                    _record(link, Step("transpose", f"per-channel axis follows the filter {src} → {dst}"))
            _record(reader, Step("transpose", done[name]))


KEPT_WEIGHT_BYTES = 64 << 20
"""From this size a weight is written as its source holds it when the permutation it needs can move
to the activations instead, at a cost per image of the activations' size, far below the op's own
work (benchmarks/README.md has the measurements: VGG-19's fc6, Keras VGG19's fc1):
- a filter whose stored order differs from what Conv reads only in its spatial axes (MatConvNet's
  column-major W×H): the Conv runs on its input transposed, and its output is transposed back;
- a Dense kernel after a Flatten of channels-last data (Keras): the Transpose to channels-last
  stays before the Flatten instead of becoming a permutation of the kernel's rows.
Decided from the op, the weight's shape and size and the order its format stores elements in, so a
model converts to the same graph from every container (MAT v5, compressed v7, v7.3; inline or
external data). Smaller weights are permuted and their graph stays as it was; `--permute-all-weights`
permutes every weight."""


def stored_spatial_order(tensor: Tensor, src: str, dst: str) -> str | None:
    """The layout, `dst` with only its spatial axes reordered, in which `tensor` (tagged `src`) is
    already held by its source (Tensor.storage_order: MATLAB's column-major W×H, say), when `dst`
    itself is not; None otherwise. Decided from the tensor's shape and the order its format stores
    elements in, never from where the bytes lie, so every container of a model gives one graph."""
    spatial = dst[2:]
    if not set(spatial) <= set(SPATIAL):
        return None
    held = tensor.storage_order
    if same_bytes(tensor.shape, held, perm(src, dst)):
        return None  # nothing moves (a 1×1 filter bank): the plain permutation keeps the bytes
    for order in itertools.permutations(spatial):
        kept = dst[:2] + "".join(order)
        if kept != dst and same_bytes(tensor.shape, held, perm(src, kept)):
            return kept
    return None


def _filter_kept_as_stored(
    graph: Graph, conv: Node, tensor: Tensor, src: str, dst: str, kept_from: int
) -> bool:
    """Rewrite `conv` to read `tensor` in the order its source holds it, when that order is `dst`
    with only its spatial axes reordered (`stored_spatial_order`)."""
    spatial = dst[2:]
    if conv.op_type != "Conv" or tensor.nbytes < kept_from:
        return False
    if sum(n.inputs.count(tensor.name) for n in graph.nodes) != 1:
        return False  # shared: every reader would need its own Transposes
    kept = stored_spatial_order(tensor, src, dst)
    if kept is None:
        return False
    order = kept[2:]
    candidate = permuted(tensor, src, kept)
    q = tuple(spatial.index(a) for a in order)  # the stored order's spatial axis i is dst's q[i]
    p = (0, 1, *(2 + i for i in q))
    attrs = conv.attributes
    for key in ("kernel_shape", "strides", "dilations"):
        if key in attrs:
            attrs[key] = [attrs[key][i] for i in q]
    if "pads" in attrs:
        begins, ends = attrs["pads"][: len(q)], attrs["pads"][len(q) :]
        attrs["pads"] = [begins[i] for i in q] + [ends[i] for i in q]
    graph.tensors[tensor.name] = candidate
    taken = set(graph.values) | {o for n in graph.nodes for o in n.outputs} | {v.name for v in graph.inputs}
    node_names = {n.name for n in graph.nodes}
    source, result = conv.inputs[0], conv.outputs[0]
    moved = "NC" + "".join(order)  # the activations' layout the Conv now works in
    moved_in, moved_out = fresh_name(f"{source}_{moved}", taken), fresh_name(f"{result}_{moved}", taken)
    for old, new in ((source, moved_in), (result, moved_out)):
        value = graph.values.get(old)
        if value is not None:
            graph.values[new] = Value(new, value.dtype, _transposed_shape(value.shape, p))
    names = (
        fresh_name(f"{conv.name}_input_{moved}", node_names),
        fresh_name(f"{conv.name}_output_nchw", node_names),
    )
    before = Node(names[0], "Transpose", [source], [moved_in], {"perm": list(p)}, provenance=conv.provenance)
    after = Node(
        names[1], "Transpose", [moved_out], [result], {"perm": list(inverse(p))}, provenance=conv.provenance
    )
    conv.inputs[0], conv.outputs[0] = moved_in, moved_out
    at = graph.nodes.index(conv)
    graph.nodes[at : at + 1] = [before, conv, after]
    mib = tensor.nbytes / (1 << 20)
    _record(conv, Step("layout", f"filter kept as stored ({mib:.0f} MiB, read as {kept}): the Conv runs on "
                                 f"its input transposed to {moved}, its output transposed back"))  # fmt: skip
    return True


def _weight_reader(graph: Graph, node: Node, index: int) -> tuple[list[Node], Node, int]:
    """The op that reads a stored weight, past the Cast/DequantizeLinear nodes that lead to it; a
    dequantized weight several ops of one type read at one input (a filter shared by two Convs)
    is laid out once for all of them."""
    chain: list[Node] = []
    while node.op_type in _WEIGHT_PASSTHROUGH and index == 0:
        readers = [(n, n.inputs.index(node.outputs[0])) for n in graph.nodes if node.outputs[0] in n.inputs]
        if not readers or len({(n.op_type, i) for n, i in readers}) != 1:
            break
        chain.append(node)
        node, index = readers[0]
    return chain, node, index


def permuted(tensor: Tensor, src: str, dst: str) -> Tensor:
    """A lazy `tensor` in layout `dst` (its reader's own way of permuting it, when it has one)."""
    return tensor.permuted(perm(src, dst))


def _record(node: Node, step: Step) -> None:
    if node.provenance is not None and step not in node.provenance.steps:
        node.provenance.steps.append(step)


def _non_canonical(layout: str | None) -> bool:
    return layout is not None and layout != channels_first(layout)


def inverse(p: Sequence[int]) -> tuple[int, ...]:
    out = [0] * len(p)
    for i, axis_index in enumerate(p):
        out[axis_index] = i
    return tuple(out)


def compose(first: Sequence[int], then: Sequence[int]) -> tuple[int, ...]:
    """The perm of transpose(transpose(x, first), then)."""
    return tuple(first[i] for i in then)


def _is_identity(p: Sequence[int]) -> bool:
    return all(i == a for i, a in enumerate(p))


def _transposed_shape(shape: tuple | None, p: Sequence[int]) -> tuple | None:
    return None if shape is None or len(shape) != len(p) else tuple(shape[i] for i in p)


def layout_name(p: Sequence[int]) -> str:
    """The source layout a canonical tensor takes after transpose by `p`: (0,2,3,1) → "NHWC"."""
    canonical = "NC" + SPATIAL[3 - (len(p) - 2) :] if len(p) >= 2 else "N"
    return "".join(canonical[i] for i in p)


_UNARY = frozenset(
    [
        "Relu",
        "LeakyRelu",
        "Sigmoid",
        "Tanh",
        "Elu",
        "Selu",
        "Celu",
        "HardSigmoid",
        "HardSwish",
        "Softplus",
        "Softsign",
        "Exp",
        "Log",
        "Abs",
        "Neg",
        "Sqrt",
        "Reciprocal",
        "Erf",
        "Identity",
        "Cast",
        "Floor",
        "Ceil",
        "Round",
        "Sign",
        "Sin",
        "Cos",
        "Not",
        "Mish",
        "Gelu",
        "ThresholdedRelu",
        "Dropout",
        "IsNaN",
        "IsInf",
        "Clip",
    ]
)
_ELEMENTWISE = frozenset(
    [
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Pow",
        "Max",
        "Min",
        "Sum",
        "Mean",
        "PRelu",
        "Equal",
        "Greater",
        "Less",
        "GreaterOrEqual",
        "LessOrEqual",
        "And",
        "Or",
        "Xor",
        "Where",
        "BitShift",
        "Mod",
    ]
)
_REDUCE = frozenset(
    [
        "ReduceMean",
        "ReduceSum",
        "ReduceMax",
        "ReduceMin",
        "ReduceProd",
        "ReduceL1",
        "ReduceL2",
        "ReduceLogSum",
        "ReduceLogSumExp",
        "ReduceSumSquare",
    ]
)
_PER_AXIS = {"QuantizeLinear", "DequantizeLinear"}
_MAX_ROUNDS = 10_000


_LAID_OUT_INPUTS = {"MaxUnpool": (0, 1)}
"""Inputs of a channels-last op, other than its first, that hold data in the op's layout (MaxUnpool's
indices, which MaxPool computed in the same layout)."""


class _ChannelsFirst:
    """Rewrites a graph tagged channels-last into NCHW with as few Transposes as the graph allows.

    1. every tagged node is wrapped: Transpose(to NCHW) → op → Transpose(back);
    2. tagged graph inputs become NCHW (unless the source layout is kept) behind a Transpose;
    3. Transposes are pushed down through layout-agnostic ops, adjusting their axes and constant
       operands, until they meet their inverse and both vanish; a Transpose feeding Flatten into a
       MatMul/Gemm becomes a permutation of the weight's rows;
    4. a Transpose left in front of a graph output is dropped (the output becomes NCHW) unless the
       source layout is kept.
    Each ONNX value that holds a source value in another axis order is recorded (VALUE_LAYOUTS), so
    `check` can compare a layer's output with the source runtime's.
    """

    def __init__(self, graph: Graph, keep_source_layout: bool, kept_from: int | None = None) -> None:
        self.graph = graph
        self.keep = keep_source_layout
        self.kept_from = kept_from
        self.used = {v.name for v in graph.inputs} | set(graph.tensors) | set(graph.values)
        self.used |= {o for n in graph.nodes for o in n.outputs}
        self.node_names = {n.name for n in graph.nodes}
        self.value_perm: dict[str, tuple[int, ...]] = {}
        self.io_layout: dict[str, str] = {}
        self.flattened: dict[str, AxisMove] = {}
        self.replaced: set[str] = set()
        """Constants the pass made a channels-first copy of: dropped at the end if nothing reads them."""
        self._readers: dict[str, dict[int, Node]] | None = None
        self._makers: dict[str, dict[int, Node]] = {}
        self._alive: set[int] = set()
        self._dropped: set[int] = set()
        self._after: dict[int, list[Node]] = {}
        """Nodes removed, and nodes to insert after a node, once the current sweep ends (`settle`):
        editing the node list in place at each rewrite made the pass quadratic too."""

    # -- who reads and who makes each value: kept up to date by every rewrite -----------------------
    # (Scanning the graph at every question made the pass quadratic: benchmarks/README.md.) A
    # rewrite changes a node inside `editing(node)`, and adds and drops nodes with `insert_after`
    # and `remove`, which the node list sees at `settle()`; one that replaces the node list calls
    # `changed()`.
    def changed(self) -> None:
        self._readers = None

    def _index(self) -> dict[str, dict[int, Node]]:
        if self._readers is None:
            self.settle()
            self._readers, self._makers, self._alive = {}, {}, set()
            for node in self.graph.nodes:
                self._learn(node)
        return self._readers

    def _learn(self, node: Node) -> None:
        if self._readers is None:
            return
        for name in node.inputs:
            self._readers.setdefault(name, {})[id(node)] = node
        for name in node.outputs:
            self._makers.setdefault(name, {})[id(node)] = node
        self._alive.add(id(node))

    def _forget(self, node: Node) -> None:
        if self._readers is None:
            return
        for name in node.inputs:
            self._readers.get(name, {}).pop(id(node), None)
        for name in node.outputs:
            self._makers.get(name, {}).pop(id(node), None)
        self._alive.discard(id(node))

    @contextlib.contextmanager
    def editing(self, node: Node) -> Iterator[None]:
        self._forget(node)
        yield
        self._learn(node)

    def insert_after(self, anchor: Node, node: Node) -> None:
        self._after.setdefault(id(anchor), []).append(node)
        self._learn(node)

    def remove(self, node: Node) -> None:
        self._dropped.add(id(node))
        self._forget(node)

    def settle(self) -> None:
        """Apply the sweep's removals and insertions to the node list, in one pass."""
        if not self._dropped and not self._after:
            return
        nodes: list[Node] = []

        def place(node: Node) -> None:
            if id(node) not in self._dropped:
                nodes.append(node)
            for later in self._after.pop(id(node), []):
                place(later)

        for node in self.graph.nodes:
            place(node)
        self.graph.nodes = nodes
        self._dropped.clear()

    # -- bookkeeping --------------------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        return fresh_name(hint, self.used)

    def shape(self, name: str) -> tuple | None:
        known = self.graph.value(name)
        return None if known is None else known.shape

    def dtype(self, name: str) -> str | None:
        known = self.graph.value(name)
        return None if known is None else known.dtype

    def set_value(self, name: str, dtype: str | None, shape: tuple | None) -> None:
        self.graph.values[name] = Value(name, dtype, shape)

    def transpose_node(self, source: str, p: Sequence[int], output: str, like: Node | None) -> Node:
        name = fresh_name(f"{like.name if like else source}/transpose", self.node_names)
        node = Node(name, "Transpose", [source], [output], {"perm": list(p)})
        if like is not None and like.provenance is not None:
            node.provenance = Provenance(
                like.provenance.framework, like.provenance.layer, like.provenance.layer_type,
                list(like.provenance.steps),
            )  # fmt: skip
        self.set_value(output, self.dtype(source), _transposed_shape(self.shape(source), p))
        return node

    def consumers(self, name: str) -> list[Node]:
        return list(self._index().get(name, {}).values())

    def is_output(self, name: str) -> bool:
        return any(v.name == name for v in self.graph.outputs)

    def producer(self, name: str) -> Node | None:
        self._index()
        return next(iter(self._makers.get(name, {}).values()), None)

    def alive(self, node: Node) -> bool:
        self._index()
        return id(node) in self._alive

    # -- the steps ------------------------------------------------------------------------------------
    def run(self) -> None:
        self.wrap_nodes()
        self.convert_inputs()
        self.push_transposes()
        self.convert_outputs()
        self.graph.nodes = _topological(self.graph)
        self.changed()
        read = {i for n in self.graph.walk() for i in n.inputs} | {v.name for v in self.graph.outputs}
        for name in self.replaced:
            if name not in read:
                self.graph.tensors.pop(name, None)
        for value in self.graph.values.values():
            if value.name not in self.io_layout or self.keep:
                value.layout = None
        for v in (*self.graph.inputs, *self.graph.outputs):
            v.layout = v.layout if self.keep and v.layout else None
        write_io_layouts(self.graph.metadata, self.io_layout)
        # interface values are already seen through their IO layout by check: listed once, not twice
        moves = {
            k: AxisMove(v)
            for k, v in self.value_perm.items()
            if not _is_identity(v) and self.defined(k) and k not in self.io_layout
        }
        moves.update({k: v for k, v in self.flattened.items() if self.defined(k) and k not in self.io_layout})
        write_value_moves(self.graph.metadata, moves)

    def defined(self, name: str) -> bool:
        return self.producer(name) is not None or any(v.name == name for v in self.graph.inputs)

    def wrap_nodes(self) -> None:
        nodes: list[Node] = []
        for node in self.graph.nodes:
            layout = node.layout
            node.layout = None
            if not _non_canonical(layout):
                nodes.append(node)
                continue
            assert layout is not None
            canonical = channels_first(layout)
            to_c, to_l = perm(layout, canonical), perm(canonical, layout)
            for index in _LAID_OUT_INPUTS.get(node.op_type, (0,)):
                data = node.inputs[index]
                moved = self.fresh(f"{data}_{canonical.lower()}")
                nodes.append(self.transpose_node(data, to_c, moved, node))
                node.inputs[index] = moved
            self._adjust_layout_operands(node, layout, canonical)
            after: list[Node] = []
            for index, out in enumerate(node.outputs):
                shape = self.shape(out)
                if not out or shape is None or len(shape) != len(layout):
                    continue
                inner = self.fresh(f"{out}_{canonical.lower()}")
                self.set_value(inner, self.dtype(out), _transposed_shape(shape, to_c))
                node.outputs[index] = inner
                self.value_perm[inner] = to_c
                after.append(self.transpose_node(inner, to_l, out, node))
            if node.provenance is not None:
                node.provenance.steps.append(
                    Step("layout", f"{node.op_type} computed in {canonical}: source {layout} data transposed")
                )
            nodes.append(node)
            nodes.extend(after)
        self.graph.nodes = nodes
        self.changed()

    def _adjust_layout_operands(self, node: Node, layout: str, canonical: str) -> None:
        """Operands of a channels-last op that are laid out per axis (Resize's roi/scales/sizes)."""
        if node.op_type != "Resize":
            return
        p = perm(layout, canonical)
        for index in (1, 2, 3):
            if index < len(node.inputs) and node.inputs[index] in self.graph.tensors:
                tensor = self.graph.tensors[node.inputs[index]]
                values = tensor.numpy()
                if values.ndim == 1 and values.size == len(p):
                    fixed = values[list(p)]
                elif index == 1 and values.ndim == 1 and values.size == 2 * len(p):
                    fixed = np.concatenate([values[: len(p)][list(p)], values[len(p) :][list(p)]])
                else:
                    continue
                self.replaced.add(tensor.name)
                name = self.fresh(f"{tensor.name}_{canonical.lower()}")
                self.graph.tensors[name] = Tensor.from_array(name, fixed)
                self.graph.tensors[name].name = name
                with self.editing(node):
                    node.inputs[index] = name

    def convert_inputs(self) -> None:
        for value in self.graph.inputs:
            if (
                not _non_canonical(value.layout)
                or value.shape is None
                or len(value.shape) != len(value.layout)
            ):
                continue
            assert value.layout is not None
            if self.keep:
                continue
            layout, canonical = value.layout, channels_first(value.layout)
            source_view = self.fresh(f"{value.name}_{layout.lower()}")
            for node in self.graph.nodes:
                node.inputs = [source_view if i == value.name else i for i in node.inputs]
            for out in self.graph.outputs:
                if out.name == value.name:
                    out.name = source_view
            self.set_value(source_view, value.dtype, value.shape)
            value.shape = _transposed_shape(value.shape, perm(layout, canonical))
            self.graph.values[value.name] = Value(value.name, value.dtype, value.shape)
            self.graph.nodes.insert(
                0, self.transpose_node(value.name, perm(canonical, layout), source_view, None)
            )
            self.changed()
            self.io_layout[value.name] = layout
            self.value_perm[value.name] = perm(layout, canonical)

    def convert_outputs(self) -> None:
        if self.keep:
            return
        for out in self.graph.outputs:
            node = self.producer(out.name)
            if node is None or node.op_type != "Transpose" or len(self.consumers(out.name)) > 0:
                continue
            p = tuple(node.attributes["perm"])
            inner = node.inputs[0]
            if self.is_output(inner) or any(v.name == inner for v in self.graph.inputs):
                continue
            producer = self.producer(inner)
            if producer is None or len(self.consumers(inner)) != 1:
                continue
            # the output keeps its name but now holds the canonical array
            with self.editing(producer):
                producer.outputs = [out.name if o == inner else o for o in producer.outputs]
            self.remove(node)
            shape = self.shape(inner)
            self.set_value(out.name, self.dtype(inner), shape)
            self.graph.values.pop(inner, None)
            out.shape = shape
            self.io_layout[out.name] = layout_name(p)
            self.value_perm[out.name] = inverse(p)
            self.value_perm.pop(inner, None)
        self.settle()

    # -- pushing Transposes down ------------------------------------------------------------------------
    def push_transposes(self) -> None:
        for _ in range(_MAX_ROUNDS):
            if not self.one_rewrite():
                return
        raise RuntimeError("the layout pass did not settle (a cycle of Transpose rewrites)")

    def one_rewrite(self) -> bool:
        """One sweep, rewriting every Transpose that can be (each rewrite is local and valid on the
        graph as it stands; those it creates wait for the next sweep). Restarting the sweep after
        each rewrite made the pass quadratic."""
        rewrote = False
        for node in list(self.graph.nodes):
            if node.op_type != "Transpose" or not self.alive(node):
                continue
            if self.merge_pair(node) or self.push_down(node) or self.drop_dead(node):
                rewrote = True
        self.settle()
        return rewrote

    def drop_dead(self, node: Node) -> bool:
        out = node.outputs[0]
        if self.consumers(out) or self.is_output(out):
            return False
        self.remove(node)
        return True

    def merge_pair(self, node: Node) -> bool:
        """Transpose(Transpose(x, p0), p) = Transpose(x, p0∘p); an identity one disappears."""
        source = node.inputs[0]
        p = tuple(node.attributes["perm"])
        first = self.producer(source)
        if first is not None and first.op_type == "Transpose":
            with self.editing(node):
                node.inputs[0] = first.inputs[0]
            p = compose(tuple(first.attributes["perm"]), p)
            node.attributes["perm"] = list(p)
            if not self.consumers(source) and not self.is_output(source):
                self.remove(first)
            return True
        if _is_identity(p) and not self.is_output(node.outputs[0]):
            for consumer in self.consumers(node.outputs[0]):
                with self.editing(consumer):
                    consumer.inputs = [source if i == node.outputs[0] else i for i in consumer.inputs]
            self.remove(node)
            return True
        return False

    def push_down(self, node: Node) -> bool:
        out = node.outputs[0]
        p = tuple(node.attributes["perm"])
        consumers = self.consumers(out)
        if not consumers or self.is_output(out):
            return False
        if len(consumers) == 1 and self.flatten_into_dense(node, consumers[0], p):
            return True
        pushable = [c for c in consumers if self.can_push(c, p)]
        if not pushable:
            return False
        for consumer in pushable:
            self.push_through(consumer, p)
        if not self.consumers(out):
            self.remove(node)
        return True

    def transposed_source(self, name: str, p: Sequence[int]) -> str | None:
        """x when `name` is Transpose(x, p)."""
        producer = self.producer(name)
        if (
            producer is not None
            and producer.op_type == "Transpose"
            and tuple(producer.attributes["perm"]) == tuple(p)
        ):
            return producer.inputs[0]
        return None

    def can_push(self, node: Node, p: Sequence[int]) -> bool:
        """Whether a Transpose by p can move past `node` (its op's rule in PUSH_RULES says)."""
        rule = PUSH_RULES.get(node.op_type)
        return node.domain in ("", "ai.onnx") and rule is not None and rule.can(self, node, tuple(p))

    def _scalar(self, name: str) -> bool:
        shape = self.shape(name)
        return shape is not None and all(d == 1 for d in shape)

    def _operand_ok(self, name: str, p: Sequence[int], rank: int) -> bool:
        if self.transposed_source(name, p) is not None:
            return True
        if name in self.graph.tensors:
            return len(self.graph.tensors[name].shape) <= rank
        dequantized = self._dequantized_constant(name)
        if dequantized is not None:
            return len(self.graph.tensors[dequantized.inputs[0]].shape) <= rank
        shape = self.shape(name)
        return shape is not None and len(shape) == 0

    def _dequantized_constant(self, name: str) -> Node | None:
        """The DequantizeLinear making `name` from constants only (a quantized operand: an int8
        per-channel multiplier, say), which can be permuted like a constant."""
        node = self.producer(name)
        if node is None or node.op_type != "DequantizeLinear" or node.outputs[0] != name:
            return None
        return node if all(i in self.graph.tensors for i in node.inputs if i) else None

    def _permuted_dequantized(self, node: Node, q: Sequence[int], rank: int) -> str:
        """A DequantizeLinear like `node`, of its constant permuted by q (its axis following)."""
        data = node.inputs[0]
        moved = self._permuted_constant(data, q, rank)
        if moved == data:
            return node.outputs[0]
        attrs = dict(node.attributes)
        scale = self.graph.tensors[node.inputs[1]]
        if scale.size > 1:  # per axis: the axis moves with the data (padded to `rank` at the front)
            stored = len(self.graph.tensors[data].shape)
            attrs["axis"] = list(q).index(attrs.get("axis", 1) % stored + rank - stored)
        out = self.fresh(f"{node.outputs[0]}_nchw")
        self.set_value(out, self.dtype(node.outputs[0]), self.graph.tensors[moved].shape)
        copy = Node(fresh_name(f"{node.name}_nchw", self.node_names), node.op_type, [moved, *node.inputs[1:]],
                    [out], attrs, provenance=node.provenance)  # fmt: skip
        self.insert_after(node, copy)
        return out

    def _drop_if_unread(self, node: Node) -> None:
        if not any(self.consumers(o) or self.is_output(o) for o in node.outputs if o):
            self.remove(node)

    def _reduce_axes(self, node: Node) -> list[int] | None:
        if "axes" in node.attributes:
            return list(node.attributes["axes"])
        if len(node.inputs) > 1 and node.inputs[1]:
            if node.inputs[1] not in self.graph.tensors:
                return None
            return [int(a) for a in self.graph.tensors[node.inputs[1]].numpy().reshape(-1)]
        return None

    def push_through(self, node: Node, p: tuple[int, ...]) -> None:
        """`node` read data transposed by p; make it read the untransposed data, transpose after it
        (its op's rule in PUSH_RULES adjusts its axes)."""
        rule = PUSH_RULES[node.op_type]
        rank = len(p)
        q = inverse(p)
        new_inputs = []
        replaced_dq: list[Node] = []
        for name in node.inputs:
            source = self.transposed_source(name, p) if name else None
            if source is not None:
                new_inputs.append(source)
            elif rule.operands and name in self.graph.tensors:
                new_inputs.append(self._permuted_constant(name, q, rank))
            elif rule.operands and (dq := self._dequantized_constant(name)):
                new_inputs.append(self._permuted_dequantized(dq, q, rank))
                replaced_dq.append(dq)
            else:
                new_inputs.append(name)
        with self.editing(node):
            node.inputs = new_inputs
        for dq in replaced_dq:
            self._drop_if_unread(dq)
        out_perms = rule.adjust(self, node, p)
        for index, out in enumerate(node.outputs):
            po = out_perms[index]
            if not out or po is None:
                continue
            inner = self.fresh(f"{out}_moved")
            self.set_value(inner, self.dtype(out), _transposed_shape(self.shape(out), inverse(po)))
            with self.editing(node):
                node.outputs[index] = inner
            self.value_perm[inner] = compose(self.value_perm.get(out, tuple(range(len(po)))), inverse(po))
            after = self.transpose_node(inner, po, out, node)
            self.insert_after(node, after)
        if node.provenance is not None:
            step = Step(
                "layout", f"{node.op_type} computed channels-first (a source Transpose moved past it)"
            )
            if step not in node.provenance.steps:
                node.provenance.steps.append(step)

    def _constant(self, old: str, array: np.ndarray) -> str:
        self.replaced.add(old)
        name = self.fresh(f"{old}_nchw")
        self.graph.tensors[name] = Tensor.from_array(name, array)
        self.graph.tensors[name].name = name
        return name

    def _permuted_constant(self, name: str, q: Sequence[int], rank: int) -> str:
        tensor = self.graph.tensors[name]
        if len(tensor.shape) == 0 or all(d == 1 for d in tensor.shape):
            return name
        values = tensor.numpy().reshape((1,) * (rank - len(tensor.shape)) + tensor.shape)
        return self._constant(name, np.ascontiguousarray(np.transpose(values, q)))

    def _permute_pads(self, node: Node, p: Sequence[int]) -> None:
        rank = len(p)
        if "pads" in node.attributes:
            pads = list(node.attributes["pads"])
            node.attributes["pads"] = [pads[p.index(a)] for a in range(rank)] + [
                pads[rank + p.index(a)] for a in range(rank)
            ]
            return
        pads = self.graph.tensors[node.inputs[1]].numpy().astype(np.int64)
        fixed = np.concatenate([pads[:rank][list(inverse(p))], pads[rank:][list(inverse(p))]])
        with self.editing(node):
            node.inputs[1] = self._constant(node.inputs[1], fixed)

    def flatten_into_dense(self, node: Node, flatten: Node, p: tuple[int, ...]) -> bool:
        """Transpose → Flatten/Reshape(N, K) → MatMul/Gemm with constant weights: permute the rows."""
        source_shape = self.shape(node.outputs[0])
        if flatten.op_type not in ("Flatten", "Reshape") or source_shape is None or p[0] != 0:
            return False  # a transpose that moves the batch axis (time-major RNN input) is no layout move
        if not all(isinstance(d, int) for d in source_shape[1:]):
            return False
        if flatten.op_type == "Flatten" and flatten.attributes.get("axis", 1) != 1:
            return False
        k = int(np.prod(source_shape[1:]))
        if flatten.op_type == "Reshape":
            target = self.graph.tensors.get(flatten.inputs[1])
            if target is None:
                return False
            dims = [int(d) for d in target.numpy().reshape(-1)]
            if len(dims) != 2 or dims[1] not in (k, -1) or (dims[1] == -1 and dims[0] not in (0, -1)):
                return False
        flat = flatten.outputs[0]
        denses = self.consumers(flat)
        if self.is_output(flat) or not denses:
            return False
        # rows in source (transposed) flatten order, read in the untransposed order
        index = np.arange(k).reshape(source_shape[1:])
        inner = inverse(p)
        order = np.transpose(index, [a - 1 for a in inner[1:]]).reshape(-1)
        moved = bool(np.any(order != np.arange(k)))  # not when only size-1 axes move (global pooling)
        for dense in denses:
            if dense.op_type not in ("MatMul", "Gemm") or dense.inputs[0] != flat:
                return False
            if dense.inputs[1] not in self.graph.tensors or (
                dense.op_type == "Gemm" and dense.attributes.get("transA")
            ):
                return False
            if (
                moved
                and self.kept_from is not None
                and self.graph.tensors[dense.inputs[1]].nbytes >= self.kept_from
            ):
                self._kept_rows(dense, p)
                return False
        for dense in denses if moved else []:
            weight = self.graph.tensors[dense.inputs[1]]
            by_columns = dense.op_type == "Gemm" and bool(dense.attributes.get("transB"))
            name = self.fresh(f"{weight.name}_nchw_rows")

            self.graph.tensors[name] = weight.rows(order, by_columns, name)
            self.replaced.add(weight.name)
            with self.editing(dense):
                dense.inputs[1] = name
            if dense.provenance is not None:
                dense.provenance.steps.append(
                    Step(
                        "layout",
                        f"weight rows permuted from {layout_name(p)} to channels-first flatten order",
                    )
                )
        with self.editing(flatten):
            flatten.inputs[0] = node.inputs[0]
        self.flattened[flat] = AxisMove(tuple(inner), tuple(source_shape[1:]))
        if len(self.consumers(node.outputs[0])) == 0:
            self.remove(node)
        return True

    def _kept_rows(self, dense: Node, p: tuple[int, ...]) -> None:
        mib = self.graph.tensors[dense.inputs[1]].nbytes / (1 << 20)
        text = f"weight kept as stored ({mib:.0f} MiB): a Transpose to {layout_name(p)} before the Flatten"
        _record(dense, Step("layout", text + " instead of permuted rows"))


# -------------------------------------------------------------------------------------------------
# how a Transpose moves past each op: one rule per op says both whether it can and what changes

OutPerms = list[tuple[int, ...] | None]
"""The Transpose each output gets after a push (None: that output is not transposed)."""


@dataclass(frozen=True)
class PushRule:
    """How a Transpose by p moves past one op: `can` says whether it may, `adjust` rewrites the op's
    axes (attributes, axis operands) for untransposed data and gives each output's Transpose, and
    `operands` says the op's other constant operands are permuted with the data (broadcasting ops)."""

    can: Callable[[_ChannelsFirst, Node, tuple[int, ...]], bool]
    adjust: Callable[[_ChannelsFirst, Node, tuple[int, ...]], OutPerms]
    operands: bool = False


def _every_output(cf: _ChannelsFirst, node: Node, p: tuple[int, ...]) -> OutPerms:
    return [p] * len(node.outputs)


def _axis_rule(default: int) -> Callable[[_ChannelsFirst, Node, tuple[int, ...]], OutPerms]:
    def adjust(cf: _ChannelsFirst, node: Node, p: tuple[int, ...]) -> OutPerms:
        node.attributes["axis"] = p[node.attributes.get("axis", default) % len(p)]
        return _every_output(cf, node, p)

    return adjust


def _unary_can(cf: _ChannelsFirst, node: Node, p: tuple[int, ...]) -> bool:
    constants = all(i in cf.graph.tensors or not i for i in node.inputs[1:])
    return constants and (node.op_type != "Dropout" or len(node.outputs) == 1)


def _operands_can(cf: _ChannelsFirst, node: Node, p: tuple[int, ...]) -> bool:
    return all(cf._operand_ok(i, p, len(p)) for i in node.inputs if i)


def _softmax_can(cf: _ChannelsFirst, node: Node, p: tuple[int, ...]) -> bool:
    return cf.graph.opset.get("", 17) >= 13  # before 13 it flattens from `axis` on


def _always(cf: _ChannelsFirst, node: Node, p: tuple[int, ...]) -> bool:
    return True


def _reduce_can(cf: _ChannelsFirst, node: Node, p: tuple[int, ...]) -> bool:
    return cf._reduce_axes(node) is not None


def _reduce_adjust(cf: _ChannelsFirst, node: Node, p: tuple[int, ...]) -> OutPerms:
    rank = len(p)
    attrs = node.attributes
    axes = [a % rank for a in (cf._reduce_axes(node) or [])]
    new_axes = sorted(p[a] for a in axes)
    if "axes" in attrs:
        attrs["axes"] = new_axes
    else:
        with cf.editing(node):
            node.inputs[1] = cf._constant(node.inputs[1], np.array(new_axes, np.int64))
    if attrs.get("keepdims", 1):
        return _every_output(cf, node, p)
    kept_b = [k for k in range(rank) if k not in axes]
    kept_a = sorted(p[k] for k in kept_b)
    return [tuple(kept_a.index(p[k]) for k in kept_b)]


def _pad_can(cf: _ChannelsFirst, node: Node, p: tuple[int, ...]) -> bool:
    return len(node.inputs) < 2 or (
        node.inputs[1] in cf.graph.tensors and (len(node.inputs) < 4 or not node.inputs[3])
    )


def _pad_adjust(cf: _ChannelsFirst, node: Node, p: tuple[int, ...]) -> OutPerms:
    cf._permute_pads(node, p)
    return _every_output(cf, node, p)


def _per_axis_can(cf: _ChannelsFirst, node: Node, p: tuple[int, ...]) -> bool:
    """Per-axis with constant parameters, or per-tensor (a scalar scale) any way."""
    return all(i in cf.graph.tensors or cf._scalar(i) for i in node.inputs[1:] if i)


def _per_axis_adjust(cf: _ChannelsFirst, node: Node, p: tuple[int, ...]) -> OutPerms:
    if "axis" in node.attributes:
        node.attributes["axis"] = p[node.attributes["axis"] % len(p)]
    return _every_output(cf, node, p)


def _first_output(cf: _ChannelsFirst, node: Node, p: tuple[int, ...]) -> OutPerms:
    """DynamicQuantizeLinear: one scale for the whole tensor, its scalar outputs stay as they are."""
    return [p] + [None] * (len(node.outputs) - 1)


PUSH_RULES: dict[str, PushRule] = {
    **{op: PushRule(_unary_can, _every_output) for op in _UNARY},
    **{op: PushRule(_operands_can, _every_output, operands=True) for op in _ELEMENTWISE},
    "Concat": PushRule(_operands_can, _axis_rule(0), operands=True),
    **{op: PushRule(_softmax_can, _axis_rule(-1)) for op in ("Softmax", "LogSoftmax", "Hardmax")},
    "Split": PushRule(_always, _axis_rule(0)),
    **{op: PushRule(_reduce_can, _reduce_adjust) for op in _REDUCE},
    "Pad": PushRule(_pad_can, _pad_adjust),
    **{op: PushRule(_per_axis_can, _per_axis_adjust) for op in _PER_AXIS},
    "DynamicQuantizeLinear": PushRule(_always, _first_output),
}
"""op type → how a Transpose moves past it; an op not listed stops it."""


def _topological(graph: Graph) -> list[Node]:
    """The nodes in an order where every value is made before it is read (stable where possible)."""
    available = {v.name for v in graph.inputs} | set(graph.tensors) | {""}
    pending = list(graph.nodes)
    ordered: list[Node] = []
    outer = {i for n in pending for i in n.inputs} - {o for n in pending for o in n.outputs}
    available |= outer
    while pending:
        progressed = False
        rest = []
        for node in pending:
            if all(i in available for i in node.inputs):
                ordered.append(node)
                available.update(node.outputs)
                progressed = True
            else:
                rest.append(node)
        pending = rest
        if not progressed:
            raise RuntimeError("the layout pass left a cycle in the graph")
    return ordered
