"""`fftk data fetch` over file:// URLs with the shared SHA256SUMS; no test touches the network."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from fftk_cli import fftk_in_process, one_line_error
from fftk_data_fixtures import files_under, make_tar, write_cifar_batches

from fftoolkit.data import load_dataset
from fftoolkit.data.fetch import fetch
from fftoolkit.errors import FFTKError

MNIST_FILES = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
               "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]


def test_fetch_mnist_from_file_url_then_load(shared_data: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    result = fftk_in_process(capsys, "data", "fetch", "mnist",
                             "--url", (shared_data / "mnist").as_uri() + "/",
                             "--sha256-file", shared_data / "SHA256SUMS", "--cache-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in files_under(tmp_path)] == MNIST_FILES
    assert result.stdout.count("ok  ") == 4
    for name in MNIST_FILES:
        fetched, source = tmp_path / "mnist" / name, shared_data / "mnist" / name
        assert fetched.read_bytes() == source.read_bytes()
    ds = load_dataset("mnist", "test", cache_dir=tmp_path)
    assert ds.name == "mnist" and ds.images.shape == (10000, 28, 28, 1)
    # a second fetch finds verified files and leaves them alone
    stamp = (tmp_path / "mnist" / MNIST_FILES[0]).stat().st_mtime_ns
    fetch("mnist", url=(shared_data / "mnist").as_uri(),
          sha256_file=shared_data / "SHA256SUMS", cache_dir=tmp_path)
    assert (tmp_path / "mnist" / MNIST_FILES[0]).stat().st_mtime_ns == stamp


def test_fetch_uses_fftk_data_when_no_cache_dir(shared_data: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFTK_DATA", str(tmp_path))
    fetch("fashion-mnist", url=(shared_data / "fashion-mnist").as_uri(),
          sha256_file=shared_data / "SHA256SUMS")
    ds = load_dataset("fashion-mnist", "val", val_split=5)
    assert ds.classes[-1] == "Ankle boot" and len(ds) == 50


def test_wrong_checksum_saves_nothing(shared_data: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    sums = (shared_data / "SHA256SUMS").read_text()
    good = hashlib.sha256((shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())
    assert good.hexdigest() in sums
    bad_sums = tmp_path / "SHA256SUMS"
    bad_sums.write_text(sums.replace(good.hexdigest(), "0" * 64))
    one_line_error(fftk_in_process(capsys, "data", "fetch", "mnist",
                                   "--url", (shared_data / "mnist").as_uri(),
                                   "--sha256-file", bad_sums, "--cache-dir", tmp_path / "c"),
                   "t10k-labels-idx1-ubyte.gz: wrong checksum", "0" * 64)
    assert "t10k-labels-idx1-ubyte.gz" not in [p.name for p in files_under(tmp_path / "c")]
    assert not any(p.name.endswith(".tmp") for p in files_under(tmp_path / "c"))


def test_published_checksums_reject_the_recompressed_copy(shared_data: Path,
                                                           tmp_path: Path) -> None:
    """The shared MNIST files are recompressed, so the canonical sha256 must not match them."""
    with pytest.raises(FFTKError, match="expected 440fcabf.*published checksum of mnist"):
        fetch("mnist", url=(shared_data / "mnist").as_uri(), cache_dir=tmp_path)
    assert files_under(tmp_path) == []


def test_checksum_list_matching(shared_data: Path, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"  # folder name says neither mnist nor fashion-mnist
    mirror.mkdir()
    for name in MNIST_FILES:
        os.symlink(shared_data / "mnist" / name, mirror / name)
    ambiguous = r"several checksums \(fashion-mnist/.*, mnist/.*\), none matching"
    with pytest.raises(FFTKError, match=ambiguous):
        fetch("mnist", url=mirror.as_uri(), sha256_file=shared_data / "SHA256SUMS",
              cache_dir=tmp_path / "c")
    bare = tmp_path / "SUMS"
    lines = [line for line in (shared_data / "SHA256SUMS").read_text().splitlines()
             if line.split()[1].startswith("mnist/")]
    bare.write_text("\n".join(f"{line.split()[0]} *{line.split()[1][6:]}" for line in lines))
    fetch("mnist", url=mirror.as_uri(), sha256_file=bare, cache_dir=tmp_path / "c")
    bare.write_text("\n".join(lines[1:]))
    with pytest.raises(FFTKError, match="SUMS: no checksum for t10k-images-idx3-ubyte.gz"):
        fetch("mnist", url=mirror.as_uri(), sha256_file=bare, cache_dir=tmp_path / "d")
    bare.write_text("deadbeef  mnist/x.gz\n")
    with pytest.raises(FFTKError, match=r"SUMS:1: not a 'SHA256  path' line"):
        fetch("mnist", url=mirror.as_uri(), sha256_file=bare, cache_dir=tmp_path / "d")


def test_fetch_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    one_line_error(fftk_in_process(capsys, "data", "fetch", "imagenet", "--cache-dir", tmp_path),
                   "unknown dataset 'imagenet'")
    with pytest.raises(FFTKError, match=r"cifar-10-python.tar.gz: download failed"):
        fetch("cifar10", url=(tmp_path / "nowhere").as_uri(), cache_dir=tmp_path)
    assert files_under(tmp_path) == []


def test_fetch_cifar10_official_format_then_load_by_name(tmp_path: Path) -> None:
    expected = write_cifar_batches(tmp_path / "src")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    archive = make_tar(tmp_path / "src" / "cifar-10-batches-py", mirror / "cifar-10-python.tar.gz",
                       arcname="cifar-10-batches-py")
    sums = tmp_path / "SHA256SUMS"
    sums.write_text(f"{hashlib.sha256(archive.read_bytes()).hexdigest()}  cifar-10-python.tar.gz\n")
    with pytest.raises(FFTKError, match="cifar10 is not in the cache.*fftk data fetch cifar10"):
        load_dataset("cifar10", cache_dir=tmp_path / "cache")
    fetch("cifar10", url=mirror.as_uri(), sha256_file=sums, cache_dir=tmp_path / "cache")
    test = load_dataset("cifar10", "test", cache_dir=tmp_path / "cache")
    assert test.name == "cifar10"
    np.testing.assert_array_equal(test.images, expected["test"][0])
