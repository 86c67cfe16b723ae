"""`--exact-int8 on` beyond int8 (issue 20 item 8): the converted model equals LiteRT's reference kernels
(`OpResolverType.BUILTIN_REF`) bit for bit — every layer and every output 0 steps over several random
inputs — where the QDQ conversion of the same file is steps off them."""

from __future__ import annotations

import pytest

from netinspect.registry import LoadOptions
from tests.converters.tflite.conftest import legacy_fixture

EXACT = LoadOptions(format_options={"exact-int8": "on"})


def _assert_exact(path: object, runs: int, types: set[str]) -> None:
    """check --exact-int8 on passes with 0 steps on every output and layer; the layers include `types`;
    the QDQ conversion (no --exact-int8) is at least a step off the reference kernels somewhere."""
    from netinspect.check.api import check

    exact = check(path, runs=runs, layers="always", options=EXACT)
    assert exact.source.runtime.endswith("(reference kernels)")
    assert exact.passed, [o.worst.summary() for o in exact.outputs]
    assert all(o.tolerance.steps == 0 for o in exact.outputs)
    assert exact.layers is not None and exact.layers.divergence is None
    failed = [c.pair.layer_type for c in exact.layers.checks if not c.comparison.passed]
    assert not failed, failed
    assert types <= {c.pair.layer_type for c in exact.layers.checks}
    plain = check(path, runs=runs, layers="never")
    steps = [c.kernels.errors["reference kernels"] for o in plain.outputs for c in o.runs if c.kernels]
    assert max(steps) >= 1


@pytest.mark.parametrize(
    ("name", "types"),
    [
        ("net", {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MUL", "LOGISTIC", "TANH", "AVERAGE_POOL_2D", "MEAN",
                 "FULLY_CONNECTED", "SOFTMAX", "QUANTIZE"}),
        ("mobilenet", {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED", "SOFTMAX"}),
    ],
)  # fmt: skip
def test_exact_legacy_uint8_equals_the_reference_kernels(name: str, types: set[str]) -> None:
    """Legacy uint8 models (TF1's converter on fake-quantized graphs: uint8 weights with zero points, per
    tensor): reference_ops' uint8 Conv/DepthwiseConv (the same double-rounding fixed point as int8, plus
    the filter's zero point), FullyConnected (acc·in·w/out rounded once in double), and the uint8 forms of
    ADD, MUL, LOGISTIC, TANH (256-entry tables over 0…255), AVERAGE_POOL_2D, MEAN and SOFTMAX (output
    zero point 0): every layer 0 steps over 5 random inputs (the QDQ form: 1–14 steps off)."""
    _assert_exact(legacy_fixture(name), 5, types)
