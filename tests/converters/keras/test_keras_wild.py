"""Patterns from real Keras files made by others (README "Keras", real files), each made again by
Keras itself (fixtures/keras/make_wild.py) and matched against Keras' own outputs (rtol = atol = 1e-4)."""

from __future__ import annotations

import json
import shutil

import h5py
import pytest

import netinspect
from netinspect.errors import ModelFormatError, UnsupportedError
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


def test_tensorflow_op_layers_match_keras(wild_cache):
    """tf.keras 2.0–2.3 `TensorFlowOpLayer`s (a NodeDef and constants: AddV2, Mul and Relu6 around a
    Conv2D, Mean with keep_dims, ConcatV2, Reshape, Transpose, Squeeze) convert as the TensorFlow
    functions that emit them (refused before: "unsupported Keras layers: … 'TensorFlowOpLayer'")."""
    stem, npz = make_wild.case_files("tensorflow_op_layers", "tfk")
    worst = compare(wild_cache / stem, wild_cache / npz)
    print(f"{stem}: max abs error {worst:.3g}")


def test_an_unmapped_tensorflow_op_is_named_among_the_unsupported(wild_cache, tmp_path):
    path = tmp_path / "cumsum.h5"
    shutil.copy(wild_cache / make_wild.case_files("tensorflow_op_layers", "tfk")[0], path)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        layer = next(e for e in config["config"]["layers"] if e["config"]["name"] == "relu6")
        layer["config"]["node_def"]["op"] = "Cumsum"
        f.attrs["model_config"] = json.dumps(config)
    with pytest.raises(UnsupportedError, match=r"'tf_op_layer_relu6' \(type 'tf.raw_ops.Cumsum'\)"):
        netinspect.to_onnx(netinspect.load(path))


def test_a_tf_keras_213_archive_reads_its_doubly_numbered_groups(wild_cache):
    """tf.keras 2.13–2.15 `.keras`: layers with weights took two numbers of their class in the
    weight groups (conv2d, conv2d_2…): "missing weight: no kernel" before."""
    path = wild_cache / make_wild.TF_KERAS_213
    worst = compare(path, wild_cache / f"{make_wild.TF_KERAS_213}.npz")
    print(f"{path.name}: max abs error {worst:.3g}")


def test_a_tf_keras_archive_checks_against_tf_keras(wild_cache, tmp_path):
    """A `.keras` archive tf_keras wrote (metadata keras_version 2.x) runs in tf-keras: Keras 3
    cannot deserialize tf_keras' classes ("Could not locate class 'Functional'")."""
    source = wild_cache / make_wild.TF_KERAS_TODAY
    converted = tmp_path / "converted.onnx"
    netinspect.save_onnx(netinspect.load(source), converted)
    report = netinspect.check(source, converted, rtol=1e-4, atol=1e-4)
    assert report["passed"], report["models"][0].get("error")
    assert report["models"][0]["source"]["runtime"].startswith("tf-keras")


def test_cropping_past_the_volume_leaves_an_empty_axis(wild_cache, tmp_path):
    """Keras' shape (N, 0, 0, 0, C), not a negative size: the writer's onnx.checker refused it."""
    stem, npz = make_wild.case_files("overcropped", "tfk")
    netinspect.save_onnx(netinspect.load(wild_cache / stem), tmp_path / "overcropped.onnx")
    compare(wild_cache / stem, wild_cache / npz)


@pytest.mark.parametrize("flavour", ["k3", "tfk"])
def test_recurrent_layers_started_from_given_states_match_keras(wild_cache, flavour):
    """`initial_state` (LSTM [h, c], GRU [h], Bidirectional four) as ONNX initial_h/initial_c
    (refused before: "initial states given as inputs are not supported")."""
    stem, npz = make_wild.case_files("seq2seq_states", flavour)
    worst = compare(wild_cache / stem, wild_cache / npz)
    print(f"{stem}: max abs error {worst:.3g}")


@pytest.mark.parametrize("flavour", ["k3", "tfk"])
def test_conv_lstm_matches_keras(wild_cache, flavour):
    """ConvLSTM2D unrolled over its time steps, alone and in Bidirectional (refused before:
    "unsupported Keras layers: … 'ConvLSTM2D'", "Bidirectional: needs a (batch, time, features) input")."""
    stem, npz = make_wild.case_files("conv_lstm", flavour)
    worst = compare(wild_cache / stem, wild_cache / npz)
    print(f"{stem}: max abs error {worst:.3g}")


