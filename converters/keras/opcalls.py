"""Functional-graph nodes that are operations on tensors rather than layers, parsed as data.

Keras 3 records `x + 3.0`, `keras.ops.mean(x, axis=1)`, `x[:, 1:]` as operation nodes (`module`
`keras.src.ops.*`, class `Add`, `Mean`, `GetItem`…) whose inbound node is the call itself:
`{"args": [...], "kwargs": {...}}` with tensors as `__keras_tensor__` records and constants as
plain JSON, `__tensor__`/`__numpy__` arrays, `__slice__` and `__ellipsis__`. tf-keras records the
TensorFlow function a functional model called as a `TFOpLambda` (`SlicingOpLambda` for `x[...]`)
layer naming the function (`math.multiply`, `__operators__.add`, `nn.relu6`), with its first
argument as the inbound node (a tensor reference, a list of them, or `["_CONSTANT_VALUE", -1, v]`)
and every other argument as keyword arguments, tensors among them as `[layer, node, tensor]`.
(tf_keras/src/engine/node.py `Node.serialize`, functional.py `process_node`; keras/src/saving/
serialization_lib.py `serialize_keras_object`.)

Both become a layer spec whose class is the operation's name (`keras.ops.Add`, `tf.math.multiply`)
with the call's positional arguments and keyword arguments kept, each tensor replaced by a
`TensorArg` (its index among the call's input tensors). Nothing is evaluated: an operation netinspect
has no ONNX mapping for is an unsupported layer like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from netinspect.errors import ModelFormatError

KERAS3_OP_PREFIX = "keras.ops."
TF_OP_PREFIX = "tf."
TF_OP_LAYERS = ("TFOpLambda", "SlicingOpLambda")
_CONSTANT = "_CONSTANT_VALUE"

Ref = tuple[str, int, int]


@dataclass(frozen=True)
class TensorArg:
    """A tensor argument of an operation call: the `index`-th of the call's input tensors."""

    index: int


def op_class(entry: dict[str, Any]) -> str | None:
    """The operation name a config entry stands for, or None when it is an ordinary layer."""
    class_name = str(entry.get("class_name"))
    module = str(entry.get("module") or "")
    if module.startswith(("keras.src.ops", "keras.ops")):
        return KERAS3_OP_PREFIX + class_name
    if class_name in TF_OP_LAYERS:
        function = (entry.get("config") or {}).get("function")
        if isinstance(function, str):
            return TF_OP_PREFIX + function
    return None


_NO_ONNX_OPERATOR = "ONNX has no operator for it (nor a finite composition of its operators)"
_DATA_DEPENDENT = "its output's shape depends on the values, which an ONNX graph of these ops cannot express"
_LINALG = "a matrix decomposition or solve ONNX has no operator for"
_BITWISE = "a bitwise operation (ONNX has those from opset 18; netinspect writes opset 17)"
_UNRUNNABLE = (
    "Keras' TensorFlow backend cannot run it in a model ({}), so there is no reference to convert it against"
)
_WRONG_IN_KERAS = (
    "Keras 3.15 computes it wrongly in a model (its threshold sums the running sums: [1, 0.9, 0.8, -1] "
    "gives zeros), so there is no reference to convert it against"
)
_ARANGE = (
    "with bounds the model computes Keras cannot build it (its output shape needs their values); "
    "with constant bounds it makes no node"
)
INEXPRESSIBLE: dict[str, str] = {
    **{
        KERAS3_OP_PREFIX + n: _UNRUNNABLE.format("it reads tf.rank as a Python value")
        for n in ("Kron", "Corrcoef")
    },
    KERAS3_OP_PREFIX + "IsIn": _UNRUNNABLE.format("it tests a tensor's size as a Python bool"),
    KERAS3_OP_PREFIX + "ConvTranspose": _UNRUNNABLE.format(
        "its operation passes output_padding where padding goes"
    ),
    KERAS3_OP_PREFIX + "Sparsemax": _WRONG_IN_KERAS,
    KERAS3_OP_PREFIX + "Arange": _ARANGE,
    **{
        KERAS3_OP_PREFIX + n: _UNRUNNABLE.format("along an axis it reads a tensor's shape as a Python int")
        for n in ("Nanquantile", "Nanpercentile")
    },
    **{
        KERAS3_OP_PREFIX + n: "it calls a Python function, which netinspect never executes"
        for n in (
            "Cond",
            "WhileLoop",
            "ForiLoop",
            "Scan",
            "Map",
            "Switch",
            "AssociativeScan",
            "VectorizedMap",
            "JVP",
        )
    },
    **{
        KERAS3_OP_PREFIX + n: "it makes complex numbers or reinterprets bytes, which ONNX tensors cannot"
        for n in ("View", "ViewAsComplex", "ViewAsReal", "Polar")
    },
    **{
        KERAS3_OP_PREFIX + n: _NO_ONNX_OPERATOR
        for n in ("Erfinv", "I0", "Nextafter", "Gcd", "Lcm", "Lgamma", "Digamma")
    },
    **{KERAS3_OP_PREFIX + n: _DATA_DEPENDENT for n in ("Unique", "Nonzero", "Bincount", "Histogram")},
    **{
        KERAS3_OP_PREFIX + n: _LINALG
        for n in (
            "SVD",
            "Qr",
            "Eig",
            "Eigh",
            "Cholesky",
            "CholeskyInverse",
            "LuFactor",
            "Lstsq",
            "Solve",
            "SolveTriangular",
            "Inv",
            "Pinv",
            "MatrixRank",
            "Slogdet",
            "Logdet",
        )
    },
    **{
        KERAS3_OP_PREFIX + n: _BITWISE
        for n in (
            "BitwiseAnd",
            "BitwiseOr",
            "BitwiseXor",
            "BitwiseNot",
            "BitwiseInvert",
            "BitwiseLeftShift",
            "BitwiseRightShift",
            "LeftShift",
            "RightShift",
        )
    },
    **{
        TF_OP_PREFIX + n: _NO_ONNX_OPERATOR
        for n in (
            "math.erfinv",
            "math.lgamma",
            "math.digamma",
            "math.igamma",
            "math.igammac",
            "math.bessel_i0",
            "math.bessel_i1",
            "math.zeta",
            "math.polygamma",
            "math.betainc",
            "math.nextafter",
        )
    },
    **{
        TF_OP_PREFIX + n: _DATA_DEPENDENT
        for n in (
            "unique",
            "math.bincount",
            "boolean_mask",
            "math.segment_sum",
            "math.segment_mean",
            "math.segment_max",
            "math.segment_min",
            "math.segment_prod",
        )
    },
    **{
        TF_OP_PREFIX + n: _LINALG
        for n in (
            "linalg.svd",
            "linalg.qr",
            "linalg.eig",
            "linalg.eigh",
            "linalg.cholesky",
            "linalg.inv",
            "linalg.lstsq",
            "linalg.solve",
            "linalg.triangular_solve",
            "linalg.pinv",
            "linalg.logdet",
            "linalg.slogdet",
        )
    },
    **{
        TF_OP_PREFIX + "bitwise." + n: _BITWISE
        for n in ("bitwise_and", "bitwise_or", "bitwise_xor", "invert", "left_shift", "right_shift")
    },
}
"""Operations refused with the reason: ONNX cannot express them, or Keras itself cannot compute
them in a model (the others without a mapping are refused as not yet mapped)."""


