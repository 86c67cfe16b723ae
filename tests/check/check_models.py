"""A small correct classifier built with onnx.helper, and the conversion bugs `check` must catch.

Node names play the role of source layers (the ONNX reader makes them the provenance layer),
so each broken copy must be blamed on the layer whose edit broke it. Weights are seeded and
scaled per layer so activations stay O(1..100): large enough that a wrong LRN alpha matters,
small enough that the softmax does not saturate and hide a bug.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

INPUT_SHAPE = (1, 3, 16, 16)
CLASSES = 10
LRN = {"size": 5, "alpha": 1e-4, "beta": 0.75, "bias": 1.0}


def _weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20240501)

    def kernel(shape: tuple[int, ...], gain: float) -> np.ndarray:
        fan_in = int(np.prod(shape[1:]))
        return (rng.standard_normal(shape) * gain / np.sqrt(fan_in)).astype(np.float32)

    return {
        "conv1_w": kernel((8, 3, 3, 3), 60.0),
        "conv1_b": rng.uniform(-1, 1, 8).astype(np.float32),
        "conv2_w": kernel((16, 8, 3, 3), 1.0),
        "conv2_b": rng.uniform(-1, 1, 16).astype(np.float32),
        "drop2_scale": np.array(0.5, dtype=np.float32),
        "fc_w": kernel((CLASSES, 16 * 8 * 8), 0.2),
        "fc_b": rng.uniform(-1, 1, CLASSES).astype(np.float32),
    }


def classifier(
    edit: Callable[[dict[str, np.ndarray], dict[str, dict]], None] | None = None,
) -> onnx.ModelProto:
    """conv1 → relu1 → norm1 (LRN) → pool1 → conv2 → relu2 → drop2 (test-time scale) → flatten → fc → prob.

    `edit(weights, attributes)` may change weights and node attributes before the graph is built.
    """
    weights = _weights()
    attrs: dict[str, dict] = {
        "conv1": {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]},
        "norm1": dict(LRN),
        "pool1": {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [0, 0, 1, 1]},
        "conv2": {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]},
        "flatten": {"axis": 1},
        "fc": {"transB": 1},
        "prob": {"axis": 1},
    }
    if edit is not None:
        edit(weights, attrs)
    nodes = [
        helper.make_node("Conv", ["data", "conv1_w", "conv1_b"], ["conv1"], name="conv1", **attrs["conv1"]),
        helper.make_node("Relu", ["conv1"], ["relu1"], name="relu1"),
        helper.make_node("LRN", ["relu1"], ["norm1"], name="norm1", **attrs["norm1"]),
        helper.make_node("MaxPool", ["norm1"], ["pool1"], name="pool1", **attrs["pool1"]),
        helper.make_node("Conv", ["pool1", "conv2_w", "conv2_b"], ["conv2"], name="conv2", **attrs["conv2"]),
        helper.make_node("Relu", ["conv2"], ["relu2"], name="relu2"),
        helper.make_node("Mul", ["relu2", "drop2_scale"], ["drop2"], name="drop2"),
        helper.make_node("Flatten", ["drop2"], ["flatten"], name="flatten", **attrs["flatten"]),
        helper.make_node("Gemm", ["flatten", "fc_w", "fc_b"], ["fc"], name="fc", **attrs["fc"]),
        helper.make_node("Softmax", ["fc"], ["prob"], name="prob", **attrs["prob"]),
    ]
    graph = helper.make_graph(
        nodes,
        "check_classifier",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, 16, 16])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", CLASSES])],
        initializer=[numpy_helper.from_array(array, name) for name, array in weights.items()],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="netinspect-tests"
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def transpose_kernel_hw(weights: dict, attrs: dict) -> None:
    """A converter that read MatConvNet's kernels as [W H Cin Cout] (the vl_nnconv help-text bug)."""
    weights["conv2_w"] = np.ascontiguousarray(weights["conv2_w"].transpose(0, 1, 3, 2))


def flip_kernel(weights: dict, attrs: dict) -> None:
    """A converter that took cross-correlation for convolution and flipped the kernel."""
    weights["conv1_w"] = np.ascontiguousarray(weights["conv1_w"][:, :, ::-1, ::-1])


def drop_dropout_scale(weights: dict, attrs: dict) -> None:
    """A converter that mapped a non-inverted dropout to Identity, losing its test-time scale."""
    weights["drop2_scale"] = np.array(1.0, dtype=np.float32)


def nhwc_flatten(weights: dict, attrs: dict) -> None:
    """A converter that kept a channels-last Dense kernel after an NCHW Flatten."""
    height, width, channels = 8, 8, 16
    # for each NCHW-flat position, the row a channels-last (H, W, C) flatten feeds it from
    hwc_row = np.moveaxis(
        np.arange(height * width * channels).reshape(height, width, channels), -1, 0
    ).ravel()
    nchw_position = np.argsort(hwc_row)
    weights["fc_w"] = np.ascontiguousarray(weights["fc_w"][:, nchw_position])


def lrn_alpha_not_scaled(weights: dict, attrs: dict) -> None:
    """A converter that copied MatConvNet's ALPHA without multiplying by N (ONNX divides by size)."""
    attrs["norm1"]["alpha"] = LRN["alpha"] / LRN["size"]


def pad_off_by_one(weights: dict, attrs: dict) -> None:
    """A converter that put the extra ceil-mode pad on the top/left instead of the bottom/right."""
    attrs["pool1"]["pads"] = [1, 1, 0, 0]


BROKEN = {
    "kernel_transposed_hw": (transpose_kernel_hw, "conv2"),
    "kernel_flipped": (flip_kernel, "conv1"),
    "dropout_scale_missing": (drop_dropout_scale, "drop2"),
    "flatten_nhwc": (nhwc_flatten, "fc"),
    "lrn_alpha_wrong": (lrn_alpha_not_scaled, "norm1"),
    "pad_off_by_one": (pad_off_by_one, "pool1"),
}
"""bug name → (edit, the layer `check` must name)."""


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path
