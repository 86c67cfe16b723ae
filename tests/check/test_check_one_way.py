"""`check` runs one way: each file is detected and read once, every runner answers the whole Runner
protocol, and a channels-last source runtime is fed and read in its own layout by `check` itself."""

from __future__ import annotations

import importlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

import netinspect.registry
from netinspect.check.api import check
from netinspect.check.data import InputSpec
from netinspect.check.io_layout import InIRLayout, in_ir_layout
from netinspect.check.runtimes import onnxruntime as ort_runtime
from netinspect.check.runtimes.base import BaseRunner, Runner
from netinspect.ir import Graph, Metadata, Value
from netinspect.layout_metadata import IO_LAYOUT
from tests.check.check_models import BROKEN, classifier, save


def test_each_file_is_detected_and_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = save(classifier(), tmp_path / "source.onnx")
    target = save(classifier(BROKEN["kernel_flipped"][0]), tmp_path / "target.onnx")
    probes: Counter[str] = Counter()
    parsed: Counter[str] = Counter()
    open_probe = netinspect.registry.open_probe
    load_onnx_model = ort_runtime.load_onnx_model

    def counting_probe(path, companions=None):
        probes[Path(path).name] += 1
        return open_probe(path, companions)

    def counting_parse(path):
        parsed[Path(path).name] += 1
        return load_onnx_model(path)

    monkeypatch.setattr(netinspect.registry, "open_probe", counting_probe)
    monkeypatch.setattr(ort_runtime, "load_onnx_model", counting_parse)

    result = check(source, target)

    assert not result.passed and result.layers is not None
    assert probes == {"source.onnx": 1, "target.onnx": 1}
    assert parsed == {"source.onnx": 1}  # onnxruntime reads the source itself, as a reference must


PROTOCOL = [name for name in dir(Runner) if not name.startswith("_")]


def test_the_protocol_declares_what_check_uses() -> None:
    assert set(PROTOCOL) >= {
        "prepare",
        "layers",
        "input_specs",
        "output_names",
        "source_layouts",
        "run",
        "run_values",
    }
    assert set(Runner.__annotations__) == {"label", "inference_seconds"}


def runner_classes() -> list[type]:
    """Every runner class of every reader's runtime module (Keras has two: Keras, and the NumPy reference)."""
    found = []
    for reader in netinspect.registry.readers():
        module = importlib.import_module(reader.runtime.module)
        found += [
            c for c in vars(module).values() if isinstance(c, type) and c.__name__.endswith("Runner")
            and c.__module__.startswith("netinspect.check.runtimes") and c is not BaseRunner
        ]  # fmt: skip
    return sorted(set(found), key=lambda c: c.__name__)


@pytest.mark.parametrize("runner_class", runner_classes(), ids=lambda c: c.__name__)
def test_every_runtime_answers_the_whole_protocol(runner_class: type) -> None:
    missing = [name for name in PROTOCOL if not callable(getattr(runner_class, name, None))]
    assert missing == [], f"{runner_class.__name__} lacks {missing}"


class ChannelsLast(BaseRunner):
    """A runtime that takes and returns NHWC: y = x × (channel index + 1), computed channels-last."""

    label = "channels-last test runtime"

    def input_specs(self) -> list[InputSpec]:
        return [InputSpec("x", "float32", ("N", 4, 5, 3))]

    def output_names(self) -> list[str]:
        return ["y"]

    def source_layouts(self, recorded: Mapping[str, str]) -> dict[str, str]:
        return dict(recorded)

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = feeds["x"]
        assert x.shape[-1] == 3, "fed in its own layout"
        return {"y": x * np.arange(1, 4, dtype=np.float32)}

    def run_values(self, feeds: Mapping[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
        return {name: self.run(feeds)[name] for name in names}


def graph_with_layouts(recorded: dict[str, str]) -> Graph:
    graph = Graph("g", [Value("x", "float32", ("N", 3, 4, 5))], [Value("y", "float32", ("N", 3, 4, 5))])
    graph.metadata = Metadata(properties={IO_LAYOUT: json.dumps(recorded)} if recorded else {})
    return graph


def test_a_channels_last_runtime_is_fed_and_read_in_the_ir_layout() -> None:
    runner = in_ir_layout(ChannelsLast(), graph_with_layouts({"x": "NHWC", "y": "NHWC"}))

    assert isinstance(runner, InIRLayout)
    assert runner.input_specs() == [InputSpec("x", "float32", ("N", 3, 4, 5))]
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    expected = x * np.arange(1, 4, dtype=np.float32).reshape(1, 3, 1, 1)
    np.testing.assert_array_equal(runner.run({"x": x})["y"], expected)
    np.testing.assert_array_equal(runner.run_values({"x": x}, ["y"])["y"], expected)


def test_a_runtime_in_the_ir_layout_is_used_as_it_is() -> None:
    runner = ChannelsLast()
    assert in_ir_layout(runner, graph_with_layouts({})) is runner
