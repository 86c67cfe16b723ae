"""Operators and file features TensorFlow's converter rarely emits, written by hand and checked against
LiteRT: SQUEEZE/EXPAND_DIMS, L2_POOL_2D, a fused TANH, softmax beta, RELU_N1_TO_1 / RELU_0_TO_1,
STABLEHLO element-wise ops, RANK, DILATE, FAKE_QUANT, data stored after the flatbuffer
(Buffer.offset/size), and a labels file packed after the model."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from netinspect.converters.tflite.refused import NO_KERNEL
from netinspect.registry import load
from tests.converters.tflite.handmade import Op, Spec, T, build, weighted_add
from tests.converters.tflite.parity import run_both
from tests.converters.tflite.test_tflite_parity import assert_close


def squeeze_expand() -> Spec:
    tensors = [T("x", [1, 1, 4, 3]), T("s", [1, 4, 3]), T("axis", [1], "int32", 1), T("y", [1, 4, 1, 3])]
    ops = [
        Op(0, [0], [1], ("SqueezeOptions", {"SqueezeDims": [1]})),
        Op(1, [1, 2], [3], ("ExpandDimsOptions", {})),
    ]
    axis = np.array([2], np.int32).tobytes()
    return Spec(tensors, ops, [0], [3], ["SQUEEZE", "EXPAND_DIMS"], [b"", axis])


def l2_pool() -> Spec:
    pool = {"Padding": 0, "StrideW": 2, "StrideH": 2, "FilterWidth": 2, "FilterHeight": 3}
    tensors = [T("x", [1, 5, 6, 2]), T("y", [1, 3, 3, 2])]
    return Spec(tensors, [Op(0, [0], [1], ("Pool2DOptions", pool))], [0], [1], ["L2_POOL_2D"])


def add_tanh() -> Spec:
    spec = weighted_add(np.linspace(-2, 2, 4, dtype=np.float32).reshape(1, 4))
    spec.ops[0].options = ("AddOptions", {"FusedActivationFunction": 4})
    return spec


def softmax_beta() -> Spec:
    tensors = [T("x", [2, 5]), T("y", [2, 5])]
    return Spec(tensors, [Op(0, [0], [1], ("SoftmaxOptions", {"Beta": 0.5}))], [0], [1], ["SOFTMAX"])


def clipped() -> Spec:
    tensors = [T("x", [1, 8]), T("a", [1, 8]), T("b", [1, 8])]
    return Spec(tensors, [Op(0, [0], [1]), Op(1, [0], [2])], [0], [1, 2], ["RELU_N1_TO_1", "RELU_0_TO_1"])


@pytest.mark.parametrize("make", [squeeze_expand, l2_pool, add_tanh, softmax_beta, clipped])
def test_handmade_operator_matches_litert(tmp_path: Path, make: object) -> None:
    path = tmp_path / "model.tflite"
    path.write_bytes(build(make()))  # type: ignore[operator]
    assert_close(run_both(path), rtol=1e-4, atol=1e-5)


def stablehlo_elementwise() -> Spec:
    ops = ["STABLEHLO_ADD", "STABLEHLO_MULTIPLY", "STABLEHLO_MAXIMUM", "STABLEHLO_MINIMUM"]
    tensors = [T("a", [2, 3]), T("b", [2, 3]), *(T(f"y{k}", [2, 3]) for k in range(4))]
    return Spec(tensors, [Op(k, [0, 1], [2 + k]) for k in range(4)], [0, 1], [2, 3, 4, 5], ops)


def rank_and_dilate() -> Spec:
    tensors = [T("x", [2, 3]), T("rank", [], "int32"), T("dilations", [2], "int32", 1),
               T("padding", [], "float32", 2), T("y", [3, 7])]  # fmt: skip
    ops = [Op(0, [0], [1], ("RankOptions", {})), Op(1, [0, 2, 3], [4])]
    values = [b"", np.array([2, 3], np.int32).tobytes(), np.array(7.0, np.float32).tobytes()]
    return Spec(tensors, ops, [0], [1, 4], ["RANK", "DILATE"], values)


def fake_quant() -> Spec:
    """Two FAKE_QUANTs on inputs in [0, 1): 4 bits on [0.2, 0.7] (clamping below and above; the zero
    point nudged to 0, so the range moves), 8 bits on [−0.3, 0.9] (LiteRT refuses narrow_range at
    run time, and so does the converter)."""
    tensors = [T("x", [4, 16]), T("q4", [4, 16]), T("q8", [4, 16])]
    ops = [
        Op(0, [0], [1], ("FakeQuantOptions", {"Min": 0.2, "Max": 0.7, "NumBits": 4, "NarrowRange": False})),
        Op(0, [0], [2], ("FakeQuantOptions", {"Min": -0.3, "Max": 0.9, "NumBits": 8, "NarrowRange": False})),
    ]
    return Spec(tensors, ops, [0], [1, 2], ["FAKE_QUANT"])


def stablehlo_pad() -> Spec:
    """[2, 3] → [2, 7]: axis 0 spread by interior 1 (3 rows), one row added low, two cropped high; axis 1
    spread by interior 2 (7 columns), one cropped low, one added high; the padding value −5."""
    fields = {"EdgePaddingLow": np.array([1, -1], np.int64), "EdgePaddingHigh": np.array([-2, 1], np.int64),
              "InteriorPadding": np.array([1, 2], np.int64)}  # fmt: skip
    tensors = [T("x", [2, 3]), T("fill", [], "float32", 1), T("y", [2, 7])]
    ops = [Op(0, [0, 1], [2], options2=("StablehloPadOptions", fields))]
    return Spec(tensors, ops, [0], [2], ["STABLEHLO_PAD"], [b"", np.array(-5.0, np.float32).tobytes()])


def reduce_windows() -> Spec:
    """REDUCE_WINDOW with each float reduction (ADD from 0.5, MUL from 1, MIN, MAX from ±inf) over
    [1, 6, 7, 2]: windows [1, 3, 2, 1], strides [1, 2, 2, 1], dilations [1, 1, 2, 1] (the last row of
    windows would overrun: not counted)."""
    params = [np.array(v, np.int64).tobytes() for v in ([1, 3, 2, 1], [1, 2, 2, 1], [1, 1, 2, 1])]
    starts = [np.array(v, np.float32).tobytes() for v in (0.5, 1.0, np.inf, -np.inf)]
    tensors = [T("x", [1, 6, 7, 2]), *(T(n, [4], "int64", 1 + k) for k, n in enumerate(("window", "strides",
               "dilations"))), *(T(f"init{k}", [], "float32", 4 + k) for k in range(4)),
               *(T(f"y{k}", [1, 2, 3, 2]) for k in range(4))]  # fmt: skip
    ops = [Op(0, [0, 4 + k, 1, 2, 3], [8 + k], options2=("ReduceWindowOptions", {"ReduceFunction": 1 + k}))
           for k in range(4)]  # fmt: skip
    return Spec(tensors, ops, [0], [8, 9, 10, 11], ["REDUCE_WINDOW"], [b"", *params, *starts])


RARE = [stablehlo_elementwise, rank_and_dilate, fake_quant, stablehlo_pad, reduce_windows]


@pytest.mark.parametrize("make", RARE)
def test_builtins_litert_runs_that_converters_rarely_write(tmp_path: Path, make: object) -> None:
    """STABLEHLO_ADD/MULTIPLY/MAXIMUM/MINIMUM, RANK, DILATE, FAKE_QUANT, STABLEHLO_PAD and REDUCE_WINDOW
    (each "not converted" before; LiteRT has kernels for them, TensorFlow's converter does not write
    them from TF code): every output equal to LiteRT's."""
    path = tmp_path / "model.tflite"
    path.write_bytes(build(make()))  # type: ignore[operator]
    for pair in run_both(path):
        np.testing.assert_array_equal(pair.actual, pair.expected, err_msg=pair.name)


