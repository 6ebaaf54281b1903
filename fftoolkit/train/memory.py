"""Peak memory of this process, as the OS sees it (not tracemalloc's Python-heap view).

`ru_maxrss_mb` is getrusage's figure, which Linux carries across exec: a process started by a
larger one (a subprocess of a Python that has imported torch) reports at least its parent's
peak. The bench harness's `peak_rss_mb` (fftoolkit/bench/memory.py, VmHWM) is this process's
own peak alone: two measurements, two names.
"""

from __future__ import annotations

import resource
import sys

import torch


def ru_maxrss_mb() -> float:
    """getrusage(RUSAGE_SELF).ru_maxrss in MiB (KiB on Linux, bytes on macOS): the most resident
    memory this process, or the image it was exec'd from, has held so far."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def peak_device_mb(device: torch.device) -> float | None:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return None
