"""Shared fixtures: where the real data lives, and a throwaway dataset cache for the whole run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FFTK_SHARED_DATA") or REPO / ".." / "shared" / "data")


@pytest.fixture(scope="session", autouse=True)
def fftk_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """$FFTK_DATA points into a temp dir for every test, so no test writes to ~/.cache/fftk."""
    path = tmp_path_factory.mktemp("fftk-data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FFTK_DATA", str(path))
        yield path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real datasets (../shared/data, or $FFTK_SHARED_DATA); skip if absent."""
    if not (SHARED_DATA / "SHA256SUMS").is_file():
        pytest.skip(f"real data not found at {SHARED_DATA} (set FFTK_SHARED_DATA)")
    return SHARED_DATA.resolve()


@pytest.fixture(scope="session")
def cifar_jpeg_tar(shared_data: Path) -> Path:
    """The CIFAR-10 JPEG training tree, train/<class>/NNNN.jpg, as a .tar.gz (50,000 images)."""
    return shared_data / "cifar10" / "cifar10-train-jpeg.tar.gz"