def refusal(class_name: str, unmapped: str) -> str:
    """Why an operation without a handler is refused: ONNX cannot express it, or `unmapped`."""
    reason = INEXPRESSIBLE.get(class_name)
    return f"not convertible: {reason}" if reason else unmapped


def is_op(class_name: str) -> bool:
    return class_name.startswith((KERAS3_OP_PREFIX, TF_OP_PREFIX))


def keras3_call(node: dict[str, Any]) -> tuple[list[Ref], list[Any], dict[str, Any]]:
    """(input tensors, positional args, keyword args) of a Keras 3 operation node."""
    refs: list[Ref] = []
    args = [_keras3_value(a, refs) for a in node.get("args") or []]
    kwargs = {str(k): _keras3_value(v, refs) for k, v in (node.get("kwargs") or {}).items()}
    return refs, args, kwargs


def _keras3_value(value: Any, refs: list[Ref]) -> Any:
    if isinstance(value, list):
        return [_keras3_value(v, refs) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get("class_name")
    config = value.get("config") or {}
    if kind == "__keras_tensor__":
        history = config.get("keras_history")
        refs.append((str(history[0]), int(history[1]), int(history[2])))
        return TensorArg(len(refs) - 1)
    if kind in ("__tensor__", "__numpy__"):
        return np.asarray(config.get("value"), dtype=config.get("dtype") or None)
    if kind == "__slice__":
        return slice(config.get("start"), config.get("stop"), config.get("step"))
    if kind == "__ellipsis__":
        return Ellipsis
    if kind == "__tuple__":
        return [_keras3_value(v, refs) for v in config.get("value") or []]
    return {k: _keras3_value(v, refs) for k, v in value.items()}


def tf_keras_call(node: Any, path: Path, layer: str) -> tuple[list[Ref], list[Any], dict[str, Any]]:
    """(input tensors, positional args, keyword args) of a tf-keras TFOpLambda/SlicingOpLambda call."""
    refs: list[Ref] = []
    kwargs: dict[str, Any] = {}

    def first_arg(item: Any) -> Any:
        if _is_ref(item):
            if len(item) > 3 and isinstance(item[3], dict):
                kwargs.update(item[3])
            if item[0] == _CONSTANT:
                return item[2]
            refs.append((str(item[0]), int(item[1]), int(item[2])))
            return TensorArg(len(refs) - 1)
        if isinstance(item, list):
            return [first_arg(i) for i in item]
        raise ModelFormatError(f"layer {layer!r} has a malformed inbound node", path)

    first = first_arg(node)
    args = [first]
    decoded = tf_keras_kwargs(kwargs, refs)
    if "slice_spec" in decoded:
        decoded["slice_spec"] = [_tf_slice(s) for s in _as_list(decoded["slice_spec"])]
    return refs, args, decoded


def tf_keras_kwargs(kwargs: dict[str, Any], refs: list[Ref]) -> dict[str, Any]:
    """Keyword arguments of a tf-keras call, each `[layer, node, tensor]` appended to `refs` and
    replaced by its `TensorArg`."""
    return {str(k): _tf_keras_value(v, refs) for k, v in kwargs.items()}


def _is_ref(item: Any) -> bool:
    return isinstance(item, list) and len(item) >= 3 and isinstance(item[0], str) and isinstance(item[1], int)


def _tf_keras_value(value: Any, refs: list[Ref]) -> Any:
    if _is_ref(value) and len(value) == 3 and value[0] != _CONSTANT:
        refs.append((str(value[0]), int(value[1]), int(value[2])))
        return TensorArg(len(refs) - 1)
    if isinstance(value, list):
        return [_tf_keras_value(v, refs) for v in value]
    if isinstance(value, dict):
        return {k: _tf_keras_value(v, refs) for k, v in value.items()}
    return value


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _tf_slice(item: Any) -> Any:
    if isinstance(item, dict) and set(item) <= {"start", "stop", "step"}:
        return slice(item.get("start"), item.get("stop"), item.get("step"))
    if item == "..." or (isinstance(item, dict) and item.get("class_name") == "__ellipsis__"):
        return Ellipsis
    return item
