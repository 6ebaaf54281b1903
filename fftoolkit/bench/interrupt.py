"""Stop cleanly on SIGINT, SIGTERM and SIGHUP: child processes ended, temp folders removed.

Python's default SIGTERM/SIGHUP end the process without running `finally` blocks, so a killed
`fftk bench` left its worker running and its temp folder behind. Inside `signals_raise()` the
three signals raise `Interrupted` in the main thread instead, and the usual `finally` cleanup
runs. Children start in their own session (`start_child`), so a terminal's Ctrl-C reaches only
the parent and `stop_child` can end a child with everything it started. The few steps that
must not be cut in half (starting or stopping a child, making or removing a temp folder) run
under `deferred()`, which holds a signal until the step is done.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from fftoolkit.errors import FFTKError

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE_S = 5.0  # a child gets this long to exit after SIGTERM before SIGKILL


class Interrupted(FFTKError):
    """A signal ended the command after its cleanup ran; the CLI exits with 128 + signal."""

    def __init__(self, what: str, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum  # 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP
        super().__init__(f"{what}: interrupted by {signal.Signals(signum).name}; its worker "
                         "processes were stopped and its temp files removed")


@dataclass
class _State:
    what: str = ""
    active: bool = False
    holding: int = 0
    pending: int | None = None
    raised: bool = False


_STATE = _State()


def _handler(signum: int, frame: FrameType | None) -> None:
    if _STATE.raised:
        return  # already unwinding: let the cleanup finish
    if _STATE.holding:
        _STATE.pending = signum
        return
    _STATE.raised = True
    raise Interrupted(_STATE.what, signum)


@contextmanager
def signals_raise(what: str) -> Iterator[None]:
    """Within the block SIGINT/SIGTERM/SIGHUP raise `Interrupted` (main thread only)."""
    if threading.current_thread() is not threading.main_thread() or _STATE.active:
        yield
        return
    _STATE.what, _STATE.active, _STATE.pending, _STATE.raised = what, True, None, False
    previous = {s: signal.signal(s, _handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _STATE.active = False


@contextmanager
def deferred() -> Iterator[None]:
    """Hold the signals until the block ends, then raise `Interrupted` for one that came."""
    _STATE.holding += 1
    try:
        yield
    finally:
        _STATE.holding -= 1
    if not _STATE.holding and _STATE.pending is not None and not _STATE.raised:
        signum, _STATE.pending, _STATE.raised = _STATE.pending, None, True
        raise Interrupted(_STATE.what, signum)


def start_child(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """Start `argv` with piped text output in a new session (its own process group)."""
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)


def stop_child(proc: subprocess.Popen[str], grace_s: float = GRACE_S) -> None:
    """End `proc`'s process group (SIGTERM, then SIGKILL after `grace_s`), reap it, close pipes.

    A no-op for a child already reaped. Until it is reaped its pid names its group, so the
    signal cannot reach an unrelated process.
    """
    with deferred():
        if proc.returncode is None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:  # its group is gone; the leader may not be
                    proc.send_signal(sig)
                try:
                    proc.wait(timeout=grace_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


@contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A temp folder (under $TMPDIR) that is removed however the block ends."""
    path: Path | None = None
    try:
        with deferred():
            path = Path(tempfile.mkdtemp(prefix=prefix))
        yield path
    finally:
        if path is not None:
            with deferred():
                shutil.rmtree(path, ignore_errors=True)