def test_buffer_stored_after_the_flatbuffer(tmp_path: Path) -> None:
    """Models over 2 GB keep weights outside the flatbuffer: Buffer.offset/size from the file start."""
    weights = np.arange(4, dtype=np.float32).reshape(1, 4) * 0.5
    spec = weighted_add(weights)
    spec.buffers[1] = b""
    spec.external[1] = (1 << 16, 16)  # placeholder of the same width, to measure the flatbuffer
    size = len(build(spec))
    spec.external[1] = (size, 16)
    spec.appended = weights.tobytes()
    path = tmp_path / "external.tflite"
    path.write_bytes(build(spec))
    graph = load(path)
    add = graph.nodes[0]
    np.testing.assert_array_equal(graph.tensors[add.inputs[1]].numpy(), weights)
    assert_close(run_both(path), rtol=0, atol=0)


def test_labels_packed_after_the_model(tmp_path: Path) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("labels.txt", "cat\ndog\nbird\n")
    spec = weighted_add(np.zeros((1, 4), np.float32))
    spec.appended = archive.getvalue()
    path = tmp_path / "labelled.tflite"
    path.write_bytes(build(spec))
    assert load(path).metadata.labels == ["cat", "dog", "bird"]


def nchw_input() -> Spec:
    """A PyTorch-style export: an NCHW input transposed to NHWC by the model, then a 1×1 convolution."""
    rng = np.random.default_rng(0)
    perm = np.array([0, 2, 3, 1], np.int32)
    weights = rng.uniform(-1, 1, (4, 1, 1, 3)).astype(np.float32)
    bias = rng.uniform(-1, 1, 4).astype(np.float32)
    tensors = [
        T("x", [1, 3, 6, 5]),
        T("perm", [4], "int32", 1),
        T("nhwc", [1, 6, 5, 3]),
        T("w", [4, 1, 1, 3], buffer=2),
        T("b", [4], buffer=3),
        T("y", [1, 6, 5, 4]),
    ]
    conv = ("Conv2DOptions", {"Padding": 1, "StrideW": 1, "StrideH": 1})
    ops = [Op(0, [0, 1], [2]), Op(1, [2, 3, 4], [5], conv)]
    buffers = [b"", perm.tobytes(), weights.tobytes(), bias.tobytes()]
    return Spec(tensors, ops, [0], [5], ["TRANSPOSE", "CONV_2D"], buffers)


