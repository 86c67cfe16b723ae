"""Bad MatConvNet input: `netinspect info` exits 2 with one line naming the file and the problem."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import netinspect
from netinspect.errors import ModelFormatError, UnsupportedError
from tests.conftest import fixture_generator

BAD = Path(__file__).resolve().parents[3] / "fixtures" / "matconvnet" / "bad"

CASES = {
    "no_network.mat": "holds no MatConvNet network",
    "truncated.mat": "truncated or corrupted MAT file",
    "filter_depth.mat": "layer 'conv2' (conv): filter depth 3 matches no input depth: "
    "the input has 4 channels",
    "missing_weight.mat": "layer 'conv2' (conv): missing weight",
    "broken_refs_v73.mat": "broken object reference in MAT v7.3 file at /net/layers",
}


@pytest.mark.parametrize(("name", "message"), CASES.items())
def test_bad_file_exits_2_with_one_line(cli: Callable, name: str, message: str) -> None:
    path = BAD / name
    result = cli("info", path)
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.err, result.err
    assert str(path) in lines[0] and message in lines[0]


def test_unknown_types_are_shown_and_all_listed_when_converting(cli: Callable, tmp_path: Path) -> None:
    path = BAD / "unknown_layers.mat"
    graph = netinspect.load(path)
    assert [(n.op_type, n.domain) for n in graph.nodes if n.domain] == [
        ("frobnicate", "netinspect.matconvnet"),
        ("warp", "netinspect.matconvnet"),
    ]
    with pytest.raises(UnsupportedError) as caught:
        netinspect.to_onnx(graph)
    assert caught.value.items == ["layer 'mystery1' (type 'frobnicate')", "layer 'mystery2' (type 'warp')"]
    assert cli("info", path).code == 0
    result = cli("convert", path, "-o", tmp_path / "x.onnx")
    lines = result.err.strip().splitlines()
    assert result.code == 2 and len(lines) == 1 and "Traceback" not in result.err, result.err
    message = "2 unsupported MatConvNet layers: layer 'mystery1' (type 'frobnicate'); layer 'mystery2'"
    assert str(path) in lines[0] and message in lines[0]


def test_every_truncation_point_is_a_clean_error(tmp_path: Path) -> None:
    data = (BAD.parent / "simplenn_beta17.mat").read_bytes()
    for cut in range(128, len(data), 97):
        path = tmp_path / f"cut{cut}.mat"
        path.write_bytes(data[:cut])
        with pytest.raises(netinspect.NetinspectError) as caught:
            netinspect.load(path)
        assert str(path) in str(caught.value)


def test_a_non_matconvnet_hdf5_mat_is_refused(tmp_path: Path) -> None:
    data = bytearray((BAD / "broken_refs_v73.mat").read_bytes())
    data[600:] = bytes(len(data) - 600)  # the HDF5 part destroyed, the MATLAB header intact
    path = tmp_path / "wiped.mat"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match=r"MAT v7\.3"):
        netinspect.load(path)


def make_matconvnet() -> Any:
    """fixtures/make_matconvnet.py as a module (its MATLAB value types and writers)."""
    return fixture_generator("make_matconvnet.py")


def write_v73(path: Path, variables: dict) -> None:
    module = make_matconvnet()
    module.write_v73(path, {k: v(module) if callable(v) else v for k, v in variables.items()})


def test_function_handles_and_objects_are_refused_never_run(tmp_path: Path, cli: Callable) -> None:
    import h5py

    custom = tmp_path / "custom_v73.mat"
    write_v73(
        custom,
        {"layers": lambda m: m.Cell([m.simple("relu", "r1"), m.simple("custom", "mine", forward="f")])},
    )
    with h5py.File(custom, "r+") as f:  # mark the 'forward' field as MATLAB stores a function handle
        forward = next(f[r] for r in f["layers"][()].ravel() if "forward" in f[r])["forward"]
        forward.attrs["MATLAB_class"] = np.bytes_("function_handle")
    assert cli("info", custom).code == 0  # shown, its fields as text: nothing in it is run
    result = cli("convert", custom, "-o", tmp_path / "custom.onnx")
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1
    assert "layer 'mine' (type 'custom')" in result.err and "function handles" in result.err

    dagnn_object = tmp_path / "object_v73.mat"
    write_v73(dagnn_object, {"net": "placeholder"})
    with h5py.File(dagnn_object, "r+") as f:  # a dagnn.DagNN object saved as such (MCOS), not via saveobj
        f["net"].attrs["MATLAB_class"] = np.bytes_("dagnn.DagNN")
        f["net"].attrs["MATLAB_object_decode"] = np.int32(3)
    result = cli("info", dagnn_object)
    assert result.code == 2 and "holds no MatConvNet network" in result.err
    assert "net: MATLAB object (dagnn.DagNN), never decoded" in result.err


def test_an_array_claiming_more_values_than_it_holds_is_refused(tmp_path: Path) -> None:
    data = bytearray((BAD / "no_network.mat").read_bytes())
    path = tmp_path / "huge.mat"
    # the 'x' variable (2x3 double) claims 100000x100000 dims: refused from its size, not read
    at = data.find(np.array([2, 3], np.int32).tobytes())
    data[at : at + 8] = np.array([100000, 100000], np.int32).tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match="corrupted MAT array"):
        netinspect.load(path)


def _element(mtype: int, payload: bytes) -> bytes:
    return struct.pack("<II", mtype, len(payload)) + payload + bytes(-len(payload) % 8)


def matrix(name: str, mclass: int, dims: tuple[int, ...], *parts: bytes) -> bytes:
    """One MAT v5 miMATRIX element: array flags, dims, name, then the given data elements."""
    head = _element(6, struct.pack("<II", mclass, 0)) + _element(5, struct.pack(f"<{len(dims)}i", *dims))
    return _element(14, head + _element(1, name.encode()) + b"".join(parts))


def opaque(name: str, class_name: str, data: bytes) -> bytes:
    """An MCOS object as MATLAB writes it: flags, then name, type system and class, then data."""
    strings = b"".join(_element(1, s.encode()) for s in (name, "MCOS", class_name))
    return _element(14, _element(6, struct.pack("<II", 17, 0)) + strings + data)


def reference(object_id: int, class_id: int = 1) -> bytes:
    """An MCOS object's data: the uint32 column [0xDD000000, 2, 1, 1, object id, class id]."""
    ids = struct.pack("<6I", 0xDD000000, 2, 1, 1, object_id, class_id)
    return matrix("", 13, (6, 1), _element(6, ids))


