"""More elementwise and reduction operations of functional graphs (Keras 3 `keras.ops`, tf-keras
`TFOpLambda`): inverse and hyperbolic trigonometry, logs and exponentials in other bases, shrink and
threshold activations, NaN/Inf tests, logical and modular arithmetic, and the statistical
reductions (logsumexp, var/std, norms, cumulative sums).

Each composes ONNX ops into the formula Keras' TensorFlow backend computes (`keras/src/backend/
tensorflow/numpy.py`, `nn.py`, `math.py`), in the stable form where TensorFlow uses one
(`logsumexp` subtracts the maximum, `l2_normalize` clamps the squared sum), so they agree on the
inputs where a naive formula would not.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from netinspect.converters.keras.ops import Call, Shape, _axes, broadcast, op
from netinspect.dtypes import elem_type

LN2 = float(np.log(2.0))
LN10 = float(np.log(10.0))


class Expr:
    """Nodes of one elementwise formula over tensors of `shape` and `dtype`."""

    def __init__(self, c: Call, shape: Shape, dtype: str) -> None:
        self.c, self.shape, self.dtype = c, shape, dtype

    def __call__(self, op_type: str, *inputs: str, attrs: dict[str, Any] | None = None,
                 dtype: str | None = None, final: bool = False,
                 shape: Shape | None = None) -> str:  # fmt: skip
        return self.c.node(op_type, list(inputs), self.shape if shape is None else shape, attrs,
                           dtype=dtype or self.dtype, final=final)  # fmt: skip

    def k(self, value: float, dtype: str | None = None) -> str:
        """A scalar constant in the formula's dtype."""
        return self.c.ctx.constant("k", np.asarray(value, dtype=dtype or self.dtype))

    def boolean(self, x: str, dtype: str) -> str:
        """`x` as bool (Keras' logical ops cast their operands)."""
        return x if dtype == "bool" else self("Cast", x, attrs={"to": elem_type("bool")}, dtype="bool")


def _unary(c: Call) -> tuple[Expr, str]:
    x, shape, dtype = c.first()
    return Expr(c, shape, dtype), x


def _pair(c: Call) -> tuple[Expr, str, str, str]:
    if c.ctx.type == "tf.math.atan2":  # tf.math.atan2(y, x): y first, x by keyword
        first, second = c.arg(0, "y"), c.arg(1, "x")
    else:
        first, second = c.arg(0, "x", "x1", "a"), c.arg(1, "y", "x2", "b")
    (x, xs, xt), (y, ys, yt) = c.operands(first, second)
    return Expr(c, broadcast(xs, ys), xt), x, y, yt


# -------------------------------------------------------------------------------------------------
# unary


_DIRECT = {
    "Acos": (("Arccos",), ("math.acos",)),
    "Acosh": (("Arccosh",), ("math.acosh",)),
    "Asin": (("Arcsin",), ("math.asin",)),
    "Asinh": (("Arcsinh",), ("math.asinh",)),
    "Atan": (("Arctan",), ("math.atan",)),
    "Atanh": (("Arctanh",), ("math.atanh",)),
    "Cosh": (("Cosh",), ("math.cosh",)),
    "Sinh": (("Sinh",), ("math.sinh",)),
    "Abs": (("Fabs",), ()),
    "Round": ((), ("math.rint",)),  # half to even, as ONNX Round
}
for _op_type, (_k3, _tf) in _DIRECT.items():

    def _direct(c: Call, o: str = _op_type) -> None:
        e, x = _unary(c)
        e(o, x, final=True)

    op(_k3, _tf)(_direct)


@op(("Trunc",), ())
def trunc(c: Call) -> None:
    e, x = _unary(c)
    negative = e("Less", x, e.k(0.0), dtype="bool")
    e("Where", negative, e("Ceil", x), e("Floor", x), final=True)


