"""What `info` says about a MatConvNet file's metadata: a label count that cannot match the output
is flagged, labels stored as MATLAB `string` objects are not shown blank, and preprocessing values
the file does not record (channel order, value range) are marked as assumed."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import netinspect
from tests.converters.matconvnet.test_matconvnet_errors import (
    _element,
    make_matconvnet,
    matrix,
    opaque,
    reference,
    write_v73,
)
from tests.converters.matconvnet.test_matconvnet_parity import FIXTURES


def write_classifier(path: Path, names: list[str]) -> None:
    """A 5-class SimpleNN (4×4×3 input, FC conv, softmax) whose meta lists `names` (MAT v7.3)."""

    def layers(m: Any) -> Any:
        rng = np.random.default_rng(0)
        return m.Cell(
            [m.conv("fc", [m.kernel(rng, 4, 4, 3, 5), m.bias(rng, 5)]), m.simple("softmax", "prob")]
        )

    def meta(m: Any) -> Any:
        classes = m.Struct({"name": m.Cell(names)})
        return m.Struct({"classes": classes, "normalization": m.Struct({"imageSize": [4, 4, 3]})})

    write_v73(path, {"layers": layers, "meta": meta})


def test_a_label_count_that_disagrees_with_the_output_is_flagged(tmp_path: Path, cli: Callable) -> None:
    path = tmp_path / "finetuned.mat"
    write_classifier(path, [f"c{i}" for i in range(7)])
    result = cli("info", path, "--json")
    assert result.code == 0, result.err
    notes = json.loads(result.out)["metadata"]["notes"]
    assert "label count mismatch: the file lists 7 classes, but output 'prob' has 5 channels" in notes
    fine = netinspect.load(FIXTURES / "dagnn_residual.mat")
    assert len(fine.metadata.labels or []) == 5 and not any("mismatch" in n for n in fine.metadata.notes)


def test_string_object_labels_are_named_not_blank(tmp_path: Path) -> None:
    import h5py

    path = tmp_path / "strings.mat"
    write_classifier(path, ["a", "b", "c", "d", "e"])
    with h5py.File(path, "r+") as f:  # the names stored as MATLAB string objects (MCOS), as `string` saves
        for ref in f["meta"]["classes"]["name"][()].ravel()[:2]:
            f[ref].attrs["MATLAB_class"] = np.bytes_("string")
            f[ref].attrs["MATLAB_object_decode"] = np.int32(3)
    graph = netinspect.load(path)
    assert graph.metadata.labels == ["<MATLAB string, not decoded>"] * 2 + ["c", "d", "e"]
    assert any("2 of the 5 classes.name entries are MATLAB strings" in n for n in graph.metadata.notes)


def test_unrecorded_preprocessing_is_shown_as_assumed(cli: Callable) -> None:
    path = FIXTURES / "simplenn_beta17.mat"
    summary = json.loads(cli("info", path, "--json").out)
    pre = summary["metadata"]["preprocessing"]
    assert pre["channel_order"] == "RGB" and pre["extra"]["assumed"] == ["channel_order", "value_range"]
    text = cli("info", path).out
    assert "RGB (assumed: not recorded in the file)" in " ".join(text.split())


def struct_element(name: str, fields: dict[str, bytes]) -> bytes:
    """A 1×1 MAT v5 struct whose field values are given as (unnamed) miMATRIX elements."""
    names = b"".join(f.encode().ljust(32, b"\0") for f in fields)
    return matrix(name, 2, (1, 1), _element(5, struct.pack("<i", 32)), _element(1, names), *fields.values())


def string_blob(strings: list[str]) -> bytes:
    """A `string` array's `any` property: uint64 [1, 2, 1, n, lengths..., UTF-16LE packed]."""
    text = "".join(strings).encode("utf-16-le")
    text += bytes(-len(text) % 8)
    head = np.array([1, 2, 1, len(strings), *(len(s) for s in strings)], "<u8").tobytes()
    return matrix("", 15, (1, (len(head) + len(text)) // 8), _element(13, head + text))


def string_labels_v5(path: Path, names: list[str], descriptions: list[str]) -> None:
    """A 5-class SimpleNN whose classes.name and .description are MATLAB string arrays (MCOS
    objects 1 and 2), their text in the subsystem as MATLAB writes it."""
    m, rng = make_matconvnet(), np.random.default_rng(0)
    layers = [m.conv("fc", [m.kernel(rng, 4, 4, 3, 5), m.bias(rng, 5)]), m.simple("softmax", "prob")]
    m.write_v5(path, {"layers": m.Cell(layers)})
    main = bytearray(path.read_bytes())
    size = matrix("", 6, (1, 3), _element(9, np.array([4.0, 4.0, 3.0]).tobytes()))
    classes = struct_element("", {"name": opaque("", "string", reference(1)),
                                  "description": opaque("", "string", reference(2))})  # fmt: skip
    meta = struct_element(
        "meta", {"classes": classes, "normalization": struct_element("", {"imageSize": size})}
    )
    wrapper = matrix("", 1, (5, 1), matrix("", 9, (1, 8), _element(2, bytes(8))), matrix("", 1, (0, 0)),
                     string_blob(names), string_blob(descriptions), matrix("", 1, (0, 0)))  # fmt: skip
    mini = b"\x00\x01IM" + bytes(4) + struct_element("", {"MCOS": opaque("", "FileWrapper__", wrapper)})
    body = bytes(main[128:]) + meta
    main[116:124] = struct.pack("<Q", 128 + len(body))
    path.write_bytes(bytes(main[:128]) + body + matrix("", 9, (1, len(mini)), _element(2, mini)))


def test_string_object_labels_are_read_from_the_subsystem(tmp_path: Path, cli: Callable) -> None:
    path = tmp_path / "string_labels.mat"
    names = ["tabby cat", "tiger", "café", "lion", "ox"]
    string_labels_v5(path, names, [f"class {n}" for n in names])
    graph = netinspect.load(path)
    assert graph.metadata.labels == names
    assert graph.metadata.label_descriptions == [f"class {n}" for n in names]
    summary = json.loads(cli("info", path, "--json").out)
    assert summary["metadata"]["labels"]["first"] == names


def test_string_object_labels_are_read_from_a_v73_subsystem(tmp_path: Path) -> None:
    """MAT v7.3 keeps the same FileWrapper__ cell as the dataset #subsystem#/MCOS (object refs)."""
    import h5py

    path = tmp_path / "strings_v73.mat"
    names = ["zebra", "gnu", "okapi", "ibex", "elk"]
    write_classifier(path, ["-"] * 5)
    with h5py.File(path, "r+") as f:
        classes = f["meta"]["classes"]
        del classes["name"]
        reference = np.array([[0xDD000000, 2, 1, 1, 1, 1]], np.uint32)  # a 6×1 column, dims reversed
        name = classes.create_dataset("name", data=reference)
        name.attrs["MATLAB_class"] = np.bytes_("string")
        name.attrs["MATLAB_object_decode"] = np.int32(3)
        text = "".join(names).encode("utf-16-le")
        text += bytes(-len(text) % 8)
        blob = np.concatenate([np.array([1, 2, 1, 5, *map(len, names)], "<u8"), np.frombuffer(text, "<u8")])
        cells = [np.zeros((1, 8), np.uint8), np.zeros(2, np.uint64), blob[None, :], np.zeros(2, np.uint64)]
        refs = []
        for index, value in enumerate(cells):
            data = f["#refs#"].create_dataset(f"mcos{index}", data=value)
            data.attrs["MATLAB_class"] = np.bytes_("uint64" if value.dtype == np.uint64 else "uint8")
            refs.append(data.ref)
        wrapper = f.create_group("#subsystem#").create_dataset(
            "MCOS", data=np.array(refs)[:, None], dtype=h5py.ref_dtype
        )
        wrapper.attrs["MATLAB_class"] = np.bytes_("FileWrapper__")
        wrapper.attrs["MATLAB_object_decode"] = np.int32(3)
    assert netinspect.load(path).metadata.labels == names
