"""The committed MatConvNet fixtures are exactly what fixtures/make_matconvnet.py writes."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import fixture_generator

ROOT = Path(__file__).resolve().parents[3]


def test_generator_rewrites_the_committed_fixtures_byte_for_byte(tmp_path: Path) -> None:
    written = fixture_generator("make_matconvnet.py").generate(tmp_path)
    assert len(written) >= 13
    for fresh in written:
        committed = ROOT / "fixtures" / "matconvnet" / fresh.relative_to(tmp_path)
        assert committed.read_bytes() == fresh.read_bytes(), f"{committed} differs from a fresh generation"
