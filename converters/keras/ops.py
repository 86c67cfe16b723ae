"""Operation nodes of functional graphs: Keras 3 `keras.ops.*` (and `x + 3.0`, `x[:, 1:]`) and tf-keras
`TFOpLambda`/`SlicingOpLambda` (`tf.math.multiply`, `tf.__operators__.add`, `tf.nn.relu6`, slicing).

`opcalls` turned each call into a layer spec named after the operation (`keras.ops.Add`,
`tf.math.multiply`) with its positional and keyword arguments; here each operation ONNX can
express becomes nodes, constant operands and keyword arguments included. An argument is looked up
as the call passed it (keyword, then position) and then in a Keras 3 operation's own config, where
Keras 3 keeps constructor arguments (`Mean(axis, keepdims)`, `Reshape(newshape)`). A constant
operand takes the dtype of the tensor it meets (NumPy's and TensorFlow's rule for Python numbers).
Every operation computes in Keras' own axis order; the layout pass moves transposes around them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from netinspect import registry
from netinspect.converters.keras import activations
from netinspect.converters.keras.context import KERAS, KerasContext
from netinspect.converters.keras.opcalls import KERAS3_OP_PREFIX, TF_OP_PREFIX, TensorArg
from netinspect.dtypes import elem_type
from netinspect.ir import Dim

Shape = tuple[Dim, ...]
OpFn = Callable[["Call"], None]
_MISSING = object()
_INT64_MAX = int(np.iinfo(np.int64).max)
_INT64_MIN = int(np.iinfo(np.int64).min)


def op(keras3: tuple[str, ...], tf: tuple[str, ...]) -> Callable[[OpFn], OpFn]:
    """Register `fn` for Keras 3 operation classes and TensorFlow function names."""

    def register(fn: OpFn) -> OpFn:
        names = [KERAS3_OP_PREFIX + n for n in keras3] + [TF_OP_PREFIX + n for n in tf]
        registry.layer(KERAS, *names)(lambda ctx: fn(Call(ctx)))
        return fn

    return register


class Call:
    """One operation call: its arguments by position or name, operands as IR values."""

    def __init__(self, ctx: KerasContext) -> None:
        self.ctx = ctx
        self.args = list(ctx.call_args)
        self.kwargs = dict(ctx.call_kwargs)
        self.keras3 = ctx.type.startswith(KERAS3_OP_PREFIX)

    @property
    def out(self) -> str:
        return self.ctx.outputs[0]

    def arg(self, position: int, *names: str, default: Any = _MISSING) -> Any:
        """Keyword `names`, else (Keras 3) the operation's config, else positional `position`, else
        `default`. Keras 3 passes only operands positionally and keeps the rest in the config."""
        for name in names:
            if self.kwargs.get(name) is not None:
                return self.kwargs[name]
            if self.keras3 and self.ctx.config.get(name) is not None:
                return self.ctx.config[name]
        if position < len(self.args) and self.args[position] is not None:
            return self.args[position]
        if default is _MISSING:
            raise self.ctx.error(f"its call has no {names[0]!r} argument")
        return default

    def const(self, position: int, *names: str, default: Any = _MISSING) -> Any:
        """An argument that must be a constant (an axis, a shape…)."""
        value = self.arg(position, *names, default=default)
        if _holds_tensor(value):
            raise self.ctx.error(f"its {names[0]!r} is computed by the model; only constants are supported")
        return value

    def tensor(self, value: Any, like: str | None = None, hint: str = "const") -> tuple[str, Shape, str]:
        """(IR value, shape, dtype) of an operand; a constant takes the dtype `like` (default float32)."""
        if isinstance(value, TensorArg):
            name = self.ctx.inputs[value.index]
            return name, self.ctx.input_shapes[value.index], self.ctx.builder.dtype(name) or "float32"
        if _holds_tensor(value):
            raise self.ctx.error("a list of tensors as one operand is not supported here")
        array = np.asarray(value)
        if array.dtype == object:
            raise self.ctx.error(f"operand {value!r} is not a number")
        dtype = like or ("float32" if array.dtype.kind == "f" else array.dtype.name)
        if array.dtype.kind == "b" and like is None:
            dtype = "bool"
        array = array.astype(dtype)
        return self.ctx.constant(hint, array), tuple(int(d) for d in array.shape), dtype

    def operands(self, *values: Any) -> list[tuple[str, Shape, str]]:
        """Tensors first, then constants cast to the first tensor's dtype."""
        tensors = {i: self.tensor(v) for i, v in enumerate(values) if isinstance(v, TensorArg)}
        like = next(iter(tensors.values()))[2] if tensors else None
        return [tensors[i] if i in tensors else self.tensor(v, like) for i, v in enumerate(values)]

    def first(self) -> tuple[str, Shape, str]:
        names = ("x", "a", "input", "input_tensor", "tensor", "features", "logits", "t")
        return self.tensor(self.arg(0, *names))

    def node(self, op_type: str, inputs: list[str], shape: Shape, attrs: dict[str, Any] | None = None,
             dtype: str = "float32", final: bool = False) -> str:  # fmt: skip
        return self.ctx.node(op_type, inputs, shape, attrs, output=self.out if final else None, dtype=dtype)