@op(("Log2", "Log10"), ())
def log_base(c: Call) -> None:
    e, x = _unary(c)
    e("Div", e("Log", x), e.k(LN2 if c.ctx.type.endswith("Log2") else LN10), final=True)


@op(("Exp2",), ())
def exp2(c: Call) -> None:
    e, x = _unary(c)
    e("Pow", e.k(2.0), x, final=True)


@op(("Cbrt",), ())
def cbrt(c: Call) -> None:
    """sign(x)·|x|^(1/3), as Keras' TensorFlow backend."""
    e, x = _unary(c)
    e("Mul", e("Sign", x), e("Pow", e("Abs", x), e.k(1.0 / 3.0)), final=True)


@op(("Deg2rad", "Rad2deg"), ())
def degrees(c: Call) -> None:
    e, x = _unary(c)
    factor = np.pi / 180.0 if c.ctx.type.endswith("Deg2rad") else 180.0 / np.pi
    e("Mul", x, e.k(factor), final=True)


@op(("Erfc",), ("math.erfc",))
def erfc(c: Call) -> None:
    e, x = _unary(c)
    e("Sub", e.k(1.0), e("Erf", x), final=True)


@op(("Sinc",), ())
def sinc(c: Call) -> None:
    """sin(πx)/(πx), 1 at 0."""
    e, x = _unary(c)
    px = e("Mul", x, e.k(np.pi))
    zero = e("Equal", x, e.k(0.0), dtype="bool")
    e("Where", zero, e.k(1.0), e("Div", e("Sin", px), px), final=True)


@op(("LogSigmoid",), ("math.log_sigmoid", "nn.log_sigmoid"))
def log_sigmoid(c: Call) -> None:
    e, x = _unary(c)
    e("Neg", e("Softplus", e("Neg", x)), final=True)


@op(("Celu",), ())
def celu(c: Call) -> None:
    e, x = _unary(c)
    e("Celu", x, attrs={"alpha": float(c.const(1, "alpha", default=1.0))}, final=True)


@op(("HardTanh",), ())
def hard_tanh(c: Call) -> None:
    e, x = _unary(c)
    e("Clip", x, e.k(-1.0), e.k(1.0), final=True)


@op(("HardShrink", "SoftShrink"), ())
def shrink(c: Call) -> None:
    """hard: x where |x| > t, else 0; soft: also moved t towards 0 (ONNX Shrink's bias)."""
    e, x = _unary(c)
    t = float(c.const(1, "threshold", default=0.5))
    bias = t if c.ctx.type.endswith("SoftShrink") else 0.0
    e("Shrink", x, attrs={"lambd": t, "bias": bias}, final=True)


@op(("TanhShrink",), ())
def tanh_shrink(c: Call) -> None:
    e, x = _unary(c)
    e("Sub", x, e("Tanh", x), final=True)


@op(("Squareplus",), ())
def squareplus(c: Call) -> None:
    """(x + √(x² + b)) / 2."""
    e, x = _unary(c)
    b = float(c.const(1, "b", default=4.0))
    root = e("Sqrt", e("Add", e("Mul", x, x), e.k(b)))
    e("Div", e("Add", x, root), e.k(2.0), final=True)


@op(("SparsePlus",), ())
def sparse_plus(c: Call) -> None:
    """0 below −1, x above 1, (x + 1)²/4 between."""
    e, x = _unary(c)
    shifted = e("Add", x, e.k(1.0))
    middle = e("Div", e("Mul", shifted, shifted), e.k(4.0))
    upper = e("Where", e("GreaterOrEqual", x, e.k(1.0), dtype="bool"), x, middle)
    e("Where", e("LessOrEqual", x, e.k(-1.0), dtype="bool"), e.k(0.0), upper, final=True)


@op(("SparseSigmoid",), ())
def sparse_sigmoid(c: Call) -> None:
    """clip((x + 1)/2, 0, 1)."""
    e, x = _unary(c)
    e("HardSigmoid", x, attrs={"alpha": 0.5, "beta": 0.5}, final=True)


