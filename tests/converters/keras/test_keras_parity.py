"""Parity: Keras-made models (keras.applications with random weights, and small models per layer
group) converted by netinspect and run in onnxruntime, against Keras' own `predict` outputs saved
by the generator. Tolerance rtol 1e-4, atol 1e-4 on every output."""

from __future__ import annotations

import pytest

import netinspect
from netinspect.registry import LoadOptions
from tests.converters.keras.conftest import assert_input_matters, compare, make_keras

TOLERANCE = 1e-4
CASES = make_keras.all_cases()


@pytest.mark.parametrize(("name", "flavour"), CASES, ids=[f"{n}-{f}" for n, f in CASES])
def test_keras_model_matches_keras_predict(keras_cache, name, flavour):
    stem, npz = make_keras.case_files(name, flavour)
    worst = compare(keras_cache / stem, keras_cache / npz, tolerance=TOLERANCE)
    print(f"{stem}: max abs error {worst:.3g}")
    assert_input_matters(keras_cache / npz, TOLERANCE)


def test_keep_nhwc_gives_the_same_numbers(keras_cache):
    stem, npz = make_keras.case_files("MobileNetV2", "k3")
    compare(keras_cache / stem, keras_cache / npz, LoadOptions(keep_source_layout=True))


def test_flatten_dropout_dense_boundary_has_no_transpose(tmp_path):
    """Flatten → Dropout → Dense in a channels-last model: the dropout is elided and the Dense rows
    permuted, so no Transpose is left in front of the Flatten."""
    from tests.converters.keras.test_keras1 import make_keras1

    config = make_keras1.default_layers("tf")
    config[6], config[7] = config[7], config[6]  # Flatten, then Dropout
    path = make_keras1.write(tmp_path / "k1.h5", "tf", "tensorflow", layers=config)
    graph = netinspect.load(path)
    producers = graph.producers()
    dense = next(n for n in graph.nodes if n.provenance and n.provenance.layer == "dense_1")
    flatten = producers[dense.inputs[0]]
    assert flatten.op_type == "Flatten"
    assert producers[flatten.inputs[0]].op_type != "Transpose"
    assert any("weight rows permuted" in s.text for s in dense.provenance.steps)
    assert any(s.kind == "dropout" for s in flatten.provenance.steps)


def test_a_flatten_of_pooled_channels_leaves_the_dense_kernel_untouched(keras_cache):
    """GlobalAveragePooling (keepdims) → Flatten → Dense: the Transpose to channels-last moves only
    size-1 axes, so the flatten orders agree; the Transpose goes and the kernel is written as the
    file holds it (no row gathering, no step recorded)."""
    stem, npz = make_keras.case_files("transfer", "k3")
    graph = netinspect.load(keras_cache / stem)
    producers = graph.producers()
    flattens = [n for n in graph.nodes if n.op_type == "Flatten"]
    assert flattens and all(producers[f.inputs[0]].op_type != "Transpose" for f in flattens)
    for dense in (
        n
        for n in graph.nodes
        if n.op_type in ("Gemm", "MatMul") and n.inputs[0] in {f.outputs[0] for f in flattens}
    ):
        assert graph.tensors[dense.inputs[1]].span is not None
        assert not any("rows permuted" in s.text for s in dense.provenance.steps)  # type: ignore[union-attr]
    compare(keras_cache / stem, keras_cache / npz)


def test_keras3_weight_groups_matched_in_keras_walk_order(keras_cache, tmp_path):
    """Without the layer names newer Keras writes on each `vars` group, weight groups (named after
    classes: conv2d, conv2d_1, …) are matched to layers in the order Keras' own walk gives them."""
    import zipfile

    import h5py

    stem, npz = make_keras.case_files("conv_layers", "k3")
    with zipfile.ZipFile(keras_cache / stem) as z:
        members = {name: z.read(name) for name in z.namelist()}
    weights = tmp_path / "model.weights.h5"
    weights.write_bytes(members["model.weights.h5"])
    with h5py.File(weights, "r+") as f:
        stripped = []
        f.visititems(lambda name, obj: stripped.append(name) if "name" in obj.attrs else None)
        for name in stripped:
            del f[name].attrs["name"]
    assert len(stripped) > 8
    members["model.weights.h5"] = weights.read_bytes()
    path = tmp_path / "unnamed.keras"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    compare(path, keras_cache / npz)


WEIGHTS_ONLY = [n for n, f in CASES if f == "tfk"]


@pytest.mark.parametrize("form", ["legacy-weights", "weights"])
@pytest.mark.parametrize("name", WEIGHTS_ONLY)
def test_weights_only_h5_with_architecture_json(keras_cache, name, form):
    """tf-keras `save_weights` + `to_json()`, read with --config: the same numbers as Keras, from the
    legacy layout (a group per layer) and from the attribute-walk layout of `*.weights.h5`."""
    stem, npz = make_keras.case_files(name, "tfk")
    weights, config = keras_cache / f"{stem}.{form}.h5", keras_cache / f"{stem}.json"
    compare(weights, keras_cache / npz, LoadOptions(companions={"config": config}))