def test_nchw_input_gets_no_transpose_pair(tmp_path: Path) -> None:
    path = tmp_path / "nchw.tflite"
    path.write_bytes(build(nchw_input()))
    graph = load(path)
    assert graph.inputs[0].shape == (1, 3, 6, 5)
    producers = graph.producers()
    for node in graph.nodes:
        if node.op_type == "Transpose":
            before = producers.get(node.inputs[0])
            assert before is None or before.op_type != "Transpose", "two Transposes in a row"
    assert [n.op_type for n in graph.nodes].count("Transpose") <= 1
    assert_close(run_both(path), rtol=1e-4, atol=1e-5)


def support_metadata(label_file: str) -> bytes:
    """A TFLite Support metadata flatbuffer ("M001", slots as in tflite-support's metadata_schema.fbs):
    an RGB image input normalized by mean 127.5 and std 127.5, an output labelled by `label_file`."""
    import flatbuffers

    b = flatbuffers.Builder(512)

    def table(slots: list[tuple[int, str, object]]) -> int:
        b.StartObject(8)
        for slot, kind, value in slots:
            if kind == "ref":
                b.PrependUOffsetTRelativeSlot(slot, value, 0)
            else:
                b.PrependUint8Slot(slot, value, 0)
        return b.EndObject()

    def refs(items: list[int]) -> int:
        b.StartVector(4, len(items), 4)
        for item in reversed(items):
            b.PrependUOffsetTRelative(item)
        return b.EndVector()

    labels = table([(0, "ref", b.CreateString(label_file)), (2, "byte", 2)])
    output = table([(6, "ref", refs([labels]))])
    mean = b.CreateNumpyVector(np.array([127.5], np.float32))
    std = b.CreateNumpyVector(np.array([127.5], np.float32))
    normalization = table([(0, "ref", mean), (1, "ref", std)])
    unit = table([(0, "byte", 1), (1, "ref", normalization)])
    image = table([(0, "byte", 1)])
    content = table([(0, "byte", 2), (1, "ref", image)])
    image_input = table([(0, "ref", b.CreateString("image")), (3, "ref", content), (4, "ref", refs([unit]))])
    subgraph = table([(2, "ref", refs([image_input])), (3, "ref", refs([output]))])
    texts = {0: "tiny classifier", 1: "a handmade image model", 2: "v1", 4: "netinspect", 5: "MIT"}
    strings = {k: b.CreateString(v) for k, v in texts.items()}
    model = table([(0, "ref", strings[0]), (1, "ref", strings[1]), (2, "ref", strings[2]),
                   (3, "ref", refs([subgraph])), (4, "ref", strings[4]), (5, "ref", strings[5])])  # fmt: skip
    b.Finish(model, file_identifier=b"M001")
    return bytes(b.Output())


def test_support_metadata_gives_preprocessing_and_labels(tmp_path: Path) -> None:
    tensors = [T("image", [1, 4, 4, 3]), T("scores", [1, 4, 4, 3])]
    spec = Spec(tensors, [Op(0, [0], [1])], [0], [1], ["RELU"])
    spec.metadata["TFLITE_METADATA"] = support_metadata("classes.txt")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("labels.txt", "decoy\n")
        z.writestr("classes.txt", "cat\ndog\nbird\n")
    spec.appended = archive.getvalue()
    path = tmp_path / "described.tflite"
    path.write_bytes(build(spec))
    graph = load(path)
    pre = graph.metadata.preprocessing
    assert pre.mean == [127.5] * 3 and pre.std == [127.5] * 3
    assert pre.value_range == (0.0, 255.0) and pre.channel_order == "RGB" and pre.image_size == (4, 4)
    assert graph.metadata.labels == ["cat", "dog", "bird"]
    assert graph.metadata.doc == "a handmade image model"
    assert graph.metadata.properties["tflite.model_author"] == "netinspect"
    assert_close(run_both(path), rtol=0, atol=0)


