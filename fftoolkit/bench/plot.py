"""A PNG of the batch-1 latency distributions per format (needs the `plot` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fftoolkit.atomic import atomic_path


def plot_latencies(records: list[dict[str, Any]], path: Path) -> Path | None:
    """Box plot of every format's timed runs; None (and no file) if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    groups: dict[str, list[float]] = {}
    for r in records:
        groups.setdefault(r["format"], []).extend(r.get("samples_ms", []))
    fig, ax = plt.subplots(figsize=(1.6 * len(groups) + 2, 4))
    ax.boxplot(list(groups.values()), showfliers=False)
    ax.set_xticks(range(1, len(groups) + 1), list(groups))
    ax.set_ylabel("latency per image, batch 1 (ms)")
    first = records[0]
    ax.set_title(f"{first['model']} on {first['cpu_model']} ({first['threads']} thread(s))",
                 fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return path