@op(("Threshold",), ())
def threshold(c: Call) -> None:
    e, x = _unary(c)
    t = float(c.const(1, "threshold"))
    default = float(c.const(2, "default_value"))
    e("Where", e("Greater", x, e.k(t), dtype="bool"), x, e.k(default), final=True)


@op(("Glu",), ())
def glu(c: Call) -> None:
    """a·sigmoid(b), a and b the halves of `axis`."""
    x, shape, dtype = c.first()
    axis = int(c.const(1, "axis", default=-1)) % len(shape)
    size = shape[axis]
    if not isinstance(size, int) or size % 2:
        raise c.ctx.error(f"glu needs an even, known size on axis {axis} (it is {size})")
    half = tuple(size // 2 if i == axis else d for i, d in enumerate(shape))
    a, b = c.ctx.node_multi("Split", [x, c.ctx.constant("split", np.array([size // 2] * 2, np.int64))],
                            [(half, dtype), (half, dtype)], {"axis": axis})  # fmt: skip
    e = Expr(c, half, dtype)
    e("Mul", a, e("Sigmoid", b), final=True)


@op(("Isnan", "Isinf", "Isposinf", "Isneginf", "Isfinite"), ("math.is_nan", "math.is_inf", "math.is_finite"))
def isnan(c: Call) -> None:
    e, x = _unary(c)
    kind = c.ctx.type.rsplit(".", 1)[-1].lower().replace("is_", "is")
    if kind == "isnan":
        e("IsNaN", x, dtype="bool", final=True)
    elif kind == "isfinite":
        bad = e("Or", e("IsNaN", x, dtype="bool"), e("IsInf", x, dtype="bool"), dtype="bool")
        e("Not", bad, dtype="bool", final=True)
    else:
        attrs = {"detect_positive": int(kind != "isneginf"), "detect_negative": int(kind != "isposinf")}
        e("IsInf", x, attrs=attrs, dtype="bool", final=True)


@op(("NanToNum",), ())
def nan_to_num(c: Call) -> None:
    """NaN → `nan`, +Inf → `posinf` (default the dtype's largest), −Inf → `neginf` (its lowest)."""
    e, x = _unary(c)
    info = np.finfo(e.dtype)
    nan = float(c.const(1, "nan", default=0.0))
    posinf = c.const(2, "posinf", default=None)
    neginf = c.const(3, "neginf", default=None)
    hi = e.k(float(info.max) if posinf is None else float(posinf))
    lo = e.k(float(info.min) if neginf is None else float(neginf))
    y = e("Where", e("IsInf", x, attrs={"detect_negative": 0}, dtype="bool"), hi, x)
    y = e("Where", e("IsInf", x, attrs={"detect_positive": 0}, dtype="bool"), lo, y)
    e("Where", e("IsNaN", x, dtype="bool"), e.k(nan), y, final=True)


@op(("LogicalNot",), ("math.logical_not",))
def logical_not(c: Call) -> None:
    x, shape, dtype = c.first()
    e = Expr(c, shape, "bool")
    e("Not", e.boolean(x, dtype), final=True)


# -------------------------------------------------------------------------------------------------
# binary


_LOGICAL = {
    "And": (("LogicalAnd",), ("math.logical_and",)),
    "Or": (("LogicalOr",), ("math.logical_or",)),
    "Xor": (("LogicalXor",), ("math.logical_xor",)),
}
for _op_type, (_k3, _tf) in _LOGICAL.items():

    def _logical(c: Call, o: str = _op_type) -> None:
        e, x, y, yt = _pair(c)
        xt = e.dtype
        e.dtype = "bool"
        e(o, e.boolean(x, xt), e.boolean(y, yt), final=True)

    op(_k3, _tf)(_logical)


@op(("Arctan2",), ("math.atan2",))
def arctan2(c: Call) -> None:
    """atan(y/x), moved by ±π where x < 0 (x = +0 gives ±π/2 through y/0 = ±inf)."""
    e, y, x, _ = _pair(c)
    base = e("Atan", e("Div", y, x))
    turn = e("Where", e("GreaterOrEqual", y, e.k(0.0), dtype="bool"), e.k(np.pi), e.k(-np.pi))
    shift = e("Where", e("Less", x, e.k(0.0), dtype="bool"), turn, e.k(0.0))
    e("Add", base, shift, final=True)


@op(("Hypot",), ())
def hypot(c: Call) -> None:
    e, x, y, _ = _pair(c)
    e("Sqrt", e("Add", e("Mul", x, x), e("Mul", y, y)), final=True)


@op(("Logaddexp", "Logaddexp2"), ())
def logaddexp(c: Call) -> None:
    """m + log(exp(x − m) + exp(y − m)), m = max(x, y) (in base 2 for logaddexp2)."""
    e, x, y, _ = _pair(c)
    m = e("Max", x, y)
    if c.ctx.type.endswith("2"):
        total = e("Add", e("Pow", e.k(2.0), e("Sub", x, m)), e("Pow", e.k(2.0), e("Sub", y, m)))
        e("Add", m, e("Div", e("Log", total), e.k(LN2)), final=True)
        return
    total = e("Add", e("Exp", e("Sub", x, m)), e("Exp", e("Sub", y, m)))
    e("Add", m, e("Log", total), final=True)


@op(("DivideNoNan",), ("math.divide_no_nan",))
def divide_no_nan(c: Call) -> None:
    e, x, y, _ = _pair(c)
    zero = e("Equal", y, e.k(0.0), dtype="bool")
    e("Where", zero, e.k(0.0), e("Div", x, y), final=True)


@op(("Mod",), ("math.floormod", "math.mod", "__operators__.mod"))
def floormod(c: Call) -> None:
    """Python's remainder (the divisor's sign): ONNX Mod for integers; for floats the C remainder,
    moved by the divisor where the two signs differ."""
    e, x, y, _ = _pair(c)
    if not e.dtype.startswith("float"):
        e("Mod", x, y, attrs={"fmod": 0}, final=True)
        return
    r = e("Mod", x, y, attrs={"fmod": 1})
    differ = e("Less", e("Mul", r, y), e.k(0.0), dtype="bool")
    e("Where", differ, e("Add", r, y), r, final=True)


@op(("Fmod",), ("truncatemod", "math.truncatemod"))
def fmod(c: Call) -> None:
    e, x, y, _ = _pair(c)
    e("Mod", x, y, attrs={"fmod": 1}, final=True)


@op(("Fmax", "Fmin"), ())
def fmax(c: Call) -> None:
    """The larger (smaller) operand, the other one where one is NaN."""
    e, x, y, _ = _pair(c)
    both = e("Max" if c.ctx.type.endswith("Fmax") else "Min", x, y)
    y_nan = e("Where", e("IsNaN", y, dtype="bool"), x, both)
    e("Where", e("IsNaN", x, dtype="bool"), y, y_nan, final=True)


@op(("Heaviside",), ())
def heaviside(c: Call) -> None:
    e, x, y, _ = _pair(c)
    positive = e("Where", e("Greater", x, e.k(0.0), dtype="bool"), e.k(1.0), y)
    e("Where", e("Less", x, e.k(0.0), dtype="bool"), e.k(0.0), positive, final=True)


@op(("Isclose",), ())
def isclose(c: Call) -> None:
    """|x − y| ≤ atol + rtol·|y| (floats), x == y otherwise."""
    e, x, y, _ = _pair(c)
    if not e.dtype.startswith("float"):
        e("Equal", x, y, dtype="bool", final=True)
        return
    rtol = float(c.const(2, "rtol", default=1e-5))
    atol = float(c.const(3, "atol", default=1e-8))
    equal_nan = bool(c.const(4, "equal_nan", default=False))
    bound = e("Add", e.k(atol), e("Mul", e.k(rtol), e("Abs", y)))
    close = e("LessOrEqual", e("Abs", e("Sub", x, y)), bound, dtype="bool", final=not equal_nan)
    if equal_nan:
        nans = e("And", e("IsNaN", x, dtype="bool"), e("IsNaN", y, dtype="bool"), dtype="bool")
        e("Or", close, nans, dtype="bool", final=True)


@op(("Xlogy",), ("math.xlogy",))
def xlogy(c: Call) -> None:
    e, x, y, _ = _pair(c)
    zero = e("Equal", x, e.k(0.0), dtype="bool")
    e("Where", zero, e.k(0.0), e("Mul", x, e("Log", y)), final=True)


@op((), ("math.add_n",))
def add_n(c: Call) -> None:
    values = c.arg(0, "inputs")
    parts = c.operands(*(values if isinstance(values, list) else [values]))
    shape = broadcast(*(s for _, s, _ in parts))
    c.node("Sum", [n for n, _, _ in parts], shape, dtype=parts[0][2], final=True)


@op((), ("nn.bias_add",))
def bias_add(c: Call) -> None:
    """x + bias on the channel axis (the last, for tf.nn.bias_add's default NHWC)."""
    x, shape, dtype = c.first()
    if str(c.const(2, "data_format", default="NHWC") or "NHWC").upper().startswith("NC"):
        raise c.ctx.error("bias_add with a channels-first data_format is not supported")
    bias, bshape, _ = c.tensor(c.arg(1, "bias"), dtype, "bias")
    c.node("Add", [x, bias], broadcast(shape, bshape), dtype=dtype, final=True)


@op((), ("nn.crelu", "compat.v1.nn.crelu"))
def crelu(c: Call) -> None:
    """[relu(x), relu(−x)] concatenated on `axis`."""
    e, x = _unary(c)
    axis = int(c.const(1, "axis", default=-1)) % len(e.shape)
    out = tuple(d * 2 if i == axis and isinstance(d, int) else d for i, d in enumerate(e.shape))
    e("Concat", e("Relu", x), e("Relu", e("Neg", x)), attrs={"axis": axis}, shape=out, final=True)


# -------------------------------------------------------------------------------------------------
# reductions


def _reduction(c: Call, default_axis: Any = None) -> tuple[str, Shape, str, list[int], bool, Shape, Shape]:
    """(x, shape, dtype, axes, keepdims, output shape, shape with the axes kept as 1)."""
    x, shape, dtype = c.first()
    axis = c.const(1, "axis", default=default_axis)
    keep = bool(c.const(2, "keepdims", default=False))
    axes = list(range(len(shape))) if axis is None else _axes(axis, len(shape))
    kept = tuple(1 if i in axes else d for i, d in enumerate(shape))
    out = kept if keep else tuple(d for i, d in enumerate(shape) if i not in axes)
    return x, shape, dtype, axes, keep, out, kept


def _reduce(e: Expr, op_type: str, x: str, axes: list[int], keep: bool, shape: Shape, **kw: Any) -> str:
    """An ONNX reduction (ReduceSum takes its axes as an input at opset 13, the others as an
    attribute until opset 18)."""
    if op_type == "ReduceSum":
        axes_c = e.c.ctx.constant("axes", np.array(axes, np.int64))
        return e(op_type, x, axes_c, attrs={"keepdims": int(keep)}, shape=shape, **kw)
    return e(op_type, x, attrs={"axes": axes, "keepdims": int(keep)}, shape=shape, **kw)


@op(("Logsumexp",), ("math.reduce_logsumexp", "reduce_logsumexp"))
def logsumexp(c: Call) -> None:
    """m + log Σ exp(x − m), m the maximum (TensorFlow's stable form)."""
    x, shape, dtype, axes, keep, out, kept = _reduction(c)
    e = Expr(c, shape, dtype)
    m = _reduce(e, "ReduceMax", x, axes, True, kept)
    total = _reduce(e, "ReduceSum", e("Exp", e("Sub", x, m)), axes, keep, out)
    m_out = m if keep else _reduce(e, "ReduceMax", m, axes, False, out)
    e("Add", e("Log", total, shape=out), m_out, shape=out, final=True)


@op(("Var", "Std"), ("math.reduce_variance", "math.reduce_std", "reduce_variance", "reduce_std"))
def variance(c: Call) -> None:
    x, shape, dtype, axes, keep, out, kept = _reduction(c)
    e = Expr(c, shape, dtype)
    d = e("Sub", x, _reduce(e, "ReduceMean", x, axes, True, kept))
    std = c.ctx.type.lower().endswith("std")
    var = _reduce(e, "ReduceMean", e("Mul", d, d), axes, keep, out, final=not std)
    if std:
        e("Sqrt", var, shape=out, final=True)


@op(("Average",), ())
def average(c: Call) -> None:
    if c.arg(2, "weights", default=None) is not None:
        raise c.ctx.error("average with weights is not supported")
    x, shape, dtype, axes, keep, out, _ = _reduction(c)
    _reduce(Expr(c, shape, dtype), "ReduceMean", x, axes, keep, out, final=True)


@op(("Ptp",), ())
def ptp(c: Call) -> None:
    x, shape, dtype, axes, keep, out, _ = _reduction(c)
    e = Expr(c, shape, dtype)
    hi, lo = _reduce(e, "ReduceMax", x, axes, keep, out), _reduce(e, "ReduceMin", x, axes, keep, out)
    e("Sub", hi, lo, shape=out, final=True)


@op(("CountNonzero",), ("math.count_nonzero", "count_nonzero"))
def count_nonzero(c: Call) -> None:
    """Σ (x ≠ 0): int32 in Keras 3, int64 in TensorFlow."""
    x, shape, dtype, axes, keep, out, _ = _reduction(c)
    e = Expr(c, shape, dtype)
    result = "int32" if c.keras3 else str(c.const(3, "dtype", default="int64"))
    nonzero = e("Not", e("Equal", x, e.k(0), dtype="bool"), dtype="bool")
    counts = e("Cast", nonzero, attrs={"to": elem_type(result)}, dtype=result)
    _reduce(e, "ReduceSum", counts, axes, keep, out, dtype=result, final=True)


def _norm(c: Call, e: Expr, x: str, order: Any, axes: list[int], keep: bool, out: Shape, final: bool) -> str:
    """The vector norm of `order` over `axes` (two axes: the Frobenius norm, for None and 'fro')."""
    if isinstance(order, str):
        order = {"euclidean": None, "fro": None}.get(order, order)
    if len(axes) == 2 and order is not None:
        raise c.ctx.error(f"the matrix norm ord={order!r} is not supported (only 'fro')")
    if order is None or order == 2:
        return _reduce(e, "ReduceL2", x, axes, keep, out, final=final)
    if order == 1:
        return _reduce(e, "ReduceL1", x, axes, keep, out, final=final)
    if isinstance(order, str):
        raise c.ctx.error(f"the norm ord={order!r} is not supported")
    order = float(order)
    if np.isinf(order):
        return _reduce(
            e, "ReduceMax" if order > 0 else "ReduceMin", e("Abs", x), axes, keep, out, final=final
        )
    if order == 0:
        nonzero = e("Cast", e("Not", e("Equal", x, e.k(0.0), dtype="bool"), dtype="bool"),
                    attrs={"to": elem_type(e.dtype)})  # fmt: skip
        return _reduce(e, "ReduceSum", nonzero, axes, keep, out, final=final)
    powered = _reduce(e, "ReduceSum", e("Pow", e("Abs", x), e.k(order)), axes, keep, out)
    return e("Pow", powered, e.k(1.0 / order), shape=out, final=final)


@op(("Norm",), ("norm", "compat.v1.norm", "linalg.norm", "math.reduce_euclidean_norm"))
def norm(c: Call) -> None:
    x, shape, dtype = c.first()
    euclidean = c.ctx.type.endswith("reduce_euclidean_norm")
    order = None if euclidean else c.const(1, "ord", default=None)
    axis = c.const(2 if not euclidean else 1, "axis", default=None)
    keep = bool(c.const(3 if not euclidean else 2, "keepdims", default=False))
    axes = list(range(len(shape))) if axis is None else _axes(axis, len(shape))
    if axis is None and order not in (None, "fro", "euclidean", 2):
        raise c.ctx.error(f"a norm ord={order!r} over the flattened tensor is not supported")
    out = tuple(1 if i in axes else d for i, d in enumerate(shape) if keep or i not in axes)
    _norm(c, Expr(c, shape, dtype), x, None if axis is None else order, axes, keep, out, final=True)


@op(("Normalize",), ("math.l2_normalize", "nn.l2_normalize", "linalg.l2_normalize"))
def normalize(c: Call) -> None:
    """Order 2: x·min(rsqrt(Σx²), 1/ε) (Keras) or x·rsqrt(max(Σx², ε)) (TensorFlow, ε = 1e-12);
    other orders x / max(‖x‖, ε)."""
    x, shape, dtype = c.first()
    axis = c.const(1, "axis", default=-1 if c.keras3 else None)
    axes = list(range(len(shape))) if axis is None else _axes(axis, len(shape))
    kept = tuple(1 if i in axes else d for i, d in enumerate(shape))
    e = Expr(c, shape, dtype)
    order = int(c.const(2, "order", default=2)) if c.keras3 else 2
    epsilon = c.const(3, "epsilon", default=None)
    if c.keras3:
        epsilon = 1e-7 if epsilon is None else float(epsilon)
    else:
        epsilon = 1e-12 if epsilon is None else float(epsilon)
    if order != 2:
        norm_ = _norm(c, e, x, order, axes, True, kept, final=False)
        e("Div", x, e("Max", norm_, e.k(epsilon), shape=kept), final=True)
        return
    squares = _reduce(e, "ReduceSum", e("Mul", x, x), axes, True, kept)
    if c.keras3:
        inverse = e("Min", e("Reciprocal", e("Sqrt", squares, shape=kept), shape=kept), e.k(1.0 / epsilon),
                    shape=kept)  # fmt: skip
    else:
        inverse = e(
            "Reciprocal", e("Sqrt", e("Max", squares, e.k(epsilon), shape=kept), shape=kept), shape=kept
        )
    e("Mul", x, inverse, final=True)


@op(("Cumsum",), ("math.cumsum", "cumsum"))
def cumsum(c: Call) -> None:
    x, shape, dtype = c.first()
    axis = c.const(1, "axis", default=None if c.keras3 else 0)
    e = Expr(c, shape, dtype)
    if axis is None:  # Keras 3: over the flattened tensor
        flat = (int(np.prod(shape)) if all(isinstance(d, int) for d in shape) else None,)
        x = e("Reshape", x, c.ctx.constant("flat", np.array([-1], np.int64)), shape=flat)
        e.shape, axis = flat, 0
    attrs = {"exclusive": int(bool(c.const(2, "exclusive", default=False))),
             "reverse": int(bool(c.const(3, "reverse", default=False)))}  # fmt: skip
    axis_c = c.ctx.constant("axis", np.array(int(axis) % len(e.shape), np.int64))
    e("CumSum", x, axis_c, attrs=attrs, final=True)


@op(("Cumprod", "Nancumprod"), ("math.cumprod", "cumprod"))
def cumprod(c: Call) -> None:
    """ONNX has no cumulative product: unrolled over the axis' known length, each step's slice
    multiplied into the running product (exclusive and reverse as TensorFlow's); nancumprod
    counts a NaN as 1 first, as Keras does."""
    x, shape, dtype = c.first()
    axis = c.const(1, "axis", default=None if c.keras3 else 0)
    e = Expr(c, shape, dtype)
    if c.ctx.type.endswith("Nancumprod"):
        x = e("Where", e("IsNaN", x, dtype="bool"), e.k(1.0), x)
    if axis is None:
        raise c.ctx.error("cumprod over the flattened tensor is not supported")
    a = int(axis) % len(shape)
    size = shape[a]
    if not isinstance(size, int) or size > 256:
        raise c.ctx.error(f"cumprod along axis {a} needs its size known (and at most 256; it is {size})")
    exclusive = bool(c.const(2, "exclusive", default=False))
    reverse = bool(c.const(3, "reverse", default=False))
    step = tuple(1 if i == a else d for i, d in enumerate(shape))
    order = range(size - 1, -1, -1) if reverse else range(size)
    products: dict[int, str] = {}
    running = None
    for k in order:
        bounds = [
            c.ctx.constant(h, np.array([v], np.int64))
            for h, v in (("starts", k), ("ends", k + 1), ("axes", a))
        ]
        piece = e("Slice", x, *bounds, shape=step)
        if exclusive:
            products[k] = running if running is not None else _ones_like(e, piece, step)
        running = piece if running is None else e("Mul", running, piece, shape=step)
        if not exclusive:
            products[k] = running
    e("Concat", *(products[k] for k in range(size)), attrs={"axis": a}, final=True)


def _ones_like(e: Expr, x: str, shape: Shape) -> str:
    dims = e("Shape", x, dtype="int64", shape=(len(shape),))
    return e("Expand", e.k(1.0), dims, shape=shape)


@op(("Angle",), ())
def angle(c: Call) -> None:
    """The argument of a real number, as tf.math.angle takes it: π below zero, else 0 (−0 and NaN
    included)."""
    e, x = _unary(c)
    if not e.dtype.startswith("float"):
        x = e("Cast", x, attrs={"to": elem_type("float32")}, dtype="float32")
        e = Expr(c, e.shape, "float32")
    e("Where", e("Less", x, e.k(0.0), dtype="bool"), e.k(np.pi), e.k(0.0), final=True)


@op(("Signbit",), ())
def signbit(c: Call) -> None:
    """x < 0, or x = −0 (1/x = −inf); a NaN's sign bit is not visible to ONNX's operators, so a
    negative NaN reads False here where Keras' bitcast reads True."""
    e, x = _unary(c)
    if not e.dtype.startswith("float"):
        e("Less", x, e.k(0), dtype="bool", final=True)
        return
    negative = e("Less", x, e.k(0.0), dtype="bool")
    minus_zero = e("And", e("Equal", x, e.k(0.0), dtype="bool"),
                   e("Less", e("Div", e.k(1.0), x), e.k(0.0), dtype="bool"), dtype="bool")  # fmt: skip
    e("Or", negative, minus_zero, dtype="bool", final=True)


@op(("Real", "Conjugate", "Imag", "Isreal"), ("math.real", "math.conj", "math.imag"))
def real_parts(c: Call) -> None:
    """On real tensors (the only kind ONNX holds): real and conj are x, imag is 0, isreal True."""
    e, x = _unary(c)
    if e.dtype.startswith("complex"):
        raise c.ctx.error("complex tensors have no ONNX type")
    kind = c.ctx.type.rsplit(".", 1)[-1].lower()
    if kind in ("real", "conjugate", "conj"):
        e("Identity", x, final=True)
        return
    dims = e("Shape", x, dtype="int64", shape=(len(e.shape),))
    if kind == "isreal":
        e("Expand", c.ctx.constant("true", np.asarray(True)), dims, dtype="bool", final=True)
    else:
        e("Expand", e.k(0.0), dims, final=True)


@op(("Det",), ("linalg.det",))
def det(c: Call) -> None:
    x, shape, dtype = c.first()
    c.node("Det", [x], shape[:-2], dtype=dtype, final=True)