@pytest.mark.parametrize("name", NO_KERNEL)
def test_builtins_refused_for_want_of_a_litert_kernel_have_none(tmp_path: Path, name: str) -> None:
    """`formats tflite` refuses these as "no LiteRT kernel": the installed LiteRT must indeed fail to
    resolve a one-operator file holding one (a newer LiteRT that runs it makes this fail: then it can
    be converted and compared)."""
    from ai_edge_litert.interpreter import Interpreter

    path = tmp_path / "model.tflite"
    path.write_bytes(build(Spec([T("x", [2, 3]), T("y", [2, 3])], [Op(0, [0], [1])], [0], [1], [name])))
    with pytest.raises(ValueError, match="Didn't find op for builtin opcode"):
        Interpreter(model_path=str(path)).allocate_tensors()


def _rnn(sequence: bool, activation: int, time_major: bool = False) -> Spec:
    """x → (UNIDIRECTIONAL_SEQUENCE_)RNN with 5 units, float weights, a zero hidden-state variable."""
    rng = np.random.default_rng(3)
    x_shape = ([4, 2, 3] if time_major else [2, 4, 3]) if sequence else [2, 3]
    y_shape = [*x_shape[:-1], 5]
    weights = [rng.normal(0, 0.6, s).astype(np.float32) for s in ((5, 3), (5, 5), (5,))]
    tensors = [T("x", x_shape), T("W", [5, 3], buffer=1), T("R", [5, 5], buffer=2), T("b", [5], buffer=3),
               T("h", [2, 5], variable=True), T("y", y_shape)]  # fmt: skip
    if sequence:
        options = ("SequenceRNNOptions", {"TimeMajor": time_major, "FusedActivationFunction": activation})
    else:
        options = ("RNNOptions", {"FusedActivationFunction": activation})
    op = "UNIDIRECTIONAL_SEQUENCE_RNN" if sequence else "RNN"
    buffers = [b"", *(w.tobytes() for w in weights)]
    return Spec(tensors, [Op(0, [0, 1, 2, 3, 4], [5], options)], [0], [5], [op], buffers)


@pytest.mark.parametrize(
    ("sequence", "activation", "time_major"),
    [(True, 4, False), (True, 1, False), (True, 4, True), (False, 4, False), (False, 1, False)],
)
def test_rnn_cells_match_litert(tmp_path: Path, sequence: bool, activation: int, time_major: bool) -> None:
    """UNIDIRECTIONAL_SEQUENCE_RNN (batch- and time-major, TANH and RELU) and the one-step RNN, each "not
    converted" before → ONNX RNN from a zero hidden state: LiteRT's first run, within float rounding
    (two implementations sum the products in different orders)."""
    path = tmp_path / "rnn.tflite"
    path.write_bytes(build(_rnn(sequence, activation, time_major)))
    assert_close(run_both(path), rtol=1e-5, atol=1e-6)


def test_hashtable_lookup_matches_litert(tmp_path: Path) -> None:
    """HASHTABLE_LOOKUP ("not converted" before): rows of the values by key, zeros and hit 0 for a key
    the table lacks, duplicates and the first and last key included — equal to LiteRT's."""
    keys = np.array([-4, 1, 3, 8, 20], np.int32)
    values = np.arange(10, dtype=np.float32).reshape(5, 2) - 2.5
    tensors = [T("lookups", [6], "int32"), T("keys", [5], "int32", 1), T("values", [5, 2], buffer=2),
               T("rows", [6, 2]), T("hits", [6], "uint8")]  # fmt: skip
    spec = Spec(tensors, [Op(0, [0, 1, 2], [3, 4])], [0], [3, 4], ["HASHTABLE_LOOKUP"],
                [b"", keys.tobytes(), values.tobytes()])  # fmt: skip
    path = tmp_path / "lookup.tflite"
    path.write_bytes(build(spec))
    pairs = run_both(path, feeds={"lookups": np.array([3, 7, -4, 20, 3, 0], np.int32)})
    for pair in pairs:
        np.testing.assert_array_equal(pair.actual, pair.expected, err_msg=pair.name)
    assert pairs[1].expected.tolist() == [1, 0, 1, 1, 1, 0]


