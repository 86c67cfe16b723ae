"""Bad MatConvNet input: `netinspect info` exits 2 with one line naming the file and the problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import netinspect
from netinspect.errors import ModelFormatError, UnsupportedError

BAD = Path(__file__).resolve().parents[1] / "fixtures" / "matconvnet" / "bad"

CASES = {
    "no_network.mat": "holds no MatConvNet network",
    "truncated.mat": "truncated or corrupted MAT file",
    "unknown_layers.mat": "2 unsupported MatConvNet layers: layer 'mystery1' (type 'frobnicate'); "
    "layer 'mystery2' (type 'warp')",
    "filter_depth.mat": "layer 'conv2' (conv): filter depth 3 matches no input depth: the input has 4 channels",
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
    with pytest.raises(ModelFormatError, match="MAT v7.3"):
        netinspect.load(path)
