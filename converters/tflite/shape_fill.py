"""Shapes a file leaves unrecorded, computed from the operators' inputs as LiteRT's kernels compute
them when the interpreter allocates its tensors.

TOCO-era converters wrote an empty shape for every tensor downstream of one whose size they could
not propagate: Magenta's arbitrary-image-stylization network (dynamic-range int8) up-samples with
RESIZE_NEAREST_NEIGHBOR to a size computed at run time (SHAPE → STRIDED_SLICE → MUL → PACK), and
every tensor after it, the model's output included, is stored with shape []. The handlers need
those shapes (padding, channel counts, reshapes), so they are filled here, in execution order,
for the operators such graphs use; small int32 tensors computed from shapes are evaluated on the
way. A tensor no rule covers keeps its empty shape, and a genuine scalar is computed as ().
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from netinspect.converters.tflite.flatbuffer import TflOperator, TflSubgraph

Shape = tuple[int, ...]
Values = dict[int, np.ndarray]

UNARY = {"RSQRT", "SQRT", "LOGISTIC", "TANH", "RELU", "RELU6", "ABS", "NEG", "EXP", "LOG", "QUANTIZE",
         "DEQUANTIZE", "LEAKY_RELU", "HARD_SWISH", "SOFTMAX", "CAST"}  # fmt: skip
BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "ADD": np.add,
    "SUB": np.subtract,
    "MUL": np.multiply,
    "MAXIMUM": np.maximum,
    "MINIMUM": np.minimum,
    "SQUARED_DIFFERENCE": lambda a, b: (a - b) ** 2,
    "FLOOR_DIV": np.floor_divide,
    "DIV": np.floor_divide,
}
REDUCE = {"MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"}


def fill_missing_shapes(sub: TflSubgraph) -> set[int]:
    """Give every computed tensor stored with an empty shape the shape its operator gives it;
    returns the indices of the tensors filled."""
    values: Values = {}
    filled: set[int] = set()
    for op in sub.operators:
        outputs = [i for i in op.outputs if i >= 0]
        if len(outputs) != 1:
            continue
        out = sub.tensors[outputs[0]]
        missing = out.shape == () and not out.has_data
        if not missing and out.dtype not in ("int32", "int64"):
            continue  # only shapes to fill, and the integer arithmetic that may compute them
        try:
            shape, value = _rule(sub, op, values)
        except (ValueError, IndexError, TypeError, KeyError):
            continue
        if value is not None:
            values[out.index] = value
        if missing and shape is not None and shape != ():
            out.shape = shape
            filled.add(out.index)
    return filled


def _value(sub: TflSubgraph, values: Values, i: int) -> np.ndarray | None:
    """A small integer tensor's elements: a constant, or computed from shapes before."""
    if i in values:
        return values[i]
    t = sub.tensors[i]
    if t.has_data and t.dtype in ("int32", "int64") and math.prod(t.shape) <= 64:
        return np.asarray(t.data()).astype(np.int64)
    return None


def _rule(sub: TflSubgraph, op: TflOperator, values: Values) -> tuple[Shape | None, np.ndarray | None]:
    """(output shape, output value when it is a small integer tensor computed from shapes)."""
    ins = op.inputs
    shape_of = [sub.tensors[i].shape if i >= 0 else () for i in ins]
    value_of = [_value(sub, values, i) if i >= 0 else None for i in ins]
    known = all(
        shape_of[k] != () or sub.tensors[i].has_data or i in values for k, i in enumerate(ins) if i >= 0
    )
    code, opt = op.opcode, op.options
    if code == "SHAPE":
        return (len(shape_of[0]),), np.array(shape_of[0], np.int64) if shape_of[0] != () else None
    if code in BINARY:
        a, b = value_of[0], value_of[1]
        if a is not None and b is not None:
            result = BINARY[code](a, b)
            return tuple(result.shape), result
        return (tuple(np.broadcast_shapes(shape_of[0], shape_of[1])) if known else None), None
    if code == "PACK" and all(v is not None for v in value_of):
        result = np.stack([v for v in value_of if v is not None], axis=int(opt.get("Axis", 0)))
        return tuple(result.shape), result
    if code == "STRIDED_SLICE" and value_of[0] is not None and all(v is not None for v in value_of[1:4]):
        return _strided_slice_1d(value_of[0], value_of[1], value_of[2], value_of[3], opt)
    if not known:
        return None, None
    if code in UNARY:
        return shape_of[0], None
    if code in ("RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR") and value_of[1] is not None:
        n, _h, _w, c = shape_of[0]
        return (n, int(value_of[1][0]), int(value_of[1][1]), c), None
    if code in ("PAD", "PADV2", "MIRROR_PAD") and value_of[1] is not None:
        pads = value_of[1].reshape(-1, 2)
        return tuple(int(d + pads[k].sum()) for k, d in enumerate(shape_of[0])), None
    if code in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        n, h, w, _c = shape_of[0]
        filt = shape_of[1]
        channels = filt[0] if code == "CONV_2D" else filt[3]
        same = opt.get("Padding", 0) == 0
        sizes = [
            _window_out(size, k, int(opt.get(f"Stride{a}", 1)), int(opt.get(f"Dilation{a}Factor", 1)), same)
            for size, k, a in ((h, filt[1], "H"), (w, filt[2], "W"))
        ]
        return (n, *sizes, channels), None
    if code in REDUCE and value_of[1] is not None:
        axes = {int(a) % len(shape_of[0]) for a in value_of[1].reshape(-1)}
        keep = bool(opt.get("KeepDims", False))
        return tuple(1 if k in axes else d for k, d in enumerate(shape_of[0]) if keep or k not in axes), None
    return None, None


def _window_out(size: int, kernel: int, stride: int, dilation: int, same: bool) -> int:
    """TFLite's ComputeOutSize: SAME ceil(size / stride), VALID over the dilated window."""
    if same:
        return -(-size // stride)
    return (size - (kernel - 1) * dilation - 1) // stride + 1


def _strided_slice_1d(
    value: np.ndarray, begin: np.ndarray, end: np.ndarray, strides: np.ndarray, opt: dict
) -> tuple[Shape, np.ndarray]:
    """STRIDED_SLICE of a 1-D integer tensor (a shape): begin/end masks and shrinking only."""
    if value.ndim != 1 or opt.get("EllipsisMask", 0) or opt.get("NewAxisMask", 0):
        raise ValueError("only 1-D slices of shapes")
    b, e, s = int(begin[0]), int(end[0]), int(strides[0])
    if opt.get("ShrinkAxisMask", 0) & 1:
        result = np.array(value[b])
    else:
        result = value[
            None if opt.get("BeginMask", 0) & 1 else b : None if opt.get("EndMask", 0) & 1 else e : s
        ]
    return tuple(result.shape), result