def test_stablehlo_composite_inlines_its_decomposition(tmp_path: Path) -> None:
    """STABLEHLO_COMPOSITE ("not converted" before; PyTorch and JAX exports write `odml.*` composites):
    LiteRT runs its decomposition subgraph, the conversion inlines it — x·z + x, then a RELU after the
    composite — equal to LiteRT's."""
    decomposition = Spec([T("a", [2, 3]), T("b", [2, 3]), T("ab", [2, 3]), T("sum", [2, 3])],
                         [Op(1, [0, 1], [2]), Op(2, [2, 0], [3])], [0, 1], [3])  # fmt: skip
    from flatbuffers import flexbuffers

    attributes = bytes(flexbuffers.Dumps({"approximate": False}))
    options = ("StableHLOCompositeOptions", {"Name": "odml.test_fma", "DecompositionSubgraphIndex": 1,
                                             "CompositeAttributes": attributes, "Version": 1})  # fmt: skip
    tensors = [T("x", [2, 3]), T("z", [2, 3]), T("fma", [2, 3]), T("y", [2, 3])]
    ops = [Op(0, [0, 1], [2], options2=options), Op(3, [2], [3])]
    codes = ["STABLEHLO_COMPOSITE", "MUL", "ADD", "RELU"]
    spec = Spec(tensors, ops, [0, 1], [3], codes, more=[decomposition])
    path = tmp_path / "composite.tflite"
    path.write_bytes(build(spec))
    rng = np.random.default_rng(0)
    feeds = {name: rng.normal(0, 1, (2, 3)).astype(np.float32) for name in ("x", "z")}
    (pair,) = run_both(path, feeds=feeds)
    np.testing.assert_array_equal(pair.actual, pair.expected)
    assert (pair.expected > 0).any() and (pair.expected == 0).any()


def test_embedding_lookup_sparse_matches_litert(tmp_path: Path) -> None:
    """EMBEDDING_LOOKUP_SPARSE ("not converted" before) with SUM, MEAN and SQRTN: 7 weighted lookups
    into a [3, 2, 4] dense shape (row-major indices; two rows get no lookup: zeros), params [6, 3] —
    equal to LiteRT's, the sums added in the kernel's order."""
    indices = np.array([[0, 0, 1], [0, 0, 3], [0, 1, 0], [1, 1, 2], [2, 0, 0], [2, 0, 1], [2, 0, 3]])
    params = np.random.default_rng(4).normal(0, 1, (6, 3)).astype(np.float32)
    tensors = [T("ids", [7], "int32"), T("indices", [7, 3], "int32", 1), T("dense_shape", [3], "int32", 2),
               T("weights", [7]), T("params", [6, 3], buffer=3),
               *(T(f"y{k}", [3, 2, 3]) for k in range(3))]  # fmt: skip
    options = [("EmbeddingLookupSparseOptions", {"Combiner": k}) for k in range(3)]
    ops = [Op(0, [0, 1, 2, 3, 4], [5 + k], options[k]) for k in range(3)]
    dense_shape = np.array([3, 2, 4], np.int32)
    buffers = [b"", indices.astype(np.int32).tobytes(), dense_shape.tobytes(), params.tobytes()]
    path = tmp_path / "sparse_lookup.tflite"
    path.write_bytes(build(Spec(tensors, ops, [0, 3], [5, 6, 7], ["EMBEDDING_LOOKUP_SPARSE"], buffers)))
    feeds = {"ids": np.array([5, 0, 2, 2, 1, 4, 3], np.int32),
             "weights": np.array([0.5, 2.0, -1.0, 1.5, 0.25, 3.0, 1.0], np.float32)}  # fmt: skip
    pairs = run_both(path, feeds=feeds)
    for pair in pairs:
        np.testing.assert_array_equal(pair.actual, pair.expected, err_msg=pair.name)
    assert not pairs[0].expected[1, 0].any() and pairs[0].expected[1, 1].any()


@pytest.mark.parametrize(("merge", "time_major"), [(False, False), (True, False), (True, True)])
def test_bidirectional_rnn_matches_litert(tmp_path: Path, merge: bool, time_major: bool) -> None:
    """BIDIRECTIONAL_SEQUENCE_RNN ("not converted" before): forward and backward weights of their own,
    outputs apart or merged on the last axis, batch- or time-major → ONNX RNN bidirectional, within
    float rounding of LiteRT's first run."""
    rng = np.random.default_rng(5)
    x_shape = [4, 2, 3] if time_major else [2, 4, 3]
    weights = [rng.normal(0, 0.6, s).astype(np.float32) for s in ((5, 3), (5, 5), (5,)) * 2]
    tensors = [T("x", x_shape)]
    for k, prefix in enumerate(("fw", "bw")):
        b = 1 + 3 * k
        tensors += [T(f"{prefix}_W", [5, 3], buffer=b), T(f"{prefix}_R", [5, 5], buffer=b + 1),
                    T(f"{prefix}_b", [5], buffer=b + 2), T(f"{prefix}_h", [2, 5], variable=True)]  # fmt: skip
    width = 10 if merge else 5
    outputs = [T("y", [*x_shape[:-1], width])] + ([] if merge else [T("y_bw", [*x_shape[:-1], 5])])
    tensors += outputs
    options = ("BidirectionalSequenceRNNOptions",
               {"TimeMajor": time_major, "FusedActivationFunction": 4, "MergeOutputs": merge})  # fmt: skip
    result = list(range(9, 9 + len(outputs)))
    op = Op(0, [*range(9), -1, -1, -1], result, options)  # no auxiliary input
    buffers = [b"", *(w.tobytes() for w in weights)]
    spec = Spec(tensors, [op], [0], result, ["BIDIRECTIONAL_SEQUENCE_RNN"], buffers)
    path = tmp_path / "birnn.tflite"
    path.write_bytes(build(spec))
    pairs = run_both(path, seed=2)
    assert len(pairs) == len(outputs)
    assert_close(pairs, rtol=1e-5, atol=1e-6)


