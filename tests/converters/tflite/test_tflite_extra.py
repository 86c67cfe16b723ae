"""Patterns from real TFLite files (issue 20), on fixtures TensorFlow's converter makes
(fixtures/tflite/models_extra.py), each against LiteRT on the file itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from ai_edge_litert.interpreter import Interpreter

from netinspect.check.layers import graph_layers
from netinspect.check.runtimes.litert import LiteRTRunner
from netinspect.converters.onnx.writer import to_model_proto
from netinspect.converters.tflite.operators import operator_status
from netinspect.registry import LoadOptions, load
from tests.conftest import fixture_generator, shared_model
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
    converted / refused (why) — "not converted" when neither, none left now; a format that does not
    list its operators says so."""
    from tflite.BuiltinOperator import BuiltinOperator

    status = operator_status()
    builtins = {k for k in vars(BuiltinOperator) if not k.startswith("_")}
    assert set(status) == builtins - {"PLACEHOLDER_FOR_GREATER_OP_CODES"}
    converted_here = (
        "FILL", "RFFT2D", "COMPLEX_ABS", "TRANSPOSE_CONV", "FULLY_CONNECTED", "SEGMENT_SUM", "WHERE",
        "UNSORTED_SEGMENT_MAX", "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5", "BUCKETIZE", "UNIQUE",
        "RIGHT_SHIFT", "SPARSE_TO_DENSE", "DYNAMIC_UPDATE_SLICE", "MATRIX_SET_DIAG", "BROADCAST_ARGS", "RANK",
        "FAKE_QUANT", "DILATE", "STABLEHLO_ADD", "STABLEHLO_MULTIPLY", "STABLEHLO_MAXIMUM",
        "STABLEHLO_MINIMUM", "RNN", "UNIDIRECTIONAL_SEQUENCE_RNN", "HASHTABLE_LOOKUP", "STABLEHLO_COMPOSITE",
        "STABLEHLO_PAD", "REDUCE_WINDOW", "EMBEDDING_LOOKUP_SPARSE", "BIDIRECTIONAL_SEQUENCE_RNN",
        "LSTM", "STABLEHLO_AND", "BIDIRECTIONAL_SEQUENCE_LSTM", "SVDF",
        "STABLEHLO_REDUCE_WINDOW", "STABLEHLO_SHIFT_LEFT", "STABLEHLO_GATHER",
        "STABLEHLO_SCATTER",
    )  # fmt: skip
    for op in converted_here:
        assert status[op] == "converted"
    assert status["CUSTOM"].startswith("refused: custom operator")
    assert status["CALL"].startswith("refused: no LiteRT kernel")  # LiteRT 2.3.0 registers none for these
    assert status["STABLEHLO_DIVIDE"].startswith("refused: no LiteRT kernel")
    assert status["RANDOM_UNIFORM"].startswith("refused: random numbers")
    # every builtin decided: converted, or refused with its reason (none left "not converted")
    assert all(s == "converted" or s.startswith("refused: ") for s in status.values())
    result = cli("formats", "tflite")
    assert result.code == 0
    converted = sum(s == "converted" for s in status.values())
    assert f"tflite operators: {converted} of {len(status)} converted" in result.out
    assert "RFFT2D" in result.out
    assert cli("formats").code == 0
    refused = cli("formats", "keras")
    assert refused.code == 2
    assert "does not list its operators" in refused.err


def test_pruning_wrapper_variables_fold_to_the_masked_kernel() -> None:
    """TF-MOT-style: every call assigns kernel·mask to the kernel, then reads it (it was refused:
    "assigns a resource variable"). Assigning it again changes nothing, so it folds to a constant:
    no state input, and the same output as LiteRT on its first and on a later invocation."""
    path = tflite_fixture("pruned")
    graph = load(path)
    assert [v.name for v in graph.inputs] == ["serving_default_x:0"]
    assert any("folded to that constant" in note for note in graph.metadata.notes)
    first = run_both(path)
    assert_close(first, rtol=1e-6, atol=1e-6)
    interpreter = Interpreter(model_path=str(path))  # one interpreter: its variables persist
    interpreter.allocate_tensors()
    x, y = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    interpreter.set_tensor(x, np.ones((1, 6), np.float32))
    outputs = []
    for _ in range(3):
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(y).copy())
    model = to_model_proto(graph).SerializeToString()
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    (onnx_y,) = session.run(None, {"serving_default_x:0": np.ones((1, 6), np.float32)})
    for later in outputs:
        np.testing.assert_allclose(onnx_y, later, rtol=1e-6, atol=1e-6)


