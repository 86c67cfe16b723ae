"""Packaging as users get it: the wheel builds cleanly and works outside this checkout.

The editable install the tests otherwise use hides packaging bugs (a package folder missing from the
wheel, schemas not shipped, converters/ installed top-level). So: build the wheel, install it with
no dependencies into a fresh venv that borrows this environment's third-party packages, and run
`info`, `convert`, `view` and the Python API (`netinspect.check`, `netinspect.testing.assert_parity`,
the readers' entry points) from a folder outside the checkout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "fixtures" / "matconvnet" / "simplenn_beta11.mat"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("wheel")
    # a copy of the sources: setuptools builds in ./build, which parallel test workers would share
    source = tmp_path_factory.mktemp("source")
    for part in ("netinspect", "converters", "renderers"):
        shutil.copytree(ROOT / part, source / part, ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / part, source / part)
    pip = [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation"]
    build = subprocess.run([*pip, "-w", str(out), str(source)], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    wheels = list(out.glob("netinspect-*.whl"))
    assert len(wheels) == 1
    return wheels[0], build.stdout + build.stderr


def test_the_wheel_builds_without_setuptools_warnings(wheel: tuple[Path, str]) -> None:
    _, log = wheel
    assert "would be ignored" not in log and "SetuptoolsDeprecationWarning" not in log, log


def test_the_wheel_holds_every_module_under_netinspect(wheel: tuple[Path, str]) -> None:
    names = zipfile.ZipFile(wheel[0]).namelist()
    top = {n.split("/")[0] for n in names if not n.startswith("netinspect-")}
    assert top == {"netinspect"}
    assert "netinspect/schemas/info.schema.json" in names
    assert "netinspect/converters/onnx/writer.py" in names
    assert "netinspect/renderers/dot.py" in names
    assert "netinspect/renderers/html/assets/state.js" in names  # the page's script, split by job


def test_info_and_convert_run_from_the_installed_wheel(wheel: tuple[Path, str], tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # third-party dependencies come from this environment; netinspect itself only from the wheel
    # (every site folder of this interpreter: a worktree's venv borrows its packages from another one)
    borrowed = [sysconfig.get_paths()["purelib"], *(p for p in sys.path if p.endswith("site-packages"))]
    (Path(site) / "borrowed.pth").write_text("\n".join(dict.fromkeys(borrowed)) + "\n")
    with zipfile.ZipFile(wheel[0]) as archive:
        archive.extractall(site)
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = subprocess.run(
        [str(python), "-c", "import netinspect; print(netinspect.__file__)"],
        capture_output=True, text=True, check=True, cwd=work,
    ).stdout  # fmt: skip
    assert where.startswith(site), where
    run = [str(python), "-m", "netinspect"]
    info = subprocess.run([*run, "info", str(MODEL), "--json"], capture_output=True, text=True, cwd=work)
    assert info.returncode == 0, info.stderr
    assert '"source_format": "matconvnet"' in info.stdout
    out = work / "model.onnx"
    convert = subprocess.run(
        [*run, "convert", str(MODEL), "-o", str(out)], capture_output=True, text=True, cwd=work
    )
    assert convert.returncode == 0, convert.stderr
    assert out.stat().st_size > 0
    page = work / "model.html"
    view = subprocess.run(
        [*run, "view", str(MODEL), "-o", str(page)], capture_output=True, text=True, cwd=work
    )
    assert view.returncode == 0, view.stderr
    assert "<script" in page.read_text()
    api = subprocess.run(
        [str(python), "-c", "import json, sys, netinspect\n"
         "from importlib.metadata import entry_points\n"
         "from netinspect.testing import assert_parity\n"
         "report = netinspect.check(sys.argv[1])\n"
         "assert_parity(sys.argv[1], rtol=1e-4)\n"
         "readers = sorted(e.name for e in entry_points(group='netinspect.readers'))\n"
         "print(json.dumps([report['passed'], report['models'][0]['source']['runtime'], readers]))",
         str(MODEL)],
        capture_output=True, text=True, cwd=work,
    )  # fmt: skip
    assert api.returncode == 0, api.stderr
    passed, runtime, readers = json.loads(api.stdout.splitlines()[-1])
    assert passed and "MatConvNet reference" in runtime
    assert {"onnx", "keras", "tflite", "matconvnet"} <= set(readers)
