"""The prototxt text format as protobuf's TextFormat accepts it in Caffe files, and the wire reader."""

from __future__ import annotations

import pytest

from netinspect.converters.caffe.text import TextFormatError, parse
from netinspect.protowire import WireError, fields, signed, varint

TEXT = r"""
# comment before anything
name: 'odd\'net'   # trailing comment
input: "data" input_dim: [1, 3, 8, 8]
layer: {
  name: "c" type: "Convolution" bottom: "data"; top: "c",
  convolution_param < num_output: 4 kernel_size: 3 engine: 1 bias_term: false >
  param { lr_mult: 1 } param { lr_mult: 2 }
  transform_param { mean_value: 104 mirror: true crop_size: 227 }
}
layers { name: "r" type: 18 bottom: "c" top: "c" relu_param { negative_slope: 1e-2 } }
layer { name: "p" type: "Pooling" bottom: "c" top: "p" pooling_param { pool: AVE pad: 0x1 } }
"""


def test_text_format_variants() -> None:
    net = parse(TEXT)
    assert net.get("name") == "odd'net"
    assert net.all("input_dim") == [1, 3, 8, 8]
    conv = net.all("layer")[0]
    assert conv.all("bottom") == ["data"] and conv.all("top") == ["c"]
    params = conv.sub("convolution_param")
    assert (
        params.get("num_output") == 4 and params.get("engine") == "CAFFE" and params.get("bias_term") is False
    )
    assert conv.sub("transform_param").get("crop_size") == 227  # untyped, kept
    relu = net.all("layers")[0]
    assert relu.get("type") == "RELU" and relu.sub("relu_param").get("negative_slope") == pytest.approx(0.01)
    assert net.all("layer")[1].sub("pooling_param").get("pad") == 1


@pytest.mark.parametrize(
    "text,message",
    [
        ('layer { name: "a" ', "ends in the middle"),
        ("layer { name: 3 }", "takes a quoted string"),
        ('layer { type: "X" convolution_param: 3 }', "message, not a value"),
        ('layer { name: "a" } }', "expected a field name"),
        ("input_dim: [1, 2", "ends in the middle"),
        ("layer { pooling_param { pool: MEDIAN } }", "pool takes a PoolMethod, not MEDIAN"),
        ("layer { convolution_param { num_output: -4 } }", "cannot be negative"),
        ("a {" * 100, "nested more than"),
    ],
)
def test_text_format_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(TextFormatError, match=message):
        parse(text)


def test_wire_reader() -> None:
    assert varint(b"\xac\x02", 0, 2) == (300, 2)
    assert signed(varint(b"\xff" * 9 + b"\x01", 0, 10)[0]) == -1
    with pytest.raises(WireError, match="truncated varint"):
        varint(b"\x80", 0, 1)
    with pytest.raises(WireError, match="runs past"):
        list(fields(b"\x0a\x05ab", 0, 4))
    with pytest.raises(WireError, match="wire type"):
        list(fields(b"\x0b", 0, 1))
    with pytest.raises(WireError, match="longer than 10"):
        varint(b"\xff" * 11, 0, 11)
