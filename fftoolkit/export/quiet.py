"""The converters' and quantizers' own output (C++/absl logs, Python warnings and log lines,
progress bars) kept off the user's terminal while fftk's progress bar reports the step."""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Silence the converter's C++/absl chatter and the quantizer's own progress bars on
    stderr (our bar reports the step); replay the chatter if the block fails."""
    sys.stderr.flush()
    saved = os.dup(2)
    tqdm_disable = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"  # read by each tqdm bar when it is created
    with tempfile.TemporaryFile() as log, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        os.dup2(log.fileno(), 2)
        try:
            yield
        except BaseException:
            sys.stderr.flush()
            os.dup2(saved, 2)
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace")[-4000:])
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if tqdm_disable is None:
                del os.environ["TQDM_DISABLE"]
            else:
                os.environ["TQDM_DISABLE"] = tqdm_disable
