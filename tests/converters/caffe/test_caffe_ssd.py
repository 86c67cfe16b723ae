"""SSD's detection head (Permute, Flatten, Softmax, PriorBox, DetectionOutput) against OpenCV.

OpenCV returns keep_top_k rows ordered by score and zero-filled; Caffe (and the conversion) returns
the kept rows only, by label then score. The test compares the kept rows as sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from netinspect.check.runtimes.caffe import OpenCVCaffeRunner
from tests.converters.caffe.parity import make_caffe, onnx_outputs

pytest.importorskip("cv2")

mk = make_caffe()
L = mk.Layer
CLASSES = 3


def ssd_head(
    rng: np.random.Generator, keep_top_k: int, top_k: int, code: str, threshold: float, extra: str = ""
) -> list:
    priors_per_cell = 4  # min, max, ar 2, ar 1/2
    return [
        L(
            "loc",
            "Convolution",
            ["data"],
            ["loc"],
            f"convolution_param {{ num_output: {priors_per_cell * 4} kernel_size: 3 pad: 1 }}",
            [mk.rand(rng, 16, 4, 3, 3) * 0.3, mk.rand(rng, 16) * 0.1],
        ),
        L(
            "conf",
            "Convolution",
            ["data"],
            ["conf"],
            f"convolution_param {{ num_output: {priors_per_cell * CLASSES} kernel_size: 3 pad: 1 }}",
            [mk.rand(rng, 12, 4, 3, 3) * 2, mk.rand(rng, 12)],
        ),
        L(
            "loc_perm",
            "Permute",
            ["loc"],
            ["loc_perm"],
            "permute_param { order: 0 order: 2 order: 3 order: 1 }",
        ),
        L("loc_flat", "Flatten", ["loc_perm"], ["loc_flat"]),
        L(
            "conf_perm",
            "Permute",
            ["conf"],
            ["conf_perm"],
            "permute_param { order: 0 order: 2 order: 3 order: 1 }",
        ),
        L(
            "conf_rs",
            "Reshape",
            ["conf_perm"],
            ["conf_rs"],
            f"reshape_param {{ shape {{ dim: 0 dim: -1 dim: {CLASSES} }} }}",
        ),
        L("conf_sm", "Softmax", ["conf_rs"], ["conf_sm"], "softmax_param { axis: 2 }"),
        L("conf_flat", "Flatten", ["conf_sm"], ["conf_flat"]),
        L(
            "priors",
            "PriorBox",
            ["data", "image"],
            ["priors"],
            "prior_box_param { min_size: 10 max_size: 20 "
            "aspect_ratio: 2 flip: true clip: true variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 }",
        ),
        L(
            "detection_out",
            "DetectionOutput",
            ["loc_flat", "conf_flat", "priors"],
            ["detection_out"],
            f"detection_output_param {{ num_classes: {CLASSES} share_location: true "
            f"background_label_id: {2 if 'background_label_id' in extra else 0} "
            f"nms_param {{ nms_threshold: 0.45 top_k: {top_k} }} code_type: {code} keep_top_k: {keep_top_k} "
            f"confidence_threshold: {threshold} {extra.replace('background_label_id: 2', '')} }}",
        ),
    ]


def rows(detections: np.ndarray) -> np.ndarray:
    found = detections.reshape(-1, 7)
    found = found[found[:, 2] > 0]
    return found[np.lexsort((-found[:, 2], found[:, 1]))]


@pytest.mark.parametrize(
    "keep_top_k,top_k,code,threshold,extra",
    [
        (20, 400, "CENTER_SIZE", 0.3, ""),
        (5, 10, "CENTER_SIZE", 0.2, ""),
        (50, 400, "CORNER", 0.4, ""),
        (20, 400, "CENTER_SIZE", 0.3, "background_label_id: 2"),
    ],
    ids=["center_size", "top_k_and_keep_top_k", "corner", "background_last"],
)
def test_detection_output_matches_opencv(keep_top_k, top_k, code, threshold, extra, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    prototxt, weights = mk.write_net(
        tmp_path,
        "ssd",
        {"data": (1, 4, 6, 6), "image": (1, 3, 48, 48)},
        ssd_head(rng, keep_top_k, top_k, code, threshold, extra),
    )
    feeds = {
        "data": rng.uniform(-1, 1, (1, 4, 6, 6)).astype(np.float32),
        "image": np.zeros((1, 3, 48, 48), np.float32),
    }
    expected = rows(OpenCVCaffeRunner(prototxt, weights).run(feeds)["detection_out"])
    actual = onnx_outputs(prototxt, weights, feeds)["detection_out"]
    assert actual.shape[:2] == (1, 1) and actual.shape[3] == 7
    assert len(expected) > 2, "the test net should detect something"
    got = actual.reshape(-1, 7)
    np.testing.assert_allclose(got, rows(got), rtol=0, atol=0)  # Caffe's order: label, then score
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_nothing_detected_gives_one_empty_row(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    prototxt, weights = mk.write_net(
        tmp_path,
        "ssd",
        {"data": (1, 4, 6, 6), "image": (1, 3, 48, 48)},
        ssd_head(rng, 10, 400, "CENTER_SIZE", 2.0),
    )
    feeds = {
        "data": rng.uniform(-1, 1, (1, 4, 6, 6)).astype(np.float32),
        "image": np.zeros((1, 3, 48, 48), np.float32),
    }
    actual = onnx_outputs(prototxt, weights, feeds)["detection_out"]
    np.testing.assert_array_equal(actual, [[[[0, -1, -1, -1, -1, -1, -1]]]])
