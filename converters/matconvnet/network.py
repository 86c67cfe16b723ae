"""Find the MatConvNet network in a .mat file's variables, whatever layout wrote it.

Layouts (vlfeat/matconvnet: matlab/simplenn/vl_simplenn_tidy.m, matlab/+dagnn/@DagNN/saveobj.m):
SimpleNN before beta11 (conv `filters`/`biases`), beta11–16 (`weights` cell, top-level
`classes`/`normalization`), beta17+ (`meta`); DagNN as saved by `saveobj` (`vars`, `params`, `layers`
struct array with `block`); each either at the top level (`save -struct`) or inside a variable `net`
(training checkpoints keep `state`/`stats` beside it). Fields are always looked up by name: their order
is whatever the writer happened to use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from netinspect.converters.matconvnet.layers import LayerSpec, Param
from netinspect.converters.matconvnet.matfile import (
    MatArray,
    MatCell,
    MatFile,
    MatOpaque,
    MatStruct,
    MatValue,
)
from netinspect.errors import ModelFormatError
from netinspect.ir import Step


@dataclass
class InputSpec:
    """A network input as `meta.inputs` declares it: name and MATLAB size [H W C N], if known."""

    name: str
    size: list[float] | None = None


@dataclass
class Network:
    kind: str  # "SimpleNN" or "DagNN"
    layout: str  # e.g. "beta11-16"
    where: str  # "" (top level), "in variable 'net'", "training checkpoint"
    layers: list[LayerSpec]
    inputs: list[InputSpec]
    meta: MatStruct | None
    notes: list[str] = field(default_factory=list)


def find_network(mat: MatFile) -> Network:
    variables = mat.variables
    root: dict[str, MatValue] = variables
    where = ""
    if "layers" not in variables:
        net = variables.get("net")
        if isinstance(net, MatStruct) and "layers" in net.fields and len(net) == 1:
            root = net.elements[0]
            extra = sorted(set(variables) - {"net"})
            where = "training checkpoint" if {"state", "stats"} & set(extra) else "in variable 'net'"
        else:
            _refuse_toolbox_network(variables, mat.path)
            opaque = [f"{k}: {v.describe()}" for k, v in variables.items() if k and isinstance(v, MatOpaque)]
            found = ", ".join(sorted(k for k in variables if k)) or "none"  # "" is MATLAB's subsystem data
            hint = f"; it holds {'; '.join(opaque)}, never decoded" if opaque else ""
            raise ModelFormatError(
                f"holds no MatConvNet network (no 'layers' variable, no 'net' struct; "
                f"variables: {found}){hint}",
                mat.path,
            )
    layers = root["layers"]
    if isinstance(layers, MatOpaque):
        raise ModelFormatError(f"'layers' is a {layers.describe()}, which netinspect never decodes", mat.path)
    if isinstance(layers, MatStruct) and "params" in root and "vars" in root:
        return _dagnn(root, layers, where, mat.path)
    if isinstance(layers, MatCell):
        return _simplenn(root, layers, where, mat.path)
    if isinstance(layers, MatStruct):
        cell = MatCell(layers.shape, [MatStruct((1, 1), layers.fields, [e]) for e in layers.elements])
        return _simplenn(root, cell, where, mat.path)
    raise ModelFormatError("'layers' is neither a cell array (SimpleNN) nor a struct array (DagNN)", mat.path)


TOOLBOX_NETWORKS = {"SeriesNetwork", "DAGNetwork", "dlnetwork", "network", "yolov2ObjectDetector"}
"""MATLAB Deep Learning Toolbox classes whose objects people save and mistake for MatConvNet."""


def _refuse_toolbox_network(variables: dict[str, MatValue], path: Path) -> None:
    for name, value in variables.items():
        if isinstance(value, MatOpaque) and (
            value.class_name in TOOLBOX_NETWORKS or value.class_name.startswith("nnet.")
        ):
            raise ModelFormatError(
                f"variable {name!r} is a MATLAB Deep Learning Toolbox network object ({value.class_name}), "
                "not a MatConvNet network; its contents are MATLAB class data that only MATLAB can read. "
                f"In MATLAB, exportONNXNetwork({name}, 'model.onnx') writes ONNX, which netinspect reads",
                path,
            )


def _text(value: MatValue, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _names(value: MatValue) -> list[str]:
    """A DagNN cell of names (or a bare name) as a list."""
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, MatCell):
        return [v for v in value.items if isinstance(v, str)]
    return []


def _meta(root: dict[str, MatValue]) -> MatStruct | None:
    """The net's meta, with beta11–16's top-level `classes`/`normalization` moved in (as tidy does)."""
    meta = root.get("meta")
    fields: dict[str, MatValue] = (
        dict(meta.elements[0]) if isinstance(meta, MatStruct) and meta.elements else {}
    )
    for key in ("classes", "normalization"):
        if key in root and key not in fields:
            fields[key] = root[key]
    return MatStruct((1, 1), list(fields), [fields]) if fields else None


def _inputs(meta: MatStruct | None) -> list[InputSpec]:
    declared = meta.get("inputs") if meta is not None else None
    if not isinstance(declared, MatStruct):
        return []
    specs = []
    for element in declared.elements:
        size = element.get("size")
        specs.append(
            InputSpec(
                _text(element.get("name"), "input"), size.values() if isinstance(size, MatArray) else None
            )
        )
    return specs


def _simplenn(root: dict[str, MatValue], cell: MatCell, where: str, path: Path) -> Network:
    specs: list[LayerSpec] = []
    notes: list[str] = []
    seen: set[str] = set()
    old_style = has_meta = False
    for index, item in enumerate(cell.items, start=1):
        if isinstance(item, MatOpaque):
            raise ModelFormatError(
                f"layer {index} is a {item.describe()}, which netinspect never decodes", path
            )
        if not isinstance(item, MatStruct) or not item.elements:
            raise ModelFormatError(f"layer {index} is not a struct", path)
        layer_type = _text(item.get("type"))
        if not layer_type:
            raise ModelFormatError(f"layer {index} has no type", path)
        name = _text(item.get("name")) or f"layer{index}"
        if name in seen:
            unique = f"{name}_{index}"
            notes.append(f"layer {index} repeats the name {name!r}; called {unique!r} here")
            name = unique
        seen.add(name)
        steps: list[Step] = []
        if not _text(item.get("name")):
            steps.append(Step("param", f"unnamed layer given vl_simplenn_tidy's default name {name!r}"))
        if "filters" in item.fields and "weights" not in item.fields:
            old_style = True
            params = [Param(None, item["filters"]), Param(None, item.get("biases"))]
            steps.append(Step("param", "pre-beta11 fields filters/biases read as weights{1}/weights{2}"))
        else:
            weights = item.get("weights")
            params = [Param(None, v) for v in weights.items] if isinstance(weights, MatCell) else []
        specs.append(LayerSpec(name, layer_type, [], [name], item, params, steps))
    meta = _meta(root)
    has_meta = "meta" in root
    has_weights = any("weights" in (s.fields.fields if s.fields else []) and s.params for s in specs)
    if old_style:
        layout = "pre-beta11"
    elif has_meta:
        layout = "beta17+"
    elif "classes" in root or "normalization" in root:
        layout = "beta11-16"
    else:
        layout = "beta11+" if has_weights else "unversioned"
    return Network("SimpleNN", layout, where, specs, _inputs(meta), meta, notes)


def _dagnn(root: dict[str, MatValue], layers: MatStruct, where: str, path: Path) -> Network:
    params_struct = root["params"]
    values: dict[str, MatValue] = {}
    if isinstance(params_struct, MatStruct):
        for element in params_struct.elements:
            name = _text(element.get("name"))
            if name:
                values[name] = element.get("value")
    specs: list[LayerSpec] = []
    for index, element in enumerate(layers.elements, start=1):
        name = _text(element.get("name")) or f"layer{index}"
        layer_type = _text(element.get("type"))
        if not layer_type:
            raise ModelFormatError(f"layer {name!r} has no type", path)
        block = element.get("block")
        if isinstance(block, MatOpaque):
            fields = MatStruct((1, 1), ["block"], [{"block": block}])
        else:
            fields = block if isinstance(block, MatStruct) and block.elements else MatStruct((1, 1), [], [{}])
        param_names = _names(element.get("params"))
        params = []
        for pname in param_names:
            if pname not in values:
                raise ModelFormatError(
                    f"layer {name!r} ({layer_type}): missing weight: no param named {pname!r}", path
                )
            params.append(Param(pname, values[pname]))
        specs.append(
            LayerSpec(
                name,
                layer_type,
                _names(element.get("inputs")),
                _names(element.get("outputs")),
                fields,
                params,
                [],
            )
        )
    meta = _meta(root)
    return Network("DagNN", "saveobj struct", where, specs, _inputs(meta), meta, [])
