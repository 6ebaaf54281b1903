"""Latency statistics in milliseconds, the same set everywhere (worker, logs, table)."""

from __future__ import annotations

import numpy as np

PERCENTILES = (50, 90, 95, 99)


def latency_summary(samples_ms: list[float] | np.ndarray, prefix: str = "") -> dict[str, float]:
    """count, mean, std, min, p50/p90/p95/p99, max of timed runs (keys get `prefix`)."""
    a = np.asarray(samples_ms, dtype=np.float64)
    if a.size == 0:
        raise ValueError("latency_summary needs at least one sample")
    out = {"count": int(a.size), "mean_ms": float(a.mean()), "std_ms": float(a.std()),
           "min_ms": float(a.min())}
    for p in PERCENTILES:
        out[f"p{p}_ms"] = float(np.percentile(a, p))
    out["max_ms"] = float(a.max())
    return {f"{prefix}{k}": v for k, v in out.items()}
