"""tf.keras 2.0–2.3's `TensorFlowOpLayer`: a TensorFlow op a functional model called, as its NodeDef.

Before `TFOpLambda` (tf.keras 2.4), calling a raw TensorFlow function on a Keras tensor recorded a
`TensorFlowOpLayer` whose config is the op's NodeDef in JSON (`op`, its `input` names, `attr` as
protobuf's JSON mapping: `{"b": true}`, `{"i": "1"}`, `{"list": {"i": ["1"]}}`, `{"type":
"DT_FLOAT"}`) and `constants`: the inputs that were not Keras tensors, by input index
(tensorflow/python/keras/engine/base_layer.py `TensorFlowOpLayer`, keras_tensor.py). The layer's
inbound node lists the tensor inputs in order. Each op is read as the TensorFlow function that
emits it (`Reshape` → `tf.reshape`, `Mean` → `tf.math.reduce_mean` with `keep_dims`), so it
converts with the `TFOpLambda` handlers of ops.py; an op without one is named
`tf.raw_ops.<Op>` among the unsupported layers. Nothing is evaluated.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from netinspect.converters.keras.opcalls import TF_OP_PREFIX, Ref, TensorArg
from netinspect.errors import ModelFormatError

LAYER = "TensorFlowOpLayer"

Arrange = Callable[[list[Any], dict[str, Any]], tuple[list[Any], dict[str, Any]]]


def _same(args: list[Any], attrs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    return args, {}


def _reduce(args: list[Any], attrs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    return args, {"keepdims": bool(_attr(attrs, "keep_dims", False))}


def _concat(args: list[Any], attrs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    return [args[:-1], args[-1]], {}  # ConcatV2: the values, then the axis


def _pack(args: list[Any], attrs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    return [args], {"axis": int(_attr(attrs, "axis", 0))}


def _squeeze(args: list[Any], attrs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    return args, {"axis": [int(a) for a in _attr(attrs, "squeeze_dims", [])]}


def _cast(args: list[Any], attrs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    return args, {"dtype": str(_attr(attrs, "DstT", "DT_FLOAT")).removeprefix("DT_").lower()}


def _matmul(args: list[Any], attrs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    flags = ("transpose_a", "transpose_b", "adj_x", "adj_y")
    a, b, x, y = (bool(_attr(attrs, f, False)) for f in flags)
    return args, {"transpose_a": a or x, "transpose_b": b or y}


NODE_OPS: dict[str, tuple[str, Arrange]] = {
    **{op: (fn, _same) for op, fn in {
        "Reshape": "reshape", "Transpose": "transpose", "ExpandDims": "expand_dims", "Tile": "tile",
        "Pad": "pad", "AddV2": "math.add", "Add": "math.add", "Sub": "math.subtract",
        "Mul": "math.multiply", "RealDiv": "math.truediv", "Maximum": "math.maximum",
        "Minimum": "math.minimum", "Pow": "math.pow", "SquaredDifference": "math.squared_difference",
        "Relu": "nn.relu", "Relu6": "nn.relu6", "Elu": "nn.elu", "Selu": "nn.selu", "Sigmoid": "math.sigmoid",
        "Tanh": "math.tanh", "Softplus": "math.softplus", "Softsign": "nn.softsign", "Exp": "math.exp",
        "Log": "math.log", "Sqrt": "math.sqrt", "Rsqrt": "math.rsqrt", "Square": "math.square",
        "Abs": "math.abs", "Neg": "math.negative", "Floor": "math.floor", "Identity": "identity",
        "Softmax": "nn.softmax",
    }.items()},
    **{op: (fn, _reduce) for op, fn in {
        "Mean": "math.reduce_mean", "Sum": "math.reduce_sum", "Max": "math.reduce_max",
        "Min": "math.reduce_min", "Prod": "math.reduce_prod",
    }.items()},
    "ConcatV2": ("concat", _concat),
    "Pack": ("stack", _pack),
    "Squeeze": ("squeeze", _squeeze),
    "Cast": ("cast", _cast),
    "MatMul": ("linalg.matmul", _matmul),
    "BatchMatMulV2": ("linalg.matmul", _matmul),
}  # fmt: skip
"""NodeDef op → (the TensorFlow function that emits it, how its inputs and attrs become arguments)."""


def op_class(entry: dict[str, Any]) -> str | None:
    """For a TensorFlowOpLayer: `tf.<function>` for a NodeDef op netinspect maps, else
    `tf.raw_ops.<Op>` (unsupported); None for any other entry."""
    if entry.get("class_name") != LAYER:
        return None
    op = str(((entry.get("config") or {}).get("node_def") or {}).get("op"))
    return TF_OP_PREFIX + (NODE_OPS[op][0] if op in NODE_OPS else f"raw_ops.{op}")


Call = tuple[list[Ref], list[Any], dict[str, Any]]


def call(config: dict[str, Any], node: Any, path: Path, layer: str) -> Call:
    """(input tensors, positional args, keyword args) of one call: the NodeDef's inputs in order,
    each a tensor of the inbound node or one of the layer's `constants`."""
    node_def = config.get("node_def") or {}
    constants = {int(k): v for k, v in (config.get("constants") or {}).items()}
    if not isinstance(node, list) or not all(isinstance(i, list) and len(i) >= 3 for i in node):
        raise ModelFormatError(f"layer {layer!r} has a malformed inbound node", path)
    refs: list[Ref] = [(str(i[0]), int(i[1]), int(i[2])) for i in node]
    count = len(node_def.get("input") or [])
    if count - len(constants) != len(refs):
        raise ModelFormatError(
            f"layer {layer!r}: its op takes {count} inputs, {len(constants)} constant, "
            f"but {len(refs)} tensors reach it",
            path,
        )
    tensors = iter(range(len(refs)))
    args = [constants[i] if i in constants else TensorArg(next(tensors)) for i in range(count)]
    op = str(node_def.get("op"))
    if op not in NODE_OPS:
        return refs, args, {}
    args, kwargs = NODE_OPS[op][1](args, node_def.get("attr") or {})
    return refs, args, kwargs


def _attr(attrs: dict[str, Any], name: str, default: Any) -> Any:
    """A NodeDef attr's value from protobuf's JSON mapping (int64 written as strings)."""
    value = attrs.get(name)
    if not isinstance(value, dict):
        return default
    if "list" in value:
        items = value["list"] or {}
        return [int(v) for v in items.get("i", [])]
    for key, convert in (("b", bool), ("i", int), ("f", float), ("type", str), ("s", str)):
        if key in value:
            return convert(value[key])
    return default
