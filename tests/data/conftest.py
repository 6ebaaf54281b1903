"""Fixtures of the data tests: a small real image tree cut from the CIFAR-10 JPEG tar."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def jpeg_subset(cifar_jpeg_tar: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real tree cut from the CIFAR JPEG tar: train/<class>/ 0000-0011.jpg of every
    class and test/<class>/ 0012-0014.jpg (renamed to 0000-0002.jpg)."""
    root = tmp_path_factory.mktemp("jpeg-subset")
    with tarfile.open(cifar_jpeg_tar) as tar:
        for info in tar:
            parts = info.name.split("/")
            if not info.isfile() or len(parts) != 3 or int(parts[2][:4]) >= 15:
                continue
            rank = int(parts[2][:4])
            split, name = ("train", parts[2]) if rank < 12 else ("test", f"{rank - 12:04d}.jpg")
            target = root / split / parts[1] / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tar.extractfile(info).read())
    return root
