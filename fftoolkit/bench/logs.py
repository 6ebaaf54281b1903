"""Benchmark logs: one JSON file per run and one row per run appended to `bench.csv`.

Both are written atomically (a crash never leaves half a file). The CSV keeps a fixed column
order (`FIELDS`); nested values are stored as JSON text.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from fftoolkit.atomic import atomic_path
from fftoolkit.errors import FFTKError
from fftoolkit.untrusted import check_name

FIELDS = (
    "timestamp", "model", "format", "backend", "precision", "inference", "threads", "per_block",
    "init_ms", "first_ms", "count", "mean_ms", "std_ms", "min_ms", "p50_ms", "p90_ms", "p95_ms",
    "p99_ms", "max_ms", "throughput_ips", "throughput_batch", "peak_rss_mb", "size_bytes",
    "error", "error_one_pass", "error_multi_pass", "n_eval", "dataset",
    "e2e_p50_ms", "e2e_p95_ms", "e2e_mean_ms", "e2e_decode", "e2e_decode_ms",
    "e2e_preprocess_ms", "e2e_infer_ms", "e2e_post_ms",
    "macs_per_image", "gmacs", "int8_rate_fraction", "precision_rate_fraction",
    "probe_int8_gmacs", "probe_fp32_gmacs", "algorithm",
    "import_ms", "hostname", "arch", "cpu_model", "cores", "os", "python", "board",
    "runtime", "runtime_version", "delegate", "graph_opt", "artifact", "bundle_sha256",
    "fftk_version", "git_commit", "load_avg_1m", "soc_temp_before_c", "soc_temp_after_c",
    "throttled_before", "throttled_after", "emulated", "emulator",
)
CSV_NAME = "bench.csv"


def write_json(log_dir: Path, record: dict[str, Any]) -> Path:
    """`<log-dir>/<timestamp>-<model>-<format>[-<repeat>].json`; the names come from a bundle,
    so they are checked to be plain names (the file stays in `log_dir`)."""
    stamp = record["timestamp"].replace(":", "").replace("-", "")
    suffix = f"-r{int(record['repeat'])}" if record.get("repeat") else ""
    model = check_name(record["model"], "model name", log_dir)
    fmt = check_name(record["format"], "format", log_dir)
    path = log_dir / f"{stamp}-{model}-{fmt}{suffix}.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2))
    return path


def append_csv(log_dir: Path, record: dict[str, Any]) -> Path:
    """Append one row (header first if the file is new); refuses a CSV with other columns."""
    path = log_dir / CSV_NAME
    old = path.read_text() if path.exists() else ""
    if old and old.splitlines()[0] != ",".join(FIELDS):
        raise FFTKError(f"{path}: has different columns (written by another fftk version); "
                        "move it away or pick another --log-dir")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if not old:
        writer.writerow(FIELDS)
    writer.writerow([_cell(record.get(k)) for k in FIELDS])
    with atomic_path(path) as tmp:
        tmp.write_text(old + buf.getvalue())
    return path


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)
