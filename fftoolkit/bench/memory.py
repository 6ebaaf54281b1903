"""Peak resident memory of this process, as the kernel counts it (native runtimes included).

`peak_rss_mb` is the bench logs' column of that name: the worker's own peak (VmHWM), which
starts afresh at exec. Not `ru_maxrss` on Linux, which keeps the peak of the process that
started the worker (fftoolkit/train/memory.py reports that one as `ru_maxrss_mb`).
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path


def peak_rss_mb() -> float:
    """VmHWM from /proc/self/status (Linux), else ru_maxrss; in MiB. Not tracemalloc, which
    sees only the Python heap."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / (1024.0 * 1024.0) if sys.platform == "darwin" else maxrss / 1024.0