def _holds_tensor(value: Any) -> bool:
    if isinstance(value, TensorArg):
        return True
    if isinstance(value, list | tuple):
        return any(_holds_tensor(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_tensor(v) for v in value.values())
    return False


def broadcast(*shapes: Shape) -> Shape:
    """NumPy broadcasting of shapes whose unknown dims are None or symbols."""
    rank = max(len(s) for s in shapes)
    out: list[Dim] = []
    for i in range(rank):
        dims = [s[i - rank + len(s)] for s in shapes if i - rank + len(s) >= 0]
        known = [d for d in dims if isinstance(d, int) and d != 1]
        if known:
            out.append(known[0])
        else:
            symbolic = [d for d in dims if d is not None and not isinstance(d, int)]
            out.append(symbolic[0] if symbolic else (1 if all(d == 1 for d in dims) else None))
    return tuple(out)


def _axes(value: Any, rank: int) -> list[int]:
    values = value if isinstance(value, list | tuple) else [value]
    return sorted(int(a) % rank for a in values)


# -------------------------------------------------------------------------------------------------
# elementwise


_BINARY = {
    "Add": (("Add",), ("math.add", "__operators__.add", "math.add_v2")),
    "Sub": (("Subtract",), ("math.subtract", "__operators__.sub")),
    "Mul": (("Multiply",), ("math.multiply", "__operators__.mul")),
    "Div": (("Divide", "TrueDivide"), ("math.truediv", "math.divide", "__operators__.truediv")),
    "Max": (("Maximum",), ("math.maximum",)),
    "Min": (("Minimum",), ("math.minimum",)),
    "Pow": (("Power",), ("math.pow", "__operators__.pow")),
}
_COMPARE = {
    "Equal": (("Equal",), ("math.equal", "__operators__.eq")),
    "Greater": (("Greater",), ("math.greater", "__operators__.gt")),
    "GreaterOrEqual": (("GreaterEqual",), ("math.greater_equal", "__operators__.ge")),
    "Less": (("Less",), ("math.less", "__operators__.lt")),
    "LessOrEqual": (("LessEqual",), ("math.less_equal", "__operators__.le")),
}


def _binary(c: Call, op_type: str, dtype: str | None = None) -> None:
    (x, xs, xt), (y, ys, _) = c.operands(c.arg(0, "x", "x1", "a"), c.arg(1, "y", "x2", "b"))
    c.node(op_type, [x, y], broadcast(xs, ys), dtype=dtype or xt, final=True)


for _op_type, (_k3, _tf) in _BINARY.items():
    op(_k3, _tf)(lambda c, o=_op_type: _binary(c, o))
for _op_type, (_k3, _tf) in _COMPARE.items():
    op(_k3, _tf)(lambda c, o=_op_type: _binary(c, o, "bool"))


@op(("NotEqual",), ("math.not_equal", "__operators__.ne"))
def not_equal(c: Call) -> None:
    (x, xs, _), (y, ys, _) = c.operands(c.arg(0, "x", "x1", "a"), c.arg(1, "y", "x2", "b"))
    shape = broadcast(xs, ys)
    c.node("Not", [c.node("Equal", [x, y], shape, dtype="bool")], shape, dtype="bool", final=True)


@op(("FloorDivide",), ("math.floordiv", "math.floor_div", "compat.v1.floor_div", "__operators__.floordiv"))
def floor_divide(c: Call) -> None:
    """Floats: floor(x / y). Integers: (x − r) / y with r the remainder of the divisor's sign (ONNX
    Mod with fmod 0), an exact division, since ONNX's integer Div truncates towards zero."""
    (x, xs, xt), (y, ys, _) = c.operands(c.arg(0, "x", "x1", "a"), c.arg(1, "y", "x2", "b"))
    shape = broadcast(xs, ys)
    if not xt.startswith("float"):
        remainder = c.node("Mod", [x, y], shape, {"fmod": 0}, dtype=xt)
        c.node("Div", [c.node("Sub", [x, remainder], shape, dtype=xt), y], shape, dtype=xt, final=True)
        return
    c.node("Floor", [c.node("Div", [x, y], shape, dtype=xt)], shape, dtype=xt, final=True)


@op(("SquaredDifference",), ("math.squared_difference",))
def squared_difference(c: Call) -> None:
    (x, xs, xt), (y, ys, _) = c.operands(c.arg(0, "x", "x1", "a"), c.arg(1, "y", "x2", "b"))
    shape = broadcast(xs, ys)
    d = c.node("Sub", [x, y], shape, dtype=xt)
    c.node("Mul", [d, d], shape, dtype=xt, final=True)


_UNARY = {
    "Abs": (("Absolute", "Abs"), ("math.abs",)),
    "Neg": (("Negative",), ("math.negative", "__operators__.neg")),
    "Exp": (("Exp",), ("math.exp",)),
    "Log": (("Log",), ("math.log",)),
    "Sqrt": (("Sqrt",), ("math.sqrt",)),
    "Sin": (("Sin",), ("math.sin",)),
    "Cos": (("Cos",), ("math.cos",)),
    "Tan": (("Tan",), ("math.tan",)),
    "Tanh": (("Tanh",), ("math.tanh", "nn.tanh")),
    "Sigmoid": (("Sigmoid",), ("math.sigmoid", "nn.sigmoid")),
    "Relu": (("Relu",), ("nn.relu",)),
    "Floor": (("Floor",), ("math.floor",)),
    "Ceil": (("Ceil",), ("math.ceil",)),
    "Round": (("Round",), ("math.round",)),  # both round half to even
    "Sign": (("Sign",), ("math.sign",)),
    "Reciprocal": (("Reciprocal",), ("math.reciprocal",)),
    "Erf": (("Erf",), ("math.erf",)),
    "Softplus": (("Softplus",), ("math.softplus", "nn.softplus")),
    "Softsign": (("Softsign",), ("nn.softsign", "math.softsign")),
    "Selu": (("Selu",), ("nn.selu",)),
    "Identity": (("StopGradient",), ("identity", "stop_gradient")),
}

for _op_type, (_k3, _tf) in _UNARY.items():

    def _unary(c: Call, o: str = _op_type) -> None:
        x, shape, dtype = c.first()
        c.node(o, [x], shape, dtype=dtype, final=True)

    op(_k3, _tf)(_unary)


@op(("Square",), ("math.square",))
def square(c: Call) -> None:
    x, shape, dtype = c.first()
    c.node("Mul", [x, x], shape, dtype=dtype, final=True)


@op(("Rsqrt",), ("math.rsqrt",))
def rsqrt(c: Call) -> None:
    x, shape, _ = c.first()
    c.node("Reciprocal", [c.node("Sqrt", [x], shape)], shape, final=True)


@op(("Log1p",), ("math.log1p",))
def log1p(c: Call) -> None:
    """log(1 + x) to full relative precision near 0 (Kahan): u = 1 + x rounded, then
    log(u)·x/(u − 1), which cancels u's rounding error; x itself where u rounds to 1."""
    x, shape, _ = c.first()
    one = c.ctx.scalar("one", 1.0)
    u = c.node("Add", [x, one], shape)
    ratio = c.node(
        "Div", [c.node("Mul", [c.node("Log", [u], shape), x], shape), c.node("Sub", [u, one], shape)], shape
    )
    tiny = c.node("Equal", [u, one], shape, dtype="bool")
    c.node("Where", [tiny, x, ratio], shape, final=True)


@op(("Expm1",), ("math.expm1",))
def expm1(c: Call) -> None:
    """exp(x) − 1 to full relative precision near 0 (Kahan): u = exp(x), then (u − 1)·x/log(u);
    x itself where u rounds to 1, −1 where u − 1 does."""
    x, shape, _ = c.first()
    one = c.ctx.scalar("one", 1.0)
    u = c.node("Exp", [x], shape)
    less = c.node("Sub", [u, one], shape)
    ratio = c.node("Div", [c.node("Mul", [less, x], shape), c.node("Log", [u], shape)], shape)
    saturated = c.node("Equal", [less, c.ctx.scalar("minus_one", -1.0)], shape, dtype="bool")
    far = c.node("Where", [saturated, less, ratio], shape)
    big = c.node("IsInf", [u], shape, {"detect_negative": 0}, dtype="bool")
    far = c.node("Where", [big, u, far], shape)
    tiny = c.node("Equal", [u, one], shape, dtype="bool")
    c.node("Where", [tiny, x, far], shape, final=True)


@op(("Relu6",), ("nn.relu6",))
def relu6(c: Call) -> None:
    x, shape, _ = c.first()
    activations.relu(c.ctx, x, shape, c.out, max_value=6.0)


@op(("Elu",), ("nn.elu",))
def elu(c: Call) -> None:
    x, shape, _ = c.first()
    alpha = float(c.const(1, "alpha", default=1.0))
    c.node("Elu", [x], shape, {"alpha": alpha}, final=True)


@op(("LeakyRelu",), ("nn.leaky_relu",))
def leaky_relu(c: Call) -> None:
    x, shape, _ = c.first()
    slope = float(c.const(1, "negative_slope", "alpha", default=0.2))  # both default to 0.2
    c.node("LeakyRelu", [x], shape, {"alpha": slope}, final=True)


@op(("Silu", "Swish"), ("nn.silu", "nn.swish", "math.silu"))
def silu(c: Call) -> None:
    x, shape, _ = c.first()
    beta = float(c.const(1, "beta", default=1.0))
    gate = x if beta == 1.0 else c.node("Mul", [x, c.ctx.scalar("beta", beta)], shape)
    c.node("Mul", [x, c.node("Sigmoid", [gate], shape)], shape, final=True)


@op(("HardSigmoid",), ())
def hard_sigmoid(c: Call) -> None:
    """keras.ops.hard_sigmoid: relu6(x + 3) / 6."""
    x, shape, _ = c.first()
    c.node("HardSigmoid", [x], shape, {"alpha": 1.0 / 6.0, "beta": 0.5}, final=True)


@op(("HardSilu", "HardSwish"), ())
def hard_silu(c: Call) -> None:
    x, shape, _ = c.first()
    c.node("HardSwish", [x], shape, final=True)


@op(("Gelu",), ("nn.gelu",))
def gelu(c: Call) -> None:
    """`keras.ops.gelu` defaults to the tanh approximation, `tf.nn.gelu` to the exact erf form."""
    x, shape, _ = c.first()
    approximate = bool(c.const(1, "approximate", default=c.keras3))
    activations.gelu(c.ctx, x, shape, c.out, approximate)


@op(("Softmax", "LogSoftmax"), ("nn.softmax", "math.softmax", "nn.log_softmax", "math.log_softmax"))
def softmax(c: Call) -> None:
    x, shape, _ = c.first()
    axis = c.const(1, "axis", "dim", default=-1)
    if isinstance(axis, list | tuple):
        if len(axis) != 1:
            raise c.ctx.error("softmax over several axes is not supported")
        axis = axis[0]
    op_type = "LogSoftmax" if "logsoftmax" in c.ctx.type.lower().replace("_", "") else "Softmax"
    c.node(op_type, [x], shape, {"axis": int(axis) % len(shape)}, final=True)


@op(("Clip",), ("clip_by_value",))
def clip(c: Call) -> None:
    x, shape, dtype = c.first()
    low = c.arg(1, "x_min", "clip_value_min")
    high = c.arg(2, "x_max", "clip_value_max")
    (lo, los, _), (hi, his, _) = c.tensor(low, dtype, "min"), c.tensor(high, dtype, "max")
    if los == () and his == ():
        c.node("Clip", [x, lo, hi], shape, dtype=dtype, final=True)
        return
    y = c.node("Max", [x, lo], broadcast(shape, los), dtype=dtype)
    c.node("Min", [y, hi], broadcast(shape, los, his), dtype=dtype, final=True)


@op(("Cast",), ("cast", "dtypes.cast"))
def cast(c: Call) -> None:
    x, shape, _ = c.first()
    dtype = c.const(1, "dtype")
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name", dtype.get("name"))
    dtype = str(dtype)
    c.node("Cast", [x], shape, {"to": elem_type(dtype)}, dtype=dtype, final=True)


# -------------------------------------------------------------------------------------------------
# reductions


_REDUCE = {
    "ReduceMean": (("Mean",), ("math.reduce_mean", "reduce_mean")),
    "ReduceSum": (("Sum",), ("math.reduce_sum", "reduce_sum")),
    "ReduceMax": (("Max", "Amax"), ("math.reduce_max", "reduce_max")),
    "ReduceMin": (("Min", "Amin"), ("math.reduce_min", "reduce_min")),
    "ReduceProd": (("Prod",), ("math.reduce_prod", "reduce_prod")),
}


def _reduce(c: Call, op_type: str) -> None:
    x, shape, dtype = c.first()
    axis = c.const(1, "axis", default=None)
    keep = bool(c.const(2, "keepdims", default=False))
    axes = list(range(len(shape))) if axis is None else _axes(axis, len(shape))
    out = tuple(1 if i in axes else d for i, d in enumerate(shape) if keep or i not in axes)
    if op_type == "ReduceSum":  # axes an input from opset 13, an attribute for the others until 18
        axes_c = c.ctx.constant("axes", np.array(axes, np.int64))
        c.node(op_type, [x, axes_c], out, {"keepdims": int(keep)}, dtype=dtype, final=True)
    else:
        c.node(op_type, [x], out, {"axes": axes, "keepdims": int(keep)}, dtype=dtype, final=True)


for _op_type, (_k3, _tf) in _REDUCE.items():
    op(_k3, _tf)(lambda c, o=_op_type: _reduce(c, o))


@op(("Any", "All"), ("math.reduce_any", "reduce_any", "math.reduce_all", "reduce_all"))
def any_all(c: Call) -> None:
    """Logical reductions (Keras 3 Masking's `ops.any(x != v, axis=-1)`): Max or Min over 0/1."""
    x, shape, _ = c.first()
    axis = c.const(1, "axis", default=None)
    keep = bool(c.const(2, "keepdims", default=False))
    axes = list(range(len(shape))) if axis is None else _axes(axis, len(shape))
    out = tuple(1 if i in axes else d for i, d in enumerate(shape) if keep or i not in axes)
    op_type = "ReduceMin" if c.ctx.type.lower().endswith("all") else "ReduceMax"
    ones = c.node("Cast", [x], shape, {"to": elem_type("int32")}, dtype="int32")
    reduced = c.node(op_type, [ones], out, {"axes": axes, "keepdims": int(keep)}, dtype="int32")
    c.node("Cast", [reduced], out, {"to": elem_type("bool")}, dtype="bool", final=True)


@op(("Argmax", "Argmin"), ("math.argmax", "math.argmin", "argmax", "argmin"))
def argmax(c: Call) -> None:
    x, shape, _ = c.first()
    axis = c.const(1, "axis", "dimension", default=None if c.keras3 else 0)
    keep = bool(c.const(2, "keepdims", default=False))
    if axis is None:
        raise c.ctx.error("an arg-max over the flattened tensor is not supported")
    a = int(axis) % len(shape)
    out = tuple(1 if i == a else d for i, d in enumerate(shape) if keep or i != a)
    op_type = "ArgMin" if c.ctx.type.lower().endswith("argmin") else "ArgMax"
    c.node(op_type, [x], out, {"axis": a, "keepdims": int(keep)}, dtype="int64", final=True)


# -------------------------------------------------------------------------------------------------
# shapes


def reshaped(shape: Shape, target: list[int]) -> Shape:
    """The shape a Reshape to `target` (one -1 allowed, no 0) gives, as far as it is known."""
    known = [d for d in target if d != -1]
    if -1 not in target:
        return tuple(target)
    index = target.index(-1)
    if all(isinstance(d, int) for d in shape):
        total = int(np.prod(shape))
        out = list(target)
        out[index] = total // max(1, int(np.prod(known)))
        return tuple(out)
    # the unknown dim survives a reshape that keeps every other dim's product (batch kept apart)
    unknown = [d for d in shape if not isinstance(d, int)]
    rest = int(np.prod([d for d in shape if isinstance(d, int)]))
    if len(unknown) == 1 and rest == int(np.prod(known)):
        return tuple(unknown[0] if i == index else d for i, d in enumerate(target))
    return tuple(None if i == index else d for i, d in enumerate(target))


@op(("Reshape",), ("reshape",))
def reshape(c: Call) -> None:
    """A constant target shape, or one with sizes the model computes (tf-keras'
    `tf.reshape(x, [tf.shape(x)[0], -1])`): those joined into the shape at run time."""
    x, shape, dtype = c.first()
    given = c.arg(1, "newshape", "new_shape", "shape")
    if not _holds_tensor(given):
        target = [int(d) if d is not None else -1 for d in given]
        spec = c.ctx.constant("shape", np.array(target, np.int64))
        c.node("Reshape", [x, spec], reshaped(shape, target), dtype=dtype, final=True)
        return
    if isinstance(given, TensorArg):  # the whole shape one tensor
        spec, _, stype = c.tensor(given)
        if stype != "int64":
            spec = c.node("Cast", [spec], (len(shape),), {"to": elem_type("int64")}, dtype="int64")
        size = c.ctx.input_shapes[given.index]
        rank = size[0] if size and isinstance(size[0], int) else None
        if rank is None:
            raise c.ctx.error("a target shape of unknown length")
        c.node("Reshape", [x, spec], (None,) * rank, dtype=dtype, final=True)
        return
    pieces, out = [], []
    axes = c.ctx.constant("axes", np.array([0], np.int64))
    for d in given:
        if isinstance(d, TensorArg):
            value, vshape, vtype = c.tensor(d)
            if vtype != "int64":
                value = c.node("Cast", [value], vshape, {"to": elem_type("int64")}, dtype="int64")
            if vshape == ():
                value = c.node("Unsqueeze", [value, axes], (1,), dtype="int64")
            pieces.append(value)
            out.append(None)
        else:
            pieces.append(c.ctx.constant("size", np.array([-1 if d is None else int(d)], np.int64)))
            out.append(None if d is None or int(d) == -1 else int(d))
    spec = c.node("Concat", pieces, (len(pieces),), {"axis": 0}, dtype="int64")
    c.node("Reshape", [x, spec], tuple(out), dtype=dtype, final=True)


@op(("Shape",), ("shape", "compat.v1.shape", "shape_n"))
def shape_of(c: Call) -> None:
    """The operand's shape at run time, as `out_type` (TensorFlow's int32 by default)."""
    x, shape, _ = c.first()
    out_type = str(c.const(2, "out_type", default="int32"))
    dims = c.node("Shape", [x], (len(shape),), dtype="int64")
    c.node("Cast", [dims], (len(shape),), {"to": elem_type(out_type)}, dtype=out_type, final=True)


@op(("Transpose",), ("transpose", "compat.v1.transpose", "linalg.matrix_transpose"))
def transpose(c: Call) -> None:
    x, shape, dtype = c.first()
    perm = c.const(1, "axes", "perm", default=None)
    if c.ctx.type.endswith("matrix_transpose"):
        perm = [*range(len(shape) - 2), len(shape) - 1, len(shape) - 2]
    p = list(range(len(shape)))[::-1] if perm is None else [int(a) % len(shape) for a in perm]
    c.node("Transpose", [x], tuple(shape[i] for i in p), {"perm": p}, dtype=dtype, final=True)


@op(("ExpandDims",), ("expand_dims", "compat.v1.expand_dims"))
def expand_dims(c: Call) -> None:
    x, shape, dtype = c.first()
    value = c.const(1, "axis", "dim")
    axes = sorted(int(a) % (len(shape) + (len(value) if isinstance(value, list) else 1))
                  for a in (value if isinstance(value, list) else [value]))  # fmt: skip
    out: list[Dim] = list(shape)
    for a in axes:
        out.insert(a, 1)
    axes_c = c.ctx.constant("axes", np.array(axes, np.int64))
    c.node("Unsqueeze", [x, axes_c], tuple(out), dtype=dtype, final=True)


@op(("Squeeze",), ("squeeze", "compat.v1.squeeze"))
def squeeze(c: Call) -> None:
    x, shape, dtype = c.first()
    value = c.const(1, "axis", "squeeze_dims", default=None)
    if value is None or value == []:
        axes = [i for i, d in enumerate(shape) if d == 1]
        if any(not isinstance(d, int) for d in shape):
            raise c.ctx.error("squeezing every size-1 axis needs every size known")
    else:
        axes = _axes(value, len(shape))
    axes_c = c.ctx.constant("axes", np.array(axes, np.int64))
    out = tuple(d for i, d in enumerate(shape) if i not in axes)
    c.node("Squeeze", [x, axes_c], out, dtype=dtype, final=True)


def _tensor_list(c: Call) -> list[tuple[str, Shape, str]]:
    values = c.arg(0, "xs", "values", "tensors")
    if not isinstance(values, list):
        raise c.ctx.error("expects a list of tensors")
    return c.operands(*values)


@op(("Concatenate",), ("concat",))
def concat(c: Call) -> None:
    parts = _tensor_list(c)
    rank = len(parts[0][1])
    axis = int(c.const(1, "axis", default=0)) % rank
    sizes = [s[axis] for _, s, _ in parts]
    out = list(broadcast(*(s for _, s, _ in parts)))
    out[axis] = sum(sizes) if all(isinstance(d, int) for d in sizes) else None  # type: ignore[arg-type]
    c.node("Concat", [n for n, _, _ in parts], tuple(out), {"axis": axis}, dtype=parts[0][2], final=True)


@op(("Stack",), ("stack",))
def stack(c: Call) -> None:
    parts = _tensor_list(c)
    rank = len(parts[0][1]) + 1
    axis = int(c.const(1, "axis", default=0)) % rank
    axes_c = c.ctx.constant("axes", np.array([axis], np.int64))
    expanded = []
    for name, shape, dtype in parts:
        out = list(shape)
        out.insert(axis, 1)
        expanded.append(c.node("Unsqueeze", [name, axes_c], tuple(out), dtype=dtype))
    final = list(parts[0][1])
    final.insert(axis, len(parts))
    c.node("Concat", expanded, tuple(final), {"axis": axis}, dtype=parts[0][2], final=True)


@op(("Tile",), ("tile",))
def tile(c: Call) -> None:
    x, shape, dtype = c.first()
    reps = [int(r) for r in c.const(1, "repeats", "multiples")]
    if len(reps) != len(shape):
        raise c.ctx.error(f"tiles a rank-{len(shape)} tensor with {len(reps)} repeats")
    out = tuple(
        d * r if isinstance(d, int) else (d if r == 1 else None) for d, r in zip(shape, reps, strict=True)
    )
    c.node("Tile", [x, c.ctx.constant("repeats", np.array(reps, np.int64))], out, dtype=dtype, final=True)


@op(("Pad",), ("pad", "compat.v1.pad"))
def pad(c: Call) -> None:
    """constant and reflect are ONNX Pad modes; symmetric (the edge repeated) is built from slices:
    along each axis the reversed border pieces concatenated around. (Keras' TensorFlow backend
    computes no other mode.)"""
    x, shape, dtype = c.first()
    widths = c.const(1, "pad_width", "paddings")
    mode = str(c.const(2, "mode", default="constant")).lower()
    if mode not in ("constant", "reflect", "symmetric"):
        raise c.ctx.error(f"pad mode {mode!r} is not supported")
    pairs = [(int(p[0]), int(p[1])) for p in widths]
    before, after = [b for b, _ in pairs], [a for _, a in pairs]
    out = tuple(d + b + a if isinstance(d, int) else d for d, (b, a) in zip(shape, pairs, strict=True))
    if mode == "symmetric":
        _symmetric_pad(c, x, shape, dtype, pairs)
        return
    value = c.const(3, "constant_values", default=0)
    inputs = [x, c.ctx.constant("pads", np.array(before + after, np.int64))]
    if mode == "constant" and value:
        inputs.append(c.ctx.constant("value", np.array(value, dtype)))
    c.node("Pad", inputs, out, {"mode": mode}, dtype=dtype, final=True)


def _symmetric_pad(c: Call, x: str, shape: Shape, dtype: str, pairs: list[tuple[int, int]]) -> None:
    axes = [(a, b, e) for a, (b, e) in enumerate(pairs) if b or e]
    if not axes:
        c.node("Identity", [x], shape, dtype=dtype, final=True)
        return
    current = list(shape)
    for k, (axis, b, e) in enumerate(axes):
        size = current[axis]
        if not isinstance(size, int) or max(b, e) > size:
            raise c.ctx.error(
                f"symmetric padding of axis {axis} needs its size known and at least {max(b, e)}"
            )
        pieces = []
        for start, stop in ((0, b), (size - e, size)):  # each border reversed: from its far end
            if stop == start:
                pieces.append(None)
                continue
            piece_shape = tuple(stop - start if i == axis else d for i, d in enumerate(current))
            bounds = (
                (stop - 1, "starts"),
                (start - 1 if start else _INT64_MIN, "ends"),
                (axis, "axes"),
                (-1, "steps"),
            )
            names = [c.ctx.constant(h, np.array([v], np.int64)) for v, h in bounds]
            pieces.append(c.node("Slice", [x, *names], piece_shape, dtype=dtype))
        current[axis] = size + b + e
        parts = [p for p in (pieces[0], x, pieces[1]) if p is not None]
        x = c.node("Concat", parts, tuple(current), {"axis": axis}, dtype=dtype, final=k == len(axes) - 1)


@op(("Matmul",), ("linalg.matmul", "matmul", "__operators__.matmul"))
def matmul(c: Call) -> None:
    (a, as_, dtype), (b, bs, _) = c.operands(c.arg(0, "x1", "a", "x"), c.arg(1, "x2", "b", "y"))
    for flag, (name, shape) in (("transpose_a", (a, as_)), ("transpose_b", (b, bs))):
        if c.const(9, flag, default=False):
            p = [*range(len(shape) - 2), len(shape) - 1, len(shape) - 2]
            moved = c.node("Transpose", [name], tuple(shape[i] for i in p), {"perm": p}, dtype=dtype)
            a, as_ = (moved, tuple(shape[i] for i in p)) if flag == "transpose_a" else (a, as_)
            b, bs = (moved, tuple(shape[i] for i in p)) if flag == "transpose_b" else (b, bs)
    if len(as_) < 2 or len(bs) < 2:
        raise c.ctx.error("matmul with a vector operand is not supported")
    out = (*broadcast(as_[:-2], bs[:-2]), as_[-2], bs[-1])
    c.node("MatMul", [a, b], out, dtype=dtype, final=True)


@op(("Einsum",), ())
def einsum(c: Call) -> None:
    equation = str(c.const(99, "subscripts"))
    operands = c.args
    values = c.operands(*operands)
    if "..." in equation or "->" not in equation:
        raise c.ctx.error(f"einsum {equation!r}: only explicit equations without '...' are supported")
    left, right = equation.replace(" ", "").split("->")
    sizes: dict[str, Dim] = {}
    for term, (_, shape, _) in zip(left.split(","), values, strict=True):
        for letter, d in zip(term, shape, strict=True):
            if sizes.get(letter) is None or sizes.get(letter) == 1:
                sizes[letter] = d
    out = tuple(sizes.get(letter) for letter in right)
    c.node("Einsum", [n for n, _, _ in values], out, {"equation": equation.replace(" ", "")},
           dtype=values[0][2], final=True)  # fmt: skip


# -------------------------------------------------------------------------------------------------
# indexing


@op(("GetItem",), ("__operators__.getitem",))
def getitem(c: Call) -> None:
    """NumPy basic indexing with constant ints, slices, None (new axis) and one Ellipsis."""
    x, shape, dtype = c.first()
    spec = c.const(1, "key", "slice_spec")
    items = list(spec) if isinstance(spec, list | tuple) else [spec]
    allowed = (int, slice, type(None), type(Ellipsis))
    if any(isinstance(i, bool) or not isinstance(i, allowed) for i in items):
        raise c.ctx.error(f"index {spec!r}: only constant ints, slices, None and ... are supported")
    if items.count(Ellipsis) > 1:
        raise c.ctx.error("an index with more than one ... is ambiguous")
    consuming = sum(1 for i in items if i is not None and i is not Ellipsis)
    if consuming > len(shape):
        raise c.ctx.error(f"{consuming} indices for a rank-{len(shape)} tensor")
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items[at : at + 1] = [slice(None)] * (len(shape) - consuming)
    else:
        items += [slice(None)] * (len(shape) - consuming)
    starts, ends, axes, steps, drop, new_axes = [], [], [], [], [], []
    out: list[Dim] = []
    axis = 0
    for item in items:
        if item is None:
            new_axes.append(len(out))
            out.append(1)
            continue
        size = shape[axis]
        if isinstance(item, int):
            if isinstance(size, int) and not -size <= item < size:
                raise c.ctx.error(f"index {item} is out of range for axis {axis} of size {size}")
            starts.append(item)
            ends.append(item + 1 if item != -1 else _INT64_MAX)
            axes.append(axis)
            steps.append(1)
            drop.append(axis)
        elif item != slice(None):
            step = 1 if item.step is None else int(item.step)
            if step == 0:
                raise c.ctx.error("a slice step of 0")
            start = item.start if item.start is not None else (0 if step > 0 else _INT64_MAX)
            stop = item.stop if item.stop is not None else (_INT64_MAX if step > 0 else _INT64_MIN)
            starts.append(int(start))
            ends.append(int(stop))
            axes.append(axis)
            steps.append(step)
            out.append(len(range(*item.indices(size))) if isinstance(size, int) else None)
        else:
            out.append(size)
        axis += 1
    sliced = tuple(_slice_shape(shape, items))
    kept = tuple(d for i, d in enumerate(sliced) if i not in drop)
    stages: list[tuple[str, list[str], Shape]] = []
    if axes:
        bounds = (("starts", starts), ("ends", ends), ("axes", axes), ("steps", steps))
        stages.append(("Slice", [c.ctx.constant(h, np.array(v, np.int64)) for h, v in bounds], sliced))
    if drop:
        stages.append(("Squeeze", [c.ctx.constant("drop", np.array(drop, np.int64))], kept))
    if new_axes:
        stages.append(("Unsqueeze", [c.ctx.constant("new_axes", np.array(new_axes, np.int64))], tuple(out)))
    if not stages:
        stages.append(("Identity", [], tuple(out)))
    y = x
    for k, (op_type, extra, stage_shape) in enumerate(stages):
        y = c.node(op_type, [y, *extra], stage_shape, dtype=dtype, final=k == len(stages) - 1)


def _slice_shape(shape: Shape, items: list[Any]) -> list[Dim]:
    """The shape after the Slice (ints keep a size-1 axis, new axes not yet inserted)."""
    out: list[Dim] = []
    axis = 0
    for item in items:
        if item is None:
            continue
        size = shape[axis]
        if isinstance(item, int):
            out.append(1)
        elif isinstance(size, int):
            out.append(len(range(*item.indices(size))))
        else:
            out.append(size if item == slice(None) else None)
        axis += 1
    return out
