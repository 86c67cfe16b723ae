"""`--exact-int8 on` beyond int8 (issue 20 item 8): the converted model equals LiteRT's reference kernels
(`OpResolverType.BUILTIN_REF`) bit for bit — every layer and every output 0 steps over several random
inputs — where the QDQ conversion of the same file is steps off them."""

from __future__ import annotations

import math

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from netinspect.converters.onnx.writer import to_model_proto
from netinspect.registry import LoadOptions, load
from tests.converters.tflite.conftest import exact_fixture, tflite_fixture

EXACT = LoadOptions(format_options={"exact-int8": "on"})


def _assert_exact(path: object, runs: int, types: set[str]) -> None:
    """check --exact-int8 on passes with 0 steps on every output and layer; the layers include `types`;
    the QDQ conversion (no --exact-int8) is at least a step off the reference kernels somewhere; the
    integer model passes onnx.checker's full check (types and shapes of every int64 and 8-bit node)."""
    from netinspect.check.api import check

    onnx.checker.check_model(to_model_proto(load(path, EXACT)), full_check=True)

    exact = check(path, runs=runs, layers="always", options=EXACT)
    assert exact.source.runtime.endswith("(reference kernels)")
    assert exact.passed, [o.worst.summary() for o in exact.outputs]
    assert all(c.max_abs_error == 0 for o in exact.outputs for c in o.runs)  # float outputs too
    assert exact.layers is not None and exact.layers.divergence is None
    failed = [c.pair.layer_type for c in exact.layers.checks if not c.comparison.passed]
    assert not failed, failed
    assert types <= {c.pair.layer_type for c in exact.layers.checks}
    plain = check(path, runs=runs, layers="never")
    steps = [c.kernels.errors["reference kernels"] for o in plain.outputs for c in o.runs if c.kernels]
    assert max(steps) > 0