def test_state_carried_across_runs_is_an_input_and_an_output() -> None:
    """A running sum assigned in the main graph really carries state: the ONNX model takes it as an
    input (default: its initial value) and returns its new value; fed back, the second run equals
    LiteRT's second invocation of the same interpreter."""
    path = tflite_fixture("pruned_stateful")
    graph = load(path)
    model = to_model_proto(graph)
    onnx.checker.check_model(model, full_check=True)
    state_in = next(v.name for v in graph.inputs if v.name in graph.tensors)
    state_out = f"{state_in}/final"
    assert state_out in [v.name for v in graph.outputs]
    assert any("carries state" in note for note in graph.metadata.notes)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    x_detail = interpreter.get_input_details()[0]
    y_detail = interpreter.get_output_details()[0]
    rng = np.random.default_rng(0)
    state = None
    for _ in range(3):
        x = rng.uniform(-1, 1, (1, 6)).astype(np.float32)
        interpreter.set_tensor(x_detail["index"], x)
        interpreter.invoke()
        feeds = {x_detail["name"]: x} if state is None else {x_detail["name"]: x, state_in: state}
        y, state = session.run([y_detail["name"], state_out], feeds)
        np.testing.assert_allclose(y, interpreter.get_tensor(y_detail["index"]), rtol=1e-6, atol=1e-6)


def test_check_starts_each_run_of_a_stateful_model_fresh() -> None:
    """`check` compares run by run from the initial state: LiteRT's interpreter is rebuilt for each
    run of a model that assigns variables (its state would otherwise carry over)."""
    from netinspect.check.api import check

    result = check(tflite_fixture("pruned_stateful"), layers="never", runs=3)
    assert result.passed, [o.worst.summary() for o in result.outputs]


@pytest.mark.parametrize("seed", range(4))
def test_ssd_detection_postprocess_matches_litert(seed: int) -> None:
    """TFLite_Detection_PostProcess (fast NMS) after an SSD-shaped detector, on random images: the same
    number of detections, the same classes, boxes and scores within float rounding (LiteRT decodes in
    double); rows past the count are unwritten by LiteRT, zeros here, so they are not compared."""
    pairs = {p.name.split(":")[-1]: p for p in run_both(tflite_fixture("ssd"), seed=seed)}
    count = pairs["3"]
    np.testing.assert_array_equal(count.actual, count.expected)
    n = int(count.expected[0])
    assert n > 0
    np.testing.assert_array_equal(pairs["1"].actual[0, :n], pairs["1"].expected[0, :n])
    for key in ("0", "2"):
        np.testing.assert_allclose(pairs[key].actual[0, :n], pairs[key].expected[0, :n], rtol=1e-6, atol=1e-6)
    assert not pairs["2"].actual[0, n:].any()
    print(f"seed {seed}: {n} detections")


EXACT = LoadOptions(format_options={"exact-int8": "on"})


def test_exact_int8_equals_the_reference_kernels_bit_for_bit() -> None:
    """`--exact-int8 on`: int8 CONV_2D, DEPTHWISE_CONV_2D (multiplier 2) and FULLY_CONNECTED with fused
    RELU/RELU6 in int64 fixed-point arithmetic: every layer equals LiteRT's reference kernels, 0 steps,
    over 5 random inputs — where the QDQ conversion of the same file is a step off them."""
    from netinspect.check.api import check

    path = tflite_fixture("int8_convolutions", "int8")
    exact = check(path, layers="always", runs=5, options=EXACT)
    assert exact.source.runtime.endswith("(reference kernels)")
    assert exact.passed, [o.worst.summary() for o in exact.outputs]
    assert all(o.tolerance.steps == 0 for o in exact.outputs)
    assert exact.layers is not None and all(c.comparison.passed for c in exact.layers.checks)
    plain = check(path, layers="never", runs=5)
    steps = [c.kernels.errors["reference kernels"] for o in plain.outputs for c in o.runs if c.kernels]
    assert max(steps) >= 1