def mat_v5(*elements: bytes, subsystem: bytes = b"") -> bytes:
    """A MAT v5 file: header (with the subsystem offset when there is one), elements, subsystem."""
    body = b"".join(elements)
    offset = 128 + len(body) if subsystem else 0
    header = b"MATLAB 5.0 MAT-file, Platform: GLNXA64".ljust(116, b" ") + struct.pack("<Q", offset)
    data = matrix("", 9, (1, len(subsystem)), _element(2, subsystem)) if subsystem else b""
    return header + b"\x00\x01IM" + body + data


def mcos_object_v5(path: Path, name: str, class_name: str) -> None:
    """A MAT v5 file holding one MATLAB (MCOS) object, with opaque subsystem bytes."""
    path.write_bytes(
        mat_v5(opaque(name, class_name, reference(1)), subsystem=bytes([0x9B, 0x1B, 0x07, 0xFF] * 4))
    )


@pytest.mark.parametrize("kind", ["v5", "v73"])
def test_a_deep_learning_toolbox_network_says_what_it_is_and_how_to_export(
    tmp_path: Path, cli: Callable, kind: str
) -> None:
    path = tmp_path / f"trained_{kind}.mat"
    if kind == "v5":
        mcos_object_v5(path, "net", "SeriesNetwork")
    else:
        import h5py

        write_v73(path, {"net": "placeholder"})
        with h5py.File(path, "r+") as f:
            f["net"].attrs["MATLAB_class"] = np.bytes_("DAGNetwork")
            f["net"].attrs["MATLAB_object_decode"] = np.int32(3)
    result = cli("info", path)
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err
    assert "Deep Learning Toolbox network object" in result.err and "exportONNXNetwork(net" in result.err
    assert result.err.isascii() and result.err.rstrip("\n").isprintable()  # no raw bytes, no controls


def test_control_characters_from_the_file_are_escaped_in_messages(tmp_path: Path, cli: Callable) -> None:
    path = tmp_path / "names.mat"
    write_v73(
        path, {"layers": lambda m: m.Cell([m.simple("relu", "r\x1b[2J"), m.simple("warp\x07", "w\x00x")])}
    )
    result = cli("convert", path, "-o", tmp_path / "names.onnx")
    assert result.code == 2
    line = result.err.rstrip("\n")
    assert "\n" not in line and line.isprintable(), repr(line)
    assert "layer 'w\\x00x' (type 'warp\\x07')" in line


def test_control_characters_in_names_are_escaped_in_info_tables(tmp_path: Path, cli: Callable) -> None:
    path = tmp_path / "names.mat"
    write_v73(
        path, {"layers": lambda m: m.Cell([m.simple("relu", "r\x1b[2J"), m.simple("sigmoid", "s\u202eevil")])}
    )
    result = cli("info", path, "--nodes")
    assert result.code == 0, result.err
    assert "\x1b" not in result.out and "\u202e" not in result.out
    assert "r\\x1b[2J" in result.out and "s\\u202eevil" in result.out
