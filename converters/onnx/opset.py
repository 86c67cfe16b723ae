"""Changing a model's opset with onnx's version converter, made to work on real files.

Three things go wrong with the converter alone. It resolves every node input against the graph's
inputs, so weights stored as initializers that are not also graph inputs (IR 4+, what every
modern exporter writes) make it fail with "Input X is undefined!". It has no adapter for many
version steps that only widened an op's types (Relu 13 → 14 added bfloat16 and int8), so going
down stops at the first such op. And across opset 13 it keeps Softmax-like ops' `axis` as it is,
although what the axis means changed. So we declare the weights as inputs for the duration; write
the Softmax family (and, below opset 10, a Slice with constant bounds) in the target's terms
ourselves; move the ops whose definitions at the two
opsets differ only in types (and whose actual types the target allows) out of the converter's
sight; then put everything back, with what the converter drops (interface declarations, docs,
node metadata, local functions).
"""

from __future__ import annotations

import re

import onnx
from onnx import helper, numpy_helper

from netinspect.converters.onnx.types import type_name
from netinspect.dtypes import dtype_name
from netinspect.errors import NetinspectError

HOLD_DOMAIN = "netinspect.opset_hold"
SOFTMAX_PER_AXIS = 13
SLICE_INPUTS = 10
SOFTMAX_FAMILY = ("Softmax", "LogSoftmax", "Hardmax")
MEANING_CHANGED = {
    "RoiAlign": 16,  # coordinate_transformation_mode's default is not the old behaviour
    "Scan": 9,  # the batch axis went away
    "GridSample": 20,  # its mode values were renamed
}
"""Version steps where an op's meaning changed although its inputs, outputs and attribute types did
not: such a node is never passed through unchanged (the Softmax family is rewritten instead)."""
_DATA_TYPE = re.compile(r"DataType \((\d+)\)")
_NO_ADAPTER = re.compile(r"No Adapter (?:From|To|for) Version \$?(\d+) for (\w+)")


class OpsetError(NetinspectError):
    """The model cannot be expressed at the requested opset."""


def default_opset(model: onnx.ModelProto) -> int | None:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def convert_opset(
    model: onnx.ModelProto, target: int, absent: list[tuple[str, int, tuple[int, ...]]] = ()
) -> onnx.ModelProto:
    """`model` at opset `target`. `absent` names weights left out of the proto (streamed later) as
    (name, elem_type, dims), so the converter can see them."""
    newest = onnx.defs.onnx_opset_version()
    if not 1 <= target <= newest:
        raise OpsetError(f"cannot convert to opset {target}: the installed onnx knows opsets 1 to {newest}")
    source = default_opset(model)
    if source is None:
        return _import_default_opset(model, target)
    work = onnx.ModelProto()
    work.CopyFrom(model)
    added = _declare_weights(work, absent)
    types = _value_types(work)
    held: set[str] = set()
    if min(source, target) < SOFTMAX_PER_AXIS <= max(source, target):
        _softmax_family(work, types, source, target)
        held |= set(SOFTMAX_FAMILY)
    if target < SLICE_INPUTS <= source:
        _slice_bounds_to_attributes(work)
    while True:
        try:
            converted = onnx.version_converter.convert_version(work, target)
            break
        except Exception as e:  # the converter raises bare RuntimeErrors (C++ assertions)
            message = _first_line(e)
            match = _NO_ADAPTER.search(message)
            op = match.group(2) if match else None
            if op is None or op in held:
                raise OpsetError(f"cannot convert from opset {source} to {target}: {message}") from e
            nodes = [n for n in _all_nodes(work.graph) if n.domain in ("", "ai.onnx") and n.op_type == op]
            if not nodes:
                raise OpsetError(f"cannot convert from opset {source} to {target}: {message}") from e
            try:
                drops = [_plain_step(n, source, target, types) for n in nodes]
            except _NeedsAdapter as why:
                raise OpsetError(
                    f"cannot convert from opset {source} to {target}: onnx's version converter has no "
                    f"adapter for {op}, and {why}"
                ) from e
            held.add(op)
            for node, drop in zip(nodes, drops, strict=True):
                node.domain = HOLD_DOMAIN
                kept = [a for a in node.attribute if a.name not in drop]
                del node.attribute[:]
                node.attribute.extend(kept)
            _import_hold(work)
    _restore(converted, model, added)
    return converted


def _softmax_family(
    model: onnx.ModelProto, types: dict[str, onnx.TypeProto], source: int, target: int
) -> None:
    """Softmax, LogSoftmax and Hardmax across opset 13. Before it they flatten their input to 2-D at
    `axis` (one softmax over all later axes together); from 13 they work along `axis` alone. onnx's
    adapters keep the attribute as it is going down (and for Hardmax going up), which changes the
    result for any axis but the last. We write each such node in the target's terms ourselves and
    keep it from the converter: going down, the axis moves last with Transposes (where both meanings
    agree); going up, Flatten at the axis, the op on the 2-D result, and a Reshape back."""
    for graph in _graphs(model.graph):
        _softmax_family_in(graph, types, source, target)
    _import_hold(model)


