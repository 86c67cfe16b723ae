"""Write small .tflite files by hand (flatbuffers + the `tflite` package's builders), so the tests can
make what TensorFlow's converter never emits: custom and Flex ops, cycles, bad indices, buffers
that do not fit their tensors or the file, data stored after the flatbuffer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import flatbuffers
import numpy as np
import tflite
from tflite.BuiltinOperator import BuiltinOperator
from tflite.BuiltinOptions import BuiltinOptions
from tflite.BuiltinOptions2 import BuiltinOptions2

TYPES = {"float32": 0, "float16": 1, "int32": 2, "uint8": 3, "int64": 4, "bool": 6, "int16": 7, "int8": 9}


@dataclass
class T:
    name: str
    shape: list[int]
    dtype: str = "float32"
    buffer: int = 0
    variable: bool = False
    quant: tuple[list[float], list[int], int] | None = None
    """(scales, zero points, quantized_dimension): QuantizationParameters, per tensor or per axis."""


@dataclass
class Op:
    code: int  # index into Spec.opcodes
    inputs: list[int]
    outputs: list[int]
    options: tuple[str, dict[str, Any]] | None = None
    """("Pool2DOptions", {"Padding": 0, "StrideW": 2, …}): a BuiltinOptions table and its fields."""
    custom: bytes = b""
    """A custom operator's options, stored as they are (FlexBuffers, or a C struct)."""
    options2: tuple[str, dict[str, Any]] | None = None
    """A BuiltinOptions2 table (StableHLO and composite ops) and its fields, as `options`."""


@dataclass
class Spec:
    """A one-subgraph model. `opcodes`: builtin names or ("CUSTOM", code). `buffers[0]` stays empty."""

    tensors: list[T]
    ops: list[Op]
    inputs: list[int]
    outputs: list[int]
    opcodes: list[str | tuple[str, str]] = field(default_factory=list)
    buffers: list[bytes] = field(default_factory=lambda: [b""])
    external: dict[int, tuple[int, int]] = field(default_factory=dict)
    """buffer index → (offset, size) of data stored after the flatbuffer (offset/size fields)."""
    appended: bytes = b""
    op_version: int = 1
    """Operator version in every OperatorCode (LiteRT refuses versions its kernels do not have)."""
    metadata: dict[str, bytes] = field(default_factory=dict)
    """Model.metadata entries (name → bytes), each stored in a buffer of its own."""
    more: list[Spec] = field(default_factory=list)
    """Further subgraphs (1, 2, …: what WHILE, IF or a composite calls): their tensors, ops, inputs and
    outputs; the model's opcodes and buffers are this Spec's."""


def _ints(builder: flatbuffers.Builder, start: object, values: list[int]) -> int:
    start(builder, len(values))  # type: ignore[operator]
    for v in reversed(values):
        builder.PrependInt32(v)
    return builder.EndVector()


def _options(b: flatbuffers.Builder, table: str, fields: dict[str, Any]) -> int:
    vectors = {
        key: _ints(b, getattr(tflite, f"{table}Start{key}Vector"), value)
        for key, value in fields.items()
        if isinstance(value, list)
    }
    vectors.update({key: b.CreateString(value) for key, value in fields.items() if isinstance(value, str)})
    for key, value in fields.items():
        if isinstance(value, bytes):
            vectors[key] = b.CreateNumpyVector(np.frombuffer(value, np.uint8))
        elif isinstance(value, np.ndarray):  # a vector of another width than int32 (int64 paddings)
            vectors[key] = b.CreateNumpyVector(value)
    getattr(tflite, f"{table}Start")(b)
    for key, value in fields.items():
        getattr(tflite, f"{table}Add{key}")(b, vectors.get(key, value))
    return getattr(tflite, f"{table}End")(b)


def _quantization(b: flatbuffers.Builder, scales: list[float], zeros: list[int], axis: int) -> int:
    tflite.QuantizationParametersStartScaleVector(b, len(scales))
    for value in reversed(scales):
        b.PrependFloat32(value)
    scale = b.EndVector()
    tflite.QuantizationParametersStartZeroPointVector(b, len(zeros))
    for zero in reversed(zeros):
        b.PrependInt64(zero)
    zero_point = b.EndVector()
    tflite.QuantizationParametersStart(b)
    tflite.QuantizationParametersAddScale(b, scale)
    tflite.QuantizationParametersAddZeroPoint(b, zero_point)
    tflite.QuantizationParametersAddQuantizedDimension(b, axis)
    return tflite.QuantizationParametersEnd(b)


