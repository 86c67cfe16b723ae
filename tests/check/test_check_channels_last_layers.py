"""Layer by layer on a channels-last source: Keras holds activations NHWC, the converted graph NCHW.

The layout pass records, for every value it moved, how the ONNX value is the source value
transposed (metadata netinspect.value_layouts); the layer comparison applies that, so every
intermediate of a correct conversion agrees, and a wrong one is still found at its layer.
"""

from __future__ import annotations

from netinspect.check.api import check
from tests.conftest import shared_model


def test_every_layer_of_a_keras_cnn_agrees_after_the_layout_pass() -> None:
    result = check(shared_model("keras3_mnist_cnn.keras"), layers="always", runs=1)
    assert result.status == "passed", result.error
    checks = result.layers.checks
    compared = {c.pair.layer for c in checks}
    assert len(compared) >= 7, compared
    moved = [c for c in checks if c.pair.source_move is not None]
    assert any(c.pair.source_move.unflatten for c in moved), "the Flatten's reordering is not covered"
    assert moved, "no intermediate needed its axes moved: the test no longer covers the layout map"
    assert all(c.comparison.passed for c in checks), [
        (c.pair.layer, c.comparison.max_abs_error) for c in checks if not c.comparison.passed
    ]


def test_a_wrong_kernel_in_a_keras_conversion_is_found_at_its_layer(tmp_path) -> None:
    import numpy as np
    import onnx
    from onnx import numpy_helper

    import netinspect

    source = shared_model("keras3_mnist_cnn.keras")
    model = netinspect.to_onnx(netinspect.load(source))
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    second = convs[1]
    weights = {t.name: t for t in model.graph.initializer}
    kernel = numpy_helper.to_array(weights[second.input[1]])
    flipped = np.ascontiguousarray(np.swapaxes(kernel, 2, 3))  # H↔W: what a wrong layout map does
    weights[second.input[1]].CopyFrom(numpy_helper.from_array(flipped, second.input[1]))
    target = tmp_path / "broken.onnx"
    onnx.save(model, target)
    result = check(source, target)
    assert result.status == "failed"
    layer = result.layers.divergence.pair.layer
    assert layer == next(n for n in netinspect.load(source).nodes if n.name == second.name).provenance.layer