def _softmax_family_in(
    graph: onnx.GraphProto, types: dict[str, onnx.TypeProto], source: int, target: int
) -> None:
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        if node.domain not in ("", "ai.onnx") or node.op_type not in SOFTMAX_FAMILY:
            nodes.append(node)
            continue
        t = types.get(node.input[0])
        if t is None or not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
            raise OpsetError(
                f"cannot move {node.op_type} {node.name!r} across opset 13: its input rank is unknown"
            )
        rank = len(t.tensor_type.shape.dim)
        default = 1 if source < SOFTMAX_PER_AXIS else -1
        axis = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), default)
        axis = axis + rank if axis < 0 else axis
        x, y, name = node.input[0], node.output[0], node.name or node.output[0]
        if axis == rank - 1:
            nodes.append(_held(node.op_type, [x], [y], name, axis=rank - 1, doc=node.doc_string))
        elif target < SOFTMAX_PER_AXIS:
            perm = list(range(rank))
            perm[axis], perm[rank - 1] = rank - 1, axis
            nodes += [
                _held("Transpose", [x], [f"{y}_axis_last"], f"{name}_axis_last", perm=perm),
                _held(
                    node.op_type, [f"{y}_axis_last"], [f"{y}_last"], name, axis=rank - 1, doc=node.doc_string
                ),
                _held("Transpose", [f"{y}_last"], [y], f"{name}_axis_back", perm=perm),
            ]
        else:
            nodes += [
                _held("Flatten", [x], [f"{y}_2d_in"], f"{name}_flatten", axis=axis),
                _held(node.op_type, [f"{y}_2d_in"], [f"{y}_2d"], name, axis=1, doc=node.doc_string),
                _held("Shape", [x], [f"{y}_shape"], f"{name}_shape"),
                _held("Reshape", [f"{y}_2d", f"{y}_shape"], [y], f"{name}_reshape"),
            ]
    del graph.node[:]
    graph.node.extend(nodes)


def _slice_bounds_to_attributes(model: onnx.ModelProto) -> None:
    """Slice took starts/ends/axes as attributes before opset 10, and onnx has no adapter down to
    them: a Slice whose bounds are constants (initializers) and whose steps are all 1 is written
    in the older form; any other stays for the converter to refuse."""
    constants = {t.name: t for g in _graphs(model.graph) for t in g.initializer}
    for graph in _graphs(model.graph):
        _slice_bounds_in(graph, constants)
    _import_hold(model)


def _slice_bounds_in(graph: onnx.GraphProto, constants: dict[str, onnx.TensorProto]) -> None:
    nodes = []
    for node in graph.node:
        bounds = list(node.input[1:])
        if (
            node.domain not in ("", "ai.onnx")
            or node.op_type != "Slice"
            or not all(b in constants for b in bounds if b)
        ):
            nodes.append(node)
            continue
        values = [numpy_helper.to_array(constants[b]).tolist() if b else None for b in bounds]
        values += [None] * (4 - len(values))
        starts, ends, axes, steps = values
        if steps is not None and any(step != 1 for step in steps):
            nodes.append(node)
            continue
        attrs = {"starts": starts, "ends": ends} | ({"axes": axes} if axes is not None else {})
        nodes.append(_held("Slice", [node.input[0]], list(node.output), node.name, node.doc_string, **attrs))
    del graph.node[:]
    graph.node.extend(nodes)


def _import_hold(model: onnx.ModelProto) -> None:
    """Import the private domain of held nodes, once (the converter wants every domain imported)."""
    if all(o.domain != HOLD_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(HOLD_DOMAIN, 1))


def _held(
    op: str, inputs: list[str], outputs: list[str], name: str, doc: str = "", **attrs: object
) -> onnx.NodeProto:
    """A node already in the target opset's terms, kept from the converter until `_restore`."""
    node = helper.make_node(op, inputs, outputs, name, doc_string=doc or None, domain=HOLD_DOMAIN, **attrs)
    return node


def _declare_weights(model: onnx.ModelProto, absent: list[tuple[str, int, tuple[int, ...]]]) -> list[str]:
    """Declare initializers (and absent weights) as graph inputs; the names declared."""
    declared = {i.name for i in model.graph.input}
    added = []
    weights = [(t.name, t.data_type, tuple(t.dims)) for t in model.graph.initializer] + list(absent)
    for name, elem_type, dims in weights:
        if name not in declared:
            model.graph.input.append(helper.make_tensor_value_info(name, elem_type, dims))
            declared.add(name)
            added.append(name)
    return added