def test_exact_int8_mobilenet_v2_equals_the_reference_kernels_end_to_end() -> None:
    """int8 MobileNetV2 under `--exact-int8 on`: its MEAN (the global average pool, QuantizedMeanOrSum:
    1/n folded into the Q31 multiplier in integers) and residual ADDs join the exact convolutions; every
    layer and the output equal LiteRT's reference kernels, 0 steps, over 3 random inputs (it diverged at
    MEAN)."""
    from netinspect.check.api import check

    result = check(tflite_fixture("mobilenet_v2", "int8"), runs=3, layers="always", options=EXACT)
    assert result.passed, [o.worst.summary() for o in result.outputs]
    assert all(o.tolerance.steps == 0 for o in result.outputs)
    assert result.layers is not None and result.layers.divergence is None
    assert all(c.comparison.passed for c in result.layers.checks)
    assert "MEAN" in {c.pair.layer_type for c in result.layers.checks}


def test_exact_int8_add_and_mul_equal_the_reference_kernels() -> None:
    """int8 MUL and ADD (a batch norm folded to a per-channel constant of each, broadcast over NHWC) in
    the reference kernels' arithmetic — ADD's 20-bit left shift and two input multipliers, MUL's
    multiplier of the float32 scale product: every layer 0 steps over 5 random inputs (1 step off on
    some cells in the QDQ form)."""
    from netinspect.check.api import check

    result = check(tflite_fixture("conv_groups", "int8"), runs=5, layers="always", options=EXACT)
    assert result.passed, [o.worst.summary() for o in result.outputs]
    assert result.layers is not None and result.layers.divergence is None
    checked = {c.pair.layer_type for c in result.layers.checks if c.comparison.passed}
    assert {"ADD", "MUL"} <= checked
    assert all(c.comparison.passed for c in result.layers.checks)


def test_exact_int8_average_pools_equal_the_reference_kernels() -> None:
    """int8 AVERAGE_POOL_2D (VALID 2×2, SAME 3×3, SAME (2, 3) with strides (1, 2)): window sums divided by
    their cell counts rounding half away from zero, as the reference kernel — every layer 0 steps over 5
    random inputs, where the QDQ form (onnxruntime rounds ties to even) is a step off."""
    from netinspect.check.api import check

    path = tflite_fixture("int8_pools", "int8")
    exact = check(path, runs=5, layers="always", options=EXACT)
    assert exact.passed, [o.worst.summary() for o in exact.outputs]
    assert all(o.tolerance.steps == 0 for o in exact.outputs)
    assert exact.layers is not None and all(c.comparison.passed for c in exact.layers.checks)
    assert [c.pair.layer_type for c in exact.layers.checks].count("AVERAGE_POOL_2D") == 3
    plain = check(path, layers="never", runs=5)
    steps = [c.kernels.errors["reference kernels"] for o in plain.outputs for c in o.runs if c.kernels]
    assert max(steps) >= 1


def test_exact_int8_per_channel_fully_connected_rounds_once() -> None:
    """LiteRT's reference FULLY_CONNECTED (here per channel) rounds x·M·2^shift once (the convolutions round
    twice): on the `conv` fixture's Dense after SAME pools, a separable conv and TANH, every layer
    `--exact-int8` computes matches over 5 random inputs (the FULLY_CONNECTED was a step off)."""
    from netinspect.check.api import check

    result = check(tflite_fixture("conv", "int8"), runs=5, layers="always", options=EXACT)
    assert result.layers is not None
    exact = [c for c in result.layers.checks if any("exact int8" in s.text for s in c.pair.steps)]
    assert {"FULLY_CONNECTED", "AVERAGE_POOL_2D", "CONV_2D"} <= {c.pair.layer_type for c in exact}
    failed = [c.pair.layer_type for c in exact if not c.comparison.passed]
    assert not failed, failed


