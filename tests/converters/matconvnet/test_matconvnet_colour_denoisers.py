"""Colour FFDNet and FDnCNN (cszn/FFDNet): the image keeps its 3 channels and the noise level map has
one channel, as the authors' demos set `sigmas` to a scalar σ. The first conv's depth says so:
FFDNet 4·3 + 1 = 13, FDnCNN 3 + 1 = 4 (gray: 4·1 + 1 = 5 and 1 + 1 = 2).

Fixtures are small networks with the authors' structure (fixtures/make_matconvnet.py: ffdnet,
fdncnn), written per test. Parity: onnxruntime against the NumPy MatConvNet reference, rtol 1e-4,
atol 1e-5 (outputs are O(1)). The reference decides its inputs from MatConvNet's semantics on its
own, so a converter that read the file another way (colour FDnCNN as a 2-channel image plus a
2-channel noise map, as before) is refused by `check` instead of passing against a reference that
took the converter's word for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

import netinspect
from netinspect.check.api import check
from netinspect.check.runtimes.matconvnet import MatConvNetRunner
from netinspect.check.runtimes.matconvnet.reference import MatConvNetReference
from netinspect.converters.matconvnet import reader
from netinspect.errors import NetinspectError
from netinspect.layout import permute
from tests.conftest import fixture_generator

CASES = [("ffdnet", 1, 5), ("ffdnet", 3, 13), ("fdncnn", 1, 2), ("fdncnn", 3, 4)]


def write(tmp_path: Path, kind: str, channels: int) -> Path:
    make: Any = fixture_generator("make_matconvnet.py")
    path = tmp_path / f"{kind}_{channels}.mat"
    make.write_v5(path, getattr(make, kind)(channels))
    return path


@pytest.mark.parametrize(("kind", "channels", "depth"), CASES)
def test_the_image_keeps_its_channels_and_the_noise_map_has_one(
    tmp_path: Path, kind: str, channels: int, depth: int
) -> None:
    path = write(tmp_path, kind, channels)
    graph = netinspect.load(path)
    graph.validate()
    first_conv = next(n for n in graph.nodes if n.op_type == "Conv" and n.inputs[1] in graph.tensors)
    assert graph.tensors[first_conv.inputs[1]].shape[1] == depth
    assert [(v.name, v.shape) for v in graph.inputs] == [
        ("input", ("N", channels, "H", "W")),
        ("noise_level", ("N", 1, 1, 1)),
    ]
    assert graph.outputs[0].shape[:2] == ("N", channels)


@pytest.mark.parametrize(("kind", "channels", "depth"), CASES)
def test_the_reference_declares_the_same_inputs_from_matconvnet_semantics(
    tmp_path: Path, kind: str, channels: int, depth: int
) -> None:
    """The reference reads the file itself (no converter code): image C channels, sigmas one value."""
    runner = MatConvNetRunner(MatConvNetReference(write(tmp_path, kind, channels)), kind)
    assert [(s.name, s.shape) for s in runner.input_specs()] == [
        ("input", ("N", channels, "H", "W")),
        ("noise_level", ("N", 1, 1, 1)),
    ]


@pytest.mark.parametrize(("kind", "channels", "depth"), CASES)
def test_converted_colour_denoisers_match_the_reference(
    tmp_path: Path, kind: str, channels: int, depth: int
) -> None:
    path = write(tmp_path, kind, channels)
    model = netinspect.to_onnx(netinspect.load(path))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(channels)
    images = rng.uniform(0, 1, (2, channels, 18, 22)).astype(np.float32)
    levels = np.array([15 / 255, 50 / 255], np.float32).reshape(2, 1, 1, 1)  # the demos' scalar σ
    (got,) = session.run(None, {"input": images, "noise_level": levels})
    reference = MatConvNetReference(path)
    feeds = {"input": permute(images, "NCHW", "HWCN"), "noise_level": permute(levels, "NCHW", "HWCN")}
    expected = permute(reference.run(feeds)[reference.output_names[0]], "HWCN", "NCHW")
    assert got.shape == expected.shape == images.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    (other,) = session.run(None, {"input": images, "noise_level": levels[::-1].copy()})
    assert np.abs(other - got).max() > 1e-4  # the level is read


@pytest.mark.parametrize("kind", ["ffdnet", "fdncnn"])
def test_check_passes_on_colour_denoisers(tmp_path: Path, kind: str) -> None:
    result = check(write(tmp_path, kind, 3))
    assert result.passed


def test_check_refuses_a_conversion_that_reads_the_file_another_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Colour FDnCNN's depth 4 also reads as a 2-channel image plus a 2-channel noise map (the old
    guess): converted that way, the reference must not agree, since it follows the authors' σ."""
    path = write(tmp_path, "fdncnn", 3)
    with monkeypatch.context() as patch:
        patch.setattr(reader, "NOISE_LEVELS_PER_CONCAT", 2)
        guessed = netinspect.load(path)
    assert [v.shape for v in guessed.inputs] == [("N", 2, "H", "W"), ("N", 2, 1, 1)]
    target = tmp_path / "guessed.onnx"
    netinspect.save_onnx(guessed, target)
    disagreement = r"\(N, 3, H, W\) in the source and \(N, 2, H, W\) in the target"
    with pytest.raises(NetinspectError, match=disagreement):
        check(path, target)