def _value_types(model: onnx.ModelProto) -> dict[str, onnx.TypeProto]:
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:  # without inference only the declared types are known
        inferred = model
    return {v.name: v.type for g in _graphs(inferred.graph) for v in (*g.input, *g.output, *g.value_info)}


def _graphs(graph: onnx.GraphProto) -> list[onnx.GraphProto]:
    """Every subgraph in the graph (If branches, Loop and Scan bodies), innermost first, then the
    graph itself: rewriting in this order never edits a subgraph its parent has already copied."""
    found = []
    for node in graph.node:
        for attr in node.attribute:
            for sub in [attr.g] if attr.HasField("g") else attr.graphs:
                found += _graphs(sub)
    return [*found, graph]


def _all_nodes(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    return [node for g in _graphs(graph) for node in g.node]


class _NeedsAdapter(Exception):
    """Why a node cannot move between two opsets unchanged."""


def _plain_step(
    node: onnx.NodeProto, source: int, target: int, types: dict[str, onnx.TypeProto] | None
) -> list[str]:
    """The attributes to drop when `node` needs no other adapting from opset `source` to `target`:
    its definitions at both opsets take the inputs, outputs and attributes the node uses alike (an
    attribute added since is dropped when it holds its default, which keeps the older behaviour),
    and the target allows the node's actual types. Raises _NeedsAdapter saying why not."""
    try:
        before = onnx.defs.get_schema(node.op_type, source, "")
        after = onnx.defs.get_schema(node.op_type, target, "")
    except onnx.defs.SchemaError as e:
        raise _NeedsAdapter(f"{node.op_type} does not exist at opset {target}") from e
    if before.since_version == after.since_version:
        return []
    changed = MEANING_CHANGED.get(node.op_type)
    if changed is not None and min(source, target) < changed <= max(source, target):
        raise _NeedsAdapter(f"what it computes changed at opset {changed}")
    drop = _attributes_to_drop(node, before, after)
    _check_types(node, before, after, types, target)
    return drop


def _attributes_to_drop(
    node: onnx.NodeProto, before: onnx.defs.OpSchema, after: onnx.defs.OpSchema
) -> list[str]:
    drop = []
    for attr in node.attribute:
        old, new = before.attributes.get(attr.name), after.attributes.get(attr.name)
        if new is not None and old is not None and new.type == old.type:
            continue
        if new is None and old is not None and _is_default(attr, old):
            drop.append(attr.name)
            continue
        if new is None:
            raise _NeedsAdapter(f"it has no attribute {attr.name!r} there (set here to a non-default value)")
        raise _NeedsAdapter(f"its attribute {attr.name!r} has another type there")
    given = {a.name for a in node.attribute}
    for name in sorted(set(before.attributes) | set(after.attributes)):
        if name in given:
            continue
        old, new = before.attributes.get(name), after.attributes.get(name)
        if new is not None and new.required:
            raise _NeedsAdapter(f"it requires attribute {name!r} there")
        if old is not None and new is not None and not _same_default(old, new):
            raise _NeedsAdapter(f"its attribute {name!r} has another default there")
    return drop


def _is_default(attr: onnx.AttributeProto, schema_attr: onnx.defs.OpSchema.Attribute) -> bool:
    default = schema_attr.default_value
    return default.type != 0 and helper.get_attribute_value(default) == helper.get_attribute_value(attr)


def _same_default(a: onnx.defs.OpSchema.Attribute, b: onnx.defs.OpSchema.Attribute) -> bool:
    return a.default_value.SerializeToString() == b.default_value.SerializeToString()


def _check_types(
    node: onnx.NodeProto,
    before: onnx.defs.OpSchema,
    after: onnx.defs.OpSchema,
    types: dict | None,
    target: int,
) -> None:
    """With `types` None the node's types are not checked (going up, where opsets only add types)."""
    allowed = {c.type_param_str: set(c.allowed_type_strs) for c in after.type_constraints}
    for role, formals_before, formals, names in (
        ("input", before.inputs, after.inputs, node.input),
        ("output", before.outputs, after.outputs, node.output),
    ):
        if any(_variadic(f) != _variadic(g) for f, g in zip(formals_before, formals, strict=False)):
            raise _NeedsAdapter(f"its {role}s are declared differently there")
        for index, formal in enumerate(formals):
            given = index < len(names) and names[index]
            if formal.option == onnx.defs.OpSchema.FormalParameterOption.Single and not given:
                raise _NeedsAdapter(f"it requires {role} {index} ({formal.name}) there")
        for index, name in enumerate(names):
            if not name:
                continue
            if index >= len(formals) and not (formals and _variadic(formals[-1])):
                raise _NeedsAdapter(f"it takes no {role} {index} there")
            if types is None:
                continue
            formal = formals[min(index, len(formals) - 1)]
            actual = type_name(types[name]) if name in types else None
            if actual is None:
                raise _NeedsAdapter(f"the type of its {role} {name!r} is unknown")
            if actual not in allowed.get(formal.type_str, {formal.type_str}):
                raise _NeedsAdapter(
                    f"{node.op_type} at opset {target} does not take {actual} ({role} {name!r})"
                )


def _variadic(formal: onnx.defs.OpSchema.FormalParameter) -> bool:
    return formal.option == onnx.defs.OpSchema.FormalParameterOption.Variadic


def _restore(converted: onnx.ModelProto, original: onnx.ModelProto, added: list[str]) -> None:
    """Undo the work-arounds and put back what the converter drops (model and node metadata)."""
    for node in _all_nodes(converted.graph):
        if node.domain == HOLD_DOMAIN:
            node.domain = ""
    kept = [o for o in converted.opset_import if o.domain != HOLD_DOMAIN]
    del converted.opset_import[:]
    converted.opset_import.extend(kept)
    # The converter re-infers the interface (an unknown dim comes back as "unk__0"): keep the
    # source's declarations, and its value_info for the values that still exist.
    declared = {v.name: v for v in (*original.graph.input, *original.graph.output)}
    for field in ("input", "output"):
        values = [declared.get(v.name, v) for v in getattr(converted.graph, field) if v.name not in added]
        del getattr(converted.graph, field)[:]
        getattr(converted.graph, field).extend(values)
    produced = {o for n in converted.graph.node for o in n.output}
    del converted.graph.value_info[:]
    converted.graph.value_info.extend(v for v in original.graph.value_info if v.name in produced)
    for field in ("producer_name", "producer_version", "doc_string", "domain", "model_version"):
        setattr(converted, field, getattr(original, field))
    del converted.metadata_props[:]
    converted.metadata_props.extend(original.metadata_props)
    del converted.functions[:]
    converted.functions.extend(original.functions)
    target = default_opset(converted)
    for function in converted.functions:
        _move_function(function, target)
    converted.graph.doc_string = original.graph.doc_string
    by_name = {n.name: n for n in _all_nodes(original.graph) if n.name}
    for node in _all_nodes(converted.graph):
        source = by_name.get(node.name)
        if source is not None:
            node.doc_string = source.doc_string
            del node.metadata_props[:]
            node.metadata_props.extend(source.metadata_props)
    needed = helper.find_min_ir_version_for(list(converted.opset_import), ignore_unknown=True)
    converted.ir_version = max(original.ir_version, needed)


def _move_function(function: onnx.FunctionProto, target: int | None) -> None:
    """A local function's ai.onnx import must agree with the model's, and onnx's converter does not
    reach function bodies: move the import when no op in the body needs adapting (going down, the
    body's types are unknown, so only ops whose definition is the same at both opsets qualify)."""
    imported = next((o for o in function.opset_import if o.domain in ("", "ai.onnx")), None)
    if imported is None or target is None or imported.version == target:
        return
    types = None if target > imported.version else {}
    for node in function.node:
        if node.domain not in ("", "ai.onnx"):
            continue
        try:
            drop = _plain_step(node, imported.version, target, types)
        except _NeedsAdapter as why:
            raise OpsetError(
                f"cannot convert the local function {function.domain}.{function.name} from opset "
                f"{imported.version} to {target}: {node.op_type} would need adapting, and {why}"
            ) from None
        kept = [a for a in node.attribute if a.name not in drop]
        del node.attribute[:]
        node.attribute.extend(kept)
    imported.version = target


def _import_default_opset(model: onnx.ModelProto, target: int) -> onnx.ModelProto:
    """A model that uses no ai.onnx op (e.g. only ai.onnx.ml ones): nothing to adapt, only the import."""
    if any(n.domain in ("", "ai.onnx") for n in model.graph.node):
        raise OpsetError("cannot convert the opset: the model uses ai.onnx ops without importing that domain")
    converted = onnx.ModelProto()
    converted.CopyFrom(model)
    converted.opset_import.append(helper.make_opsetid("", target))
    needed = helper.find_min_ir_version_for(list(converted.opset_import), ignore_unknown=True)
    converted.ir_version = max(converted.ir_version, needed)
    return converted


def _first_line(error: BaseException) -> str:
    """The converter's message without its C++ source location and assertion text."""
    lines = str(error).strip().splitlines()
    line = lines[0] if lines else type(error).__name__
    line = line.rsplit("failed: ", 1)[-1]
    return _DATA_TYPE.sub(lambda m: f"DataType {dtype_name(int(m.group(1))) or m.group(1)}", line)
