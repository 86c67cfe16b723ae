"""The real models the `onnx` package ships with reference data, found from the installed package.

Light models (AlexNet, ResNet-50, VGG-19, ...) fill their weights with ConstantOfShape; their
reference outputs were computed from the inputs onnx's own backend runner generates, so we ask
that runner for the same inputs. The pytorch-* models carry test_data_set_0 inputs and outputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test.runner import Runner

from tests.conftest import ONNX_TEST_DATA

DEFAULT_RTOL, DEFAULT_ATOL = 1e-3, 1e-7  # onnx's backend test loader defaults


@dataclass(frozen=True)
class ZooCase:
    name: str
    model: Path
    data_set: Path | None
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL

    def __str__(self) -> str:
        return self.name

    @property
    def opset(self) -> int:
        model = onnx.load(str(self.model), load_external_data=False)
        return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))

    def inputs(self, model: onnx.ModelProto) -> dict[str, np.ndarray]:
        initializers = {t.name for t in model.graph.initializer}
        graph_inputs = [i for i in model.graph.input if i.name not in initializers]
        if self.data_set is None:
            return {
                i.name: Runner.generate_dummy_data(i, seed=0, name=self.name, random=False)
                for i in graph_inputs
            }
        files = sorted(self.data_set.glob("input_*.pb"), key=lambda p: int(p.stem.split("_")[1]))
        return {i.name: _load(f) for i, f in zip(graph_inputs, files, strict=True)}

    def outputs(self) -> list[np.ndarray]:
        if self.data_set is None:
            return [_load(self.model.with_name(self.model.stem + "_output_0.pb"))]
        files = sorted(self.data_set.glob("output_*.pb"), key=lambda p: int(p.stem.split("_")[1]))
        return [_load(f) for f in files]


def _load(path: Path) -> np.ndarray:
    return numpy_helper.to_array(onnx.load_tensor(str(path)))


def zoo_cases() -> list[ZooCase]:
    cases = []
    for model in sorted((ONNX_TEST_DATA / "light").glob("light_*.onnx")):
        short = model.stem.removeprefix("light_")
        meta = ONNX_TEST_DATA / "real" / f"test_{short}" / "data.json"
        tol = json.loads(meta.read_text()) if meta.is_file() else {}
        cases.append(
            ZooCase(
                f"light/{short}", model, None, tol.get("rtol", DEFAULT_RTOL), tol.get("atol", DEFAULT_ATOL)
            )
        )
    for kind in ("pytorch-converted", "pytorch-operator"):
        for folder in sorted((ONNX_TEST_DATA / kind).iterdir()):
            if (folder / "model.onnx").is_file() and (folder / "test_data_set_0").is_dir():
                cases.append(
                    ZooCase(f"{kind}/{folder.name}", folder / "model.onnx", folder / "test_data_set_0")
                )
    return cases


def parameter_count(model: onnx.ModelProto) -> int:
    """Weights counted straight from the protobuf: initializers, Constant values, and the tensors
    ConstantOfShape materialises from a constant shape (how the light models store theirs)."""
    constants = {t.name: t for t in model.graph.initializer}
    total = sum(int(np.prod(t.dims, dtype=np.int64)) for t in model.graph.initializer)
    for node in model.graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    total += int(np.prod(a.t.dims, dtype=np.int64))
        elif node.op_type == "ConstantOfShape" and node.input[0] in constants:
            total += int(np.prod(numpy_helper.to_array(constants[node.input[0]]), dtype=np.int64))
    return total
