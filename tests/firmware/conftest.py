"""Fixtures for the firmware tests: a real sshd on 127.0.0.1 and a rendered deploy directory."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fftk_sshd import Server, start_sshd

# Keep every process these tests start (the "board" included) off the training run's cores.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def fftk(*args: object, env: dict[str, str] | None = None,
         cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a fresh process, as a user would."""
    return subprocess.run([sys.executable, "-m", "fftoolkit.cli", *map(str, args)],
                          capture_output=True, text=True, env=env or ENV, cwd=cwd)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The CLI's contract for user errors: exit 2, one `error:` line, no traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), result.stderr
    return last


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
