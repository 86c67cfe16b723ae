"""Inputs fed to both runtimes: seeded, shaped and ranged from the model, or given by the user."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from netinspect.check import data
from netinspect.check.data import InputError, InputSpec
from netinspect.ir import Preprocessing

IMAGE = InputSpec("data", "float32", ("N", 3, 8, 6))


def test_random_feeds_are_reproducible_per_seed_and_run() -> None:
    a = data.random_feeds([IMAGE], seed=7, run_index=0)
    b = data.random_feeds([IMAGE], seed=7, run_index=0)
    c = data.random_feeds([IMAGE], seed=7, run_index=1)
    np.testing.assert_array_equal(a["data"], b["data"])
    assert not np.array_equal(a["data"], c["data"])
    assert a["data"].shape == (1, 3, 8, 6) and a["data"].dtype == np.float32
    assert a["data"].min() >= 0.0 and a["data"].max() < 1.0


def test_symbolic_dims_come_from_dim_options() -> None:
    spec = InputSpec("tokens", "int64", ("batch", "seq"))
    feeds = data.random_feeds([spec], 0, 0, dims=data.parse_dims(["batch=2", "seq=5"]))
    assert feeds["tokens"].shape == (2, 5) and feeds["tokens"].dtype == np.int64
    assert feeds["tokens"].min() >= 0
    assert data.random_feeds([spec], 0, 0, dims={"seq": 3})["tokens"].shape == (1, 3)  # batch defaults to 1
    with pytest.raises(InputError, match="--dim seq=SIZE"):
        data.random_feeds([spec], 0, 0)


@pytest.mark.parametrize("bad", ["N", "N=", "N=0", "=3", "N=x"])
def test_malformed_dim_options_are_refused(bad: str) -> None:
    with pytest.raises(InputError):
        data.parse_dims([bad])


def test_value_range_and_mean_come_from_the_recorded_preprocessing() -> None:
    pre = Preprocessing(mean=[100.0, 110.0, 120.0], value_range=(0.0, 255.0))
    feeds = data.random_feeds([IMAGE], 0, 0, preprocessing=pre)["data"]
    raw = feeds + np.array(pre.mean, dtype=np.float32).reshape(1, 3, 1, 1)
    assert raw.min() >= -1e-3 and raw.max() <= 255.0 + 1e-3
    assert raw.max() > 200.0  # the whole 0..255 range is used, not 0..1
    assert abs(float(feeds[:, 0].mean())) < 40.0  # mean subtracted per channel


def test_npy_and_npz_inputs_are_checked_against_the_model(tmp_path: Path) -> None:
    x = np.random.default_rng(0).random((1, 3, 8, 6)).astype(np.float64)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "xs.npz", data=x)
    given = data.given_feeds([IMAGE], {"data": data.load_npy(tmp_path / "x.npy")}, {"data": "x.npy"}, {})
    assert given["data"].dtype == np.float32
    np.testing.assert_allclose(given["data"], x, rtol=1e-6)
    assert set(data.load_npz(tmp_path / "xs.npz")) == {"data"}
    with pytest.raises(InputError, match="needs size 8 on axis 2"):
        data.given_feeds([IMAGE], {"data": np.zeros((1, 3, 7, 6))}, {"data": "x.npy"}, {})
    with pytest.raises(InputError, match="unknown input name"):
        data.given_feeds([IMAGE], {"data": x, "other": x}, {"data": "a", "other": "b"}, {})
    with pytest.raises(InputError, match="no such file"):
        data.load_npy(tmp_path / "missing.npy")


def test_pickled_npy_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="not a readable"):
        data.load_npy(tmp_path / "objects.npy")


def test_image_goes_through_size_channel_order_and_mean(tmp_path: Path) -> None:
    image_module = pytest.importorskip("PIL.Image")
    pixels = np.zeros((4, 4, 3), dtype=np.uint8)
    pixels[..., 0] = 200  # pure red
    image_module.fromarray(pixels).save(tmp_path / "red.png")
    spec = InputSpec("data", "float32", (1, 3, 2, 2))

    rgb = data.load_image(tmp_path / "red.png", spec, Preprocessing(mean=[50.0, 0.0, 0.0]))
    bgr = data.load_image(tmp_path / "red.png", spec, Preprocessing(channel_order="BGR"))
    unit = data.load_image(tmp_path / "red.png", spec, Preprocessing(value_range=(0.0, 1.0)))

    assert rgb.shape == (1, 3, 2, 2)
    np.testing.assert_allclose(rgb[0, :, 0, 0], [150.0, 0.0, 0.0])
    np.testing.assert_allclose(bgr[0, :, 0, 0], [0.0, 0.0, 200.0])
    np.testing.assert_allclose(unit[0, :, 0, 0], [200 / 255, 0.0, 0.0], rtol=1e-6)
