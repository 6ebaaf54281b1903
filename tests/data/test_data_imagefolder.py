"""Image-folder trees (folders and .tar.gz) on real CIFAR JPEGs and on PNG fixtures."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
from fftk_data_fixtures import CIFAR_CLASSES, files_under, make_tar, write_png_tree
from PIL import Image

from fftoolkit.data import load_dataset
from fftoolkit.errors import FFTKError


def test_real_jpeg_tree_decodes_like_pillow(jpeg_subset: Path, tmp_path: Path) -> None:
    ds = load_dataset(str(jpeg_subset), "train", val_split=0, cache_dir=tmp_path)
    assert ds.classes == CIFAR_CLASSES  # sorted folder names = the official order
    assert ds.images.shape == (120, 32, 32, 3) and ds.images.dtype == np.uint8
    assert ds.labels.dtype == np.int64
    assert ds.labels.tolist() == [c for c in range(10) for _ in range(12)]  # class, then file name
    assert ds.name == jpeg_subset.name
    for position, (cls, name) in ((0, ("airplane", "0000.jpg")), (119, ("truck", "0011.jpg"))):
        with Image.open(jpeg_subset / "train" / cls / name) as img:
            np.testing.assert_array_equal(ds.images[position], np.asarray(img.convert("RGB")))
    test = load_dataset(str(jpeg_subset), "test", cache_dir=tmp_path)
    assert test.images.shape == (30, 32, 32, 3)
    with Image.open(jpeg_subset / "test" / "cat" / "0002.jpg") as img:
        np.testing.assert_array_equal(test.images[3 * 3 + 2], np.asarray(img.convert("RGB")))


def test_tar_gz_equals_folder(jpeg_subset: Path, tmp_path: Path) -> None:
    archive = make_tar(jpeg_subset, tmp_path / "subset.tar.gz")
    wrapped = make_tar(jpeg_subset, tmp_path / "wrapped.tgz", arcname="cifar")  # one top folder
    folder = load_dataset(str(jpeg_subset), "val", cache_dir=tmp_path / "c1")
    for source in (archive, wrapped):
        packed = load_dataset(str(source), "val", cache_dir=tmp_path / "c2")
        np.testing.assert_array_equal(packed.images, folder.images)
        np.testing.assert_array_equal(packed.labels, folder.labels)
        assert packed.classes == folder.classes
    assert load_dataset(str(archive), "train", cache_dir=tmp_path / "c2").name == "subset"


def test_val_is_last_images_of_each_class_in_file_name_order(jpeg_subset: Path,
                                                             tmp_path: Path) -> None:
    full = load_dataset(str(jpeg_subset), "train", val_split=0, cache_dir=tmp_path)
    train = load_dataset(str(jpeg_subset), "train", val_split=3, cache_dir=tmp_path)
    val = load_dataset(str(jpeg_subset), "val", val_split=3, cache_dir=tmp_path)
    ranks = np.arange(120) % 12  # rank of each image inside its class
    np.testing.assert_array_equal(val.images, full.images[ranks >= 9])
    np.testing.assert_array_equal(train.images, full.images[ranks < 9])
    assert np.bincount(val.labels).tolist() == [3] * 10
    # float = fraction per class; the default for < 1000 images per class is 10 % (12 -> 1)
    assert len(load_dataset(str(jpeg_subset), "val", val_split=0.25, cache_dir=tmp_path)) == 30
    default_val = load_dataset(str(jpeg_subset), "val", cache_dir=tmp_path)
    np.testing.assert_array_equal(default_val.images, full.images[ranks == 11])
    again = load_dataset(str(jpeg_subset), "val", val_split=3, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.images, val.images)


def test_default_val_is_500_per_class_with_1000_images(tmp_path: Path) -> None:
    write_png_tree(tmp_path / "big", {"train": {"a": 1000, "b": 1001}}, size=(2, 2))
    val = load_dataset(str(tmp_path / "big"), "val", cache_dir=tmp_path / "cache")
    assert np.bincount(val.labels).tolist() == [500, 500]
    assert len(load_dataset(str(tmp_path / "big"), "train", cache_dir=tmp_path / "cache")) == 1001


def test_own_val_folder_is_used_as_is(tmp_path: Path) -> None:
    write_png_tree(tmp_path / "t", {"train": {"a": 4, "b": 3}, "val": {"a": 2, "b": 1}})
    assert len(load_dataset(str(tmp_path / "t"), "train", cache_dir=tmp_path / "c")) == 7
    val = load_dataset(str(tmp_path / "t"), "val", cache_dir=tmp_path / "c")
    assert val.labels.tolist() == [0, 0, 1]
    with Image.open(tmp_path / "t" / "val" / "b" / "000.png") as img:
        np.testing.assert_array_equal(val.images[2], np.asarray(img))
    with pytest.raises(FFTKError, match="own val/ split"):
        load_dataset(str(tmp_path / "t"), "val", val_split=1, cache_dir=tmp_path / "c")


def test_grey_tree_has_one_channel_and_mixed_modes_follow_the_first(tmp_path: Path) -> None:
    write_png_tree(tmp_path / "g", {"train": {"a": 2, "b": 2}}, mode="L")
    Image.new("RGB", (8, 6), (200, 100, 0)).save(tmp_path / "g" / "train" / "b" / "009.png")
    ds = load_dataset(str(tmp_path / "g"), "train", val_split=0, cache_dir=tmp_path / "c")
    assert ds.images.shape == (5, 6, 8, 1)
    expected = np.asarray(Image.new("RGB", (8, 6), (200, 100, 0)).convert("L"))
    np.testing.assert_array_equal(ds.images[4, :, :, 0], expected)
    write_png_tree(tmp_path / "rgb", {"train": {"a": 1}})
    Image.new("L", (8, 6), 77).save(tmp_path / "rgb" / "train" / "a" / "001.png")
    rgb = load_dataset(str(tmp_path / "rgb"), "train", val_split=0, cache_dir=tmp_path / "c")
    assert rgb.images.shape == (2, 6, 8, 3) and (rgb.images[1] == 77).all()


def test_second_load_reads_the_cache_without_decoding(jpeg_subset: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    archive = make_tar(jpeg_subset, tmp_path / "subset.tar.gz")
    first = load_dataset(str(archive), "train", cache_dir=tmp_path / "cache")
    cached = files_under(tmp_path / "cache")
    assert {p.name for p in cached} >= {"meta.json", "train_images.npy", "test_images.npy"}

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded again although the cache is valid")

    monkeypatch.setattr(Image, "open", no_decoding)
    monkeypatch.setattr(tarfile, "open", no_decoding)
    second = load_dataset(str(archive), "train", cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(second.images, first.images)
    assert files_under(tmp_path / "cache") == cached
    monkeypatch.undo()
    # a changed source (new mtime) is decoded again; its old cache entry goes away
    before = list((tmp_path / "cache" / "prepared").iterdir())
    os.utime(archive, ns=(0, 10**9))
    load_dataset(str(archive), "train", cache_dir=tmp_path / "cache")
    after = list((tmp_path / "cache" / "prepared").iterdir())
    assert len(before) == len(after) == 1 and before != after


def test_unknown_split_and_missing_test(tmp_path: Path) -> None:
    write_png_tree(tmp_path / "t", {"train": {"a": 3}})
    with pytest.raises(FFTKError, match="unknown split 'dev'"):
        load_dataset(str(tmp_path / "t"), "dev", cache_dir=tmp_path / "c")
    with pytest.raises(FFTKError, match=r"has no test split \(no test/<class>/ folders\)"):
        load_dataset(str(tmp_path / "t"), "test", cache_dir=tmp_path / "c")
    with pytest.raises(FFTKError, match="takes all 3 training images of class 'a'"):
        load_dataset(str(tmp_path / "t"), "train", val_split=3, cache_dir=tmp_path / "c")
