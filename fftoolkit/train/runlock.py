"""One writer per run directory: two `fftk train` processes on one run would interleave
checkpoints and metrics, and the survivor's resume would no longer equal a clean run."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fftoolkit.errors import FFTKError


@contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on run directory `out` (created if missing) for the block.

    A directory this call created is removed again if the block fails before writing to it.
    """
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FFTKError(f"{out}: another `fftk train` is writing this run; wait for it to "
                            "finish or choose another --out") from None
        try:
            yield
        except BaseException:
            if created and not any(out.iterdir()):
                out.rmdir()
            raise
    finally:
        os.close(fd)
