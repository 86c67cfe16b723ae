"""A Keras architecture JSON (Keras 1, 2 or 3; Sequential or Functional) as one call graph.

Every model becomes a `ModelSpec`: its layers in file order, each with the list of its calls
(a shared layer is called more than once), each call naming the tensors it reads as
(layer, call index, tensor index). A Sequential model is the chain of its layers; a Keras 1
Sequential that starts with a `Merge` of branch Sequentials becomes the equivalent graph. Nested
models stay `LayerSpec`s whose `model` holds their own `ModelSpec`; the reader inlines them.

Nothing here builds Keras objects: the JSON stays data, so a Lambda layer is just a layer type
the reader refuses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netinspect.converters.keras import opcalls, tfnodes
from netinspect.errors import ModelFormatError

MODEL_CLASSES = {"Sequential", "Functional", "Model"}

Ref = tuple[str, int, int]
"""(layer name, call index, output index): one tensor of the call graph."""


@dataclass
class LayerSpec:
    name: str
    class_name: str
    config: dict[str, Any]
    calls: list[list[Ref]] = field(default_factory=list)
    call_kwargs: list[dict[str, Any]] = field(default_factory=list)
    call_args: list[list[Any]] = field(default_factory=list)
    """An operation node's positional arguments per call (tensors as `opcalls.TensorArg`); its
    `call_kwargs` keep every keyword argument, tensors included."""
    model: ModelSpec | None = None
    keras3_nodes: bool = False
    """Its inbound nodes are Keras 3 `{"args", "kwargs"}` records."""
    group: str | None = None
    """For `.keras` files: the weights' h5 group, from Keras' attribute walk."""


@dataclass
class ModelSpec:
    name: str
    layers: list[LayerSpec]
    inputs: list[Ref]
    outputs: list[Ref]
    sequential: bool


def snake_case(name: str) -> str:
    """Keras 3's `naming.to_snake_case`: how `.keras` weight groups are named after classes."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def parse_model(config: Any, path: Path, group: str = "") -> ModelSpec:
    """The top-level `{"class_name", "config"}` (or a bare layer list: Keras 1 Sequential)."""
    if isinstance(config, list):
        config = {"class_name": "Sequential", "config": config}
    if not isinstance(config, dict) or "class_name" not in config:
        raise ModelFormatError("the model config has no class_name", path)
    class_name = config["class_name"]
    body = config.get("config")
    if class_name == "Sequential":
        return _sequential(body, path, group)
    if class_name in MODEL_CLASSES:
        return _functional(body, path, group)
    raise ModelFormatError(
        f"the model config is a {class_name!r}, not a Sequential or Functional model "
        "(subclassed models have no architecture in the file)",
        path,
    )


def _layer(entry: Any, path: Path) -> LayerSpec:
    if not isinstance(entry, dict) or "class_name" not in entry:
        raise ModelFormatError("a layer entry of the model config has no class_name", path)
    cfg = entry.get("config") or {}
    if not isinstance(cfg, dict):
        cfg = {}
    name = entry.get("name") or cfg.get("name")
    if not isinstance(name, str):
        raise ModelFormatError(f"a {entry['class_name']} layer in the model config has no name", path)
    class_name = tfnodes.op_class(entry) or opcalls.op_class(entry) or str(entry["class_name"])
    return LayerSpec(name, class_name, cfg)


def _assign_groups(layers: list[LayerSpec], group: str) -> None:
    """Keras 3 names weight groups `layers/<snake_case(class)>` uniquified `_1, _2…` in layer order."""
    seen: dict[str, int] = {}
    for spec in layers:
        if opcalls.is_op(spec.class_name):
            continue  # an operation is no layer: it has no weights and takes no group name
        base = snake_case(spec.class_name)
        k = seen.get(base, 0)
        seen[base] = k + 1
        spec.group = f"{group}layers/{base}" + (f"_{k}" if k else "")


