"""TimeDistributed around recurrent, convolution and dense layers (issue 20, item 4): the time axis
folded into the batch, the inner layer converted as itself, and the result matching Keras (rtol =
atol = 1e-4). The RNN's own time-major Transpose in front of the fold once reached the layout
pass's Flatten→Dense rule, which assumed a batch axis that stays put ("repeated axis in
transpose"); a wrapper netinspect cannot convert is a clean one-line error."""

from __future__ import annotations

import json
import shutil

import h5py
import pytest

import netinspect
from netinspect.errors import ModelFormatError
from tests.converters.keras.conftest import compare, make_graphs


@pytest.mark.parametrize("flavour", ["k3", "tfk"])
def test_time_distributed_matches_keras(graphs_cache, flavour):
    stem, npz = make_graphs.case_files("time_distributed_more", flavour)
    worst = compare(graphs_cache / stem, graphs_cache / npz)
    print(f"{stem}: max abs error {worst:.3g}")


def test_time_distributed_lstm_is_one_lstm_over_the_folded_batch(graphs_cache):
    graph = netinspect.load(graphs_cache / make_graphs.case_files("time_distributed_more", "tfk")[0])
    lstm = [n for n in graph.nodes if n.op_type == "LSTM"]
    assert len(lstm) == 2 and all(n.provenance.layer_type == "TimeDistributed" for n in lstm)


def test_an_unconvertible_wrapped_layer_is_a_clean_error(graphs_cache, tmp_path):
    path = tmp_path / "td.h5"
    shutil.copy(graphs_cache / make_graphs.case_files("time_distributed_more", "tfk")[0], path)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        wrapper = next(e for e in config["config"]["layers"] if e["class_name"] == "TimeDistributed")
        inner = json.loads(json.dumps(wrapper["config"]))
        wrapper["config"]["layer"] = {"class_name": "TimeDistributed", "config": inner}
        f.attrs["model_config"] = json.dumps(config)
    with pytest.raises(ModelFormatError, match=r"TimeDistributed\(TimeDistributed\) is not supported"):
        netinspect.load(path)
