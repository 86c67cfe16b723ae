"""`netinspect check` end to end on the MatConvNet files this issue added: the reference runner
feeds every input (images at the recorded nominal size, transforms, ROIs, FFDNet's noise level)
and the converted model agrees within check's default tolerance (rtol 1e-3, atol 1e-4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from netinspect.check.api import check
from tests.conftest import FIXTURES, shared_model


@pytest.mark.parametrize("name", ["dagnn_blocks.mat", "simplenn_blocks.mat"])
def test_check_passes_on_the_less_common_blocks(name: str) -> None:
    result = check(FIXTURES / "matconvnet" / name)
    assert result.passed, [o.worst.summary() for o in result.outputs]
    assert result.inputs is not None
    if name == "dagnn_blocks.mat":  # the image at its recorded nominal size, ROIs as 1×1×5×R
        assert result.inputs.shapes["input"][2:] == (125, 125) and result.inputs.shapes["rois"][:3] == (
            1,
            1,
            5,
        )


def test_check_feeds_ffdnet_its_noise_level() -> None:
    path: Path = shared_model("ffdnet_gray_retrained_simplenn_v5.mat")
    result = check(path)
    assert result.passed, [o.worst.summary() for o in result.outputs]
    assert result.inputs is not None and result.inputs.shapes["noise_level"] == (1, 1, 1, 1)