def test_exact_int8_logistic_tanh_and_softmax_equal_the_reference_kernels() -> None:
    """int8 LOGISTIC and TANH as the reference kernels' 256-entry tables (float32 transform, rounding half
    away from zero) and SOFTMAX in their gemmlowp fixed point (exp tables, Newton–Raphson reciprocal):
    fed every stored int8 value, then 20 random inputs, the ONNX model (no float Sigmoid/Tanh/Softmax)
    equals LiteRT's reference kernels on every output element."""
    from ai_edge_litert.interpreter import OpResolverType

    path = tflite_fixture("int8_activations", "int8")
    model = to_model_proto(load(path, EXACT))
    assert not {"Sigmoid", "Tanh", "Softmax"} & {n.op_type for n in model.graph.node}
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    reference = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    reference.allocate_tensors()
    rng = np.random.default_rng(0)
    randoms = [rng.integers(-128, 128, (1, 16, 16)) for _ in range(20)]
    feeds = [np.arange(-128, 128).reshape(1, 16, 16), *randoms]
    for feed in feeds:
        actual = session.run(None, {session.get_inputs()[0].name: feed.astype(np.int8)})
        reference.set_tensor(reference.get_input_details()[0]["index"], feed.astype(np.int8))
        reference.invoke()
        expected = {d["name"]: reference.get_tensor(d["index"]) for d in reference.get_output_details()}
        assert len(actual) == len(expected) == 3
        for output, got in zip(session.get_outputs(), actual, strict=True):
            assert got.dtype == np.int8 and len(np.unique(expected[output.name])) > 10
            np.testing.assert_array_equal(got, expected[output.name], err_msg=output.name)


def test_exact_int8_fully_connected_on_a_real_file_for_every_input() -> None:
    """The real hello_world int8 model (three per-tensor FULLY_CONNECTED): LiteRT's reference kernel
    rounds x·M·2^shift once; fed each of the 256 stored input values, the ONNX model equals it on all
    (the double-rounding form the convolutions use was a step off on 23 of them)."""
    from ai_edge_litert.interpreter import OpResolverType

    path = shared_model("tfl_hello_world_int8.tflite")
    session = ort.InferenceSession(to_model_proto(load(path, EXACT)).SerializeToString())
    reference = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    reference.allocate_tensors()
    spec = reference.get_input_details()[0]
    outputs = set()
    for value in range(-128, 128):
        feed = np.full(spec["shape"], value, np.int8)
        reference.set_tensor(spec["index"], feed)
        reference.invoke()
        expected = reference.get_tensor(reference.get_output_details()[0]["index"])
        actual = session.run(None, {session.get_inputs()[0].name: feed})[0]
        np.testing.assert_array_equal(actual, expected, err_msg=f"input {value}")
        outputs.add(int(expected.reshape(-1)[0]))
    assert len(outputs) > 100


def test_exact_int8_resize_fixture_equals_the_reference_kernels() -> None:
    """The `resize` fixture's int8 RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR (align-corners, half-pixel):
    in the kernels' own arithmetic every layer is 0 steps (the QDQ form, onnxruntime's float Resize, was a
    step off the integer kernel on 9–19 % of cells, and `check --exact-int8 on` failed there)."""
    from netinspect.check.api import check

    result = check(tflite_fixture("resize", "int8"), runs=3, layers="always", options=EXACT)
    assert result.passed, [o.worst.summary() for o in result.outputs]
    assert result.layers is not None and result.layers.divergence is None
    assert {"RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"} <= {c.pair.layer_type for c in result.layers.checks}
    assert all(c.comparison.passed for c in result.layers.checks)


@pytest.mark.parametrize("low", [-1.0, 0.1])
def test_less_common_builtins(low: float) -> None:
    """REDUCE_ANY, REDUCE_ALL, ATAN2 (all four quadrants), REVERSE_SEQUENCE, SCATTER_ND, MATRIX_DIAG;
    inputs in [low, 1): signed, then all positive so REDUCE_ALL is true somewhere."""
    path = tflite_fixture("more_ops")
    rng = np.random.default_rng(0)
    specs = Interpreter(model_path=str(path)).get_input_details()
    feeds = {d["name"]: rng.uniform(low, 1, d["shape"]).astype(np.float32) for d in specs}
    pairs = run_both(path, feeds=feeds)
    assert_close(pairs, rtol=1e-6, atol=1e-6)
    assert any(p.expected.any() for p in pairs if p.expected.shape == (1, 1)) == (low > 0)


