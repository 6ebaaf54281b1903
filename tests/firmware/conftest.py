"""Fixtures for the firmware tests: a real sshd on 127.0.0.1 and a rendered deploy directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fftk_cli import fftk
from fftk_sshd import Server, start_sshd


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    if isinstance(server, str):
        pytest.skip(server)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def rpi4_dir(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("deploy") / "tiny-rpi4"
    result = fftk("firmware", tiny_bundle, "--board", "rpi4", "--out", out)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def val_images(tiny_bundle: Path) -> Path:
    """The tiny bundle's validation images: 80 images, 10 classes (see tests/conftest.py)."""
    return tiny_bundle.parent / "tree" / "val"
