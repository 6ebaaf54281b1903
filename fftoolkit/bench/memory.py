"""Peak resident memory of this process, as the kernel counts it (native runtimes included).

`peak_rss_mb` is the bench logs' column of that name: the worker's own peak (VmHWM), which
starts afresh at exec, plus that of any helper process the model runs in (the C engine). Not
`ru_maxrss` on Linux, which keeps the peak of the process that started the worker
(fftoolkit/train/memory.py reports that one as `ru_maxrss_mb`).
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path


def peak_rss_mb(helpers: list[int] | tuple[int, ...] = ()) -> float:
    """VmHWM from /proc/self/status (Linux), else ru_maxrss; in MiB. Not tracemalloc, which
    sees only the Python heap. `helpers`: pids of live processes the model runs in (the C
    engine's), whose peaks are added (an upper bound of the peak they reached together)."""
    own = _vmhwm_mb("self")
    if own is None:
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        own = maxrss / (1024.0 * 1024.0) if sys.platform == "darwin" else maxrss / 1024.0
    return own + sum(_vmhwm_mb(str(pid)) or 0.0 for pid in helpers)


def _vmhwm_mb(pid: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None