def build(spec: Spec) -> bytes:
    b = flatbuffers.Builder(1024)
    metadata_buffers = {name: len(spec.buffers) + k for k, name in enumerate(spec.metadata)}
    buffers = []
    for index, data in enumerate([*spec.buffers, *spec.metadata.values()]):
        vec = b.CreateNumpyVector(np.frombuffer(data, dtype=np.uint8)) if data else None
        tflite.BufferStart(b)
        if vec is not None:
            tflite.BufferAddData(b, vec)
        if index in spec.external:
            offset, size = spec.external[index]
            tflite.BufferAddOffset(b, offset)
            tflite.BufferAddSize(b, size)
        buffers.append(tflite.BufferEnd(b))

    def table_vector(start: object, items: list[int]) -> int:
        start(b, len(items))  # type: ignore[operator]
        for item in reversed(items):
            b.PrependUOffsetTRelative(item)
        return b.EndVector()

    def subgraph_of(graph: Spec) -> int:
        tensors = []
        for t in graph.tensors:
            name = b.CreateString(t.name)
            shape = _ints(b, tflite.TensorStartShapeVector, t.shape)
            quant = _quantization(b, *t.quant) if t.quant else None
            tflite.TensorStart(b)
            if quant is not None:
                tflite.TensorAddQuantization(b, quant)
            tflite.TensorAddShape(b, shape)
            tflite.TensorAddType(b, TYPES[t.dtype])
            tflite.TensorAddBuffer(b, t.buffer)
            tflite.TensorAddName(b, name)
            tflite.TensorAddIsVariable(b, t.variable)
            tensors.append(tflite.TensorEnd(b))
        ops = []
        for op in graph.ops:
            options = _options(b, *op.options) if op.options else None
            options2 = _options(b, *op.options2) if op.options2 else None
            ins = _ints(b, tflite.OperatorStartInputsVector, op.inputs)
            outs = _ints(b, tflite.OperatorStartOutputsVector, op.outputs)
            custom_options = b.CreateNumpyVector(np.frombuffer(op.custom, np.uint8)) if op.custom else None
            tflite.OperatorStart(b)
            if custom_options is not None:
                tflite.OperatorAddCustomOptions(b, custom_options)
            tflite.OperatorAddOpcodeIndex(b, op.code)
            tflite.OperatorAddInputs(b, ins)
            tflite.OperatorAddOutputs(b, outs)
            if options is not None and op.options is not None:
                tflite.OperatorAddBuiltinOptionsType(b, getattr(BuiltinOptions, op.options[0]))
                tflite.OperatorAddBuiltinOptions(b, options)
            if options2 is not None and op.options2 is not None:
                tflite.OperatorAddBuiltinOptions2Type(b, getattr(BuiltinOptions2, op.options2[0]))
                tflite.OperatorAddBuiltinOptions2(b, options2)
            ops.append(tflite.OperatorEnd(b))
        tensor_vec = table_vector(tflite.SubGraphStartTensorsVector, tensors)
        op_vec = table_vector(tflite.SubGraphStartOperatorsVector, ops)
        ins = _ints(b, tflite.SubGraphStartInputsVector, graph.inputs)
        outs = _ints(b, tflite.SubGraphStartOutputsVector, graph.outputs)
        tflite.SubGraphStart(b)
        tflite.SubGraphAddTensors(b, tensor_vec)
        tflite.SubGraphAddInputs(b, ins)
        tflite.SubGraphAddOutputs(b, outs)
        tflite.SubGraphAddOperators(b, op_vec)
        return tflite.SubGraphEnd(b)

    made = [subgraph_of(graph) for graph in [spec, *spec.more]]
    codes = []
    for code in spec.opcodes:
        custom = b.CreateString(code[1]) if isinstance(code, tuple) else None
        number = getattr(BuiltinOperator, code[0] if isinstance(code, tuple) else code)
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(number, 127))
        tflite.OperatorCodeAddBuiltinCode(b, number)
        tflite.OperatorCodeAddVersion(b, spec.op_version)
        if custom is not None:
            tflite.OperatorCodeAddCustomCode(b, custom)
        codes.append(tflite.OperatorCodeEnd(b))

    subgraphs = table_vector(tflite.ModelStartSubgraphsVector, made)
    code_vec = table_vector(tflite.ModelStartOperatorCodesVector, codes)
    buffer_vec = table_vector(tflite.ModelStartBuffersVector, buffers)
    entries = []
    for name, buffer in metadata_buffers.items():
        entry_name = b.CreateString(name)
        tflite.MetadataStart(b)
        tflite.MetadataAddName(b, entry_name)
        tflite.MetadataAddBuffer(b, buffer)
        entries.append(tflite.MetadataEnd(b))
    metadata_vec = table_vector(tflite.ModelStartMetadataVector, entries)
    description = b.CreateString("handmade")
    tflite.ModelStart(b)
    tflite.ModelAddMetadata(b, metadata_vec)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, code_vec)
    tflite.ModelAddSubgraphs(b, subgraphs)
    tflite.ModelAddDescription(b, description)
    tflite.ModelAddBuffers(b, buffer_vec)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output()) + spec.appended


def relu_chain(count: int = 2, codes: list[str | tuple[str, str]] | None = None) -> Spec:
    """x → op0 → op1 … (each RELU unless `codes` say otherwise), shape 1×4."""
    tensors = [T(f"t{i}", [1, 4]) for i in range(count + 1)]
    ops = [Op(i, [i], [i + 1]) for i in range(count)]
    return Spec(tensors, ops, [0], [count], opcodes=codes or ["RELU"] * count)


def weighted_add(weights: np.ndarray, shape: list[int] | None = None) -> Spec:
    """y = x + w with w a constant in buffer 1."""
    tensors = [T("x", [1, 4]), T("w", shape or list(weights.shape), buffer=1), T("y", [1, 4])]
    return Spec(tensors, [Op(0, [0, 1], [2])], [0], [2], opcodes=["ADD"], buffers=[b"", weights.tobytes()])
