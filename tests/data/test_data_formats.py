"""IDX and CIFAR-10 pickle readers: real MNIST / Fashion-MNIST and official-format fixtures."""

from __future__ import annotations

import gzip
import pickle
import pickletools
from pathlib import Path

import numpy as np
import pytest
from fftk_data_fixtures import (
    CIFAR_CLASSES,
    make_tar,
    write_cifar_batches,
    write_idx_dataset,
)

from fftoolkit.data import load_dataset

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_real_mnist_idx(shared_data: Path, tmp_path: Path) -> None:
    train = load_dataset(str(shared_data / "mnist"), "train", val_split=0, cache_dir=tmp_path)
    assert train.images.shape == (60000, 28, 28, 1) and train.images.dtype == np.uint8
    assert np.bincount(train.labels).tolist() == MNIST_TRAIN_COUNTS
    assert train.classes == [str(d) for d in range(10)]
    raw = gzip.decompress((shared_data / "mnist" / "train-images-idx3-ubyte.gz").read_bytes())
    np.testing.assert_array_equal(train.images[123, :, :, 0],
                                  np.frombuffer(raw, np.uint8, 784, 16 + 123 * 784).reshape(28, 28))
    test = load_dataset(str(shared_data / "mnist"), "test", cache_dir=tmp_path)
    assert test.images.shape == (10000, 28, 28, 1)
    assert test.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the well-known t10k start
    # default: the last 10 % of each class, in original order
    val = load_dataset(str(shared_data / "mnist"), "val", cache_dir=tmp_path)
    # 10 % rounded half up: 6265 sevens -> 627
    assert np.bincount(val.labels).tolist() == [int(n / 10 + 0.5) for n in MNIST_TRAIN_COUNTS]
    last_sevens = np.flatnonzero(train.labels == 7)[-627:]
    np.testing.assert_array_equal(val.images[val.labels == 7], train.images[last_sevens])


def test_real_fashion_mnist_by_folder_name(shared_data: Path, tmp_path: Path) -> None:
    ds = load_dataset(str(shared_data / "fashion-mnist"), "test", cache_dir=tmp_path)
    assert ds.name == "fashion-mnist"
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    assert ds.images.shape == (10000, 28, 28, 1)
    assert np.bincount(ds.labels).tolist() == [1000] * 10


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "raw"])
def test_idx_fixture_round_trip(gz: bool, tmp_path: Path) -> None:
    written = write_idx_dataset(tmp_path / "idx", gz=gz)
    for split in ("train", "test"):
        ds = load_dataset(str(tmp_path / "idx"), split, val_split=0, cache_dir=tmp_path / "c")
        np.testing.assert_array_equal(ds.images[..., 0], written[split][0])
        np.testing.assert_array_equal(ds.labels, written[split][1])


@pytest.mark.parametrize("writer", ["py2", "py3"])
def test_cifar_batches_folder_and_tar(writer: str, tmp_path: Path) -> None:
    dumps = None if writer == "py2" else (lambda obj: pickle.dumps(obj, protocol=2))
    expected = write_cifar_batches(tmp_path / "src", **({"dumps": dumps} if dumps else {}))
    folder = tmp_path / "src" / "cifar-10-batches-py"
    archive = make_tar(folder, tmp_path / "cifar-10-python.tar.gz", arcname="cifar-10-batches-py")
    for source in (folder, archive):
        for split in ("train", "test"):
            ds = load_dataset(str(source), split, val_split=0, cache_dir=tmp_path / "c")
            np.testing.assert_array_equal(ds.images, expected[split][0])  # CHW rows -> HWC
            np.testing.assert_array_equal(ds.labels, expected[split][1])
            assert ds.classes == CIFAR_CLASSES
    assert load_dataset(str(archive), cache_dir=tmp_path / "c").name == "cifar-10-python"
    # 150 training images = 15 per class < 1000 -> default val is 10 % per class (2 each)
    val = load_dataset(str(archive), "val", cache_dir=tmp_path / "c")
    assert np.bincount(val.labels).tolist() == [2] * 10


def test_py2_fixture_matches_the_official_opcodes(tmp_path: Path) -> None:
    """The fixture writer emits what Python 2's cPickle wrote: BINSTRING keys, numpy.core."""
    write_cifar_batches(tmp_path)
    listing = "\n".join(
        f"{op.name} {arg!r}"
        for op, arg, _ in pickletools.genops((tmp_path / "cifar-10-batches-py" / "data_batch_1")
                                             .read_bytes())
    )
    assert "GLOBAL 'numpy.core.multiarray _reconstruct'" in listing
    assert "SHORT_BINSTRING 'data'" in listing and "BINSTRING" in listing
    assert "UNICODE" not in listing
    batch = pickle.loads((tmp_path / "cifar-10-batches-py" / "data_batch_1").read_bytes(),
                         encoding="bytes")  # the stock loader reads it as bytes keys
    assert batch[b"data"].shape == (30, 3072) and batch[b"data"].dtype == np.uint8
