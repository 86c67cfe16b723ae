"""Patterns from real TFLite files (issue 20), on fixtures TensorFlow's converter makes
(fixtures/tflite/models_extra.py), each against LiteRT on the file itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from netinspect.check.layers import graph_layers
from netinspect.converters.tflite.operators import operator_status
from netinspect.registry import load
from tests.converters.tflite.conftest import tflite_fixture
from tests.converters.tflite.parity import run_both
from tests.converters.tflite.test_tflite_parity import assert_close, assert_quantized


def test_int8_transpose_conv_with_bias_on_a_run_time_batch() -> None:
    """The output shape computed at run time (SHAPE → STRIDED_SLICE → PACK on int32 of an int8 input)
    and an int32 bias: every intermediate node keeps its data's type, so the model passes
    onnx.checker (it failed with "Slice: inferred elem type differs: (6) vs (1)") and matches."""
    assert_quantized(run_both(tflite_fixture("transpose_conv_batch", "int8")))


@pytest.mark.parametrize("mode", ["float32", "dynamic"])
def test_unrolled_lstm_on_a_run_time_batch(mode: str) -> None:
    """An unrolled LSTM whose zero states are FILLed to the run-time batch (refused for FILL alone
    before), with Tensordot's RESHAPE to a computed shape; "dynamic": hybrid FULLY_CONNECTED with
    int8 weights, whose run-time input quantization the ONNX model emulates."""
    pairs = run_both(tflite_fixture("lstm_hybrid", mode))
    assert_close(pairs, rtol=1e-4, atol=1e-5)
    assert "FILL" in {layer.layer_type for layer in graph_layers(load(tflite_fixture("lstm_hybrid", mode)))}


def test_spectra_rfft2d_complex_abs_real_imag() -> None:
    """RFFT2D (2-D, 1-D through a length-1 axis cropped to a shorter length, and zero-padded) with
    COMPLEX_ABS, REAL and IMAG: ONNX DFT on complex values held as float (…, 2). atol 1e-4 on spectra
    up to ~270: two FFT implementations sum 512 terms in different orders (measured: 4e-5)."""
    assert_close(run_both(tflite_fixture("spectrum")), rtol=1e-4, atol=1e-4)


def test_formats_lists_every_builtin_with_its_status(cli: Callable[..., Any]) -> None:
    """`netinspect formats tflite`: every builtin of the schema (LiteRT's registry draws from it) with
    converted / refused (why) / not converted; a format that does not list its operators says so."""
    from tflite.BuiltinOperator import BuiltinOperator

    status = operator_status()
    builtins = {k for k in vars(BuiltinOperator) if not k.startswith("_")}
    assert set(status) == builtins - {"PLACEHOLDER_FOR_GREATER_OP_CODES"}
    for op in ("FILL", "RFFT2D", "COMPLEX_ABS", "TRANSPOSE_CONV", "FULLY_CONNECTED"):
        assert status[op] == "converted"
    assert status["CUSTOM"].startswith("refused: custom operator")
    assert "not converted" in status.values()
    result = cli("formats", "tflite")
    assert result.code == 0
    converted = sum(s == "converted" for s in status.values())
    assert f"tflite operators: {converted} of {len(status)} converted" in result.out
    assert "RFFT2D" in result.out
    assert cli("formats").code == 0
    refused = cli("formats", "keras")
    assert refused.code == 2
    assert "does not list its operators" in refused.err
