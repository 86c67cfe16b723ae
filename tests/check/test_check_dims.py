"""Free dimensions: `check` runs without flags, with the size the model records or a default the
network accepts (and says which), and `--dim INPUT:AXIS=SIZE` sets one axis of one input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from netinspect.check.api import check
from netinspect.check.data import InputError
from tests.check.check_models import classifier, save


def free_spatial(model: onnx.ModelProto, names: tuple[str, str] = ("H", "W")) -> onnx.ModelProto:
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, name in zip(dims[2:], names, strict=True):
        dim.Clear()
        dim.dim_param = name
    return model


def fully_convolutional(
    shape: list, image_size: tuple[int, int] | None = None, flatten_to: int | None = None
) -> onnx.ModelProto:
    """data → Conv 3×3 (pad 1) → Relu; optionally a Reshape to a fixed length, which only one size fits."""
    weight = np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["data", "w"], ["conv"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["out"], name="relu"),
    ]
    initializers = [numpy_helper.from_array(weight, "w")]
    out_shape: list = [shape[0], 4, shape[2], shape[3]]
    if flatten_to is not None:
        nodes[-1].output[0] = "relu"
        nodes.append(helper.make_node("Reshape", ["relu", "flat"], ["out"], name="flat"))
        initializers.append(numpy_helper.from_array(np.array([1, flatten_to], np.int64), "flat"))
        out_shape = [1, flatten_to]
    graph = helper.make_graph(
        nodes,
        "fcn",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, out_shape)],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if image_size is not None:
        helper.set_model_props(
            model, {"netinspect.preprocessing": json.dumps({"image_size": list(image_size)})}
        )
    onnx.checker.check_model(model, full_check=True)
    return model


def test_a_network_with_a_fully_connected_layer_gets_the_one_size_it_accepts(tmp_path: Path) -> None:
    path = save(free_spatial(classifier()), tmp_path / "free.onnx")

    result = check(path)

    assert result.passed
    assert result.inputs is not None and result.inputs.shapes == {"data": (1, 3, 16, 16)}
    assert result.inputs.chosen == [
        "data:2=16 (default size the network accepts)",
        "data:3=16 (default size the network accepts)",
    ]


def test_a_fully_convolutional_network_gets_the_first_default(tmp_path: Path) -> None:
    path = save(fully_convolutional(["N", 3, "H", "W"]), tmp_path / "fcn.onnx")
    result = check(path)
    assert result.passed and result.inputs is not None
    assert result.inputs.shapes == {"data": (1, 3, 64, 64)}


def test_the_recorded_image_size_comes_first(tmp_path: Path) -> None:
    path = save(fully_convolutional(["N", 3, "H", "W"], image_size=(20, 24)), tmp_path / "recorded.onnx")
    result = check(path)
    assert result.passed and result.inputs is not None
    assert result.inputs.shapes == {"data": (1, 3, 20, 24)}
    assert result.inputs.chosen == [
        "data:2=20 (the model's recorded image size)",
        "data:3=24 (the model's recorded image size)",
    ]


def test_a_size_fixed_by_the_other_model_is_used(tmp_path: Path) -> None:
    source = save(fully_convolutional(["N", 3, "H", "W"]), tmp_path / "free.onnx")
    target = save(fully_convolutional([1, 3, 10, 12]), tmp_path / "pinned.onnx")
    result = check(source, target)
    assert result.passed and result.inputs is not None
    assert result.inputs.shapes == {"data": (1, 3, 10, 12)}


def test_no_default_fits_asks_for_dim(tmp_path: Path) -> None:
    path = save(fully_convolutional([1, 3, "H", "W"], flatten_to=4 * 20 * 20), tmp_path / "only20.onnx")
    with pytest.raises(InputError, match="--dim H=SIZE"):
        check(path)
    assert check(path, dims={"H": 20, "W": 20}).passed


def test_dim_sets_one_axis_of_one_input(cli: Callable, tmp_path: Path) -> None:
    """Exporters name several axes alike (`?`); NAME=SIZE sizes them all, INPUT:AXIS=SIZE one."""
    path = save(fully_convolutional(["?", 3, "?", "?"]), tmp_path / "question.onnx")

    by_axis = cli("check", path, "--dim", "data:2=8", "--dim", "data:3=12", "--json", tmp_path / "a.json")
    by_name = cli("check", path, "--dim", "?=8", "--json", tmp_path / "n.json")

    assert by_axis.code == 0 and by_name.code == 0, by_axis.err + by_name.err
    shapes = [
        json.loads((tmp_path / f).read_text())["models"][0]["inputs"]["shapes"] for f in ("a.json", "n.json")
    ]
    assert shapes == [{"data": [1, 3, 8, 12]}, {"data": [8, 3, 8, 8]}]


def test_the_chosen_sizes_are_printed(cli: Callable, tmp_path: Path) -> None:
    path = save(fully_convolutional(["N", 3, "height", "width"]), tmp_path / "fcn.onnx")
    result = cli("check", path)
    assert result.code == 0, result.err
    assert "sizes chosen: data:2=64 (default size the network accepts), data:3=64" in result.out


def test_free_axis_hint_names_the_axis_when_its_name_is_shared() -> None:
    from netinspect.check.data import InputSpec, concrete_shape

    spec = InputSpec("data", "float32", ("?", 3, "?", "?"))
    with pytest.raises(InputError, match=r"--dim data:2=SIZE"):
        concrete_shape(spec, {})
    assert concrete_shape(spec, {"data:2": 5, "data:3": 6}) == (1, 3, 5, 6)
