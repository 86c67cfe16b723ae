"""Patterns met in real third-party .tflite files (MediaPipe, TF Hub, tflite-micro, PINTO-style
exports), rebuilt by hand so each is small and checked against LiteRT on the file itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from netinspect.check.runtimes.litert import LiteRTRunner
from netinspect.registry import load
from tests.converters.tflite.conftest import tflite_fixture
from tests.converters.tflite.handmade import Op, Spec, T, build
from tests.converters.tflite.parity import run_both
from tests.converters.tflite.test_tflite_parity import assert_close, assert_quantized

CONV = {"Padding": 0, "StrideW": 1, "StrideH": 1, "FusedActivationFunction": 0}


def _write(tmp_path: Path, spec: Spec) -> Path:
    path = tmp_path / "model.tflite"
    path.write_bytes(build(spec))
    return path


def shared_int8_filter() -> Spec:
    """Two int8 CONV_2D reading one filter and bias tensor (the converter deduplicates equal
    constants: DBFace's conv2d_13 and conv2d_65 share theirs)."""
    rng = np.random.default_rng(0)
    filt = rng.integers(-127, 128, (3, 3, 3, 2), dtype=np.int8)
    scales = [0.01, 0.02, 0.015]
    bias = rng.integers(-200, 200, 3, dtype=np.int32)
    tensors = [
        T("x", [1, 6, 5, 2], "int8", quant=([0.05], [-3], 0)),
        T("w", [3, 3, 3, 2], "int8", 1, quant=(scales, [0, 0, 0], 0)),
        T("b", [3], "int32", 2, quant=([0.05 * s for s in scales], [0, 0, 0], 0)),
        T("relu", [1, 6, 5, 3], "int8", quant=([0.1], [-128], 0)),
        T("plain", [1, 6, 5, 3], "int8", quant=([0.2], [5], 0)),
    ]
    same = ("Conv2DOptions", dict(CONV))
    relu = ("Conv2DOptions", {**CONV, "FusedActivationFunction": 1})
    ops = [Op(0, [0, 1, 2], [3], relu), Op(0, [0, 1, 2], [4], same)]
    buffers = [b"", filt.tobytes(), bias.tobytes()]
    return Spec(tensors, ops, [0], [3, 4], ["CONV_2D"], buffers, op_version=3)


def test_int8_filter_shared_by_two_convolutions(tmp_path: Path) -> None:
    """One DequantizeLinear feeds both Convs: the layout pass permutes the shared filter once (it
    stopped with "internal error: … DequantizeLinear input 0 takes no laid-out weight")."""
    assert_quantized(run_both(_write(tmp_path, shared_int8_filter())))


def hybrid_conv(scales: list[float]) -> Spec:
    """A float CONV_2D with an int8 filter (dynamic-range quantization), batch 2: YAMNet's and the
    Magenta style-transfer models' pointwise convolutions carry one scale per filter."""
    rng = np.random.default_rng(1)
    filt = rng.integers(-127, 128, (4, 3, 3, 3), dtype=np.int8)
    bias = rng.uniform(-0.5, 0.5, 4).astype(np.float32)
    tensors = [
        T("x", [2, 5, 6, 3]),
        T("w", [4, 3, 3, 3], "int8", 1, quant=(scales, [0] * len(scales), 0)),
        T("b", [4], "float32", 2),
        T("y", [2, 5, 6, 4]),
    ]
    ops = [Op(0, [0, 1, 2], [3], ("Conv2DOptions", {**CONV, "Padding": 0}))]
    return Spec(tensors, ops, [0], [3], ["CONV_2D"], [b"", filt.tobytes(), bias.tobytes()], op_version=2)


def test_hybrid_conv_with_one_filter_scale_quantizes_its_input_symmetrically(tmp_path: Path) -> None:
    """LiteRT's hybrid CONV_2D quantizes each batch item symmetrically (±127) unless the filter has
    distinct per-channel scales (conv.cc EvalHybrid vs EvalHybridPerChannel); emulated the
    asymmetric way it was 1e-2 off on YAMNet's second pointwise conv."""
    assert_close(run_both(_write(tmp_path, hybrid_conv([0.01]))), rtol=1e-5, atol=1e-5)
    assert_close(run_both(_write(tmp_path, hybrid_conv([0.01, 0.02, 0.01, 0.03]))), rtol=1e-5, atol=1e-5)


def test_full_integer_lstm_dequantizes_its_int32_biases() -> None:
    """A full-integer UNIDIRECTIONAL_SEQUENCE_LSTM (int8 weights, int32 biases, an int16 cell state:
    LiteRT's 8x8_16 kernel), as tflite-micro's mnist_lstm_int8, micro_speech_lstm and DTLN carry: the
    biases were read as their raw int32 values (48 steps off here, 255 on mnist_lstm_int8)."""
    assert_quantized(run_both(tflite_fixture("lstm", "int8")))


def test_full_integer_lstm_equals_litert_bit_for_bit() -> None:
    """The full-integer LSTM computed as LiteRT's 8x8_16 kernel (exact_lstm.py: gates in Q3.12, gemmlowp's
    int16 sigmoid and tanh, the int16 cell update, the hidden requantization), its 6 steps unrolled: 0
    steps from LiteRT on every output over 3 inputs (as a float LSTM over dequantized weights it was 1
    step off on 1–2 of the 40 outputs for 2 of them; DTLN's LOGISTIC turned that into 3 steps)."""
    path = tflite_fixture("lstm", "int8")
    for seed in range(3):
        assert_close(run_both(path, seed=seed), rtol=0, atol=0)


def test_sparse_float16_filter_densified_then_dequantized() -> None:
    """DENSIFY of a sparse float16 constant read by a DEQUANTIZE (MediaPipe's
    face_detection_full_range_sparse): both fold into one float16 initializer and a Cast (the
    DEQUANTIZE was left reading the DENSIFY's output, "has no data")."""
    assert_close(run_both(tflite_fixture("sparse_float16")), rtol=1e-5, atol=1e-5)


def mediapipe_ops() -> Spec:
    """MediaPipe's custom operators with their C-struct options (TfLitePoolParams: padding, strides,
    window, activation; TfLiteTransposeConvParams: padding, strides): MaxPoolingWithArgmax2D →
    MaxUnpooling2D → Convolution2DTransposeBias, as the hair and selfie segmentation models chain them."""
    rng = np.random.default_rng(2)
    pool = np.array([2, 2, 2, 2, 2, 0, 0, 0], "<i4").tobytes()  # VALID, stride 2×2, window 2×2
    deconv = np.array([1, 2, 2], "<i4").tobytes()  # SAME, stride 2×2
    filt = rng.uniform(-1, 1, (5, 3, 3, 3)).astype(np.float32)
    bias = rng.uniform(-1, 1, 5).astype(np.float32)
    tensors = [
        T("x", [1, 4, 6, 3]),
        T("pooled", [1, 2, 3, 3]),
        T("argmax", [1, 2, 3, 3]),
        T("unpooled", [1, 4, 6, 3]),
        T("w", [5, 3, 3, 3], buffer=1),
        T("b", [5], buffer=2),
        T("up", [1, 8, 12, 5]),
    ]
    ops = [
        Op(0, [0], [1, 2], custom=pool),
        Op(1, [1, 2], [3], custom=pool),
        Op(2, [3, 4, 5], [6], custom=deconv),
    ]
    codes: list[str | tuple[str, str]] = [
        ("CUSTOM", "MaxPoolingWithArgmax2D"),
        ("CUSTOM", "MaxUnpooling2D"),
        ("CUSTOM", "Convolution2DTransposeBias"),
    ]
    return Spec(tensors, ops, [0], [3, 6], codes, [b"", filt.tobytes(), bias.tobytes()])


def test_mediapipe_custom_operators_match_xnnpack(tmp_path: Path) -> None:
    """Converted (MaxPool with indices, MaxUnpool, ConvTranspose) and checked against LiteRT's default
    kernels, whose XNNPACK delegate implements these operators (the builtin kernels do not have them);
    they were refused as "custom operator: its semantics are not in the file". Equal maxima in a
    window go where XNNPACK puts them (its windows are read column by column; onnxruntime's row by
    row put them elsewhere: real hair_segmentation 0.31 off on 3 seeds' inputs)."""
    path = _write(tmp_path, mediapipe_ops())
    runner = LiteRTRunner(path)
    assert "XNNPACK" in runner.label
    assert_close(run_both(path), rtol=1e-5, atol=1e-5)
    tied = np.random.default_rng(3).uniform(0, 1, (1, 4, 6, 3)).astype(np.float32)
    tied[:, 0::2, 1::2] = tied[:, 1::2, 0::2] = 2.0  # every window's maximum twice: top right, bottom left
    assert_close(run_both(path, feeds={"x": tied}), rtol=1e-5, atol=1e-5)


def shared_int8_bias() -> Spec:
    """Two int8 1×1 CONV_2D sharing filter and bias but reading inputs of different scales (DBFace's
    conv2d_17 / conv2d_65): the stored bias scale is input scale × filter scale of the first only."""
    rng = np.random.default_rng(4)
    filt = rng.integers(-127, 128, (3, 1, 1, 3), dtype=np.int8)
    scales = [0.01, 0.02, 0.015]
    bias = rng.integers(-3000, 3000, 3, dtype=np.int32)
    tensors = [
        T("x", [1, 4, 5, 3], "int8", quant=([0.05], [-3], 0)),
        T("w", [3, 1, 1, 3], "int8", 1, quant=(scales, [0, 0, 0], 0)),
        T("b", [3], "int32", 2, quant=([0.05 * s for s in scales], [0, 0, 0], 0)),
        T("first", [1, 4, 5, 3], "int8", quant=([0.12], [-20], 0)),
        T("second", [1, 4, 5, 3], "int8", quant=([0.2], [5], 0)),
    ]
    ops = [
        Op(0, [0, 1, 2], [3], ("Conv2DOptions", dict(CONV))),
        Op(0, [3, 1, 2], [4], ("Conv2DOptions", dict(CONV))),
    ]
    return Spec(tensors, ops, [0], [4], ["CONV_2D"], [b"", filt.tobytes(), bias.tobytes()], op_version=3)


def test_int8_bias_shared_by_layers_of_other_input_scales(tmp_path: Path) -> None:
    """LiteRT's integer kernels add the int32 bias to the accumulator as it is, so it counts at the
    layer's own input scale × filter scale, whatever scale the file stores for it: read that way
    (with the stored scale the second conv was 12 steps off on 40 % of DBFace's outputs)."""
    assert_quantized(run_both(_write(tmp_path, shared_int8_bias())))


def unrecorded_shapes() -> Spec:
    """What TOCO wrote for Magenta's style-transfer network (dynamic range): an up-sampling to a size
    computed at run time (SHAPE → STRIDED_SLICE → MUL → PACK), every tensor after it stored with
    shape [] — LiteRT sizes them when it allocates."""
    i32 = np.int32
    consts = {"b1": [1], "e1": [2], "b2": [2], "e2": [3], "step": [1]}
    tensors = [T("x", [1, 3, 4, 2]), T("shape", [4], "int32")]
    buffers = [b""]
    for name, values in consts.items():
        buffers.append(np.array(values, i32).tobytes())
        tensors.append(T(name, [1], "int32", len(buffers) - 1))
    buffers.append(np.array(2, i32).tobytes())
    tensors += [T("h", [], "int32"), T("w", [], "int32"), T("two", [], "int32", len(buffers) - 1)]
    tensors += [
        T("h2", [], "int32"),
        T("w2", [], "int32"),
        T("size", [2], "int32"),
        T("up", []),
        T("relu", []),
    ]
    rng = np.random.default_rng(6)
    buffers += [
        rng.uniform(-1, 1, (3, 1, 1, 2)).astype(np.float32).tobytes(),
        np.float32([0.1, -0.2, 0.3]).tobytes(),
    ]
    tensors += [
        T("filter", [3, 1, 1, 2], buffer=len(buffers) - 2),
        T("bias", [3], buffer=len(buffers) - 1),
        T("y", []),
    ]
    index = {t.name: k for k, t in enumerate(tensors)}

    def at(*names: str) -> list[int]:
        return [index[n] for n in names]

    shrink = ("StridedSliceOptions", {"ShrinkAxisMask": 1})
    ops = [
        Op(0, at("x"), at("shape"), ("ShapeOptions", {"OutType": 2})),
        Op(1, at("shape", "b1", "e1", "step"), at("h"), shrink),
        Op(1, at("shape", "b2", "e2", "step"), at("w"), shrink),
        Op(2, at("h", "two"), at("h2"), ("MulOptions", {})),
        Op(2, at("w", "two"), at("w2"), ("MulOptions", {})),
        Op(3, at("h2", "w2"), at("size"), ("PackOptions", {"ValuesCount": 2, "Axis": 0})),
        Op(4, at("x", "size"), at("up"), ("ResizeNearestNeighborOptions", {})),
        Op(5, at("up"), at("relu")),
        Op(6, at("relu", "filter", "bias"), at("y"), ("Conv2DOptions", dict(CONV))),
    ]
    codes: list[str | tuple[str, str]] = [
        "SHAPE",
        "STRIDED_SLICE",
        "MUL",
        "PACK",
        "RESIZE_NEAREST_NEIGHBOR",
        "RELU",
        "CONV_2D",
    ]
    return Spec(tensors, ops, at("x"), at("y"), codes, buffers)


def test_shapes_the_file_leaves_unrecorded_are_computed(tmp_path: Path) -> None:
    """Each empty shape is computed from the operator's inputs (the up-sampled size evaluated from the
    SHAPE arithmetic): the model converts and matches (it stopped at the CONV_2D: "not enough values
    to unpack (expected 4, got 0)")."""
    path = _write(tmp_path, unrecorded_shapes())
    graph = load(path)
    assert graph.outputs[0].shape == (1, 3, 6, 8)  # NCHW of the computed 1×6×8×3
    assert_close(run_both(path), rtol=1e-5, atol=1e-5)


def run_time_block_paddings() -> Spec:
    """SPACE_TO_BATCH_ND → RELU → BATCH_TO_SPACE_ND with paddings and crops the graph computes (here
    given as inputs), as TF writes a dilated convolution on an input sized at run time."""
    tensors = [
        T("x", [1, 4, 5, 2]),
        T("paddings", [2, 2], "int32"),
        T("crops", [2, 2], "int32"),
        T("block", [2], "int32", 1),
        T("batched", [4, 2, 3, 2]),
        T("relu", [4, 2, 3, 2]),
        T("y", [1, 4, 5, 2]),
    ]
    ops = [Op(0, [0, 3, 1], [4]), Op(1, [4], [5]), Op(2, [5, 3, 2], [6])]
    codes: list[str | tuple[str, str]] = ["SPACE_TO_BATCH_ND", "RELU", "BATCH_TO_SPACE_ND"]
    return Spec(tensors, ops, [0, 1, 2], [6], codes, [b"", np.int32([2, 2]).tobytes()])


def test_space_to_batch_with_paddings_computed_at_run_time(tmp_path: Path) -> None:
    """Pad by the run-time paddings, reshapes sized from the tensor, Slice by the run-time crops
    (tflite-support's dilated_conv.tflite was refused: "tensor … must be a constant here")."""
    x = np.random.default_rng(7).uniform(-1, 1, (1, 4, 5, 2)).astype(np.float32)
    pairs = np.int32([[0, 0], [1, 0]])  # one column padded on the left, cropped again
    feeds = {"x": x, "paddings": pairs, "crops": pairs}
    assert_close(run_both(_write(tmp_path, run_time_block_paddings()), feeds=feeds), rtol=1e-6, atol=1e-6)


def test_int16_input_requantized_to_int8(tmp_path: Path) -> None:
    """An int16 input QUANTIZEd to int8 (tflite-micro's keyword_scrambled models take int16 features):
    read as Cast × scale, as DequantizeLinear takes int16 only from opset 21 (it was refused as
    "16×8 quantization")."""
    tensors = [
        T("features", [1, 8], "int16", quant=([0.002], [0], 0)),
        T("q", [1, 8], "int8", quant=([0.05], [-3], 0)),
        T("y", [1, 8], "int8", quant=([0.05], [-3], 0)),
    ]
    spec = Spec(tensors, [Op(0, [0], [1]), Op(1, [1], [2])], [0], [2], ["QUANTIZE", "RELU"])
    x = np.int16([[-30000, -1200, -26, 0, 25, 26, 1300, 32767]])
    assert_quantized(run_both(_write(tmp_path, spec), feeds={"features": x}))


def test_hybrid_input_quantization_rounds_halves_away_from_zero(tmp_path: Path) -> None:
    """LiteRT quantizes a hybrid layer's input with TfLiteRound (halves away from zero); ONNX Round
    takes halves to even. With the batch item's peak at 127 every x·(127/peak) is x itself, so the
    halves here are exact: each one a filter scale off before (Magenta's style transfer met them)."""
    path = _write(tmp_path, hybrid_conv([0.01]))
    x = np.random.default_rng(8).integers(-40, 40, (2, 5, 6, 3)).astype(np.float32) + 0.5
    x[:, 0, 0, 0] = 127.0  # each batch item's peak
    assert_close(run_both(path, feeds={"x": x}), rtol=1e-5, atol=1e-5)


def keyword_svdf() -> Spec:
    """tflite-micro's keyword-spotting pattern in small: int16 features QUANTIZEd to int8, two
    full-integer SVDFs (int8 feature weights, int16 time weights and state, int32 bias, RELU; rank 1 then
    2), FULLY_CONNECTED, SOFTMAX to int16 probabilities, QUANTIZE to int32 scores."""
    rng = np.random.default_rng(11)
    s_x, s_f, s_t, s_state, s_y = 0.05, 0.01, 0.002, 0.004, 0.3

    def svdf_tensors(tag: str, n_in: int, filters: int, rank: int, first: int) -> tuple[list[T], list[bytes]]:
        units = filters // rank
        tensors = [
            T(f"{tag}_feature", [filters, n_in], "int8", first, quant=([s_f], [0], 0)),
            T(f"{tag}_time", [filters, 5], "int16", first + 1, quant=([s_t], [0], 0)),
            T(f"{tag}_bias", [units], "int32", first + 2, quant=([s_state * s_t], [0], 0)),
            T(f"{tag}_state", [2, filters * 5], "int16", variable=True, quant=([s_state], [0], 0)),
            T(f"{tag}_y", [2, units], "int8", quant=([s_y], [-128], 0)),
        ]
        data = [rng.integers(-127, 128, (filters, n_in), dtype=np.int8).tobytes(),
                rng.integers(-3000, 3000, (filters, 5)).astype(np.int16).tobytes(),
                rng.integers(-20000, 40000, units).astype(np.int32).tobytes()]  # fmt: skip
        return tensors, data

    first, first_data = svdf_tensors("a", 12, 8, 1, 1)
    second, second_data = svdf_tensors("b", 8, 8, 2, 4)
    fc = [T("fc_w", [3, 4], "int8", 7, quant=([0.02], [0], 0)),
          T("fc_b", [3], "int32", 8, quant=([s_y * 0.02], [0], 0)),
          T("logits", [2, 3], "int8", quant=([0.25], [4], 0)),
          T("probabilities", [2, 3], "int16", quant=([1 / 65536], [-32768], 0)),
          T("scores", [2, 3], "int32", quant=([1 / 32768], [0], 0))]  # fmt: skip
    tensors = [T("features", [2, 12], "int16", quant=([0.000625], [0], 0)),
               T("x", [2, 12], "int8", quant=([s_x], [-3], 0)), *first, *second, *fc]  # fmt: skip
    buffers = [b"", *first_data, *second_data, rng.integers(-127, 128, (3, 4), dtype=np.int8).tobytes(),
               np.int32([300, -200, 0]).tobytes()]  # fmt: skip
    relu = {"FusedActivationFunction": 1}
    ops = [
        Op(0, [0], [1]),
        Op(1, [1, 2, 3, 4, 5], [6], ("SVDFOptions", {"Rank": 1, **relu})),
        Op(1, [6, 7, 8, 9, 10], [11], ("SVDFOptions", {"Rank": 2, **relu})),
        Op(2, [11, 12, 13], [14], ("FullyConnectedOptions", {})),
        Op(3, [14], [15], ("SoftmaxOptions", {"Beta": 0.05})),
        Op(0, [15], [16]),
    ]
    return Spec(tensors, ops, [0], [6, 11, 14, 15, 16], ["QUANTIZE", "SVDF", "FULLY_CONNECTED", "SOFTMAX"],
                buffers)  # fmt: skip


def test_full_integer_svdf_and_16_bit_scores_equal_litert(tmp_path: Path) -> None:
    """Full-integer SVDF as LiteRT's EvalIntegerSVDF (refused before: "int8 weights (hybrid SVDF)"), SOFTMAX
    int8 → int16 and QUANTIZE int16 → int32 (refused: "16×8 quantization"): every output, the SVDFs'
    included, equal to LiteRT's on 4 inputs — the integer arithmetic is the kernel's, in every mode."""
    path = _write(tmp_path, keyword_svdf())
    rng = np.random.default_rng(12)
    seen: dict[str, set[int]] = {}
    for _ in range(4):
        x = rng.integers(-3000, 3000, (2, 12)).astype(np.int16)
        pairs = run_both(path, feeds={"features": x})
        assert_close(pairs, rtol=0, atol=0)
        for p in pairs:
            seen.setdefault(p.name, set()).update(int(v) for v in p.expected.reshape(-1))
    assert all(len(values) > 6 for values in seen.values()), seen  # values spread, not saturated


def test_full_integer_svdf_exact_equals_the_reference_kernels(tmp_path: Path) -> None:
    """Under `--exact-int8 on` the same model equals LiteRT's reference kernels on every output: the SVDFs
    alike, SOFTMAX int8 → int16 in the reference kernel's gemmlowp fixed point (its builtin kernel's
    float table is a step off it on some probabilities)."""
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from netinspect.converters.onnx.writer import to_model_proto
    from netinspect.registry import LoadOptions

    path = _write(tmp_path, keyword_svdf())
    model = to_model_proto(load(path, LoadOptions(format_options={"exact-int8": "on"})))
    session = ort.InferenceSession(model.SerializeToString())
    rng = np.random.default_rng(12)
    for _ in range(4):
        x = rng.integers(-3000, 3000, (2, 12)).astype(np.int16)
        reference = Interpreter(str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        reference.allocate_tensors()
        reference.set_tensor(reference.get_input_details()[0]["index"], x)
        reference.invoke()
        got = session.run(None, {session.get_inputs()[0].name: x})
        for output, value in zip(session.get_outputs(), got, strict=True):
            (detail,) = [d for d in reference.get_output_details() if d["name"] == output.name]
            np.testing.assert_array_equal(value, reference.get_tensor(detail["index"]), err_msg=output.name)


def test_integer_svdf_sums_wrap_as_the_kernel_int32(tmp_path: Path) -> None:
    """The integer SVDF sums int16 × int16 products in int32, which wraps when the state saturates against
    large time weights (tflite-micro's keyword_scrambled does: 255 steps, −128 against 127, on its SVDFs
    before): rank 2, both filters of each unit at 32767 × 32767, plus a bias past 2³¹ − 2·32767² — equal
    to LiteRT's wrapped result, and it did wrap (the output the unwrapped sum gives is 127)."""
    s_x, s_f, s_t, s_state = 0.05, 0.01, 0.002, 0.001
    time = np.zeros((4, 3), np.int16)
    time[:, -1] = 32767
    bias = np.int32([300_000, -5])
    tensors = [
        T("x", [1, 6], "int8", quant=([s_x], [0], 0)),
        T("feature", [4, 6], "int8", 1, quant=([s_f], [0], 0)),
        T("time", [4, 3], "int16", 2, quant=([s_t], [0], 0)),
        T("bias", [2], "int32", 3, quant=([s_state * s_t], [0], 0)),
        T("state", [1, 12], "int16", variable=True, quant=([s_state], [0], 0)),
        T("y", [1, 2], "int8", quant=([0.5], [-128], 0)),
    ]
    buffers = [b"", np.full((4, 6), 127, np.int8).tobytes(), time.tobytes(), bias.tobytes()]
    options = ("SVDFOptions", {"Rank": 2, "FusedActivationFunction": 1})
    spec = Spec(tensors, [Op(0, [0, 1, 2, 3, 4], [5], options)], [0], [5], ["SVDF"], buffers)
    (pair,) = run_both(_write(tmp_path, spec), feeds={"x": np.full((1, 6), 100, np.int8)})
    assert_close([pair], rtol=0, atol=0)
    assert pair.expected[0, 0] == -128  # 2·32767² + 300000 wrapped negative; the second unit is not
