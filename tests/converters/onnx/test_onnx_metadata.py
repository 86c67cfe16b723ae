"""netinspect's metadata format, both directions (converters/onnx/metadata.py): what the writer
puts in metadata_props the reader gives back, including keys set by other passes."""

from __future__ import annotations

import json
from pathlib import Path

import onnx

import netinspect
from netinspect.converters.onnx import metadata
from tests.converters.onnx.test_onnx_io import small_ir_graph


def test_every_key_round_trips(tmp_path: Path) -> None:
    graph = small_ir_graph()
    graph.metadata.properties["netinspect.io_layout"] = json.dumps({"x": "NHWC", "y": "NHWC"})
    graph.metadata.properties["user.key"] = "kept"
    graph.metadata.notes = ["averageImage is constant: recorded as its mean pixel"]
    graph.metadata.label_descriptions = ["a cat", "a dog"]
    graph.metadata.producer = "MatConvNet"
    path = tmp_path / "m.onnx"
    netinspect.save_onnx(graph, path)

    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["netinspect.io_layout"] == '{"x": "NHWC", "y": "NHWC"}'
    assert props["netinspect.source_producer_name"] == "MatConvNet"
    back = netinspect.load(path).metadata
    assert back.properties == {"netinspect.io_layout": '{"x": "NHWC", "y": "NHWC"}', "user.key": "kept"}
    assert back.notes == graph.metadata.notes
    assert back.label_descriptions == ["a cat", "a dog"]
    assert back.source_producer == ("MatConvNet", "")
    assert back.source_format == "matconvnet" and back.preprocessing.channel_order == "RGB"


def test_the_typed_keys_are_not_left_in_properties(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    netinspect.save_onnx(small_ir_graph(), path)
    model = onnx.load(str(path))
    meta, provenance = metadata.read(model, path)
    assert not any(key.startswith(metadata.PREFIX) for key in meta.properties)
    assert provenance["conv1"].layer_type == "conv"
    assert model.graph.node[0].doc_string == metadata.provenance_sentence(provenance["conv1"])
