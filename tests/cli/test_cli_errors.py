"""Bad input and bad usage: exit code 2 and exactly one line on stderr naming the file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.conftest import ONNX_TEST_DATA

RESNET = ONNX_TEST_DATA / "light" / "light_resnet50.onnx"


def one_line_naming(err: str, name: str | Path) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(name) in lines[0]
    assert "Traceback" not in err
    return lines[0]


def external_outside(folder: Path) -> Path:
    w = np.ones((2, 3, 3, 3), np.float32)
    (folder.parent / "secret.bin").write_bytes(w.tobytes())
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 2, 2])
    tensor = numpy_helper.from_array(w, "w")
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="../secret.bin")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "g", [x], [y], [tensor])
    path = folder / "escape.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    return path


def make_bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    folder = tmp_path / "models"
    folder.mkdir()
    cases = {}
    cases["missing"] = (folder / "nope.onnx", "no such file")
    cases["directory"] = (folder, "directory")
    (folder / "empty.onnx").write_bytes(b"")
    cases["empty"] = (folder / "empty.onnx", "empty")
    (folder / "random.bin").write_bytes(np.random.default_rng(0).bytes(4096))
    cases["random"] = (folder / "random.bin", "unknown model format")
    data = RESNET.read_bytes()
    (folder / "truncated.onnx").write_bytes(data[: len(data) // 2])
    cases["truncated"] = (folder / "truncated.onnx", "truncated or corrupted")
    cases["escaping external data"] = (external_outside(folder), "outside the model's folder")
    (folder / "text.txt").write_text("name,value\nconv1,3\n")
    cases["unknown format"] = (folder / "text.txt", "unknown model format")
    return cases


@pytest.mark.parametrize("command", ["info", "view", "convert"])
@pytest.mark.parametrize(
    "case",
    ["missing", "directory", "empty", "random", "truncated", "escaping external data", "unknown format"],
)
def test_bad_input_exits_2_with_one_line(cli, tmp_path: Path, command: str, case: str) -> None:
    path, message = make_bad_inputs(tmp_path)[case]
    args = {"info": [], "view": ["-o", tmp_path / "out.svg"], "convert": ["-o", tmp_path / "out.onnx"]}[
        command
    ]
    result = cli(command, path, *args)
    assert result.code == 2
    assert message in one_line_naming(result.err, path)
    assert not (tmp_path / "out.svg").exists() and not (tmp_path / "out.onnx").exists()


def test_unwritable_output_path(cli, tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir" / "out.onnx"
    result = cli("convert", RESNET, "-o", target)
    assert result.code == 2
    one_line_naming(result.err, target)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only folder")
def test_read_only_folder(cli, tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    result = cli("convert", RESNET, "-o", folder / "out.onnx")
    assert result.code == 2
    one_line_naming(result.err, folder / "out.onnx")


def test_output_that_is_a_directory(cli, tmp_path: Path) -> None:
    result = cli("convert", RESNET, "-o", tmp_path)
    assert result.code == 2
    one_line_naming(result.err, tmp_path)


def test_convert_never_overwrites_its_input(cli, tmp_path: Path) -> None:
    copy = tmp_path / "m.onnx"
    copy.write_bytes(RESNET.read_bytes())
    before = copy.read_bytes()
    result = cli("convert", copy, "-o", copy)
    assert result.code == 2
    assert "overwrite the input" in one_line_naming(result.err, copy)
    link = tmp_path / "link.onnx"
    link.symlink_to(copy)
    assert cli("convert", copy, "-o", link).code == 2
    assert copy.read_bytes() == before


def test_a_failed_write_leaves_no_partial_file(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from netinspect.converters.onnx import writer as onnx_writer
    from netinspect.io import laid_out

    def explode(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(laid_out, "write_tensor", explode)  # a weight written…
    monkeypatch.setattr(laid_out, "copy_range_at", explode)  # …or copied file to file
    monkeypatch.setattr(onnx_writer.onnx_wire, "LAZY_THRESHOLD", 0)
    out = tmp_path / "out.onnx"
    result = cli("convert", RESNET, "-o", out)
    assert result.code == 2
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_bad_usage_exits_2(cli) -> None:
    assert cli("convert", RESNET).code == 2
    assert cli("no-such-command").code == 2
    assert cli("convert", RESNET, "--to", "caffe", "-o", "x.caffemodel").code == 2


def test_the_installed_command_reports_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07\x3a\xff\xff\xff\xff\x0f")
    proc = subprocess.run(
        [sys.executable, "-m", "netinspect", "info", str(bad)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    one_line_naming(proc.stderr, bad)


def test_hostile_protobuf_declaring_huge_tensor(cli, tmp_path: Path) -> None:
    """A header that declares a 2^40-element tensor over 8 bytes of data must be refused, not allocated."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    tensor = onnx.TensorProto(
        name="w", dims=[2**20, 2**20], data_type=TensorProto.FLOAT, raw_data=b"\0" * 2048
    )
    graph = helper.make_graph(
        [helper.make_node("Identity", ["w"], ["y"])],
        "g",
        [x],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [tensor],
    )
    path = tmp_path / "huge.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    result = cli("info", path)
    assert result.code == 2
    assert "needs" in one_line_naming(result.err, path)
