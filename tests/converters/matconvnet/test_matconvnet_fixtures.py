"""The committed MatConvNet fixtures are exactly what fixtures/make_matconvnet.py writes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_generator_rewrites_the_committed_fixtures_byte_for_byte(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_matconvnet", ROOT / "fixtures" / "make_matconvnet.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    written = module.generate(tmp_path)
    assert len(written) >= 13
    for fresh in written:
        committed = ROOT / "fixtures" / "matconvnet" / fresh.relative_to(tmp_path)
        assert committed.read_bytes() == fresh.read_bytes(), f"{committed} differs from a fresh generation"
