"""`info` on the real models the onnx package ships: parameters and MACs recomputed straight from
the protobuf (with onnx's own shape inference), and published figures for two classic nets."""

from __future__ import annotations

import math
from pathlib import Path

import jsonschema
import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import netinspect
from netinspect.analysis.summary import info_schema, summarize

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
MODELS = sorted(LIGHT.glob("light_*.onnx"))


def test_the_light_models_are_found() -> None:
    assert len(MODELS) >= 8, f"onnx's light models are missing from {LIGHT}"


def protobuf_parameters(model: onnx.ModelProto) -> int:
    """Initializer sizes, plus the weights the light models build with ConstantOfShape(initializer)."""
    initializers = {t.name: t for t in model.graph.initializer}
    total = sum(math.prod(t.dims) for t in model.graph.initializer)
    for node in model.graph.node:
        if node.op_type == "ConstantOfShape" and node.input[0] in initializers:
            total += int(np.prod(numpy_helper.to_array(initializers[node.input[0]])))
        if node.op_type == "Constant":
            total += sum(math.prod(a.t.dims) for a in node.attribute if a.name == "value")
    return total


def protobuf_macs(model: onnx.ModelProto) -> int:
    """Conv and Gemm MACs from onnx shape inference: output size × per-output reduction."""
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in (*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output)
    }
    shapes.update({t.name: list(t.dims) for t in model.graph.initializer})
    total = 0
    for node in model.graph.node:
        if node.op_type == "Conv":
            total += math.prod(shapes[node.output[0]]) * math.prod(shapes[node.input[1]][1:])
        elif node.op_type == "Gemm":
            trans_b = any(a.name == "transB" and a.i for a in node.attribute)
            w = shapes[node.input[1]]
            total += math.prod(shapes[node.output[0]]) * (w[1] if trans_b else w[0])
        elif node.op_type in ("MatMul", "ConvTranspose"):
            raise AssertionError(f"{node.op_type} in a light model: extend this reference")
    return total


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_summary_matches_the_protobuf(path: Path) -> None:
    model = onnx.load(str(path))
    summary = summarize(netinspect.load(path), nodes=True)
    jsonschema.validate(summary, info_schema(), cls=jsonschema.Draft202012Validator)
    assert summary["parameters"]["count"] == protobuf_parameters(model)
    assert summary["compute"]["macs"] == protobuf_macs(model)
    assert summary["compute"]["unknown"]["count"] == 0
    assert summary["nodes"]["count"] == len(model.graph.node) == len(summary["nodes"]["list"])
    histogram: dict[str, int] = {}
    for node in model.graph.node:
        histogram[node.op_type] = histogram.get(node.op_type, 0) + 1
    assert summary["ops"] == histogram


@pytest.mark.parametrize(
    "name, published_gmacs",
    [("light_vgg19", 19.6), ("light_resnet50", 4.1)],  # the figures usually quoted for 224×224
)
def test_macs_agree_with_published_figures(name: str, published_gmacs: float) -> None:
    macs = summarize(netinspect.load(LIGHT / f"{name}.onnx"))["compute"]["macs"]
    assert macs / 1e9 == pytest.approx(published_gmacs, rel=0.02)
