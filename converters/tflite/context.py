"""What a TFLite operator handler sees: the operator's tensors, their float views, and emitters that
apply fused activations and re-quantize results.

Quantized models become ONNX QDQ form: every TFLite tensor keeps its stored type in the IR (an
int8 activation is an int8 value), a handler reads inputs through `x()` (a DequantizeLinear is made
once per quantized tensor, float32 otherwise) and computes in float; `emit` then adds the fused
activation and, when the TFLite output is quantized, a QuantizeLinear with the output's own scale
and zero point. onnxruntime recognises DequantizeLinear → op → QuantizeLinear units and runs them
with integer kernels, as LiteRT does.

Constants: weights are tagged with their TFLite layout and left to the layout pass. float16 and
int8 weights keep their stored type and are followed by a Cast or DequantizeLinear; the pass follows
those to the Conv that reads them, permutes the stored weight and remaps a per-channel axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from netinspect.build import GraphBuilder, LayerContext, Shape
from netinspect.converters.tflite.flatbuffer import TflFile, TflOperator, TflSubgraph, TflTensor
from netinspect.converters.tflite.variables import VariablePlan
from netinspect.dtypes import ELEM_TYPES
from netinspect.ir import SourceTensor, Tensor

TFLITE = "tflite"

ONNX_TYPES = ELEM_TYPES
"""NumPy dtype name → ONNX TensorProto type, for Cast's `to` (netinspect's one map)."""

QUANTIZED = ("int8", "uint8")

ACTIVATIONS = {0: None, 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
IGNORED_ACTIVATIONS = ("TANH", "SIGN_BIT")
"""Fused activations TFLite's element-wise, conv, pool and FC kernels do not apply: CalculateActivationRange
(kernel_util.h) gives the full float range for them (checked against LiteRT: ADD with TANH)."""


@dataclass
class SubgraphState:
    """Conversion state of one subgraph: the IR name of each TFLite tensor as stored and as float."""

    file: TflFile
    graph: TflSubgraph
    stored: dict[int, str] = field(default_factory=dict)
    floats: dict[int, str] = field(default_factory=dict)
    deferred: dict[int, int] = field(default_factory=dict)
    """DEQUANTIZE outputs of constants (float16 or int8 weights) → the constant; materialised by the
    consumer, which knows whether it needs the weight laid out for a Conv."""
    weights: dict[tuple[int, str | None, str | None], str] = field(default_factory=dict)
    handles: dict[int, str] = field(default_factory=dict)
    """VAR_HANDLE outputs → the variable's shared name."""
    initial: dict[str, TflTensor] = field(default_factory=dict)
    """Variables a CALL_ONCE subgraph assigns a constant, by shared name."""
    folded: dict[int, TflTensor] = field(default_factory=dict)
    """READ_VARIABLE outputs → the constant the variable holds when the model starts."""
    exact_int8: bool = False
    """--exact-int8 on: int8 operators in TFLite's integer arithmetic (exact.py, exact_softmax.py)."""
    variables: VariablePlan | None = None
    """Variables the main graph assigns: folded or carried as state (variables.py)."""


def op_type(op: TflOperator) -> str:
    """The registry key and layer type: the builtin name, or CUSTOM:<code> so a user can map a custom op."""
    return f"CUSTOM:{op.custom_code}" if op.opcode == "CUSTOM" else op.opcode


def quantization(tensor: TflTensor) -> dict[str, Any] | None:
    """A tensor's quantization as the file states it: per-tensor or per-axis scales and zero points."""
    q = tensor.quant
    if q is None:
        return None
    return {
        "scale": [float(v) for v in np.asarray(q.scale).reshape(-1)],
        "zero_point": [int(v) for v in np.asarray(q.zero_point).reshape(-1)],
        "quantized_dimension": int(q.axis),
    }


