"""The format-agnostic builder: TF SAME padding (one rule for Keras and TFLite) and the one layer loop."""

from __future__ import annotations

import pytest

from netinspect import registry
from netinspect.build import GraphBuilder, LayerContext, LayerEntry, convert_layers, same_pads
from netinspect.errors import ModelFormatError, UnsupportedError


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "dilation", "pads"),
    [
        (5, 3, 2, 1, (1, 1)),  # out 3: total 2, split evenly
        (6, 3, 2, 1, (0, 1)),  # out 3: total 1, the odd cell at the end
        (7, 1, 1, 1, (0, 0)),
        (8, 3, 1, 2, (2, 2)),  # dilated window of 5
        (4, 5, 4, 1, (0, 1)),  # window wider than the stride
    ],
)
def test_same_pads_follow_tensorflow(size: int, kernel: int, stride: int, dilation: int, pads: tuple) -> None:
    assert same_pads(size, kernel, stride, dilation) == pads


def test_same_pads_take_the_recorded_output_size() -> None:
    """TFLite records the output size; a larger one than ceil(size/stride) needs more padding."""
    assert same_pads(6, 3, 2, out=4) == (1, 2)


def _double(ctx: LayerContext) -> None:
    ctx.node("Add", [ctx.inputs[0], ctx.inputs[0]], ctx.input_shapes[0], output=ctx.outputs[0])


def _needs_width(ctx: LayerContext) -> None:
    width = ctx.input_shapes[0][-1]
    if not isinstance(width, int):
        raise ctx.error("needs a known width")
    ctx.node("Relu", [ctx.inputs[0]], ctx.input_shapes[0], output=ctx.outputs[0])


class ToyContext(LayerContext):
    def source_config(self) -> dict:
        return {"factor": 2, "mode": "wrap", "flags": [True, False], "nested": {"a": [1, "b"]}}


def test_the_layer_loop_shows_layers_without_a_handler_and_lists_them_all_for_convert() -> None:
    builder = GraphBuilder("toyformat", "model.toy")
    x = builder.add_input("x", (1, 2))

    def contexts():
        yield LayerContext(builder, "a", "Double", [x], ["a"])
        yield ToyContext(builder, "b", "Warp", ["a"], ["b"])
        yield LayerContext(builder, "c", "Lambda", ["b"], ["c"])
        yield LayerContext(builder, "d", "NeedsWidth", ["c"], ["d"])

    survey = [
        LayerEntry("a", "Double"),
        LayerEntry("b", "Warp"),
        LayerEntry("c", "Lambda", "bytecode"),
        LayerEntry("d", "NeedsWidth"),
    ]
    registry.register_layer("toyformat", "Double", _double)
    registry.register_layer("toyformat", "NeedsWidth", _needs_width)
    try:
        convert_layers(builder, contexts(), survey, "toy layers")
    finally:
        registry.unregister_layer("toyformat", "Double")
        registry.unregister_layer("toyformat", "NeedsWidth")
    graph = builder.finish("toy", ["d"])
    graph.validate()
    assert [(n.op_type, n.domain) for n in graph.nodes] == [
        ("Add", ""),
        ("Warp", "netinspect.toyformat"),
        ("Lambda", "netinspect.toyformat"),
        ("NeedsWidth", "netinspect.toyformat"),  # its handler failed on the unknown width: shown as is
    ]
    assert graph.nodes[1].attributes == {
        "factor": 2,
        "mode": "wrap",
        "flags": [1, 0],
        "nested": '{"a": [1, "b"]}',
    }
    assert graph.opset["netinspect.toyformat"] == 1
    assert isinstance(graph.refusal, UnsupportedError)
    assert graph.refusal.items == ["layer 'b' (type 'Warp')", "layer 'c' (type 'Lambda'): bytecode"]
    assert "register_layer" in str(graph.refusal)
    records = {layer.name: layer for layer in graph.source_layers}
    assert [layer.supported for layer in graph.source_layers] == [True, False, False, False]
    assert records["a"].nodes == ["a"] and records["c"].note == "bytecode"
    assert "needs a known width" in (records["d"].note or "")
    assert records["b"].config["nested"] == {"a": [1, "b"]}


def test_a_handler_failing_on_known_inputs_is_still_an_error() -> None:
    builder = GraphBuilder("toyformat", "model.toy")
    x = builder.add_input("x", (1, None))
    registry.register_layer("toyformat", "NeedsWidth", _needs_width)
    try:
        with pytest.raises(ModelFormatError, match="needs a known width"):
            convert_layers(builder, [LayerContext(builder, "d", "NeedsWidth", [x], ["d"])])
    finally:
        registry.unregister_layer("toyformat", "NeedsWidth")
