"""Malformed and unsupported .tflite files: `netinspect info` exits 2 with one line naming the file and
the fault, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import CliResult
from tests.converters.tflite.handmade import Op, Spec, T, build, relu_chain, weighted_add


def refused(
    cli: Callable[..., CliResult],
    path: Path,
    data: bytes,
    *expected: str,
    command: tuple[str, ...] = ("info",),
) -> str:
    path.write_bytes(data)
    result = cli(*command, path, *(("-o", path.with_suffix(".onnx")) if command == ("convert",) else ()))
    assert result.code == 2, result.out + result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    assert str(path) in lines[0] or path.name in lines[0]
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def test_a_valid_handmade_model_reads(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    path = tmp_path / "ok.tflite"
    path.write_bytes(build(weighted_add(np.arange(4, dtype=np.float32).reshape(1, 4))))
    assert cli("info", path).code == 0


def test_not_a_flatbuffer(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    data = b"\xff\xff\xff\x7fTFL3" + b"\0" * 24
    refused(cli, tmp_path / "junk.tflite", data, "root table offset")


def test_wrong_identifier(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    data = bytearray(build(relu_chain()))
    data[4:8] = b"TFL2"
    refused(cli, tmp_path / "old.tflite", bytes(data), "file identifier", "TFL3")


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_truncated(cli: Callable[..., CliResult], tmp_path: Path, keep: float) -> None:
    data = build(weighted_add(np.arange(64, dtype=np.float32).reshape(1, 64), [1, 64]))
    refused(cli, tmp_path / "cut.tflite", data[: int(len(data) * keep)], "not a valid TFLite model")


def test_buffer_past_the_end(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    spec = weighted_add(np.zeros((1, 4), np.float32))
    spec.buffers[1] = b""
    spec.external[1] = (1 << 20, 16)
    refused(cli, tmp_path / "far.tflite", build(spec), "buffer 1", "past the end of the file")


def test_buffer_not_matching_the_shape(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    spec = weighted_add(np.zeros(3, np.float32), [1, 4])
    refused(cli, tmp_path / "short.tflite", build(spec), "needs 16 bytes", "holds 12")


def test_shape_product_overflows(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    spec = weighted_add(np.zeros(4, np.float32), [2**31 - 1, 2**31 - 1, 2**31 - 1])
    refused(cli, tmp_path / "huge.tflite", build(spec), "too many")


def test_operator_code_index_out_of_range(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    spec = relu_chain(2)
    spec.ops[1].code = 7
    refused(cli, tmp_path / "opcode.tflite", build(spec), "opcode index 7")


def test_tensor_index_out_of_range(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    spec = relu_chain(2)
    spec.ops[1].inputs = [42]
    refused(cli, tmp_path / "tensor.tflite", build(spec), "tensor 42")


def test_cycle(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    """t1 = relu(t2); t2 = relu(t1): each operator reads what the other writes."""
    tensors = [T("x", [1, 4]), T("t1", [1, 4]), T("t2", [1, 4])]
    spec = Spec(tensors, [Op(0, [2], [1]), Op(0, [1], [2])], [0], [2], opcodes=["RELU"])
    refused(cli, tmp_path / "cycle.tflite", build(spec), "cycle")


def test_custom_and_flex_ops_listed_at_once(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    spec = relu_chain(3, ["RELU", ("CUSTOM", "ethos-u"), ("CUSTOM", "FlexErfc")])
    path = tmp_path / "custom.tflite"
    line = refused(cli, path, build(spec), "ethos-u", "FlexErfc", command=("convert",))
    assert "Flex" in line and "custom operator" in line and "register_layer" in line
    shown = cli("info", path)
    assert shown.code == 0 and "CUSTOM:FlexErfc" in shown.out, shown.err


def test_vela_compiled_model_is_shown_and_refused_as_ethos_u(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """What Vela writes (tflite-micro's person_detect_vela.tflite): one ethos-u operator reading its
    command stream, its weights ("flash") and scratch tensors nothing writes and no buffer holds.
    `info` shows it (it stopped with "not a valid TFLite model: … reads tensor 3 ('_split_1_scratch'),
    which nothing writes"); `convert` refuses it, naming the NPU."""
    tensors = [
        T("out", [1, 2], "int8"),
        T("_split_1_command_stream", [8], "int8", 1),
        T("_split_1_flash", [16], "int8", 2),
        T("_split_1_scratch", [32], "int8"),
        T("_split_1_scratch_fast", [32], "int8"),
        T("input", [1, 4, 4, 1], "int8"),
    ]
    spec = Spec(
        tensors, [Op(0, [1, 2, 3, 4, 5], [0])], [5], [0], [("CUSTOM", "ethos-u")], [b"", bytes(8), bytes(16)]
    )
    path = tmp_path / "vela.tflite"
    path.write_bytes(build(spec))
    shown = cli("info", path)
    assert shown.code == 0 and "CUSTOM:ethos-u" in shown.out, shown.err
    line = refused(cli, path, build(spec), "Ethos-U", "Vela", command=("convert",))
    assert "_scratch" not in line


def test_edge_tpu_compiled_model_refused_naming_it(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    """edgetpu_compiler's output (mattn/go-tflite's fizzbuzz_model_quant_edgetpu.tflite): one custom
    operator holding the Edge TPU program."""
    spec = relu_chain(2, ["RELU", ("CUSTOM", "edgetpu-custom-op")])
    refused(cli, tmp_path / "edgetpu.tflite", build(spec), "Edge TPU", command=("convert",))


def test_custom_op_with_a_user_mapping_converts(tmp_path: Path) -> None:
    """A custom op is refused only while nothing maps it: register_layer('tflite', 'CUSTOM:<code>', fn)."""
    from netinspect.converters.tflite.context import TfliteContext
    from netinspect.registry import load, register_layer, unregister_layer

    def my_relu(ctx: TfliteContext) -> None:
        ctx.emit("Relu", [ctx.x(0)])

    path = tmp_path / "mapped.tflite"
    path.write_bytes(build(relu_chain(2, ["RELU", ("CUSTOM", "MyRelu")])))
    register_layer("tflite", "CUSTOM:MyRelu", my_relu)
    try:
        graph = load(path)
    finally:
        unregister_layer("tflite", "CUSTOM:MyRelu")
    assert [n.op_type for n in graph.nodes] == ["Relu", "Relu"]
    assert graph.nodes[1].provenance is not None and graph.nodes[1].provenance.layer_type == "CUSTOM:MyRelu"


def test_random_corruption_never_crashes(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    """Seeded byte flips and truncations of a converter-made int8 model: every
    outcome is a conversion (exit 0) or one line on stderr (exit 2), never a traceback."""
    import random

    from tests.converters.tflite.conftest import tflite_fixture

    source = tflite_fixture("conv", "int8").read_bytes()
    rng = random.Random(12)
    path = tmp_path / "corrupt.tflite"
    for _ in range(60):
        data = bytearray(source)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.2:
            data = data[: rng.randrange(8, len(data))]
        path.write_bytes(bytes(data))
        result = cli("convert", path, "--to", "onnx", "-o", tmp_path / "out.onnx")
        assert result.code in (0, 2), result.err
        if result.code == 2:
            assert len(result.err.strip().splitlines()) == 1 and "internal error" not in result.err, (
                result.err
            )


def test_a_layer_its_converter_refuses_is_shown_by_info(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """16×8 quantization (int16 activations written by a QUANTIZE): `info` shows the QUANTIZE
    untranslated with the converter's reason and the rest of the graph (it refused the whole file);
    `convert` refuses in one line with that reason."""
    tensors = [T("x", [1, 4]), T("q", [1, 4], "int16", quant=([0.001], [0], 0)), T("y", [1, 4])]
    spec = Spec(tensors, [Op(0, [0], [1]), Op(1, [1], [2])], [0], [2], ["QUANTIZE", "DEQUANTIZE"])
    path = tmp_path / "int16.tflite"
    path.write_bytes(build(spec))
    shown = cli("info", path)
    assert shown.code == 0, shown.err
    assert "QUANTIZE (no translation)" in shown.out
    layers = json.loads(cli("info", path, "--json").out)["source"]["layers"]
    assert [
        (layer["type"], "16×8" in (layer["note"] or "")) for layer in layers if not layer["supported"]
    ] == [("QUANTIZE", True)]  # the DEQUANTIZE after it reads int16 as any other value
    line = refused(
        cli, path, build(spec), "layer 'q' (type 'QUANTIZE'): 16×8 quantization", command=("convert",)
    )
    assert "register_layer" not in line
