"""A format from an outside package: found through the entry-point group `netinspect.readers` and
working end to end — detected, read with its companion file and its own option, shown by `info`,
converted by `convert`, checked by `check` against the runtime it names — with no edit to netinspect.

The package is written here into a folder on PYTHONPATH with a dist-info holding its entry point,
as `pip install` would leave it. Its format: a text file "TOYNET" with `scale` and `shape` lines,
computing y = x · scale + bias, the bias read from a companion file (`--toy-bias`), and
`--toy-sign minus` flipping the bias.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PACKAGE = {
    "toyformat/__init__.py": '''
from netinspect.registry import Companion, FormatOption, Probe, Reader, Runtime


def match(probe: Probe) -> str | None:
    return "toy" if probe.head.startswith(b"TOYNET\\n") else None


READER = Reader(
    name="toy",
    description="Toy nets (a test's outside format)",
    supports="read, convert, check",
    match=match,
    open="toyformat.reader:open_graph",
    runtime=Runtime("toy-numpy", "toyformat.runtime", "ToyRunner.from_probe"),
    priority=90,
    companions=(Companion("toy-bias", "a text file with the bias, one number per channel."),),
    options=(FormatOption("toy-sign", "add the bias or subtract it.", ("plus", "minus")),),
)
''',
    "toyformat/spec.py": '''
import numpy as np


def read(probe, options):
    """(scale, shape, bias) of a toy net; the runtime reads the file with this too (it is the spec)."""
    fields = dict(line.split(" ", 1) for line in probe.path.read_text().splitlines()[1:] if line)
    shape = tuple(int(d) for d in fields["shape"].split(","))
    bias_file = probe.companions.get("toy-bias")
    bias = np.loadtxt(bias_file, dtype=np.float32, ndmin=1) if bias_file else np.zeros(shape[-1], np.float32)
    if options.format_options.get("toy-sign") == "minus":
        bias = -bias
    return np.float32(fields["scale"]), shape, bias
''',
    "toyformat/reader.py": '''
import numpy as np

from netinspect.ir import Graph, Node, Provenance, Tensor, Value
from toyformat.spec import read


def open_graph(probe, tag, options):
    scale, shape, bias = read(probe, options)
    graph = Graph("toy", [Value("x", "float32", shape)], [Value("y", "float32", shape)])
    graph.tensors["scale"] = Tensor("scale", "float32", (), np.array(scale, np.float32))
    graph.tensors["bias"] = Tensor("bias", "float32", bias.shape, bias)
    graph.nodes = [
        Node("scaled", "Mul", ["x", "scale"], ["xs"], provenance=Provenance("toy", "scaled", "Scale")),
        Node("biased", "Add", ["xs", "bias"], ["y"], provenance=Provenance("toy", "biased", "Bias")),
    ]
    return graph
''',
    "toyformat/runtime.py": '''
import numpy as np

from netinspect.check.data import InputSpec
from netinspect.check.runtimes.base import BaseRunner
from toyformat.spec import read


class ToyRunner(BaseRunner):
    label = "toy NumPy runtime"

    def __init__(self, scale, shape, bias):
        self.scale, self.shape, self.bias = scale, shape, bias

    @classmethod
    def from_probe(cls, probe, options):
        return cls(*read(probe, options))

    def input_specs(self):
        return [InputSpec("x", "float32", self.shape)]

    def output_names(self):
        return ["y"]

    def run(self, feeds):
        return {"y": feeds["x"] * self.scale + self.bias}

    def run_values(self, feeds, names):
        values = {"xs": feeds["x"] * self.scale, "y": self.run(feeds)["y"]}  # by the IR's value names
        return {name: values[name] for name in names if name in values}
''',
    "toyformat-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: toyformat\nVersion: 0.1\n",
    "toyformat-0.1.dist-info/entry_points.txt": "[netinspect.readers]\ntoy = toyformat:READER\n",
}


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("plugin")
    for name, text in PACKAGE.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text.lstrip())
    path = os.pathsep.join(filter(None, (str(root), os.environ.get("PYTHONPATH"))))
    env = {**os.environ, "PYTHONPATH": path}
    return root, env


def run(env: dict[str, str], *args: object) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "netinspect", *(str(a) for a in args)]
    return subprocess.run(argv, capture_output=True, text=True, env=env)


@pytest.fixture
def toy(tmp_path: Path) -> tuple[Path, Path]:
    model = tmp_path / "model.net"
    model.write_text("TOYNET\nscale 3\nshape 1,4\n")
    bias = tmp_path / "bias.txt"
    bias.write_text("1 2 3 4\n")
    return model, bias


def test_the_entry_point_group_lists_the_outside_reader(plugin: tuple[Path, dict[str, str]]) -> None:
    code = (
        "import json\nfrom importlib.metadata import entry_points\nfrom netinspect.registry import readers\n"
        "print(json.dumps([sorted(e.name for e in entry_points(group='netinspect.readers')),"
        " [r.name for r in readers()]]))"
    )
    root, env = plugin  # run outside any checkout, whose stale egg-info would shadow the installed metadata
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root)
    assert out.returncode == 0, out.stderr
    names, ordered = json.loads(out.stdout)
    assert {"onnx", "keras", "tflite", "matconvnet", "toy"} <= set(names)
    assert ordered[-1] == "toy"  # its priority puts it after the built-in formats


def test_info_convert_and_check_work_on_the_outside_format(
    plugin: tuple[Path, dict[str, str]], toy: tuple[Path, Path], tmp_path: Path
) -> None:
    _, env = plugin
    model, bias = toy
    assert "--toy-bias" in run(env, "convert", "--help").stdout
    assert "toy" in run(env, "formats").stdout
    info = run(env, "info", model, "--toy-bias", bias, "--json")
    assert info.returncode == 0, info.stderr
    summary = json.loads(info.stdout)
    assert summary["format"]["source_format"] == "toy" and summary["parameters"]["count"] == 5

    out = tmp_path / "model.onnx"
    converted = run(env, "convert", model, "--toy-bias", bias, "--toy-sign", "minus", "-o", out)
    assert converted.returncode == 0, converted.stderr
    import onnxruntime as ort

    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    (y,) = ort.InferenceSession(str(out)).run(None, {"x": x})
    np.testing.assert_array_equal(y, x * 3 - np.array([1, 2, 3, 4], np.float32))

    checked = run(env, "check", model, out, "--toy-bias", bias, "--toy-sign", "minus")
    assert checked.returncode == 0, checked.stderr + checked.stdout
    assert "toy NumPy runtime" in checked.stdout
    wrong = run(env, "check", model, out, "--toy-bias", bias)  # the runtime adds the bias, the ONNX subtracts
    assert wrong.returncode == 1 and "first diverging layer: biased" in wrong.stdout


def test_a_missing_companion_file_is_one_clear_line(
    plugin: tuple[Path, dict[str, str]], toy: tuple[Path, Path], tmp_path: Path
) -> None:
    model, _ = toy
    result = run(plugin[1], "info", model, "--toy-bias", tmp_path / "absent.txt")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"netinspect: {model}: its toy-bias file {tmp_path / 'absent.txt'} (--toy-bias) does not exist"
    ]


def test_stale_netinspect_metadata_first_on_the_path_hides_no_reader(tmp_path: Path) -> None:
    """A `netinspect.egg-info` from an old build, left in a checkout Python runs in, comes first on
    sys.path: the readers are still found (entry points are read from every distribution)."""
    stale = tmp_path / "netinspect.egg-info"
    stale.mkdir()
    (stale / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: netinspect\nVersion: 0.0.1\n")
    (stale / "entry_points.txt").write_text("[console_scripts]\nnetinspect = netinspect.cli:main\n")
    code = "import json\n"
    code += "from netinspect.registry import readers\n"
    code += "print(json.dumps([r.name for r in readers()]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert {"onnx", "keras", "tflite", "matconvnet"} <= set(json.loads(out.stdout))
