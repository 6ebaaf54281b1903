"""The pure pieces of the bench harness: latency statistics, logs, the table and board facts.
No bundle needed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from fftoolkit.bench.logs import CSV_NAME, FIELDS, append_csv, write_json
from fftoolkit.bench.stats import latency_summary
from fftoolkit.bench.sysinfo import machine_facts, throttle_warning
from fftoolkit.bench.table import comparison_table, summarize
from fftoolkit.errors import FFTKError


def test_latency_summary_matches_numpy() -> None:
    samples = [float(v) for v in range(1, 101)]
    s = latency_summary(samples)
    assert s["count"] == 100 and s["min_ms"] == 1 and s["max_ms"] == 100
    assert s["p50_ms"] == pytest.approx(50.5) and s["p99_ms"] == pytest.approx(99.01)
    assert s["std_ms"] == pytest.approx(np.std(samples))
    assert set(latency_summary([1.0], prefix="e2e_")) >= {"e2e_p50_ms", "e2e_count"}


def _record(fmt: str, p50: float, repeat: int | None = None) -> dict:
    return {"timestamp": "2025-01-01T00:00:00", "model": "m", "format": fmt, "repeat": repeat,
            "backend": "x", "size_bytes": 2048, "error": 10.0, "p50_ms": p50, "p95_ms": p50,
            "throughput_ips": 100.0, "peak_rss_mb": 50.0, "e2e_p50_ms": p50 + 1,
            "throughput_batch": 8, "samples_ms": [p50]}


def test_logs_json_and_csv(tmp_path: Path) -> None:
    r1, r2 = _record("onnx-fp32", 1.0), _record("tflite-int8", 0.5, repeat=1)
    p1, p2 = write_json(tmp_path, r1), write_json(tmp_path, r2)
    assert p1 != p2 and json.loads(p1.read_text())["p50_ms"] == 1.0
    append_csv(tmp_path, r1)
    append_csv(tmp_path, r2)
    rows = list(csv.DictReader((tmp_path / CSV_NAME).open()))
    assert [r["format"] for r in rows] == ["onnx-fp32", "tflite-int8"]
    assert tuple(rows[0]) == FIELDS and rows[1]["p50_ms"] == "0.5"
    (tmp_path / CSV_NAME).write_text("a,b\n1,2\n")
    with pytest.raises(FFTKError, match="different columns"):
        append_csv(tmp_path, r1)


def test_table_takes_median_over_repeats() -> None:
    rows = summarize([_record("torch-fp32", 3.0), _record("tflite-int8", 1.0),
                      _record("tflite-int8", 9.0), _record("tflite-int8", 1.5)])
    assert [r["format"] for r in rows] == ["torch-fp32", "tflite-int8"]
    assert rows[1]["p50_ms"] == 1.5 and rows[1]["repeats"] == 3
    text = comparison_table(rows)
    assert "| tflite-int8 |" in text and "2.00x" in text and "img/s @b8" in text


def test_throttle_warning_and_machine_facts() -> None:
    assert throttle_warning({"throttled": None}, {"throttled": None}) is None
    assert throttle_warning({"throttled": 0}, {"throttled": 0}) is None
    assert "0x4" in throttle_warning({"throttled": 0}, {"throttled": 0x4})
    assert throttle_warning({"throttled": 0}, {"throttled": 0x40000})  # throttled meanwhile
    facts = machine_facts()
    assert facts["cores"] >= 1 and facts["arch"] and facts["python"].count(".") == 2
