"""One writer per run directory: two `fftk train` processes on one run would interleave
checkpoints and metrics, and the survivor's resume would no longer equal a clean run."""

from __future__ import annotations

import fcntl
import os
import tempfile
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
    fd = _open_run_dir(out)
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


def _open_run_dir(out: Path) -> int:
    """Create `out` if needed and prove it writable now, not after the first epoch's work."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    except FileExistsError:
        raise FFTKError(f"{out}: --out is a file, not a directory; choose another --out") from None
    except OSError as exc:
        raise FFTKError(f"{out}: cannot create the run directory ({exc.strerror or exc}); "
                        "choose another --out") from None
    try:
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        os.close(fd)
        raise FFTKError(f"{out}: the run directory is not writable ({exc.strerror or exc}); "
                        "choose another --out") from None
    return fd
