"""Display metadata for ONNX operators: category (node colour), input names, attribute defaults.

Like Netron's per-format metadata files, but the names and defaults come from the operator
schemas the onnx package ships, so they follow the model's opset; only the categories, which
ONNX does not define, are written here.
"""

from __future__ import annotations

import math
from typing import Any

from netinspect.renderers.onnx_schemas import schema

_CATEGORY_OPS = {
    "conv": "Conv ConvTranspose ConvInteger QLinearConv DeformConv",
    "linear": "Gemm MatMul MatMulInteger QLinearMatMul Einsum",
    "activation": (
        "Relu LeakyRelu PRelu Sigmoid HardSigmoid Tanh Elu Selu Celu Softplus Softsign HardSwish Gelu Mish "
        "Clip ThresholdedRelu Softmax LogSoftmax Hardmax Swish"
    ),
    "pool": (
        "MaxPool AveragePool GlobalAveragePool GlobalMaxPool LpPool GlobalLpPool MaxRoiPool RoiAlign "
        "MaxUnpool"
    ),
    "norm": (
        "BatchNormalization InstanceNormalization LayerNormalization GroupNormalization LRN LpNormalization "
        "MeanVarianceNormalization RMSNormalization"
    ),
    "dropout": "Dropout",
    "tensor": (
        "Reshape Flatten Transpose Concat Split Slice Squeeze Unsqueeze Gather GatherElements GatherND "
        "Pad Tile Expand Shape Size ConstantOfShape Identity Cast CastLike DepthToSpace SpaceToDepth "
        "Resize Upsample "
        "ScatterND ScatterElements Range Compress NonZero TopK Trilu OneHot Where"
    ),
    "math": (
        "Add Sub Mul Div Pow Sqrt Reciprocal Exp Log Abs Neg Floor Ceil Round Sign Sum Mean Max Min Mod Erf "
        "ReduceMean ReduceSum ReduceMax ReduceMin ReduceProd ReduceL1 ReduceL2 ReduceLogSumExp "
        "ReduceSumSquare ArgMax ArgMin Equal Greater Less GreaterOrEqual LessOrEqual "
        "Not And Or Xor CumSum Sin Cos"
    ),
    "control": "If Loop Scan",
    "constant": "Constant",
    "quantize": "QuantizeLinear DequantizeLinear DynamicQuantizeLinear",
}

CATEGORY = {op: category for category, ops in _CATEGORY_OPS.items() for op in ops.split()}

COLOUR = {
    "conv": "#9ecae1",
    "linear": "#6baed6",
    "activation": "#fdae6b",
    "pool": "#a1d99b",
    "norm": "#bcbddc",
    "dropout": "#d9d9d9",
    "tensor": "#fdd0a2",
    "math": "#fff7bc",
    "control": "#fbb4b9",
    "constant": "#f0f0f0",
    "quantize": "#c7e9c0",
    "other": "#ffffff",
}

_IMPLICIT_DEFAULTS = {"strides": 1, "dilations": 1, "pads": 0}
"""List attributes whose ONNX default (all ones, all zeros) is not written in the schema."""


def category(op_type: str) -> str:
    return CATEGORY.get(op_type, "other")


def input_name(op_type: str, domain: str, version: int, index: int) -> str:
    """The schema's name for input `index` (X, W, B, scale, ...), or `in<index>` when unknown."""
    record = schema(op_type, domain, version)
    inputs = record["doc"]["inputs"] if record is not None else []
    if not inputs:
        return f"in{index}"
    formal = inputs[min(index, len(inputs) - 1)]
    return f"{formal['name']}{index}" if formal["option"] == "variadic" else formal["name"]


def _defaults(op_type: str, domain: str, version: int) -> dict[str, Any]:
    record = schema(op_type, domain, version)
    return record["defaults"] if record is not None else {}


def _same(value: Any, default: Any) -> bool:
    if isinstance(default, bytes):
        default = default.decode("utf-8", "replace")
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, float | int) and isinstance(default, float | int):
        return math.isclose(value, default, rel_tol=1e-6, abs_tol=1e-12)
    if isinstance(value, list | tuple) and isinstance(default, list | tuple):
        return len(value) == len(default) and all(_same(a, b) for a, b in zip(value, default, strict=True))
    return value == default


def is_default(op_type: str, domain: str, version: int, name: str, value: Any) -> bool:
    """Whether an attribute says nothing beyond the operator's default (and may be hidden)."""
    if name in _IMPLICIT_DEFAULTS and isinstance(value, list | tuple):
        return all(v == _IMPLICIT_DEFAULTS[name] for v in value)
    defaults = _defaults(op_type, domain, version)
    return name in defaults and _same(value, defaults[name])
