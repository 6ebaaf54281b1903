"""The CPU's measured conv rate: time one large 3x3 conv (int8 and fp32) in LiteRT.

A model's GMAC/s divided by this rate says how much of the CPU a model's graph actually uses
(small convs, elementwise ops and quantize/dequantize steps all lower it). Run in its own
process by the benchmark: `python -m fftoolkit.bench.probe THREADS RUNS`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from fftoolkit.bench.child import report
from fftoolkit.runtime.backends import open_session
from fftoolkit.runtime.formats import default_backend, get_format

PROBES = Path(__file__).with_name("probes")
# Built by `python -m fftoolkit.reference.conv_probe`: Conv2d(64, 64, 3, padding=1) at 56x56.
PROBE_MACS = 56 * 56 * 64 * 64 * 3 * 3


def conv_rate(precision: str, threads: int, runs: int) -> dict[str, float]:
    """p50 latency and GMAC/s of the probe conv at `precision`, batch 1."""
    backend = default_backend(get_format(f"tflite-{precision}"))
    session = open_session(backend, PROBES / f"conv3x3.{precision}.tflite", threads)
    x = np.zeros(session.input_shapes[0], dtype=session.input_dtypes[0])
    for _ in range(3):
        session.run([x], [0])
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        session.run([x], [0])
        samples.append((time.perf_counter_ns() - t0) / 1e6)
    p50 = float(np.median(samples))
    return {f"probe_{precision}_p50_ms": p50,
            f"probe_{precision}_gmacs": PROBE_MACS / (p50 * 1e-3) / 1e9}


def measure(threads: int, runs: int) -> dict:
    result = {"probe_macs": PROBE_MACS, "probe_threads": threads}
    for precision in ("int8", "fp32"):
        result.update(conv_rate(precision, threads, runs))
    return result


def main(argv: list[str]) -> int:
    return report(lambda: measure(int(argv[0]), int(argv[1])))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