def test_one_step_lstm_matches_litert(tmp_path: Path) -> None:
    """LSTM, the full kernel ("not converted" before): one step of 24 inputs (gate weights i, f, c, o,
    recurrent weights, biases, output and cell state variables; no peephole, projection or layer
    norm) → ONNX LSTM over one step from zero states, within float rounding of LiteRT's first run."""
    rng = np.random.default_rng(6)
    weights = [rng.normal(0, 0.5, s).astype(np.float32) for s in [(4, 3)] * 4 + [(4, 4)] * 4 + [(4,)] * 4]
    tensors = [T("x", [2, 3]), *(T(f"w{k}", list(w.shape), buffer=1 + k) for k, w in enumerate(weights)),
               T("h", [2, 4], variable=True), T("c", [2, 4], variable=True), T("y", [2, 4])]  # fmt: skip
    inputs = [0, *range(1, 9), -1, -1, -1, *range(9, 13), -1, -1, 13, 14, -1, -1, -1, -1]
    options = ("LSTMOptions", {"FusedActivationFunction": 4, "KernelType": 0})
    buffers = [b"", *(w.tobytes() for w in weights)]
    spec = Spec(tensors, [Op(0, inputs, [15], options)], [0], [15], ["LSTM"], buffers)
    path = tmp_path / "lstm.tflite"
    path.write_bytes(build(spec))
    assert_close(run_both(path, seed=3), rtol=1e-5, atol=1e-6)


def test_stablehlo_and_on_booleans_matches_litert(tmp_path: Path) -> None:
    """STABLEHLO_AND ("not converted" before) on booleans: ONNX And, equal to LiteRT's; on int32 (bitwise,
    ONNX opset 18) `convert` refuses it with that reason."""
    from netinspect.converters.onnx.writer import to_model_proto
    from netinspect.errors import UnsupportedError

    for dtype in ("bool", "int32"):
        tensors = [T("a", [2, 3], dtype), T("b", [2, 3], dtype), T("y", [2, 3], dtype)]
        spec = Spec(tensors, [Op(0, [0, 1], [2])], [0, 1], [2], ["STABLEHLO_AND"])
        path = tmp_path / f"and_{dtype}.tflite"
        path.write_bytes(build(spec))
        if dtype == "int32":
            with pytest.raises(UnsupportedError, match="BitwiseAnd needs opset 18"):
                to_model_proto(load(path))
            continue
        a = np.array([[1, 0, 1], [0, 1, 1]], bool)
        (pair,) = run_both(path, feeds={"a": a, "b": np.array([[1, 1, 0], [0, 1, 1]], bool)})
        np.testing.assert_array_equal(pair.actual, pair.expected)
        assert pair.expected.tolist() == [[True, False, False], [False, True, True]]


@pytest.mark.parametrize(("merge", "time_major"), [(False, False), (True, True)])
def test_bidirectional_lstm_matches_litert(tmp_path: Path, merge: bool, time_major: bool) -> None:
    """BIDIRECTIONAL_SEQUENCE_LSTM ("not converted" before): 48 inputs (each direction's gate, recurrent
    and bias tensors, four state variables; no peephole, projection or auxiliary input) → ONNX LSTM
    bidirectional, outputs apart or merged, within float rounding of LiteRT's first run."""
    rng = np.random.default_rng(7)
    x_shape = [4, 2, 3] if time_major else [2, 4, 3]
    shapes = [(5, 3)] * 4 + [(5, 5)] * 4 + [(5,)] * 4
    weights = [rng.normal(0, 0.5, s).astype(np.float32) for s in shapes * 2]
    tensors = [T("x", x_shape), *(T(f"w{k}", list(w.shape), buffer=1 + k) for k, w in enumerate(weights)),
               *(T(f"state{k}", [2, 5], variable=True) for k in range(4))]  # fmt: skip
    width = 10 if merge else 5
    outputs = [T("y", [*x_shape[:-1], width])] + ([] if merge else [T("y_bw", [*x_shape[:-1], 5])])
    tensors += outputs

    def direction(first: int) -> list[int]:
        """One direction's 17 inputs: 4 weights, 4 recurrent (from tensor `first`), no peephole, 4 biases."""
        return [*range(first, first + 8), -1, -1, -1, *range(first + 8, first + 12), -1, -1]

    inputs = [0, *direction(1), *direction(13), 25, 26, 27, 28, *[-1] * 9]
    options = ("BidirectionalSequenceLSTMOptions", {"FusedActivationFunction": 4, "MergeOutputs": merge,
                                                    "TimeMajor": time_major})  # fmt: skip
    result = list(range(29, 29 + len(outputs)))
    buffers = [b"", *(w.tobytes() for w in weights)]
    op = Op(0, inputs, result, options)
    spec = Spec(tensors, [op], [0], result, ["BIDIRECTIONAL_SEQUENCE_LSTM"], buffers)
    path = tmp_path / "bilstm.tflite"
    path.write_bytes(build(spec))
    pairs = run_both(path, seed=4)
    assert len(pairs) == len(outputs)
    assert_close(pairs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("rank", "activation"), [(1, 0), (2, 1)])
