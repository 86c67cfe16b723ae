"""Every Caffe layer with an inference meaning, on nets written by fixtures/caffe/make_caffe.py with
random weights, against OpenCV's Caffe importer (rel ≤ 1e-4). The odd cases are named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from netinspect.check.runtimes.caffe import OpenCVCaffeRunner
from tests.converters.caffe.parity import compare, feeds_for, make_caffe, onnx_outputs

pytest.importorskip("cv2")

mk = make_caffe()
L = mk.Layer
R = np.random.default_rng(7)


def conv(name, bottom, top, cin, cout, k=3, extra="", group=1, bias=True, kh=None, kw=None):
    kh, kw = kh or k, kw or k
    shape = f"kernel_size: {k}" if kh == kw else f"kernel_h: {kh} kernel_w: {kw}"
    fields = f"num_output: {cout} {shape} group: {group} bias_term: {str(bias).lower()} {extra}"
    params = f"convolution_param {{ {fields} }}"
    blobs = [mk.rand(R, cout, cin // group, kh, kw)] + ([mk.rand(R, cout)] if bias else [])
    return L(name, "Convolution", [bottom], [top], params, blobs)


IMG = {"data": (1, 4, 9, 11)}

CASES: dict[str, tuple[dict, Callable[[], list], dict]] = {
    "conv_pad_stride": (IMG, lambda: [conv("c", "data", "c", 4, 6, extra="pad: 1 stride: 2")], {}),
    "conv_grouped_dilated": (
        IMG,
        lambda: [conv("c", "data", "c", 4, 6, group=2, extra="dilation: 2 pad: 2")],
        {},
    ),
    "conv_hw_no_bias": (
        IMG,
        lambda: [
            conv(
                "c",
                "data",
                "c",
                4,
                5,
                kh=3,
                kw=1,
                bias=False,
                extra="pad_h: 1 pad_w: 0 stride_h: 2 stride_w: 1",
            )
        ],
        {},
    ),
    "conv_depthwise": (IMG, lambda: [conv("c", "data", "c", 4, 4, group=4, extra="pad: 1")], {}),
    "deconv_grouped": (
        IMG,
        lambda: [
            L(
                "d",
                "Deconvolution",
                ["data"],
                ["d"],
                "convolution_param { num_output: 6 kernel_size: 4 stride: 2 pad: 1 group: 2 }",
                [mk.rand(R, 4, 3, 4, 4), mk.rand(R, 6)],
            )
        ],
        {},
    ),
    "pool_max_ceil_clipped_last_window": (
        IMG,
        lambda: [
            L("p", "Pooling", ["data"], ["p"], "pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 }")
        ],
        {},
    ),
    "pool_max_ceil_no_pad": (
        IMG,
        lambda: [L("p", "Pooling", ["data"], ["p"], "pooling_param { pool: MAX kernel_size: 2 stride: 2 }")],
        {},
    ),
    "pool_ave_padded_edges": (
        IMG,
        lambda: [
            L("p", "Pooling", ["data"], ["p"], "pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 }")
        ],
        {},
    ),
    "pool_ave_ceil_overhang": (
        IMG,
        lambda: [L("p", "Pooling", ["data"], ["p"], "pooling_param { pool: AVE kernel_size: 3 stride: 3 }")],
        {},
    ),
    "pool_ave_clip_pad_large": (
        {"data": (1, 2, 1, 5)},
        lambda: [
            L(
                "p",
                "Pooling",
                ["data"],
                ["p"],
                "pooling_param { pool: AVE kernel_h: 2 kernel_w: 2 stride_h: 2 stride_w: 2 "
                "pad_h: 1 pad_w: 1 }",
            )
        ],
        {},
    ),
    "pool_global": (
        IMG,
        lambda: [L("p", "Pooling", ["data"], ["p"], "pooling_param { pool: AVE global_pooling: true }")],
        {},
    ),
    "inner_product": (
        IMG,
        lambda: [
            L(
                "ip",
                "InnerProduct",
                ["data"],
                ["ip"],
                "inner_product_param { num_output: 7 }",
                [mk.rand(R, 7, 4 * 9 * 11), mk.rand(R, 7)],
            )
        ],
        {},
    ),
    "inner_product_axis2": (
        {"data": (2, 3, 5)},
        lambda: [
            L(
                "ip",
                "InnerProduct",
                ["data"],
                ["ip"],
                "inner_product_param { num_output: 4 axis: 2 }",
                [mk.rand(R, 4, 5), mk.rand(R, 4)],
            )
        ],
        {},
    ),
    "relu_leaky": (
        IMG,
        lambda: [
            L("a", "AbsVal", ["data"], ["a"]),
            L("r", "ReLU", ["a"], ["a"], "relu_param { negative_slope: 0.1 }"),
        ],
        {},
    ),
    "prelu_per_channel": (IMG, lambda: [L("r", "PReLU", ["data"], ["r"], "", [mk.rand(R, 4)])], {}),
    "prelu_shared": (
        IMG,
        lambda: [L("r", "PReLU", ["data"], ["r"], "prelu_param { channel_shared: true }", [mk.rand(R, 1)])],
        {},
    ),
    "elu": (IMG, lambda: [L("e", "ELU", ["data"], ["e"], "elu_param { alpha: 0.7 }")], {}),
    "sigmoid_tanh_absval_bnll": (
        IMG,
        lambda: [
            L("s", "Sigmoid", ["data"], ["s"]),
            L("t", "TanH", ["s"], ["t"]),
            L("a", "AbsVal", ["data"], ["a"]),
            L("b", "BNLL", ["data"], ["b"]),
        ],
        {},
    ),
    "power": (
        IMG,
        lambda: [L("p", "Power", ["data"], ["p"], "power_param { power: 2 scale: 0.5 shift: 1.5 }")],
        {},
    ),
    "exp_base": (
        IMG,
        lambda: [L("e", "Exp", ["data"], ["e"], "exp_param { base: 2 scale: 0.5 shift: 0.1 }")],
        {},
    ),
    "log_default": (IMG, lambda: [L("l", "Log", ["data"], ["l"])], {"low": 0.05}),
    "softmax_axis": (
        {"data": (2, 3, 4)},
        lambda: [L("s", "Softmax", ["data"], ["s"], "softmax_param { axis: 2 }")],
        {},
    ),
    "lrn_across": (
        IMG,
        lambda: [L("n", "LRN", ["data"], ["n"], "lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 }")],
        {},
    ),
    "lrn_within": (
        IMG,
        lambda: [
            L(
                "n",
                "LRN",
                ["data"],
                ["n"],
                "lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 norm_region: WITHIN_CHANNEL }",
            )
        ],
        {},
    ),
    "batchnorm_scale_factor": (
        IMG,
        lambda: [
            L(
                "bn",
                "BatchNorm",
                ["data"],
                ["bn"],
                "batch_norm_param { eps: 0.001 }",
                [mk.rand(R, 4) * 7, mk.rand(R, 4, low=0.5, high=2) * 7, np.array([7.0], np.float32)],
            )
        ],
        {},
    ),
    "batchnorm_factor_zero": (
        IMG,
        lambda: [
            L(
                "bn",
                "BatchNorm",
                ["data"],
                ["bn"],
                "",
                [mk.rand(R, 4), mk.rand(R, 4, low=0.5), np.array([0.0], np.float32)],
            )
        ],
        {},
    ),
    "scale_bias_term": (
        IMG,
        lambda: [
            L(
                "s",
                "Scale",
                ["data"],
                ["s"],
                "scale_param { bias_term: true }",
                [mk.rand(R, 4), mk.rand(R, 4)],
            )
        ],
        {},
    ),
    "scale_axis_num_axes": (
        IMG,
        lambda: [L("s", "Scale", ["data"], ["s"], "scale_param { axis: 1 num_axes: 2 }", [mk.rand(R, 4, 9)])],
        {},
    ),
    "scale_two_bottoms": (
        {"data": (1, 4, 5, 5), "w": (1, 4)},
        lambda: [L("s", "Scale", ["data", "w"], ["s"], "scale_param { axis: 0 }")],
        {},
    ),
    "eltwise_sum_coeff": (
        IMG,
        lambda: [
            L("a", "AbsVal", ["data"], ["a"]),
            L("e", "Eltwise", ["data", "a"], ["e"], "eltwise_param { operation: SUM coeff: 0.5 coeff: -2 }"),
        ],
        {},
    ),
    "eltwise_prod_max": (
        IMG,
        lambda: [
            L("a", "TanH", ["data"], ["a"]),
            L("p", "Eltwise", ["data", "a"], ["p"], "eltwise_param { operation: PROD }"),
            L("m", "Eltwise", ["p", "a"], ["m"], "eltwise_param { operation: MAX }"),
        ],
        {},
    ),
    "concat_slice_split": (
        IMG,
        lambda: [
            L(
                "sl",
                "Slice",
                ["data"],
                ["s1", "s2", "s3"],
                "slice_param { axis: 1 slice_point: 1 slice_point: 3 }",
            ),
            L("sp", "Split", ["s2"], ["t1", "t2"]),
            L("c", "Concat", ["s3", "t1", "s1"], ["c"], "concat_param { axis: 1 }"),
            L("m", "Eltwise", ["t2", "t2"], ["m"]),
        ],
        {},
    ),
    "flatten_axis_end": (
        IMG,
        lambda: [L("f", "Flatten", ["data"], ["f"], "flatten_param { axis: 1 end_axis: 2 }")],
        {},
    ),
    "reshape_zero_minus_one": (
        IMG,
        lambda: [L("r", "Reshape", ["data"], ["r"], "reshape_param { shape { dim: 0 dim: 2 dim: -1 } }")],
        {},
    ),
    "crop": (
        {"data": (1, 3, 10, 12), "ref": (1, 3, 6, 7)},
        lambda: [L("c", "Crop", ["data", "ref"], ["c"], "crop_param { axis: 2 offset: 1 offset: 3 }")],
        {},
    ),
    "dropout_in_place": (
        IMG,
        lambda: [
            conv("c", "data", "c", 4, 3),
            L("d", "Dropout", ["c"], ["c"], "dropout_param { dropout_ratio: 0.3 }"),
            L("r", "ReLU", ["c"], ["c"]),
        ],
        {},
    ),
    "permute": (
        IMG,
        lambda: [L("p", "Permute", ["data"], ["p"], "permute_param { order: 0 order: 2 order: 3 order: 1 }")],
        {},
    ),
    "conv_two_bottoms_shared_weights": (
        {"data": (1, 4, 9, 11), "other": (1, 4, 6, 5)},
        lambda: [
            L(
                "c",
                "Convolution",
                ["data", "other"],
                ["c1", "c2"],
                "convolution_param { num_output: 3 kernel_size: 3 }",
                [mk.rand(R, 3, 4, 3, 3), mk.rand(R, 3)],
            )
        ],
        {},
    ),
    "slice_equal_concat_negative_axis": (
        {"data": (1, 6, 4, 4)},
        lambda: [
            L("s", "Slice", ["data"], ["a", "b"], "slice_param { axis: 1 }"),
            L("k", "Concat", ["b", "a"], ["k"], "concat_param { axis: -3 }"),
        ],
        {},
    ),
    "reshape_axis_num_axes": (
        IMG,
        lambda: [
            L(
                "r",
                "Reshape",
                ["data"],
                ["r"],
                "reshape_param { shape { dim: 2 dim: -1 } axis: 1 num_axes: 1 }",
            )
        ],
        {},
    ),
    "flatten_default_crop_one_offset": (
        {"data": (1, 3, 10, 12), "ref": (1, 3, 6, 7)},
        lambda: [
            L("c", "Crop", ["data", "ref"], ["c"], "crop_param { offset: 2 }"),
            L("f", "Flatten", ["c"], ["f"]),
        ],
        {},
    ),
    "mvn_per_channel": (IMG, lambda: [L("m", "MVN", ["data"], ["m"])], {}),
    "mvn_across_channels_mean_only": (
        IMG,
        lambda: [
            L("m", "MVN", ["data"], ["m"], "mvn_param { across_channels: true normalize_variance: false }")
        ],
        {},
    ),
    "swish": (IMG, lambda: [L("s", "Swish", ["data"], ["s"])], {}),
    "conv_kernel_size_per_axis": (
        IMG,
        lambda: [
            L(
                "c",
                "Convolution",
                ["data"],
                ["c"],
                "convolution_param { num_output: 3 kernel_size: 3 kernel_size: 1 pad: 1 pad: 0 "
                "stride: 2 stride: 1 }",
                [mk.rand(R, 3, 4, 3, 1), mk.rand(R, 3)],
            )
        ],
        {},
    ),
    "pool_max_pad_h_w": (
        IMG,
        lambda: [
            L(
                "p",
                "Pooling",
                ["data"],
                ["p"],
                "pooling_param { pool: MAX kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 3 "
                "pad_h: 1 pad_w: 0 }",
            )
        ],
        {},
    ),
    "inner_product_no_bias_eltwise_three": (
        {"data": (2, 6)},
        lambda: [
            L(
                "a",
                "InnerProduct",
                ["data"],
                ["a"],
                "inner_product_param { num_output: 4 bias_term: false }",
                [mk.rand(R, 4, 6)],
            ),
            L("b", "TanH", ["a"], ["b"]),
            L("c", "Sigmoid", ["a"], ["c"]),
            L("e", "Eltwise", ["a", "b", "c"], ["e"], "eltwise_param { coeff: 1 coeff: 2 coeff: -1 }"),
            L("s", "Softmax", ["e"], ["s"]),
        ],
        {},
    ),
    "normalize_across_shared": (IMG, lambda: [L("n", "Normalize", ["data"], ["n"], "", [mk.rand(R, 1)])], {}),
    "normalize_per_pixel_per_channel": (
        IMG,
        lambda: [
            L(
                "n",
                "Normalize",
                ["data"],
                ["n"],
                "norm_param { across_spatial: false channel_shared: false eps: 0.001 }",
                [mk.rand(R, 4)],
            )
        ],
        {},
    ),
    "prior_box": (
        {"data": (1, 4, 5, 6), "image": (1, 3, 40, 48)},
        lambda: [
            L(
                "p",
                "PriorBox",
                ["data", "image"],
                ["p"],
                "prior_box_param { min_size: 9 max_size: 20 aspect_ratio: 2 aspect_ratio: 3 flip: true "
                "clip: true variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 }",
            )
        ],
        {},
    ),
    "prior_box_step_offset_unclipped": (
        {"data": (1, 4, 3, 4), "image": (1, 3, 30, 30)},
        lambda: [
            L(
                "p",
                "PriorBox",
                ["data", "image"],
                ["p"],
                "prior_box_param { min_size: 7 min_size: 12 aspect_ratio: 2 flip: false "
                "clip: false step: 8 offset: 0.25 variance: 0.1 }",
            )
        ],
        {},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_matches_opencv(case: str, tmp_path: Path) -> None:
    inputs, layers, options = CASES[case]
    prototxt, weights = mk.write_net(tmp_path, case, inputs, layers())
    assert compare(prototxt, weights, low=options.get("low", -1.0)) <= 1e-4


V1_NET = lambda: [  # noqa: E731
    conv("conv1", "data", "conv1", 4, 6, extra="pad: 1"),
    L("relu1", "ReLU", ["conv1"], ["conv1"]),
    L("pool1", "Pooling", ["conv1"], ["pool1"], "pooling_param { pool: MAX kernel_size: 3 stride: 2 }"),
    L(
        "ip1",
        "InnerProduct",
        ["pool1"],
        ["ip1"],
        "inner_product_param { num_output: 5 }",
        [mk.rand(R, 5, 6 * 4 * 5), mk.rand(R, 5)],
    ),
    L("drop", "Dropout", ["ip1"], ["ip1"]),
    L("prob", "Softmax", ["ip1"], ["prob"]),
]


@pytest.mark.parametrize(
    "v1_text,v1_binary,input_style,packed",
    [
        (True, True, "dim", True),  # a V1 net throughout, legacy input + input_dim
        (False, True, "shape", True),  # a V2 prototxt with V1 weights, legacy input + input_shape
        (True, False, "dim", True),  # a V1 prototxt with V2 weights
        (False, False, "layer", False),  # unpacked floats in the caffemodel
    ],
    ids=["v1_v1_input_dim", "v2_text_v1_binary_input_shape", "v1_text_v2_binary", "unpacked_floats"],
)
def test_v1_v2_mixes_and_legacy_inputs(v1_text, v1_binary, input_style, packed, tmp_path: Path) -> None:
    prototxt, weights = mk.write_net(
        tmp_path,
        "mix",
        IMG,
        V1_NET(),
        v1_text=v1_text,
        v1_binary=v1_binary,
        input_style=input_style,
        packed=packed,
    )
    assert compare(prototxt, weights) <= 1e-4


@pytest.mark.parametrize("pool", ["MAX", "AVE"])
def test_spp_is_its_pyramid_of_poolings(pool: str, tmp_path: Path) -> None:
    """SPP (which OpenCV lacks) against OpenCV running the poolings SPPLayer builds, written out."""

    inputs = {"data": (1, 3, 7, 10)}
    spp = L("s", "SPP", ["data"], ["s"], f"spp_param {{ pyramid_height: 3 pool: {pool} }}")
    spp_net = mk.write_net(tmp_path / "spp", "spp", inputs, [spp])
    explicit = []
    for level, (kh, kw, ph, pw) in enumerate([(7, 10, 0, 0), (4, 5, 1, 0), (2, 3, 1, 1)]):
        params = f"pooling_param {{ pool: {pool} kernel_h: {kh} kernel_w: {kw} stride_h: {kh} stride_w: {kw} "
        params += f"pad_h: {ph} pad_w: {pw} }}"
        explicit += [L(f"p{level}", "Pooling", ["data"], [f"p{level}"], params),
                     L(f"f{level}", "Flatten", [f"p{level}"], [f"f{level}"])]  # fmt: skip
    explicit.append(L("s", "Concat", ["f0", "f1", "f2"], ["s"]))
    reference = OpenCVCaffeRunner(*mk.write_net(tmp_path / "explicit", "explicit", inputs, explicit))
    feeds = feeds_for(reference, 0)
    expected = reference.run(feeds)["s"]
    actual = onnx_outputs(*spp_net, feeds)["s"]
    assert actual.shape == expected.shape == (1, 3 * (1 + 4 + 16))
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)