def _regular_nms_inputs(case: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Box encodings and class scores (background first) for the ssd_regular fixture's 24 anchors."""
    rng = np.random.default_rng(seed)
    sizes = fixture_generator("tflite/models_extra.py").REGULAR_NMS
    count, classes = sizes["anchors"], sizes["classes"] + 1
    encodings = rng.normal(0, 1, (1, count, 4)).astype(np.float32)
    scores = rng.uniform(0, 1, (1, count, classes)).astype(np.float32)
    if case == "ties":  # four score levels: equal scores within and across classes, at the top-k cut too
        scores = np.round(scores * 4) / 4
    elif case == "shared boxes":  # the best box of every class is the same anchor, its neighbours overlap it
        encodings[0, 8:12] = 0.0
        scores = scores * 0.5
        scores[0, 9, 1:] = 0.9
        scores[0, 8, 1:], scores[0, 10, 1:], scores[0, 11, 1:] = 0.8, 0.7, 0.85
    elif case == "few":  # 3 survivors, one exactly at the threshold (0.3: kept): the other rows are zeros
        scores = scores * 0.29
        scores[0, 3, 1], scores[0, 15, 2], scores[0, 20, 3] = 0.3, 0.6, 0.45
    return encodings, scores.astype(np.float32)


@pytest.mark.parametrize("case", ["random", "ties", "shared boxes", "few"])
@pytest.mark.parametrize("seed", range(3))
def test_regular_nms_detection_postprocess_matches_litert(case: str, seed: int) -> None:
    """TFLite_Detection_PostProcess with use_regular_nms (it was refused): NMS class by class (at most
    detections_per_class each), then the max_detections best of all classes. Compared with LiteRT on
    every row: the same count, classes and scores exactly (ties included: equal scores within a class
    keep the lower anchor, as LiteRT's stable sort), boxes within float rounding (LiteRT decodes in
    double: measured ≤ 1.2e-7); rows past the count, up to max_detections, are zeros on both sides
    (the regular kernel writes them). max_classes_per_detection (3), which regular NMS ignores, was
    refused; it only sizes the outputs (24 rows, the last 16 unwritten by LiteRT)."""
    path = tflite_fixture("ssd_regular")
    runner = LiteRTRunner(path)
    encodings, scores = _regular_nms_inputs(case, seed)
    feeds = {d["name"]: scores if "class_scores" in d["name"] else encodings
             for d in runner._interpreter.get_input_details()}  # fmt: skip
    pairs = {p.name.split(":")[-1]: p for p in run_both(path, feeds=feeds)}
    for key in ("0", "1", "2"):  # 8 · max_classes_per_detection (3) rows: the kernel writes the first 8
        pair = pairs[key]
        assert pair.actual.shape == pair.expected.shape == (1, 24, 4)[: pair.expected.ndim]
        pair.actual, pair.expected = pair.actual[:, :8], pair.expected[:, :8]
    for key in ("1", "2", "3"):
        np.testing.assert_array_equal(pairs[key].actual, pairs[key].expected, err_msg=f"{case}: output {key}")
    np.testing.assert_allclose(pairs["0"].actual, pairs["0"].expected, rtol=0, atol=2e-7)
    n = int(pairs["3"].expected[0])
    detected = pairs["0"].expected[0, :n]
    if case == "few":
        assert n == 3
    elif case == "shared boxes":  # one box reported once per class: what class-agnostic NMS cannot give
        assert len({tuple(row) for row in detected}) < n
    else:
        assert n == 8


def _boxes_and_scores(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping boxes (every third with its corners given max-first, which the kernel accepts) and
    distinct scores: the order of equal scores is the runtimes' priority queues', unspecified."""
    centres, sizes = rng.uniform(0, 1, (count, 2)), rng.uniform(0.1, 0.5, (count, 2))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], 1).astype(np.float32)
    boxes[::3] = boxes[::3][:, [2, 3, 0, 1]]
    return boxes, rng.permutation(np.linspace(0.05, 0.95, count)).astype(np.float32)


@pytest.mark.parametrize("seed", range(4))
def test_segments_where_and_nms_match_litert_exactly(seed: int) -> None:
    """SEGMENT_SUM, UNSORTED_SEGMENT_SUM/MAX/MIN/PROD (empty segments keep the kernel's 0, 1, lowest,
    highest; a negative id is skipped), WHERE (coordinates [count, rank] int64) and
    NON_MAX_SUPPRESSION_V4/V5 (σ = 0; indices padded with zeros, the valid count) — each refused
    before ("not converted"): every output equal to LiteRT's, element for element. Seed 0 also puts
    two boxes at IoU exactly 0.5, V4's threshold: the kernel suppresses at IoU ≥ it; odd seeds leave
    fewer boxes than max_output_size."""
    rng = np.random.default_rng(seed)
    boxes, scores = _boxes_and_scores(rng, 10)
    if seed == 0:
        boxes[0], boxes[1] = [0, 0, 1, 1], [0, 0, 1, 0.5]
        scores[0], scores[1] = 0.97, 0.96
    if seed % 2:  # few above the score thresholds (0.2, 0.1): the indices padded with zeros
        scores = scores * np.float32(0.3)
    feeds = {"data": rng.normal(0, 1, (6, 3)).astype(np.float32), "boxes": boxes, "scores": scores}
    pairs = run_both(tflite_fixture("segments_nms"), feeds=feeds)
    assert len(pairs) == 11
    for pair in pairs:
        assert pair.actual.dtype == pair.expected.dtype, pair.name
        np.testing.assert_array_equal(pair.actual, pair.expected, err_msg=pair.name)
    outputs = [pair.expected for pair in pairs]  # in the function's return order: Identity, Identity_1, …
    assert (outputs[2][[1, 3]] == np.finfo(np.float32).min).all()  # empty segments of the max
    v4, v4_valid = outputs[6], int(outputs[7])
    if seed == 0:
        assert 0 in v4[:v4_valid] and 1 not in v4[:v4_valid]
    if seed % 2:
        assert v4_valid < 6 and not v4[v4_valid:].any()
    print(f"seed {seed}: V4 kept {v4_valid} of 6, V5 {int(outputs[10])} of 5, WHERE {len(outputs[5])} true")


def test_soft_nms_is_refused_with_its_sigma() -> None:
    """NON_MAX_SUPPRESSION_V5 with σ > 0 decays scores (Soft-NMS): `info` shows the layer untranslated,
    `convert` gives one clear refusal naming σ."""
    from netinspect.errors import UnsupportedError

    graph = load(tflite_fixture("soft_nms"))
    assert [layer.type for layer in graph.untranslated()] == ["NON_MAX_SUPPRESSION_V5"]
    with pytest.raises(UnsupportedError, match=r"soft_nms_sigma 0\.5 > 0 is Soft-NMS"):
        to_model_proto(graph)


@pytest.mark.parametrize("seed", range(3))
def test_placements_and_integer_builtins_match_litert_exactly(seed: int) -> None:
    """BUCKETIZE, UNIQUE (first-occurrence order, inverse indices), RIGHT_SHIFT (negative int32 values
    shifted arithmetically, shifts past 31 clamped), SPARSE_TO_DENSE, DYNAMIC_UPDATE_SLICE (start
    clamped so the update fits), MATRIX_SET_DIAG (wide and tall matrices) and BROADCAST_ARGS of a
    SHAPE the file computes at run time — each "not converted" before: every output equal to
    LiteRT's."""
    rng = np.random.default_rng(seed)
    v = rng.uniform(0, 1, (4, 6)).astype(np.float32)
    v[0, 0] = (0.99, 0.1, 0.5)[seed]  # the update's first row: 4 (clamped to 2), 0, 2
    feeds = {"x": np.zeros((1, 3), np.float32), "v": v}
    pairs = run_both(tflite_fixture("placements"), feeds=feeds)
    assert len(pairs) == 9
    for pair in pairs:
        assert pair.actual.dtype == pair.expected.dtype, pair.name
        np.testing.assert_array_equal(pair.actual, pair.expected, err_msg=pair.name)
    assert pairs[-1].expected.shape == (1, 3)
    assert (pairs[3].expected < 0).any()  # arithmetic shifts of negative values


@pytest.mark.parametrize("seed", range(4))
def test_tf2_padded_nms_graph_matches_litert(seed: int) -> None:
    """tf.image.non_max_suppression_padded as TF 2 converts it (no NMS builtin: TopK, a GATHER with
    batch_dims, IF branches handing their arguments back, a WHILE whose tensors change size, int32
    FLOOR_DIV, a RESHAPE to a scalar through an empty constant shape). Each was a refusal or a wrong
    model before ("reads tensor 18, which nothing writes"; "output … is never computed"; "GATHER with
    batch_dims is not supported"; Floor on int32; onnxruntime's "Shape mismatch attempting to re-use
    buffer" from loop values declared with the file's placeholder shapes). Now: indices and count
    equal to LiteRT's."""
    rng = np.random.default_rng(seed)
    boxes, scores = _boxes_and_scores(rng, 10)
    if seed % 2:
        scores = scores * np.float32(0.3)
    pairs = run_both(tflite_fixture("nms_padded"), feeds={"boxes": boxes, "scores": scores})
    assert len(pairs) == 2
    for pair in pairs:
        np.testing.assert_array_equal(pair.actual, pair.expected, err_msg=pair.name)
    counts = next(p.expected for p in pairs if p.expected.size == 1)
    assert 0 < int(counts.reshape(-1)[0]) <= 6


@pytest.mark.parametrize("mode", ["fast", "regular"])
@pytest.mark.parametrize("seed", range(3))
def test_ssd_mobilenet_coco_sized_postprocess_matches_litert(mode: str, seed: int) -> None:
    """TFLite_Detection_PostProcess with SSD MobileNet v1 COCO's own options and sizes (1917 anchors as
    the Object Detection API lays them out, 90 classes + background, score threshold 1e-8, IoU 0.6, 100
    per class, 10 in all), both NMS modes, on sigmoid scores of random logits: count, classes and
    scores equal to LiteRT's, boxes within float rounding of its double-precision decoding."""
    path = tflite_fixture(f"ssd_coco_{mode}")
    runner = LiteRTRunner(path)
    rng = np.random.default_rng(seed)
    encodings = rng.normal(0, 1, (1, 1917, 4)).astype(np.float32)
    scores = (1 / (1 + np.exp(-rng.normal(-4, 2, (1, 1917, 91))))).astype(np.float32)
    feeds = {d["name"]: scores if "class_scores" in d["name"] else encodings
             for d in runner._interpreter.get_input_details()}  # fmt: skip
    pairs = {p.name.split(":")[-1]: p for p in run_both(path, feeds=feeds)}
    for key in ("1", "2", "3"):
        np.testing.assert_array_equal(pairs[key].actual, pairs[key].expected, err_msg=f"{mode}: output {key}")
    assert int(pairs["3"].expected[0]) == 10
    np.testing.assert_allclose(pairs["0"].actual, pairs["0"].expected, rtol=0, atol=5e-7)
    print(f"{mode} seed {seed}: boxes max abs {np.abs(pairs['0'].actual - pairs['0'].expected).max():.2g}")


@pytest.mark.parametrize("seed", range(3))
def test_fast_nms_with_several_classes_per_box_matches_litert(seed: int) -> None:
    """Fast NMS with max_classes_per_detection 2 (refused before): each kept box reported twice, with
    its best and second-best class and score; the count is of boxes. Rows written by LiteRT (2 per
    detection) equal, boxes within float rounding; the rest zeros here, unwritten there."""
    path = tflite_fixture("ssd_fast_classes")
    runner = LiteRTRunner(path)
    encodings, scores = _regular_nms_inputs("random", seed)
    feeds = {d["name"]: scores if "class_scores" in d["name"] else encodings
             for d in runner._interpreter.get_input_details()}  # fmt: skip
    pairs = {p.name.split(":")[-1]: p for p in run_both(path, feeds=feeds)}
    np.testing.assert_array_equal(pairs["3"].actual, pairs["3"].expected)
    n = 2 * int(pairs["3"].expected[0])
    assert n > 2 and pairs["1"].expected.shape == (1, 12)
    for key in ("1", "2"):
        np.testing.assert_array_equal(pairs[key].actual[:, :n], pairs[key].expected[:, :n], err_msg=key)
    np.testing.assert_allclose(pairs["0"].actual[:, :n], pairs["0"].expected[:, :n], rtol=0, atol=2e-7)
    labels = pairs["1"].expected[0, :n].reshape(-1, 2)
    assert (labels[:, 0] != labels[:, 1]).all()
    assert not pairs["2"].actual[0, n:].any()
