"""Patterns from real Keras files made by others (README "Keras", real files), each made again by
Keras itself (fixtures/keras/make_wild.py) and matched against Keras' own outputs (rtol = atol = 1e-4)."""

from __future__ import annotations

import pytest

import netinspect
from tests.converters.keras.conftest import compare, make_wild


@pytest.mark.parametrize("flavour", ["k3", "tfk"])
def test_bidirectional_hard_sigmoid_matches_keras(wild_cache, flavour):
    """Both directions' HardSigmoid gates keep Keras' alpha and beta (onnxruntime reads one value
    per activation that takes one; a padded list gave the backward gates the forward Tanh's 1, 0)."""
    stem, npz = make_wild.case_files("bidirectional_hard_sigmoid", flavour)
    worst = compare(wild_cache / stem, wild_cache / npz)
    print(f"{stem}: max abs error {worst:.3g}")


@pytest.mark.parametrize("flavour", ["k3", "tfk"])
def test_token_ids_stay_inside_a_small_embedding(wild_cache, tmp_path, flavour):
    """`check` draws ids below the Embedding's 5 rows for the uint16 input that feeds it (drawn
    from 0..9 before, Keras stopped: "Exception encountered when calling layer 'embedding'")."""
    source = wild_cache / make_wild.case_files("embedding_few_rows", flavour)[0]
    converted = tmp_path / "converted.onnx"
    netinspect.save_onnx(netinspect.load(source), converted)
    report = netinspect.check(source, converted, rtol=1e-4, atol=1e-4)
    assert report["passed"], report["models"][0].get("error")