def test_svdf_matches_litert(tmp_path: Path, rank: int, activation: int) -> None:
    """SVDF ("not converted" before): 6 filters over a memory of 5 steps, rank 1 and 2 (6 and 3 units),
    with a bias, no activation or RELU → one step from its zero state variable, within float rounding
    of LiteRT's first run."""
    rng = np.random.default_rng(8)
    units = 6 // rank
    weights = [rng.normal(0, 0.7, s).astype(np.float32) for s in ((6, 4), (6, 5), (units,))]
    tensors = [T("x", [2, 4]), T("feature", [6, 4], buffer=1), T("time", [6, 5], buffer=2),
               T("bias", [units], buffer=3), T("state", [2, 30], variable=True),
               T("y", [2, units])]  # fmt: skip
    options = ("SVDFOptions", {"Rank": rank, "FusedActivationFunction": activation})
    spec = Spec(tensors, [Op(0, [0, 1, 2, 3, 4], [5], options)], [0], [5], ["SVDF"],
                [b"", *(w.tobytes() for w in weights)])  # fmt: skip
    path = tmp_path / "svdf.tflite"
    path.write_bytes(build(spec))
    assert_close(run_both(path, seed=5), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("body", "init"), [("STABLEHLO_ADD", 0.25), ("STABLEHLO_MAXIMUM", -np.inf)])
def test_stablehlo_reduce_window_matches_litert(tmp_path: Path, body: str, init: float) -> None:
    """STABLEHLO_REDUCE_WINDOW ("not converted" before; a JAX/PyTorch export's pooling): the body
    subgraph's one operator folds [1, 5, 6, 2] spread by base dilation 2 on axis 2, padded one row on
    each side of axis 1 and cropped one column at the end of axis 2, in windows [1, 3, 3, 1] with
    strides 2 — equal to LiteRT's."""
    body_graph = Spec([T("a", []), T("b", []), T("c", [])], [Op(1, [0, 1], [2])], [0, 1], [2])
    fields = {"WindowDimensions": np.array([1, 3, 3, 1], np.int64),
              "WindowStrides": np.array([1, 2, 2, 1], np.int64),
              "BaseDilations": np.array([1, 1, 2, 1], np.int64),
              "WindowDilations": np.array([1, 1, 1, 1], np.int64),
              "Padding": np.array([0, 0, 1, 1, 0, -1, 0, 0], np.int64), "BodySubgraphIndex": 1}  # fmt: skip
    tensors = [T("x", [1, 5, 6, 2]), T("init", [], buffer=1), T("y", [1, 3, 4, 2])]
    op = Op(0, [0, 1], [2], options2=("StablehloReduceWindowOptions", fields))
    spec = Spec(tensors, [op], [0], [2], ["STABLEHLO_REDUCE_WINDOW", body],
                [b"", np.array(init, np.float32).tobytes()], more=[body_graph])  # fmt: skip
    path = tmp_path / "reduce_window.tflite"
    path.write_bytes(build(spec))
    (pair,) = run_both(path, seed=6)
    np.testing.assert_array_equal(pair.actual, pair.expected)


@pytest.mark.parametrize("dtype", ["int8", "int32"])
def test_stablehlo_shift_left_matches_litert(tmp_path: Path, dtype: str) -> None:
    """STABLEHLO_SHIFT_LEFT ("not converted" before) on int8 and int32, negative values and shifts that
    overflow the type (wrapping, as the kernel's C++ shift stores them): equal to LiteRT's."""
    info = np.iinfo(dtype)
    x = np.array([[1, -1, 3, info.max, info.min, -7], [5, 100 % info.max, -100 % info.max, 0, 2, -3]], dtype)
    y = np.array([[0, 1, 5, 1, 1, 3], [7, 2, 2, 30, 4, 31 if dtype == "int32" else 7]], dtype)
    tensors = [T("x", [2, 6], dtype), T("y", [2, 6], dtype), T("z", [2, 6], dtype)]
    spec = Spec(tensors, [Op(0, [0, 1], [2])], [0, 1], [2], ["STABLEHLO_SHIFT_LEFT"])
    path = tmp_path / f"shift_{dtype}.tflite"
    path.write_bytes(build(spec))
    (pair,) = run_both(path, feeds={"x": x, "y": y})
    np.testing.assert_array_equal(pair.actual, pair.expected)
    assert pair.expected.dtype == np.dtype(dtype)