@pytest.mark.parametrize("flavour", ["k3", "tfk"])
def test_masked_steps_are_skipped_as_keras_skips_them(wild_cache, flavour):
    """Masking and Embedding mask_zero before recurrent layers: masked steps skipped (first, inside,
    last, a whole row), a returned sequence repeating the last unmasked step's output, `go_backwards`
    (refused before: "Masking: a mask changes what the following layers compute"; mask_zero
    converted as if unmasked)."""
    stem, npz = make_wild.case_files("masked_sequences", flavour)
    worst = compare(wild_cache / stem, wild_cache / npz)
    print(f"{stem}: max abs error {worst:.3g}")


def test_a_mask_into_a_backwards_layer_returning_sequences_is_refused(wild_cache, tmp_path):
    path = tmp_path / "sequences.h5"
    shutil.copy(wild_cache / make_wild.case_files("masked_sequences", "tfk")[0], path)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        layer = next(e for e in config["config"]["layers"] if e["class_name"] == "GRU")
        layer["config"]["return_sequences"] = True
        f.attrs["model_config"] = json.dumps(config)
    with pytest.raises(ModelFormatError, match=r"'gru' \(GRU\): its input carries a Keras mask"):
        netinspect.load(path)


@pytest.mark.parametrize("flavour", ["k3", "tfk"])
def test_attention_over_rank2_inputs_attends_across_the_batch(wild_cache, flavour):
    """(refused before: "only (batch, time, features) inputs are supported")."""
    stem, npz = make_wild.case_files("batch_attention", flavour)
    worst = compare(wild_cache / stem, wild_cache / npz)
    print(f"{stem}: max abs error {worst:.3g}")


def test_a_tf_keras_213_archive_checks_in_tf_keras(wild_cache, tmp_path):
    """check's reference for it: tf-keras builds the model from config.json and gives each layer the
    next weight group of its class (today's tf-keras loader finds none: "expected 1 variables, but
    received 0")."""
    source = wild_cache / make_wild.TF_KERAS_213
    converted = tmp_path / "converted.onnx"
    netinspect.save_onnx(netinspect.load(source), converted)
    report = netinspect.check(source, converted, rtol=1e-4, atol=1e-4)
    assert report["passed"], report["models"][0].get("error")
    assert report["models"][0]["source"]["runtime"].startswith("tf-keras")


def test_layers_whose_arrays_share_a_bare_name_keep_their_own(wild_cache):
    """Keras 3.0–3.1 `.h5`: every bias is stored as `bias`; a Conv2DTranspose once took the Conv2D's
    bias of the same shape (the real autoencoder_ucsd model FAILed at 0.13)."""
    path = wild_cache / make_wild.KERAS_31_H5
    worst = compare(path, wild_cache / f"{make_wild.KERAS_31_H5}.npz")
    print(f"{path.name}: max abs error {worst:.3g}")


def test_pickled_npz_weights_are_refused_unread(tmp_path):
    """A `.keras` whose weights are `model.weights.npz` (12end/evil_keras: a pickle calling
    `os.system`): one line naming the pickle; nothing in it is loaded (this one would import a
    module that does not exist)."""
    import pickle
    import zipfile

    class Trap:
        def __reduce__(self):
            return (__import__, ("netinspect_no_such_module",))

    path = tmp_path / "pickled.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.6.0"}))
        archive.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {"layers": []}}))
        archive.writestr("model.weights.npz", pickle.dumps(Trap()))
    with pytest.raises(ModelFormatError, match="pickled objects, which netinspect never unpickles"):
        netinspect.load(path)


def test_a_pickled_model_is_named_a_pickle_and_not_unpickled(tmp_path):
    """A Keras model pickled into a file named `.h5` (a real one: keras.saving.pickle_utils)."""
    import pickle

    class Trap:
        def __reduce__(self):
            return (__import__, ("netinspect_no_such_module",))

    path = tmp_path / "transformer.h5"
    path.write_bytes(pickle.dumps(Trap(), protocol=4))
    with pytest.raises(ModelFormatError, match="a Python pickle, which netinspect never unpickles"):
        netinspect.load(path)
