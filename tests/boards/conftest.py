"""The emulated arm64 board (tools/emulated_board.py) as a session fixture.

Building its root takes minutes once (cached in $FFTK_BOARD_CACHE or ~/.cache/fftk/boards), so
a cold build starts in the background as soon as collection finds board tests, and those
tests run last: the root builds while the rest of the suite runs. Every session then runs on a
throwaway overlay, torn down (sshd stopped, mounts undone) even when a test fails. Where
the board cannot run, the tests skip with the reason, unless
FFTK_REQUIRE_EMULATORS=1 (set by .ci/run): then a missing emulator fails the run.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import emulated_board  # tools/, on the path from tests/conftest.py
import pytest
from emulators import skip_or_fail

TOOLS = Path(emulated_board.__file__).resolve().parent

HERE = Path(__file__).resolve().parent
_background: dict[str, object] = {}  # the root being built while other tests run


def _is_board_test(item: pytest.Item) -> bool:
    return HERE in Path(item.path).resolve().parents


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Board tests last (stable order otherwise)."""
    items.sort(key=_is_board_test)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start a cold build of the root now, so it overlaps the rest of the suite."""
    if not any(_is_board_test(item) for item in session.items):
        return
    if emulated_board.unavailable() is not None:
        return  # the fixture skips (or fails) with the reason
    cache = emulated_board.default_cache()
    cache.mkdir(parents=True, exist_ok=True)
    log = open(cache / "background-build.log", "w")  # closed at session end
    proc = subprocess.Popen([sys.executable, str(TOOLS / "emulated_board.py"), "build",
                             "--cache", str(cache)], stdout=log, stderr=subprocess.STDOUT)
    _background.update(proc=proc, log=log)


def pytest_sessionfinish() -> None:
    proc = _background.get("proc")
    if isinstance(proc, subprocess.Popen) and proc.poll() is None:
        proc.terminate()  # the build cleans up its partial root
        proc.wait()
    log = _background.get("log")
    if log is not None:
        log.close()


@pytest.fixture(scope="session")
def arm64_root() -> Path:
    reason = emulated_board.unavailable()
    if reason:
        skip_or_fail(reason)
    proc = _background.get("proc")
    if isinstance(proc, subprocess.Popen) and proc.wait() != 0:
        log = emulated_board.default_cache() / "background-build.log"
        skip_or_fail(f"building the Debian 12 arm64 root failed: {log.read_text()[-300:]}")
    try:
        return emulated_board.build_root(emulated_board.default_cache())
    except (RuntimeError, OSError) as exc:
        skip_or_fail(f"could not build the Debian 12 arm64 root ({exc})")
        raise


@pytest.fixture(scope="session")
def arm64_board(arm64_root: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[emulated_board.Board]:
    """A running emulated Raspberry Pi 5 (Cortex-A76) with its sshd on 127.0.0.1."""
    work = tmp_path_factory.mktemp("arm64-board")
    with emulated_board.running_board(arm64_root, work, emulated_board.BOARD_CPUS["rpi5"]) as b:
        yield b
