"""Runners: the same numbers as the runtimes used directly, in the IR's layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from netinspect.check.runtimes.base import runner_for
from netinspect.check.runtimes.matconvnet import MatConvNetRunner, from_matconvnet, to_matconvnet
from netinspect.check.runtimes.onnxruntime import OnnxRuntimeRunner
from netinspect.errors import MissingDependencyError
from netinspect.registry import LoadOptions, Runtime, detect, readers
from tests.check.check_models import classifier, save

MATCONVNET = Path(__file__).resolve().parents[2] / "fixtures" / "matconvnet"
FEEDS = {"data": np.random.default_rng(5).uniform(0, 1, (2, 3, 16, 16)).astype(np.float32)}


def plain_session(model: onnx.ModelProto, extra: list[str]) -> ort.InferenceSession:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    copy.graph.output.extend(onnx.ValueInfoProto(name=name) for name in extra)
    return ort.InferenceSession(copy.SerializeToString(), providers=["CPUExecutionProvider"])


def close(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal up to float32 summation order: the runner's sessions skip ORT's NCHWc layout level,
    so its convolutions may sum in another order than a default session's."""
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6 * float(np.abs(expected).max()))


def test_onnxruntime_runner_matches_onnxruntime_used_directly(tmp_path: Path) -> None:
    model = classifier()
    runner = OnnxRuntimeRunner.from_path(save(model, tmp_path / "m.onnx"))
    expected_prob, expected_conv2, expected_flat = plain_session(model, ["conv2", "flatten"]).run(
        ["prob", "conv2", "flatten"], FEEDS
    )

    assert [(s.name, s.dtype, s.shape) for s in runner.input_specs()] == [
        ("data", "float32", ("N", 3, 16, 16))
    ]
    assert runner.output_names() == ["prob"]
    close(runner.run(FEEDS)["prob"], expected_prob)
    values = runner.run_values(FEEDS, ["conv2", "flatten"])
    assert set(values) == {"conv2", "flatten"}
    close(values["conv2"], expected_conv2)
    close(values["flatten"], expected_flat)


def test_sessions_share_the_weights_instead_of_copying_them(tmp_path: Path) -> None:
    model = classifier()
    runner = OnnxRuntimeRunner.from_path(save(model, tmp_path / "m.onnx"))
    skeleton = runner._weights.skeleton
    assert skeleton.ByteSize() < model.ByteSize() / 4  # the 40 kB fc weight lives outside the protobuf
    assert "fc_w" in runner._weights.names


def test_matconvnet_layout_round_trip() -> None:
    nchw = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    hwcn = to_matconvnet(nchw)
    assert hwcn.shape == (4, 5, 3, 2)
    assert hwcn[1, 2, 0, 1] == nchw[1, 0, 1, 2]
    np.testing.assert_array_equal(from_matconvnet(hwcn), nchw)
    assert from_matconvnet(np.zeros((1, 1, 10))).shape == (1, 10, 1, 1)  # MATLAB drops trailing N=1


def test_matconvnet_runner_reads_layers_in_nchw() -> None:
    mat = MATCONVNET / "simplenn_pre_beta11.mat"
    if not mat.is_file():
        pytest.skip(f"{mat} is absent")
    reader, _, probe = detect(mat)
    runner = runner_for(reader, probe, LoadOptions())
    assert isinstance(runner, MatConvNetRunner)
    (spec,) = runner.input_specs()
    assert spec.shape[0] == "N" and spec.shape[1:] == (3, 31, 29)
    feeds = {spec.name: np.random.default_rng(0).uniform(0, 255, (1, 3, 31, 29)).astype(np.float32)}

    layers = [layer.name for layer in runner.layers()]
    assert layers == ["conv1", "relu1", "pool1", "norm1", "fc2", "prob"]
    values = runner.run_values(feeds, ["conv1", "prob"])
    assert values["conv1"].shape[:2] == (1, 8)  # NCHW: 8 filters
    np.testing.assert_array_equal(values["prob"], runner.run(feeds)["prob"])
    reference = runner.reference.run({spec.name: to_matconvnet(feeds[spec.name])})
    np.testing.assert_array_equal(runner.run(feeds)["prob"], from_matconvnet(reference["prob"]))


def test_runner_is_chosen_by_the_readers_runtime_field() -> None:
    """Each reader names its runtime's factory; the check code holds no table of formats."""
    import importlib

    from netinspect.check.runtimes import base

    for reader in readers():
        factory = importlib.import_module(reader.runtime.module)
        for part in reader.runtime.factory.split("."):
            factory = getattr(factory, part)
        assert callable(factory), reader.name
    assert not hasattr(base, "RUNTIMES")
    reader, _, probe = detect(MATCONVNET / "simplenn_beta11.mat")
    assert isinstance(runner_for(reader, probe, LoadOptions()), MatConvNetRunner)


def test_runtime_not_installed_gives_the_install_hint(tmp_path: Path) -> None:
    from dataclasses import replace

    reader, _, probe = detect(save(classifier(), tmp_path / "m.onnx"))
    runtime = Runtime("absent", "netinspect_absent_runtime", "Runner", "netinspect[keras]")
    absent = replace(reader, runtime=runtime)
    with pytest.raises(MissingDependencyError, match=r"pip install 'netinspect\[keras\]'"):
        runner_for(absent, probe, LoadOptions())
