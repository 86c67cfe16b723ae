"""Bad MatConvNet input: `netinspect info` exits 2 with one line naming the file and the problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import netinspect
from netinspect.errors import ModelFormatError, UnsupportedError

BAD = Path(__file__).resolve().parents[3] / "fixtures" / "matconvnet" / "bad"

CASES = {
    "no_network.mat": "holds no MatConvNet network",
    "truncated.mat": "truncated or corrupted MAT file",
    "unknown_layers.mat": "2 unsupported MatConvNet layers: layer 'mystery1' (type 'frobnicate'); "
    "layer 'mystery2' (type 'warp')",
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


def test_unknown_types_are_all_listed_in_the_exception() -> None:
    with pytest.raises(UnsupportedError) as caught:
        netinspect.load(BAD / "unknown_layers.mat")
    assert caught.value.items == ["layer 'mystery1' (type 'frobnicate')", "layer 'mystery2' (type 'warp')"]


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


def write_v73(path: Path, variables: dict) -> None:
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("make_matconvnet", BAD.parent.parent / "make_matconvnet.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
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
    result = cli("info", custom)
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