def _nested(spec: LayerSpec, entry: dict[str, Any], path: Path) -> None:
    if spec.class_name in MODEL_CLASSES:
        spec.model = parse_model(
            {"class_name": spec.class_name, "config": entry.get("config")}, path, f"{spec.group}/"
        )


def _sequential(body: Any, path: Path, group: str) -> ModelSpec:
    if isinstance(body, dict):
        entries, name = body.get("layers"), body.get("name") or "sequential"
    else:
        entries, name = body, "sequential"
    if not isinstance(entries, list) or not entries:
        raise ModelFormatError("the Sequential model config lists no layers", path)
    specs = [_layer(e, path) for e in entries]
    for spec in specs:
        if spec.class_name == "Merge" and "layers" in spec.config:
            raise ModelFormatError(
                "a Keras 1 Sequential starting with a Merge of branch models is not supported", path
            )
    body_specs = [s for s in specs if s.class_name != "InputLayer"]
    _assign_groups(body_specs, group)
    for spec, entry in zip(specs, entries, strict=True):
        _nested(spec, entry, path)
    layers: list[LayerSpec] = []
    if specs[0].class_name == "InputLayer":
        first = specs[0]
    else:
        # Keras names the input it makes for a Sequential after the first layer
        first = LayerSpec(f"{specs[0].name}_input", "InputLayer", _input_from_first(specs[0], path))
    layers.append(first)
    previous: Ref = (first.name, 0, 0)
    for spec in specs[1:] if specs[0].class_name == "InputLayer" else specs:
        if spec.class_name == "InputLayer":
            raise ModelFormatError("a Sequential model has an InputLayer after its first layer", path)
        spec.calls = [[previous]]
        spec.call_kwargs = [{}]
        layers.append(spec)
        previous = (spec.name, 0, 0)
    return ModelSpec(name, layers, [(first.name, 0, 0)], [previous], sequential=True)


def _input_from_first(spec: LayerSpec, path: Path) -> dict[str, Any]:
    """The input a Sequential without InputLayer gets from its first layer's shape arguments."""
    cfg = spec.config
    shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
    if shape is None and cfg.get("input_shape") is not None:
        shape = [None, *cfg["input_shape"]]
    if shape is None and cfg.get("input_dim") is not None:
        length = cfg.get("input_length")
        shape = [None, cfg["input_dim"]] if length is None else [None, length, cfg["input_dim"]]
    if shape is None and spec.model is not None:
        first = spec.model.layers[0]
        shape = first.config.get("batch_shape") or first.config.get("batch_input_shape")
    if shape is None:
        raise ModelFormatError(
            f"the Sequential model's first layer {spec.name!r} states no input shape", path
        )
    return {"batch_shape": list(shape), "dtype": cfg.get("input_dtype") or cfg.get("dtype") or "float32"}


def _functional(body: Any, path: Path, group: str) -> ModelSpec:
    if not isinstance(body, dict) or not isinstance(body.get("layers"), list):
        raise ModelFormatError("the Functional model config has no layers list", path)
    entries = body["layers"]
    specs = [_layer(e, path) for e in entries]
    _assign_groups(specs, group)
    for spec, entry in zip(specs, entries, strict=True):
        _nested(spec, entry, path)
        spec.keras3_nodes = any(isinstance(n, dict) for n in entry.get("inbound_nodes") or [])
        for node in entry.get("inbound_nodes") or []:
            if opcalls.is_op(spec.class_name):
                if isinstance(node, dict):
                    refs, args, kwargs = opcalls.keras3_call(node)
                elif entry.get("class_name") == tfnodes.LAYER:
                    refs, args, kwargs = tfnodes.call(spec.config, node, path, spec.name)
                else:
                    refs, args, kwargs = opcalls.tf_keras_call(node, path, spec.name)
                spec.call_args.append(args)
            else:
                refs, kwargs = _inbound(node, path, spec.name)
            spec.calls.append(refs)
            spec.call_kwargs.append(kwargs)
    by_name = {s.name: s for s in specs}
    if len(by_name) != len(specs):
        raise ModelFormatError("two layers of the model config have the same name", path)
    _renumber_model_calls(specs, by_name, body)
    inputs = [_ref(r, path) for r in _ref_list(body.get("input_layers"))]
    outputs = [_ref(r, path) for r in _ref_list(body.get("output_layers"))]
    for ref in (*inputs, *outputs):
        if ref[0] not in by_name:
            raise ModelFormatError(f"the model's inputs/outputs name a missing layer {ref[0]!r}", path)
    return ModelSpec(body.get("name") or "model", specs, inputs, outputs, sequential=False)


