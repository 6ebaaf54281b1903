"""The full CIFAR-10 JPEG tar the trainer uses: 50,000 decodes once, later loads are quick."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from fftoolkit.data import channel_stats, load_dataset


@pytest.mark.slow
def test_full_cifar_jpeg_tar(cifar_jpeg_tar: Path, tmp_path: Path) -> None:
    train = load_dataset(str(cifar_jpeg_tar), "train", cache_dir=tmp_path)
    assert train.images.shape == (45000, 32, 32, 3) and train.images.dtype == np.uint8
    assert np.bincount(train.labels).tolist() == [4500] * 10
    assert train.classes[0] == "airplane" and train.classes[9] == "truck"
    start = time.perf_counter()
    val = load_dataset(str(cifar_jpeg_tar), "val", cache_dir=tmp_path)
    seconds = time.perf_counter() - start
    assert seconds < 5, f"cached load took {seconds:.1f} s"
    assert np.bincount(val.labels).tolist() == [500] * 10  # files 4500..4999 of each class
    mean, _ = channel_stats(train.images)
    np.testing.assert_allclose(mean, [0.4914, 0.4822, 0.4465], atol=0.003)  # official means
