"""The validation carve and channel statistics as pure functions."""

from __future__ import annotations

import numpy as np
import pytest

from fftoolkit.data import channel_stats
from fftoolkit.data.splits import carve, check_val_split, default_val_split
from fftoolkit.errors import FFTKError


def test_carve_takes_the_last_of_each_class_in_original_order() -> None:
    labels = np.array([0, 1, 0, 1, 0, 1, 0, 2, 2])
    train, val = carve(labels, ["a", "b", "c"], 1, "x")
    assert val.tolist() == [5, 6, 8]
    assert train.tolist() == [0, 1, 2, 3, 4, 7]
    train, val = carve(labels, ["a", "b", "c"], 0.5, "x")  # 4*0.5=2, 3*0.5=1.5 -> 2, 2*0.5=1
    assert val.tolist() == [3, 4, 5, 6, 8]
    assert carve(labels, ["a", "b", "c"], 0, "x")[1].tolist() == []
    with pytest.raises(FFTKError, match="takes all 2 training images of class 'c'"):
        carve(labels, ["a", "b", "c"], 2, "x")


def test_val_split_validation_and_defaults() -> None:
    assert check_val_split(500, "x") == 500 and check_val_split(np.int64(3), "x") == 3
    assert check_val_split(0.2, "x") == 0.2
    for bad in (-1, 1.0, -0.1, True, "500"):
        with pytest.raises(FFTKError, match="x: val_split"):
            check_val_split(bad, "x")
    assert default_val_split("idx", [6000] * 10) == 0.1
    assert default_val_split("imagefolder", [5000] * 10) == 500
    assert default_val_split("cifar-pickle", [1000, 999]) == 0.1


def test_channel_stats_match_numpy() -> None:
    images = np.random.default_rng(0).integers(0, 256, (37, 5, 4, 3), dtype=np.uint8)
    mean, std = channel_stats(images, chunk=8)
    as_float = images.astype(np.float64) / 255
    np.testing.assert_allclose(mean, as_float.mean(axis=(0, 1, 2)), rtol=1e-12)
    np.testing.assert_allclose(std, as_float.std(axis=(0, 1, 2)), rtol=1e-9)
    assert all(isinstance(v, float) for v in mean + std)
    grey_mean, grey_std = channel_stats(np.full((2, 3, 3, 1), 51, np.uint8))
    assert grey_mean == [pytest.approx(0.2)] and grey_std == [pytest.approx(0.0)]