@pytest.mark.parametrize(
    ("name", "types"),
    [
        ("legacy_net", {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MUL", "LOGISTIC", "TANH", "AVERAGE_POOL_2D",
                        "MEAN", "FULLY_CONNECTED", "SOFTMAX", "QUANTIZE", "CONCATENATION", "RESIZE_BILINEAR",
                        "RESIZE_NEAREST_NEIGHBOR", "SUM", "TRANSPOSE_CONV", "LEAKY_RELU", "HARD_SWISH",
                        "RELU6"}),
        ("legacy_mobilenet", {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED", "SOFTMAX"}),
    ],
)  # fmt: skip
def test_exact_legacy_uint8_equals_the_reference_kernels(name: str, types: set[str]) -> None:
    """Legacy uint8 models (TF1's converter on fake-quantized graphs: uint8 weights with zero points, per
    tensor): reference_ops' uint8 Conv/DepthwiseConv (the same double-rounding fixed point as int8, plus
    the filter's zero point), FullyConnected (acc·in·w/out rounded once in double), and the uint8 forms of
    ADD, MUL, LOGISTIC, TANH (256-entry tables over 0…255), AVERAGE_POOL_2D, MEAN, SUM and SOFTMAX (output
    zero point 0), LEAKY_RELU, HARD_SWISH, RELU6 (tables over 0…255); QUANTIZE uint8→uint8 (Requantize)
    and CONCATENATION of inputs at other scales
    (ConcatenationWithScaling's float32 rounding), tabulated; TRANSPOSE_CONV with the filter's zero point;
    RESIZE_BILINEAR in float32 in the kernel's
    order and RESIZE_NEAREST_NEIGHBOR at its indices: every layer 0 steps over 5 random inputs (the QDQ
    form: 1–14 steps off)."""
    _assert_exact(exact_fixture(name), 5, types)


def test_exact_int8_resize_transpose_conv_and_quantize_equal_the_reference_kernels() -> None:
    """int8 with float input and output: QUANTIZE from float (x/scale rounded half away from zero),
    MAX_POOL_2D, MEAN over H and W with keep_dims, broadcast MUL, RESIZE_BILINEAR half-pixel and
    align-corners (ResizeBilinearInteger's 10-bit fixed point), RESIZE_NEAREST_NEIGHBOR, TRANSPOSE_CONV
    (the scatter as ConvInteger over the stride-spread input with the filter flipped), CONCATENATION,
    DEQUANTIZE: every layer 0 steps over 5 random inputs, where the QDQ form is steps off."""
    types = {"QUANTIZE", "MAX_POOL_2D", "MEAN", "MUL", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR",
             "TRANSPOSE_CONV", "CONCATENATION", "DEQUANTIZE"}  # fmt: skip
    _assert_exact(exact_fixture("int8_more"), 5, types)


def test_exact_int8_activations_computed_per_stored_value_equal_the_reference_kernels() -> None:
    """int8 HARD_SWISH (the kernel's int16 fixed point), LEAKY_RELU (two fixed-point multipliers from
    float32 scale ratios), and RELU, RELU6, RELU_N1_TO_1 standing alone (ReluX: rescale, clamp), each a
    256-entry table computed with the kernel's arithmetic: every layer 0 steps over 5 random inputs."""
    types = {"HARD_SWISH", "LEAKY_RELU", "RELU", "RELU6", "RELU_N1_TO_1"}
    _assert_exact(exact_fixture("int8_relus"), 5, types)


def test_exact_int8_prelu_and_sub_equal_the_reference_kernels() -> None:
    """int8 PRELU (a Keras PReLU, slopes of both signs: one Q31 multiplier for x ≥ 0, another for
    x·(α − zp_α)) and SUB (ADD's arithmetic with the second scaled input subtracted; two convolutions,
    and a broadcast constant): every layer 0 steps over 5 random inputs."""
    _assert_exact(exact_fixture("int8_prelu_sub"), 5, {"PRELU", "SUB"})


def test_exact_int8_mobilenet_v3_equals_the_reference_kernels_end_to_end() -> None:
    """keras.applications' MobileNetV3Small in full int8 (random weights, batch norms calibrated on random
    images so the output depends on the input): HARD_SWISH, squeeze-and-excitation MEAN/MUL, ADD, the
    convolutions, SOFTMAX — all 111 layers and the output 0 steps from the reference kernels over 3
    random inputs."""
    _assert_exact(exact_fixture("mobilenet_v3"), 3, {"HARD_SWISH", "MEAN", "MUL", "ADD", "SOFTMAX"})


def test_exact_int8_transformer_block_equals_the_reference_kernels() -> None:
    """A Keras transformer block in int8 (MultiHeadAttention, two LayerNormalizations, a feed-forward):
    BATCH_MATMUL (float64 MatMul of the centred operands, the double-rounding fixed point), SOFTMAX, the
    layer norms' SQUARED_DIFFERENCE (ADD's arithmetic with a 7-bit shift, the difference squared), MEAN,
    RSQRT, the float NEG between DEQUANTIZE and QUANTIZE, FULLY_CONNECTED on 3-D input: every layer 0
    steps over 3 random inputs (BATCH_MATMUL was the first to diverge in QDQ form)."""
    types = {"BATCH_MATMUL", "SOFTMAX", "SQUARED_DIFFERENCE", "MEAN", "RSQRT", "FULLY_CONNECTED"}
    _assert_exact(exact_fixture("int8_attention"), 3, types)


@pytest.mark.parametrize(("name", "qdq_differs"), [("int8_rsqrt", False), ("int8_abs_neg", False),
                                                   ("int8_math", True), ("int8_div", False)])  # fmt: skip
def test_exact_int8_elementwise_ops_for_every_stored_value(name: str, qdq_differs: bool) -> None:
    """int8 RSQRT (GetInvSqrtQuantizedMultiplierExp's Newton–Raphson), ABS (rescaled), EXP, LOG, GELU in
    its tanh and erfc forms (LUTPopulate's float32 tables), SQRT (truncated, not rounded) and DIV
    (x/(|x| + 1): a 256 × 256 table of DivElementwise's reciprocal arithmetic), fed every stored value
    their kernels accept: the ONNX model (gathers from tables, no float Sqrt) equals the reference
    kernels on all of them. The QDQ form differs on `int8_math` (SQRT's truncation); on the other three
    onnxruntime's float forms happen to agree (the tables are exact by construction). The converter
    leaves `-x` in float (DEQUANTIZE, NEG, QUANTIZE), which the exact QUANTIZE rounds as LiteRT does."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    path = exact_fixture(name)
    reference = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    reference.allocate_tensors()
    spec = reference.get_input_details()[0]
    signed = name in ("int8_abs_neg", "int8_div")
    low = -128 if signed else spec["quantization"][1]  # RSQRT, SQRT refuse values below 0
    values = np.arange(low, 128, dtype=np.int8)
    feed = np.resize(values, spec["shape"])  # every value at least twice, in the (1, 16, 16, 3) input
    reference.set_tensor(spec["index"], feed)
    reference.invoke()
    expected = [reference.get_tensor(d["index"]) for d in reference.get_output_details()]
    model = to_model_proto(load(path, EXACT))
    assert not {"Sqrt", "Reciprocal"} & {n.op_type for n in model.graph.node}
    session = ort.InferenceSession(model.SerializeToString())
    got = session.run(None, {session.get_inputs()[0].name: feed.transpose(0, 3, 1, 2)})  # NCHW input
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g if g.shape == e.shape else g.transpose(0, 2, 3, 1), e)
    if qdq_differs:
        plain = ort.InferenceSession(to_model_proto(load(path)).SerializeToString())
        got = plain.run(None, {plain.get_inputs()[0].name: feed.transpose(0, 3, 1, 2)})
        same = [
            np.array_equal(g if g.shape == e.shape else g.transpose(0, 2, 3, 1), e)
            for g, e in zip(got, expected, strict=True)
        ]
        assert not all(same)


def test_exact_int8_l2_normalization_in_qdq_form_equals_the_reference_kernel() -> None:
    """int8 L2_NORMALIZATION keeps its QDQ form (x/‖x‖ in float, quantized at 1/128): against the
    reference kernel's GetInvSqrtQuantizedMultiplierExp fixed point it is 0 steps on all 81,920 values of
    10 random inputs here — measured, not exact by construction."""
    from netinspect.check.api import check

    result = check(exact_fixture("int8_l2norm"), runs=10, layers="always", options=EXACT)
    assert result.passed and result.layers is not None
    assert all(c.comparison.passed for c in result.layers.checks)
    assert "L2_NORMALIZATION" in {c.pair.layer_type for c in result.layers.checks}


def test_exact_float_input_quantization_rounds_ties_away_from_zero() -> None:
    """Float inputs exactly halfway between two steps (x/scale = k + ½ in float32): LiteRT's QUANTIZE
    rounds them away from zero, onnxruntime's QuantizeLinear to even; under `--exact-int8 on` every output
    equals the reference kernels on such inputs (the QDQ form differs)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    path = exact_fixture("int8_more")
    reference = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    reference.allocate_tensors()
    spec = reference.get_input_details()[0]
    (quantize,) = [o for o in reference._get_ops_details() if o["op_name"] == "QUANTIZE"]
    scale = np.float32(reference.get_tensor_details()[quantize["outputs"][0]]["quantization"][0])
    rng = np.random.default_rng(5)
    halves = rng.integers(-60, 60, spec["shape"]).astype(np.float32) + np.float32(0.5)
    feed = (halves * scale).astype(np.float32)
    ties = (feed / scale).astype(np.float32) == halves
    assert ties.mean() > 0.5
    reference.set_tensor(spec["index"], feed)
    reference.invoke()
    expected = {d["name"]: reference.get_tensor(d["index"]) for d in reference.get_output_details()}
    differs = False
    for options in (EXACT, LoadOptions()):
        session = ort.InferenceSession(to_model_proto(load(path, options)).SerializeToString())
        nchw = {i.name: feed.transpose(0, 3, 1, 2) for i in session.get_inputs()}
        for output, got in zip(session.get_outputs(), session.run(None, nchw), strict=True):
            want = expected[output.name]
            got = got.transpose(0, 2, 3, 1) if got.ndim == 4 else got
            if options is EXACT:
                np.testing.assert_array_equal(got, want, err_msg=output.name)
            else:
                differs = differs or not np.array_equal(got, want)
    assert differs


def test_exact_int8_sum_is_the_arithmetic_the_reference_kernel_means() -> None:
    """int8 SUM: LiteRT's reference kernel (QuantizedMeanOrSum<int8_t, kReference>) reads the int8 bytes
    as uint8 — a bug, its builtin kernel reads them as int8. `--exact-int8 on` computes the intended
    arithmetic (the int32 sum less n·zp_in, MultiplyByQuantizedMultiplier, + zp_out) bit for bit, and the
    reference kernel is shown to be the uint8 misreading of the same input, so `check --exact-int8 on`
    reports that layer off (the model's output is that SUM dequantized)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    path = exact_fixture("int8_sum")
    reference = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                            experimental_preserve_all_tensors=True)  # fmt: skip
    reference.allocate_tensors()
    spec = reference.get_input_details()[0]
    feed = np.random.default_rng(6).uniform(-1, 1, spec["shape"]).astype(np.float32)
    reference.set_tensor(spec["index"], feed)
    reference.invoke()
    details = reference.get_tensor_details()
    (op,) = [o for o in reference._get_ops_details() if o["op_name"] == "SUM"]
    x_d, out_d = details[op["inputs"][0]], details[op["outputs"][0]]
    x = reference.get_tensor(x_d["index"])
    (s_in, zp_in), (s_out, zp_out) = x_d["quantization"], out_d["quantization"]

    def quantized_sum(values: np.ndarray, low: int, high: int) -> np.ndarray:
        total = values.astype(np.int64).sum(-1, keepdims=True) - zp_in * values.shape[-1]
        real = float(np.float32(s_in)) / float(np.float32(s_out))
        mantissa, exponent = math.frexp(real)
        multiplier = math.floor(mantissa * (1 << 31) + 0.5)
        if multiplier == 1 << 31:
            multiplier, exponent = multiplier // 2, exponent + 1
        scaled = np.vectorize(lambda t: _fixed_point_multiply(int(t), multiplier, exponent))(total)
        return np.clip(scaled + zp_out, low, high)

    intended = quantized_sum(x, -128, 127).astype(np.int8)
    misread = quantized_sum(x.view(np.uint8), 0, 255).astype(np.uint8).view(np.int8)
    np.testing.assert_array_equal(reference.get_tensor(out_d["index"]), misread)
    assert not np.array_equal(intended, misread)

    session = ort.InferenceSession(to_model_proto(load(path, EXACT)).SerializeToString())
    (got,) = session.run(None, {session.get_inputs()[0].name: feed.transpose(0, 3, 1, 2)})
    dequantized = (intended.astype(np.float32) - np.float32(zp_out)) * np.float32(s_out)  # the DEQUANTIZE
    np.testing.assert_array_equal(got.transpose(0, 2, 3, 1), dequantized)


def _fixed_point_multiply(x: int, multiplier: int, shift: int) -> int:
    """MultiplyByQuantizedMultiplier as gemmlowp writes it: a rounding doubling high multiply of
    x·2^max(shift, 0) by the Q31 multiplier (nudge ±2³⁰, truncating division by 2³¹), then a rounding
    right shift by max(−shift, 0) (half away from zero)."""
    product = x * (1 << max(shift, 0)) * multiplier
    nudged = product + ((1 << 30) if product >= 0 else 1 - (1 << 30))
    high = abs(nudged) >> 31 if nudged >= 0 else -(abs(nudged) >> 31)
    exponent = max(-shift, 0)
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (1 if high < 0 else 0)
    return (high >> exponent) + (1 if (high & mask) > threshold else 0)


def test_exact_check_demands_zero_steps_and_names_the_layer() -> None:
    """Where the converted model cannot equal the reference kernels (int8 SUM, whose reference kernel
    misreads its input), `check --exact-int8 on` fails and names that layer as the first to diverge."""
    from netinspect.check.api import check

    result = check(exact_fixture("int8_sum"), runs=1, options=EXACT)
    assert not result.passed
    assert result.layers is not None and result.layers.divergence is not None
    assert result.layers.divergence.pair.layer_type == "SUM"


@pytest.mark.parametrize(
    ("name", "mode"),
    [("conv", "int8"), ("conv", "uint8"), ("conv_groups", "int8"), ("transpose_conv_batch", "int8"),
     ("legacy_uint8", "uint8")],
)  # fmt: skip
def test_exact_fixtures_of_the_parity_suite_equal_the_reference_kernels(name: str, mode: str) -> None:
    """The parity suite's quantized fixtures whose every operator `--exact-int8` computes: the `conv`
    fixture (CONV_2D, DEPTHWISE ×2, TRANSPOSE_CONV with and without bias, pools, FULLY_CONNECTED, TANH,
    SOFTMAX) with int8 and with uint8 I/O (QUANTIZE uint8↔int8 at the ends), `conv_groups`, TRANSPOSE_CONV
    on a run-time batch, the small legacy uint8 model: every layer and output 0 steps over 5 inputs."""
    from netinspect.check.api import check

    result = check(tflite_fixture(name, mode), runs=5, layers="always", options=EXACT)
    assert result.passed, [o.worst.summary() for o in result.outputs]
    assert all(c.max_abs_error == 0 for o in result.outputs for c in o.runs)
    assert result.layers is not None and all(c.comparison.passed for c in result.layers.checks)


def _legacy_uint8_pointwise() -> bytes:
    """A legacy uint8 1×1 CONV_2D and DEPTHWISE_CONV_2D (depth multiplier 4) on a one-channel input, with
    the scales of tflite-support's uint8 MobileNet v1 Conv2d_2_pointwise (input and output 0.023528477,
    filter 0.020636026, zero points 0, 128, 0). Each channel's bias places an accumulator of 8843 on the
    input value 200: there the Q31 multiplier of the double product in·w/out (1418096896) gives 183 and
    the kernel's, from the float32 product (1418096877), 182."""
    from tests.converters.tflite.handmade import Op, Spec, T, build

    s_in, s_w = 0.023528477, 0.020636026
    centred = np.array([1, -1, 2, 3])  # q_w − zp_w per output channel
    bias = (8843 - 200 * centred).astype(np.int32)
    weight = (centred + 128).astype(np.uint8)
    bias_q = ([float(np.float32(s_in) * np.float32(s_w))], [0], 0)
    tensors = [
        T("x", [1, 16, 16, 1], "uint8", quant=([s_in], [0], 0)),
        T("conv_w", [4, 1, 1, 1], "uint8", 1, quant=([s_w], [128], 0)),
        T("dw_w", [1, 1, 1, 4], "uint8", 1, quant=([s_w], [128], 0)),
        T("b", [4], "int32", 2, quant=bias_q),
        T("conv", [1, 16, 16, 4], "uint8", quant=([s_in], [0], 0)),
        T("depthwise", [1, 16, 16, 4], "uint8", quant=([s_in], [0], 0)),
    ]
    valid = {"Padding": 1, "StrideW": 1, "StrideH": 1, "FusedActivationFunction": 0}
    ops = [
        Op(0, [0, 1, 3], [4], ("Conv2DOptions", valid)),
        Op(1, [0, 2, 3], [5], ("DepthwiseConv2DOptions", {**valid, "DepthMultiplier": 4})),
    ]
    spec = Spec(tensors, ops, [0], [4, 5], ["CONV_2D", "DEPTHWISE_CONV_2D"],
                [b"", weight.tobytes(), bias.tobytes()])  # fmt: skip
    return build(spec)


def test_exact_legacy_uint8_conv_multiplier_from_the_float32_scale_product(tmp_path: object) -> None:
    """Legacy uint8 CONV_2D / DEPTHWISE_CONV_2D take GetQuantizedConvolutionMultipler's multiplier:
    (double)(in_scale·w_scale as float32) / out_scale, not the per-channel double product. Fed every
    input value (a ramp 0…255), both outputs equal the reference kernels bit for bit (with the double
    product both were a step off where the accumulator is 8843: tflite-support's uint8 MobileNet v1 and
    AutoML labeler met it, 0.01 % of one layer)."""
    from pathlib import Path

    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    path = Path(str(tmp_path)) / "legacy_pointwise.tflite"
    path.write_bytes(_legacy_uint8_pointwise())
    ramp = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    reference = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    reference.allocate_tensors()
    reference.set_tensor(reference.get_input_details()[0]["index"], ramp)
    reference.invoke()
    expected = {d["name"]: reference.get_tensor(d["index"]) for d in reference.get_output_details()}
    assert {int(v[0, 12, 8].max()) for v in expected.values()} == {182}  # input 200: the tie-near cell

    session = ort.InferenceSession(to_model_proto(load(path, EXACT)).SerializeToString())
    got = session.run(None, {session.get_inputs()[0].name: ramp.transpose(0, 3, 1, 2)})
    for output, value in zip(session.get_outputs(), got, strict=True):
        np.testing.assert_array_equal(value.transpose(0, 2, 3, 1), expected[output.name], err_msg=output.name)
