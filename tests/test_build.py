"""The format-agnostic builder: TF SAME padding (one rule for Keras and TFLite) and the one layer loop."""

from __future__ import annotations

import pytest

from netinspect import registry
from netinspect.build import GraphBuilder, LayerContext, LayerEntry, convert_layers, same_pads
from netinspect.errors import UnsupportedError


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


def test_the_layer_loop_refuses_every_unsupported_layer_before_converting_any() -> None:
    builder = GraphBuilder("toyformat", "model.toy")
    x = builder.add_input("x", (1, 2))
    made: list[str] = []

    def contexts():
        made.append("first")
        yield LayerContext(builder, "a", "Double", [x], ["a"])

    survey = [LayerEntry("a", "Double"), LayerEntry("b", "Warp"), LayerEntry("c", "Lambda", "bytecode")]
    registry.register_layer("toyformat", "Double", _double)
    try:
        with pytest.raises(UnsupportedError) as caught:
            convert_layers(builder, contexts(), survey, "toy layers")
        message = str(caught.value)
        assert "'b'" in message and "'Warp'" in message and "'c'" in message and "bytecode" in message
        assert "'a'" not in message and "register_layer" in message
        assert made == [] and builder.nodes == []
        convert_layers(builder, contexts(), [LayerEntry("a", "Double")])
    finally:
        registry.unregister_layer("toyformat", "Double")
    assert [n.op_type for n in builder.nodes] == ["Add"]
    assert builder.nodes[0].provenance is not None and builder.nodes[0].provenance.layer == "a"
