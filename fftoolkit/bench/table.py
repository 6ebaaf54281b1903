"""The comparison table across formats printed at the end of `fftk bench` (and `make demo`)."""

from __future__ import annotations

import statistics
from typing import Any

EMULATED_MARK = "*"
NUMERIC = ("size_bytes", "error", "p50_ms", "p95_ms", "e2e_p50_ms", "throughput_ips",
           "peak_rss_mb", "int8_rate_fraction", "init_ms")


def summarize(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per format (in first-seen order): the median of each metric over repeats."""
    rows: dict[str, dict[str, Any]] = {}
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(r["format"], []).append(r)
    for fmt, runs in groups.items():
        row = dict(runs[0])
        for key in NUMERIC:
            values = [r[key] for r in runs if r.get(key) is not None]
            row[key] = statistics.median(values) if values else None
        row["repeats"] = len(runs)
        rows[fmt] = row
    return list(rows.values())


def comparison_table(rows: list[dict[str, Any]]) -> str:
    """Size, accuracy, p50/p95 latency, end-to-end p50, throughput, peak memory per format.

    A row measured on an emulated machine gets `*` after its format and a footnote naming the
    emulator: its latencies are the emulator's, not the hardware's."""
    torch_p50 = next((r["p50_ms"] for r in rows if r["format"] == "torch-fp32"), None)
    batch = rows[0].get("throughput_batch", "N") if rows else "N"
    head = ["format", "backend", "size", "error %", "p50 ms", "p95 ms", "e2e p50 ms",
            f"img/s @b{batch}", "peak MB"]
    if torch_p50:
        head.append("vs torch")
    if any(r.get("int8_rate_fraction") is not None for r in rows):
        head.append("% int8 rate")
    lines = []
    for r in rows:
        mark = EMULATED_MARK if r.get("emulated") is True else ""
        cells = [r["format"] + mark, r["backend"], _size(r["size_bytes"]), _num(r["error"], 1),
                 _num(r["p50_ms"], 3), _num(r["p95_ms"], 3), _num(r.get("e2e_p50_ms"), 3),
                 _num(r["throughput_ips"], 0), _num(r["peak_rss_mb"], 0)]
        if torch_p50:
            cells.append(f"{torch_p50 / r['p50_ms']:.2f}x")
        if "% int8 rate" in head:
            frac = r.get("int8_rate_fraction")
            cells.append(_num(100 * frac, 0) if frac is not None else "-")
        lines.append(cells)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=True)]

    def fmt(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    emulators = list(dict.fromkeys(str(r.get("emulator") or "emulator unknown")
                                   for r in rows if r.get("emulated") is True))
    notes = ([f"{EMULATED_MARK} emulated ({'; '.join(emulators)}): latencies are not hardware "
              "figures"] if emulators else [])
    return "\n".join([fmt(head), sep, *(fmt(c) for c in lines), *notes])


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1024:.0f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MB"
