"""Every model in `keras.applications` (issue 20, item 2), random weights, saved by Keras 3 as
`.keras` and by tf-keras as `.h5` (tf-keras also ships RegNet and ResNetRS), at the smallest input
size each accepts: converted by netinspect, run in onnxruntime and compared with what Keras
computed (rtol = atol = 1e-4), on two inputs whose outputs differ by more than 10× that (else the
fixture could not tell a wrong conversion from a right one). The fixtures are generated once into
fixtures/cache/keras-apps (fixtures/keras/make_applications.py). The README's test command runs
the smallest model of each family, both savers (33 cases: every family's own layers and
operations); the whole matrix (111 cases, about 20 minutes and 19 GB of fixtures to generate
once) runs with NETINSPECT_ALL_APPLICATIONS=1, as a benchmark would: it does not fit CI's time."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.converters.keras.conftest import assert_input_matters, compare, make_applications

QUICK = {
    "ConvNeXtTiny", "DenseNet121", "EfficientNetB0", "EfficientNetV2B0", "InceptionResNetV2", "InceptionV3",
    "MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large", "NASNetMobile", "ResNet50",
    "ResNet50V2", "ResNetRS50", "RegNetX002", "RegNetY002", "VGG16", "Xception",
}  # fmt: skip
"""One model per family (the smallest), and every family's own layers and operations."""

TOLERANCE = 1e-4
"""compare()'s rtol and atol."""

ALL = os.environ.get("NETINSPECT_ALL_APPLICATIONS") == "1"
"""The whole matrix, not only the smallest model of each family."""


def _marks(name: str, saver: str) -> list[pytest.MarkDecorator]:
    marks = [] if name in QUICK else [pytest.mark.slow]
    if name not in QUICK and not ALL:
        marks.append(pytest.mark.skip(reason="the whole keras.applications matrix (about 20 minutes of "
                                      "fixture generation) runs with NETINSPECT_ALL_APPLICATIONS=1"))
    return marks


CASES = [
    pytest.param(name, saver, id=f"{name}-{saver}", marks=_marks(name, saver))
    for name, saver in make_applications.cases()
]


@pytest.fixture(scope="session")
def applications_cache() -> Callable[[str], Path]:
    """A saver's cache folder, every case that will run generated the first time it is asked for
    (TensorFlow in one subprocess per saver)."""

    def ensure(saver: str) -> Path:
        names = None if ALL else sorted(QUICK & set(make_applications.MODELS[saver]))
        return make_applications.ensure(saver, names)

    return functools.cache(ensure)


@pytest.mark.parametrize(("name", "saver"), CASES)
def test_application_matches_keras(applications_cache, name, saver):
    path, npz = make_applications.case_files(name, saver, applications_cache(saver))
    worst = compare(path, npz, tolerance=TOLERANCE)
    outputs = np.load(npz)["y0"]
    scale, spread = float(np.max(np.abs(outputs))), float(np.max(np.abs(outputs[0] - outputs[1])))
    print(f"\n{name} {saver}: max abs error {worst:.3g} (outputs up to {scale:.3g}, apart by {spread:.3g})")
    assert_input_matters(npz, TOLERANCE)