def _ref_list(value: Any) -> list[Any]:
    """`[name, node, tensor]` or a list of them (Keras 3 writes a single one unwrapped)."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return [value]
    return list(value or [])


def _ref(value: Any, path: Path) -> Ref:
    if isinstance(value, list | tuple) and len(value) >= 3 and isinstance(value[0], str):
        return (value[0], int(value[1]), int(value[2]))
    raise ModelFormatError(f"malformed tensor reference {value!r} in the model config", path)


def _inbound(node: Any, path: Path, layer: str) -> tuple[list[Ref], dict[str, Any]]:
    """One call's inputs: Keras 1/2 `[[name, node, tensor(, kwargs)], …]`, Keras 3 `{"args", "kwargs"}`.
    Tensors passed by keyword (MultiHeadAttention's `value`, `key`) are inputs too, after the
    positional ones; the keyword arguments name them by `opcalls.TensorArg`."""
    if isinstance(node, dict):
        refs, _, kwargs = opcalls.keras3_call(node)
        return refs, kwargs
    if isinstance(node, list):
        refs = []
        merged: dict[str, Any] = {}
        for item in node:
            refs.append(_ref(item, path))
            if isinstance(item, list) and len(item) > 3 and isinstance(item[3], dict):
                merged.update(item[3])
        return refs, opcalls.tf_keras_kwargs(merged, refs)
    raise ModelFormatError(f"layer {layer!r} has a malformed inbound node", path)


def _renumber_model_calls(
    specs: list[LayerSpec], by_name: dict[str, LayerSpec], body: dict[str, Any]
) -> None:
    """Map a nested model's node indices back to its call indices.

    A Functional model starts with a node of its own (Input → output) that is never saved. tf-keras
    counts it everywhere, so the config calls its k-th call node k+1; Keras 3 counts it only in the
    model's `input_layers`/`output_layers`, and only for Functional layers (its Sequential is no
    Functional): `functional_from_config` subtracts one there.
    """
    keras3 = any(spec.keras3_nodes for spec in specs)
    refs: dict[str, set[int]] = {}
    for spec in specs:
        for call in spec.calls:
            for name, node, _ in call:
                refs.setdefault(name, set()).add(node)
    for r in _ref_list(body.get("output_layers")):
        if isinstance(r, list) and r:
            refs.setdefault(r[0], set()).add(int(r[1]))
    models = {name for name, spec in by_name.items() if spec.model is not None}
    if keras3:
        inbound_shifted: set[str] = set()
        io_shifted = {name for name in models if by_name[name].class_name == "Functional"}
    else:
        inbound_shifted = {
            name
            for name in models
            if refs.get(name) and min(refs[name]) >= 1 and max(refs[name]) == len(by_name[name].calls)
        }
        io_shifted = inbound_shifted
    if inbound_shifted:
        for spec in specs:
            spec.calls = [
                [(n, k - 1 if n in inbound_shifted else k, t) for n, k, t in call] for call in spec.calls
            ]
    for key in ("output_layers", "input_layers"):
        fixed = []
        for r in _ref_list(body.get(key)):
            if isinstance(r, list) and r and r[0] in io_shifted:
                r = [r[0], int(r[1]) - 1, *r[2:]]
            fixed.append(r)
        body[key] = fixed