def quant_params(tensor: TflTensor) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(scale, zero point, axis) of a quantized int8/uint8/int32 tensor, else None."""
    q = tensor.quant
    if q is None or tensor.dtype not in (*QUANTIZED, "int32", "int16"):
        return None
    return q.scale, q.zero_point, q.axis


TYPE_PRESERVING = {
    *("Slice", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Identity", "Gather", "GatherND"),
    *("GatherElements", "Tile", "Pad", "Expand", "Flatten", "ReverseSequence", "DepthToSpace"),
    *("SpaceToDepth", "Add", "Sub", "Mul", "Div", "Neg", "Abs", "Max", "Min", "Mod", "ReduceMax"),
    *("ReduceMin", "ReduceSum", "ReduceProd", "CumSum", "Relu", "Clip"),
}
"""ONNX ops whose result has their first input's type: an intermediate node of a handler that moves
int32 shapes (SHAPE → STRIDED_SLICE → PACK) or int8 bytes is typed from its data, not assumed float."""


class TfliteContext(LayerContext):
    """The TFLite handlers' (and plugins') context: base LayerContext plus operator access."""

    def __init__(self, builder: GraphBuilder, state: SubgraphState, op: TflOperator, name: str) -> None:
        self.state = state
        self.op = op
        self.options: dict[str, Any] = op.options
        inputs = [state.stored[i] for i in op.inputs if i >= 0 and i in state.stored]
        outputs = [state.stored[i] for i in op.outputs if i >= 0]
        super().__init__(builder, name, op_type(op), inputs, outputs)

    def node(
        self,
        op_type: str,
        inputs: list[str],
        shape: Any,
        attributes: dict[str, Any] | None = None,
        output: str | None = None,
        domain: str = "",
        dtype: str | None = None,
        layout: str | None = None,
    ) -> str:
        """LayerContext.node with the result's type, when not given, taken from the data it is computed
        from for type-preserving ops (Where: its second input), float32 otherwise."""
        if dtype is None:
            source = inputs[1] if op_type == "Where" and len(inputs) > 1 else inputs[0] if inputs else ""
            known = self.builder.dtype(source) if source and op_type in {*TYPE_PRESERVING, "Where"} else None
            dtype = known or "float32"
        return super().node(op_type, inputs, shape, attributes, output, domain, dtype, layout)

    def node_multi(
        self,
        op_type: str,
        inputs: list[str],
        results: Sequence[tuple[Shape | None, str]],
        attributes: dict[str, Any] | None = None,
        outputs: Sequence[str | None] | None = None,
        domain: str = "",
        layout: str | None = None,
    ) -> list[str]:
        """LayerContext.node_multi with each result shape that is the file's placeholder for one of the
        operator's tensors sized at run time (its stored shape, where the signature says −1) declared
        with those sizes unknown: declared as stored, a loop body's values would tell onnxruntime's
        memory planner the wrong sizes ("Shape mismatch attempting to re-use buffer")."""
        declared = [(self._declared(shape), dtype) for shape, dtype in results]
        return super().node_multi(op_type, inputs, declared, attributes, outputs, domain, layout)

    def _declared(self, shape: Shape | None) -> Shape | None:
        if shape is None:
            return None
        for i in (*self.op.inputs, *self.op.outputs):
            t = self.state.graph.tensors[i] if i >= 0 else None
            if t is not None and tuple(shape) == t.shape and t.dims != t.shape:
                return t.dims
        return shape

    # -- the operator as the file states it ----------------------------------------------------------
    def source_config(self) -> dict[str, Any]:
        config = dict(self.options)
        if self.op.custom_code is not None:
            config = {"custom_code": self.op.custom_code, **config}
        return config

    def _tensors(self, indices: list[int]) -> list[TflTensor]:
        return [self.state.graph.tensors[i] for i in indices if i >= 0]

    def _described(self, t: TflTensor) -> SourceTensor:
        value = self.state.stored.get(t.index) or self.weight_links.get(t.name, (None, None))[0]
        return SourceTensor(t.name, t.shape, t.dtype, quantization=quantization(t), value=value)

    def source_inputs(self) -> list[SourceTensor]:
        return [self._described(t) for t in self._tensors(self.op.inputs)]

    def source_outputs(self) -> list[SourceTensor]:
        return [self._described(t) for t in self._tensors(self.op.outputs)]

    def _stored(self, t: TflTensor) -> TflTensor | None:
        """The constant an input holds, as stored (a folded DEQUANTIZE's source), or None."""
        state = self.state
        if t.index in state.deferred:
            return state.graph.tensors[state.deferred[t.index]]
        if t.index in state.folded:
            return state.folded[t.index]
        return t if t.has_data and t.index not in state.stored else None

    def stored_weights(self) -> list[tuple[SourceTensor, Tensor | None]]:
        found = []
        for t in self._tensors(self.op.inputs):
            source = self._stored(t)
            if source is None:
                continue
            readable = source.dtype != "string"
            tensor = Tensor(source.name, source.dtype, source.shape, loader=source.data) if readable else None
            described = SourceTensor(t.name, source.shape, source.dtype, quantization=quantization(source))
            found.append((described, tensor))
        return found

    def opaque_inputs(self, weights: list[str]) -> list[str]:
        """The operator's inputs in its own order (an omitted one as ""), constants as stored."""
        names = []
        for i in self.op.inputs:
            t = self.state.graph.tensors[i] if i >= 0 else None
            if t is None:
                names.append("")
            elif t.index in self.state.stored:
                names.append(self.state.stored[t.index])
            else:
                names.append(self.weight_links.get(t.name, ("", None))[0])
        while names and not names[-1]:
            names.pop()
        return names

    def opaque_results(self) -> list[tuple[tuple | None, str]]:
        return [
            (tuple(d if d >= 0 else None for d in t.signature or t.shape), t.dtype)
            for t in self._tensors(self.op.outputs)
        ]

    def rolled_back(self, dropped: set[str]) -> None:
        super().rolled_back(dropped)
        for cache in (self.state.floats, self.state.weights):
            for key in [k for k, v in cache.items() if v in dropped]:
                del cache[key]

    # -- reading the operator -------------------------------------------------------------------------
    def tensor(self, i: int) -> TflTensor | None:
        """Operator input `i`, or None when absent or omitted (−1)."""
        if i >= len(self.op.inputs) or self.op.inputs[i] < 0:
            return None
        return self.state.graph.tensors[self.op.inputs[i]]

    def need(self, i: int) -> TflTensor:
        t = self.tensor(i)
        if t is None:
            raise self.error(f"input {i} is missing")
        return t

    def out_tensor(self, k: int = 0) -> TflTensor:
        return self.state.graph.tensors[self.op.outputs[k]]

    def compute_dtype(self, k: int = 0) -> str:
        """The type output `k` is computed in: float32 when it is stored quantized (re-quantized after)."""
        out = self.out_tensor(k)
        return "float32" if out.dtype in QUANTIZED and quant_params(out) is not None else out.dtype

    def in_shape(self, i: int) -> tuple[int, ...]:
        return self.need(i).shape

    def out_shape(self, k: int = 0) -> tuple[int, ...]:
        return self.out_tensor(k).shape

    def const(self, i: int) -> np.ndarray:
        """A constant input's values (axes, shapes, paddings)."""
        return self.const_of(self.need(i))

    def const_of(self, t: TflTensor) -> np.ndarray:
        if not t.has_data:
            raise self.error(f"tensor {t.name!r} must be a constant here")
        return np.asarray(t.data())

    def option(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)

    # -- inputs as IR values ------------------------------------------------------------------------------
    def x(self, i: int) -> str:
        """Input `i` as the value a float computation reads (dequantized when quantized)."""
        t = self.need(i)
        return self.float_view(t)

    def moved(self, i: int, k: int = 0) -> str:
        """Input `i` of an operator that only moves data (reshape, slice, gather, tile…). TFLite's
        kernels copy its int8 bytes to output `k` whatever the two tensors' quantization says, so
        where they differ the bytes are read with the output's scale and zero point: re-quantizing
        with the output's then gives back the same bytes, as LiteRT does."""
        t, out = self.need(i), self.out_tensor(k)
        params, out_params = quant_params(t), quant_params(out)
        known = t.index in self.state.stored or (t.has_data and t.index not in self.state.deferred)
        if t.dtype != out.dtype or t.dtype not in QUANTIZED or not known:
            return self.x(i)
        if params is None or out_params is None or _same_params(params, out_params):
            return self.x(i)
        self.step("param", f"{t.dtype} bytes moved unchanged, as TFLite's kernel does: read with the "
                           "output's scale and zero point, not the input's")  # fmt: skip
        stored = self.state.stored.get(t.index)
        if stored is None:
            stored = self.constant(
                _hint(t.name), Tensor(t.name, t.dtype, t.shape, loader=t.data, span=t.span)
            )
        return self._dequantize(stored, t, out_params, t.dims)

    def float_view(self, t: TflTensor, output: str | None = None) -> str:
        state = self.state
        if t.index in state.floats and output is None:
            return state.floats[t.index]
        if state.variables is not None and t.index in state.variables.values:
            self.step("fold", "variable read as the constant it holds in every run: its assignment "
                              "gives it the same value again (evaluated from its initial value)")  # fmt: skip
            return self.constant(_hint(t.name), state.variables.values[t.index])
        if (
            t.index in state.deferred
            or t.index in state.folded
            or (t.has_data and t.index not in state.stored)
        ):
            return self.weight_of(t)
        if t.index not in state.stored:
            raise self.error(f"reads tensor {t.name!r}, which nothing computes before it")
        stored = state.stored[t.index]
        params = quant_params(t)
        if params is None or t.dtype == "int32":
            return stored
        if t.dtype == "int16":
            name = self._dequantize_int16(stored, t, params, output)
        else:
            name = self._dequantize(stored, t, params, t.shape, output=output)
        if output is None:
            state.floats[t.index] = name
        return name

    def hybrid(self, x: str, shape: tuple[int, ...], asymmetric: bool, weight: int = 1) -> str:
        """`x` as LiteRT's hybrid kernels see it when the weights are int8 and the input float:
        quantized at run time to int8, one scale per row (FULLY_CONNECTED) or batch item (convolutions),
        then multiplied as integers. Emulated so the float product with the dequantized weights equals
        the kernel's integer one: symmetric ±127, or asymmetric (DEPTHWISE_CONV_2D always, CONV_2D
        with distinct per-channel scales or groups;
        FULLY_CONNECTED with AsymmetricQuantizeInputs): one row with ONNX's DynamicQuantizeLinear, whose
        uint8 scale and zero point are TFLite's int8 ones + 128; several rows (a batch sized at run
        time) each as AsymmetricQuantizeFloats."""
        t, w = self.need(0), self.need(weight)
        if t.dtype != "float32" or w.dtype != "int8" or quant_params(w) is None:
            return x
        if asymmetric and shape[0] != 1:
            return self._asymmetric_rows(x, shape)
        if asymmetric:
            q, scale, zero = self.node_multi(
                "DynamicQuantizeLinear", [x], [(shape, "uint8"), ((), "float32"), ((), "uint8")]
            )
            self.step("param", "float input quantized at run time (asymmetric, 8 bits), as LiteRT's hybrid "
                               "kernel does, with DynamicQuantizeLinear")  # fmt: skip
            return self.node("DequantizeLinear", [q, scale, zero], shape)
        axes = list(range(1, len(shape)))  # a row of FULLY_CONNECTED, a batch item of CONV_2D
        reduced = (shape[0], *([1] * len(axes)))
        peak = self.node("ReduceMax", [self.node("Abs", [x], shape)], reduced, {"axes": axes, "keepdims": 1})
        peak = self.node("Max", [peak, self.constant("tiny", np.float32(1e-30))], reduced)
        inverse = self.node("Div", [self.constant("levels", np.float32(127)), peak], reduced)
        q = self.round_half_away(self.node("Mul", [x, inverse], shape), shape)
        bounds = [self.constant("qmin", np.float32(-127)), self.constant("qmax", np.float32(127))]
        q = self.node("Clip", [q, *bounds], shape)
        scale = self.node("Div", [peak, self.constant("levels", np.float32(127))], reduced)
        self.step("param", "float input quantized at run time to int8 (symmetric, per row), as LiteRT's "
                           "hybrid kernel does before its integer product")  # fmt: skip
        return self.node("Mul", [q, scale], shape)

    def round_half_away(self, v: str, shape: tuple[int | None, ...]) -> str:
        """`v` rounded half away from zero, as TfLiteRound (std::round): ONNX Round rounds halves to
        even, and x·(127/peak) in float32 lands exactly on a half often enough to matter (Magenta's
        style transfer: 1 of 800 hybrid conv outputs a filter scale off)."""
        even = self.node("Round", [v], shape)
        gap = self.node("Abs", [self.node("Sub", [v, even], shape)], shape)
        half = self.node("Equal", [gap, self.constant("half", np.float32(0.5))], shape, dtype="bool")
        magnitudes = [self.node("Abs", [even], shape), self.node("Abs", [v], shape)]
        toward_zero = self.node("Less", magnitudes, shape, dtype="bool")
        away = self.node("Add", [even, self.node("Sign", [v], shape)], shape)
        return self.node(
            "Where", [self.node("And", [half, toward_zero], shape, dtype="bool"), away, even], shape
        )

    def _asymmetric_rows(self, x: str, shape: tuple[int | None, ...]) -> str:
        """TFLite's AsymmetricQuantizeFloats on each row (batch item) of `x`, dequantized again: range
        [min(0, lo), max(0, hi)] over 255 steps, the zero point from whichever end errs less, clamped
        to int8 and rounded; an all-zero row stays zero."""
        axes = list(range(1, len(shape)))
        reduced = (shape[0], *([1] * len(axes)))

        def c(value: float) -> str:
            return self.constant("c", np.float32(value))

        def op(op_type: str, *inputs: str, attrs: dict[str, Any] | None = None) -> str:
            return self.node(op_type, list(inputs), reduced, attrs,
                             dtype="bool" if op_type in ("Equal", "Less") else "float32")  # fmt: skip

        keep = {"axes": axes, "keepdims": 1}
        low = op("Min", op("ReduceMin", x, attrs=keep), c(0.0))
        high = op("Max", op("ReduceMax", x, attrs=keep), c(0.0))
        scale = op("Div", op("Sub", high, low), c(255.0))
        scale = op("Where", op("Equal", scale, c(0.0)), c(1.0), scale)
        from_min = op("Sub", c(-128.0), op("Div", low, scale))
        from_max = op("Sub", c(127.0), op("Div", high, scale))
        error_min = op("Add", c(128.0), op("Abs", op("Div", low, scale)))
        error_max = op("Add", c(127.0), op("Abs", op("Div", high, scale)))
        zero = op("Where", op("Less", error_min, error_max), from_min, from_max)
        zero = op("Round", op("Clip", zero, c(-128.0), c(127.0)))
        inverse = op("Div", c(1.0), scale)
        q = self.node("Add", [self.node("Mul", [x, inverse], shape), zero], shape)
        q = self.round_half_away(q, shape)
        q = self.node("Clip", [q, c(-128.0), c(127.0)], shape)
        self.step("param", "float input quantized at run time to int8 per row (asymmetric), as LiteRT's "
                           "hybrid kernel does (AsymmetricQuantizeFloats), then dequantized")  # fmt: skip
        return self.node("Mul", [self.node("Sub", [q, zero], shape), scale], shape)

    def weight(self, i: int, layout: str | None = None, op_type: str | None = None) -> str:
        """Constant input `i` as a float value; `layout` tags a filter ("OHWI", "IHWO") for `op_type`."""
        return self.weight_of(self.need(i), layout, op_type)

    def weight_of(
        self,
        t: TflTensor,
        layout: str | None = None,
        op_type: str | None = None,
        scale: np.ndarray | None = None,
    ) -> str:
        """Constant `t` as a float value; `scale` replaces the scale it is dequantized with (an int32
        bias read at the scale its kernel gives it)."""
        state = self.state
        source = state.graph.tensors[state.deferred[t.index]] if t.index in state.deferred else t
        if t.index in state.folded:
            source = state.folded[t.index]
            self.step(
                "fold", f"variable read as the constant its CALL_ONCE initialiser assigns ({source.name!r})"
            )
        key = (id(source), layout, op_type, None if scale is None else scale.tobytes())
        if key in state.weights:
            if state.weights[key] in self.builder.tensors:
                self.link_weight(t.name, state.weights[key], layout)
            return state.weights[key]
        if not source.has_data:
            raise self.error(f"weight {source.name!r} has no data (a model input or a variable)")
        tensor = Tensor(source.name, source.dtype, source.shape, loader=source.data, span=source.span)
        if source.sparse:
            self.step("fold", f"sparse constant {source.name!r} made dense (DENSIFY folded)")
        params = quant_params(source)
        if params is not None and scale is not None:
            params = (scale, np.zeros(scale.shape, np.int64), 0 if scale.size > 1 else params[2])
        if source.dtype != "float16" and params is None:
            if source.dtype not in ("float32", "int32", "int64", "bool", "float16", "int16"):
                raise self.error(f"constant {source.name!r} has type {source.dtype}, not convertible")
            name = self.constant(_hint(source.name), tensor, layout=layout)
        else:
            axis = params[2] if params else 0
            stored = self.constant(_hint(source.name), tensor, layout=layout)
            if source.dtype == "float16":
                self.step("param", f"float16 weight {source.name!r} kept float16, Cast to float32")
                name = self.node("Cast", [stored], tensor.shape, {"to": ONNX_TYPES["float32"]})
            else:
                assert params is not None
                name = self._dequantize(stored, source, (params[0], params[1], axis), tensor.shape)
        state.weights[key] = name
        self.link_weight(t.name, stored if params is not None or source.dtype == "float16" else name, layout)
        return name

    def _dequantize_int16(
        self, stored: str, t: TflTensor, params: tuple[np.ndarray, np.ndarray, int], output: str | None
    ) -> str:
        """An int16 value read as float (an int16 input requantized to int8, as keyword-spotting models
        take their features): Cast, less the zero point, times the scale — DequantizeLinear takes int16
        only from opset 21."""
        scale, zero, _axis = params
        if scale.size > 1:
            raise self.error(f"int16 {t.name!r} is quantized per axis, which TFLite kernels never emit")
        value = self.node("Cast", [stored], t.shape, {"to": ONNX_TYPES["float32"]})
        if int(zero.reshape(-1)[0]):
            value = self.node(
                "Sub", [value, self.constant("zero_point", np.float32(zero.reshape(-1)[0]))], t.shape
            )
        self.step("param", f"int16 {t.name!r} dequantized: Cast, times scale {_brief(scale)}, zero point "
                           f"{_brief(zero)}")  # fmt: skip
        return self.node("Mul", [value, self.constant("scale", np.float32(scale.reshape(-1)[0]))], t.shape,
                         output=output)  # fmt: skip

    def _dequantize(
        self,
        stored: str,
        t: TflTensor,
        params: tuple[np.ndarray, np.ndarray, int],
        shape: tuple[int, ...],
        output: str | None = None,
    ) -> str:
        scale, zero, axis = params
        inputs = [stored, self.constant(f"{_hint(t.name)}_scale", _scalar_or(scale, np.float32))]
        attrs: dict[str, Any] = {}
        if t.dtype != "int32":
            inputs.append(self.constant(f"{_hint(t.name)}_zero_point", _scalar_or(zero, np.dtype(t.dtype))))
        if scale.size > 1:
            attrs["axis"] = axis
        what = f"per-axis (axis {axis}, {scale.size} scales)" if scale.size > 1 else "per-tensor"
        self.step(
            "param",
            f"{t.dtype} {t.name!r} dequantized {what}: scale {_brief(scale)}, zero point {_brief(zero)}",
        )
        return self.node("DequantizeLinear", inputs, shape, attrs, output=output)

    # -- emitting results ----------------------------------------------------------------------------------
    def emit(
        self,
        op_type: str,
        inputs: list[str],
        attrs: dict[str, Any] | None = None,
        k: int = 0,
        layout: str | None = None,
        activation: int = 0,
        shape: tuple[int, ...] | None = None,
        domain: str = "",
    ) -> str:
        """The node computing output `k`, then its fused activation and re-quantization."""
        out = self.out_tensor(k)
        shape = out.dims if shape is None else shape
        final = self._final_float(k) if not self._tail(k, activation) else None
        dtype = self.compute_dtype(k)
        value = self.node(
            op_type, inputs, shape, attrs, output=final, domain=domain, dtype=dtype, layout=layout
        )
        return self.finish_float(value, k, activation)

    def _tail(self, k: int, activation: int) -> bool:
        out = self.out_tensor(k)
        clamps = ACTIVATIONS.get(activation, "?") not in (None, *IGNORED_ACTIVATIONS)
        return clamps or (out.dtype in QUANTIZED and quant_params(out) is not None)

    def _final_float(self, k: int) -> str:
        return self.state.stored[self.op.outputs[k]]

    def finish_float(self, value: str, k: int = 0, activation: int = 0) -> str:
        """Given output `k` computed in float as `value`: fused activation, then quantize if stored so."""
        out = self.out_tensor(k)
        shape = out.dims
        params = quant_params(out)
        if out.dtype == "int16" and params is not None:
            raise self.error("16×8 quantization (int16 activations) is not supported")
        quantized = out.dtype in QUANTIZED and params is not None
        act = ACTIVATIONS.get(activation, f"#{activation}")
        if act in IGNORED_ACTIVATIONS:
            self.step("drop", f"fused {act} ignored, as TFLite's kernels do (their activation range "
                              "clamps only for RELU, RELU6 and RELU_N1_TO_1)")  # fmt: skip
            act = None
        if act is not None:
            target = None if quantized else self._final_float(k)
            value = self.activation(value, act, shape, output=target)
        if quantized:
            assert params is not None
            scale, zero, _axis = params
            if scale.size > 1:
                raise self.error(
                    f"output {out.name!r} is quantized per axis, which TFLite kernels never emit"
                )
            inputs = [
                value,
                self.constant(f"{_hint(out.name)}_scale", _scalar_or(scale, np.float32)),
                self.constant(f"{_hint(out.name)}_zero_point", _scalar_or(zero, np.dtype(out.dtype))),
            ]
            self.step(
                "param",
                f"output {out.name!r} quantized to {out.dtype}: "
                f"scale {_brief(scale)}, zero point {_brief(zero)}",
            )
            value = self.node("QuantizeLinear", inputs, shape, output=self._final_float(k), dtype=out.dtype)
            self.state.floats.pop(self.op.outputs[k], None)
        elif value != self._final_float(k):
            value = self.node("Identity", [value], shape, output=self._final_float(k), dtype=out.dtype)
        return value

    def activation(self, value: str, act: str, shape: tuple[int, ...], output: str | None = None) -> str:
        """A fused activation as its own ONNX node."""
        if act == "RELU":
            return self.node("Relu", [value], shape, output=output)
        if act in ("RELU6", "RELU_N1_TO_1"):
            low, high = (0.0, 6.0) if act == "RELU6" else (-1.0, 1.0)
            bounds = [self.constant("min", np.float32(low)), self.constant("max", np.float32(high))]
            return self.node("Clip", [value, *bounds], shape, output=output)
        raise self.error(f"fused activation {act} is not supported")

    def ints(self, values: Any, hint: str = "shape") -> str:
        """An int64 constant (shapes, axes, pads)."""
        return self.constant(hint, np.asarray(values, dtype=np.int64).reshape(-1))


def _same_params(a: tuple[np.ndarray, np.ndarray, int], b: tuple[np.ndarray, np.ndarray, int]) -> bool:
    return bool(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]))


def _scalar_or(values: np.ndarray, dtype: Any) -> np.ndarray:
    array = np.asarray(values).astype(dtype)
    return array.reshape(()) if array.size == 1 else array.reshape(-1)


def _brief(values: np.ndarray) -> str:
    flat = np.asarray(values).reshape(-1)
    if flat.size == 1:
        return f"{flat[0]:.6g}"
    return f"[{', '.join(f'{v:.4g}' for v in flat[:3])}, …] ({flat.size})"


def _hint(name: str) -> str:
    """A short readable constant name from a TFLite tensor name (they can be long ';'-joined lists)."""
    return name.split(";")[0].replace(":", "_").replace("/", "_")[-48:] or "const"