GATHERS = {
    # slices [1, 4, 2] of [3, 4, 5] at starts (axis 0, axis 2) from a [2, 2, 3] index tensor whose vectors
    # lie on its axis 1, the slice's axis 0 collapsed, its others at result axes 0 and 3
    "strided": ([3, 4, 5], [2, 2, 3], [4, 2, 3, 2], {"OffsetDims": [0, 3], "CollapsedSliceDims": [0],
                "StartIndexMap": [0, 2], "IndexVectorDim": 1, "SliceSizes": [1, 4, 2]},
                [[[0, 2, 7], [1, 4, -3]], [[1, 0, 2], [3, 0, 1]]]),
    # rows of a [5, 3] table, as tf.gather lowers: indices [4, 1], vectors last
    "rows": ([5, 3], [4, 1], [4, 3], {"OffsetDims": [1], "CollapsedSliceDims": [0], "StartIndexMap": [0],
             "IndexVectorDim": 1, "SliceSizes": [1, 3]}, [[4], [0], [9], [2]]),
}  # fmt: skip


@pytest.mark.parametrize("case", GATHERS)
def test_stablehlo_gather_matches_litert(tmp_path: Path, case: str) -> None:
    """STABLEHLO_GATHER ("not converted" before), with out-of-range starts (clamped so the slice fits):
    equal to LiteRT's."""
    operand_shape, index_shape, out_shape, fields, starts = GATHERS[case]
    options = {k: v if isinstance(v, int) else np.array(v, np.int64) for k, v in fields.items()}
    tensors = [T("operand", operand_shape), T("starts", index_shape, "int32"), T("y", out_shape)]
    op = Op(0, [0, 1], [2], options2=("StablehloGatherOptions", options))
    path = tmp_path / "gather.tflite"
    path.write_bytes(build(Spec(tensors, [op], [0, 1], [2], ["STABLEHLO_GATHER"])))
    operand = np.arange(np.prod(operand_shape), dtype=np.float32).reshape(operand_shape)
    (pair,) = run_both(path, feeds={"operand": operand, "starts": np.array(starts, np.int32)})
    np.testing.assert_array_equal(pair.actual, pair.expected)


@pytest.mark.parametrize("body", [None, "STABLEHLO_ADD", "STABLEHLO_MULTIPLY"])
def test_stablehlo_scatter_matches_litert(tmp_path: Path, body: str | None) -> None:
    """STABLEHLO_SCATTER ("not converted" before) with an empty update computation (the update replaces)
    and with ADD and MULTIPLY: rows of [4, 3] updated by 4 update rows at indices 1, 7 (outside: skipped),
    1 again (replaced in order, or combined) and 3 — equal to LiteRT's."""
    fields = {"UpdateWindowDims": np.array([1], np.int64), "InsertedWindowDims": np.array([0], np.int64),
              "ScatterDimsToOperandDims": np.array([0], np.int64), "IndexVectorDim": 1,
              "UpdateComputationSubgraphIndex": 1}  # fmt: skip
    ops = [Op(1, [0, 1], [2])] if body else []
    computation = Spec([T("a", []), T("b", []), T("c", [])], ops, [0, 1], [2] if body else [1])
    tensors = [T("operand", [4, 3]), T("indices", [4, 1], "int32"), T("updates", [4, 3]), T("y", [4, 3])]
    op = Op(0, [0, 1, 2], [3], options2=("StablehloScatterOptions", fields))
    codes = ["STABLEHLO_SCATTER", *([body] if body else [])]
    path = tmp_path / "scatter.tflite"
    path.write_bytes(build(Spec(tensors, [op], [0, 1, 2], [3], codes, more=[computation])))
    rng = np.random.default_rng(9)
    feeds = {"operand": rng.normal(0, 1, (4, 3)).astype(np.float32),
             "indices": np.array([[1], [7], [1], [3]], np.int32),
             "updates": rng.normal(0, 1, (4, 3)).astype(np.float32)}  # fmt: skip
    (pair,) = run_both(path, feeds=feeds)
    np.testing.assert_array_equal(pair.actual, pair.expected)
    np.testing.assert_array_equal(pair.expected[[0, 2]], feeds["operand"][[0, 2]])
