"""`fftk bench` as a library call: every configuration in a fresh subprocess, logs, one table.

The parent only orchestrates: it writes the inputs once, starts `fftoolkit.bench.worker` per
format (and `fftoolkit.bench.probe` once for the CPU's conv rate), adds the machine facts,
and writes the logs. Nothing heavy is imported here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fftoolkit.atomic import refuse_overlap
from fftoolkit.bench.interrupt import deferred, signals_raise, start_child, stop_child, temp_dir
from fftoolkit.bench.logs import append_csv, write_json
from fftoolkit.bench.sysinfo import machine_facts, throttle_warning
from fftoolkit.bench.table import comparison_table, summarize
from fftoolkit.errors import FFTKError
from fftoolkit.runtime.formats import default_backend, get_format
from fftoolkit.runtime.images import Inputs
from fftoolkit.runtime.manifest import MANIFEST_NAME, load_manifest, sha256_file


@dataclass
class BenchOptions:
    formats: list[str]
    threads: int = 1
    runs: int = 200
    warmup: int = 20
    batch: int = 8
    inference: str = "one-pass"
    per_block: bool = False
    e2e_runs: int = 100
    throughput_images: int = 512
    repeat: int = 1
    probe: bool = True
    log_dir: Path = Path("fftk-logs")
    dataset: str = ""
    timeout_s: float = 900.0
    expect_sha256: str | None = None  # pin the bundle's manifest (--expect-sha256)


@dataclass
class BenchReport:
    records: list[dict[str, Any]]
    failures: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    json_paths: list[Path] = field(default_factory=list)
    csv_path: Path | None = None
    probe: dict[str, Any] = field(default_factory=dict)

    def warning_lines(self) -> list[str]:
        emulated = next((r for r in self.records if r.get("emulated") is True), None)
        return ([f"warning: {name} skipped: {why}" for name, why in self.failures.items()]
                + [f"warning: {w}" for w in self.warnings]
                + ([f"warning: this machine is emulated ({emulated.get('emulator')}): "
                    "latency is not representative of the hardware"] if emulated else []))

    def summary(self) -> str:
        """What ran where, the comparison table, the CPU's conv rate, and where the logs are."""
        first = self.records[0]
        lines = [f"\n{first['model']} on {first['cpu_model']} ({first['arch']}, "
                 f"{first['threads']} thread(s)), {first['inference']}, "
                 f"{first['n_eval']} images from {first['dataset']}",
                 comparison_table(summarize(self.records))]
        if self.probe:
            lines.append(f"CPU conv rate (one large 3x3 conv, LiteRT, batch 1): "
                         f"int8 {self.probe['probe_int8_gmacs']:.1f} GMAC/s, "
                         f"fp32 {self.probe['probe_fp32_gmacs']:.1f} GMAC/s")
        lines.append(f"logs: {self.json_paths[0].parent}/ ({len(self.json_paths)} JSON, "
                     f"{self.csv_path.name if self.csv_path else ''})")
        return "\n".join(lines)

    def write_plot(self) -> Path | None:
        """PNG of the latency distributions next to the logs (None without matplotlib)."""
        from fftoolkit.bench.plot import plot_latencies

        return plot_latencies(self.records, self.json_paths[0].with_suffix(".png"))


def run_bench(bundle: str | Path, inputs: Inputs, opts: BenchOptions,
              macs_per_image: int | None = None,
              progress: Callable[[str], None] | None = None) -> BenchReport:
    """Benchmark each format `opts.repeat` times, each run in its own process."""
    bundle = Path(bundle).resolve()
    manifest = load_manifest(bundle, opts.expect_sha256)
    for name in opts.formats:
        get_format(name)
    if not inputs.labelled:
        raise FFTKError("fftk bench needs labelled images (a dataset split, an .npz with "
                        "labels, or class sub-folders) to report accuracy")
    macs = macs_per_image or _macs(manifest.extra)
    # the compute rate needs one forward pass per image: channel groups, not J label overlays
    one_pass_macs = macs if manifest.multi_pass["kind"] == "channel-groups" else None
    common = {
        "model": manifest.model_name, "bundle_sha256": sha256_file(bundle / MANIFEST_NAME),
        "algorithm": manifest.algorithm, "dataset": opts.dataset, "macs_per_image": macs,
        **machine_facts(),
    }
    refuse_overlap(opts.log_dir, {"bundle": bundle}, option="--log-dir", allow_parent=True)
    _writable_log_dir(opts.log_dir)
    report = BenchReport(records=[])
    # SIGINT/SIGTERM/SIGHUP stop the current child and remove the temp folder, then raise
    # Interrupted (the CLI exits 128 + the signal: 130 SIGINT, 143 SIGTERM, 129 SIGHUP).
    with signals_raise("fftk bench"), temp_dir("fftk-bench-") as tmp:
        data = tmp / "inputs.npz"
        np.savez(data, images=_stack(inputs), labels=inputs.labels)
        if opts.probe:
            report.probe = _probe(opts, tmp, progress)
        jobs = [(name, r) for r in range(opts.repeat) for name in opts.formats]
        for name, repeat in jobs:
            if name in report.failures:
                continue
            if progress:
                progress(f"{name}" + (f" (run {repeat + 1}/{opts.repeat})" if opts.repeat > 1
                                      else ""))
            cfg = _config(bundle, name, opts, data, inputs, common["bundle_sha256"])
            result = _spawn(["fftoolkit.bench.worker"], cfg, tmp, opts.timeout_s)
            if "failed" in result:
                report.failures[name] = result["failed"]
                continue
            record = _record(common, result, report.probe, one_pass_macs,
                             repeat if opts.repeat > 1 else None)
            warning = throttle_warning(result["board_before"], result["board_after"])
            if warning and warning not in report.warnings:
                report.warnings.append(warning)
            report.records.append(record)
            report.json_paths.append(write_json(opts.log_dir, record))
            report.csv_path = append_csv(opts.log_dir, record)
    if not report.records:
        first = next(iter(report.failures.values()), "nothing ran")
        raise FFTKError(first)
    return report


def _writable_log_dir(log_dir: Path) -> None:
    """Make the log folder now, so a bad --log-dir fails before minutes of benchmarking."""
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FFTKError(f"{log_dir}: cannot create the log folder ({exc.strerror}); choose "
                        "another --log-dir") from None
    if not os.access(log_dir, os.W_OK | os.X_OK):
        raise FFTKError(f"{log_dir}: the log folder is not writable; choose another --log-dir")


def _macs(extra: dict[str, Any]) -> int | None:
    """MACs per image, as the exporter recorded them in the manifest."""
    return extra.get("macs_per_image") or None


def _stack(inputs: Inputs) -> np.ndarray:
    shapes = {im.shape for im in inputs.images}
    if len(shapes) == 1:
        return np.stack(inputs.images)
    raise FFTKError(f"fftk bench needs images of one size (got {len(shapes)} sizes); resize "
                    "them first or use fftk run")


def _config(bundle: Path, name: str, opts: BenchOptions, data: Path, inputs: Inputs,
            manifest_sha256: str) -> dict[str, Any]:
    """A worker's settings; it re-checks the manifest this process checked (same bundle)."""
    return {
        "bundle": str(bundle), "bundle_sha256": manifest_sha256, "format": name,
        "backend": default_backend(get_format(name)),
        "threads": opts.threads, "runs": opts.runs, "warmup": opts.warmup, "batch": opts.batch,
        "inference": opts.inference, "per_block": opts.per_block, "inputs": str(data),
        "paths": [str(p) for p in inputs.paths] if inputs.paths else None,
        "e2e_runs": opts.e2e_runs, "throughput_images": opts.throughput_images,
    }


def _spawn(module: list[str], cfg: dict[str, Any] | list[str], tmp: Path,
           timeout_s: float) -> dict[str, Any]:
    """Run `python -m module` in a fresh process; its last stdout line is a JSON object.

    The child has its own process group and is stopped (with anything it started) before this
    returns or raises, so a timeout or a signal to fftk bench never leaves it running.
    """
    if isinstance(cfg, dict):
        path = tmp / "config.json"
        path.write_text(json.dumps(cfg))
        args = [str(path)]
    else:
        args = cfg
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if isinstance(cfg, dict):
        env["OMP_NUM_THREADS"] = str(cfg["threads"])  # torch/ORT thread pools match --threads
    proc = None
    try:
        with deferred():  # a signal now is raised only once `proc` is set, so it is stopped
            proc = start_child([sys.executable, "-m", *module, *args], env)
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"failed": f"{module[0]} timed out after {timeout_s:.0f} s"}
    finally:
        if proc is not None:
            stop_child(proc)
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if not lines:
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        return {"failed": f"{module[0]} exited with {proc.returncode}: {tail}"}
    return json.loads(lines[-1])


def _probe(opts: BenchOptions, tmp: Path,
           progress: Callable[[str], None] | None) -> dict[str, Any]:
    if progress:
        progress("int8 conv-rate probe")
    result = _spawn(["fftoolkit.bench.probe"], [str(opts.threads), "50"], tmp, opts.timeout_s)
    return {} if "failed" in result else result


def _record(common: dict[str, Any], result: dict[str, Any], probe: dict[str, Any],
            macs: int | None, repeat: int | None) -> dict[str, Any]:
    record = {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **common, **result}
    record["repeat"] = repeat
    record["load_avg_1m"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    for when in ("before", "after"):
        state = result[f"board_{when}"]
        temps = state.get("temps_c") or {}
        record[f"soc_temp_{when}_c"] = max(temps.values()) if temps else None
        record[f"throttled_{when}"] = state.get("throttled")
    record.update({k: v for k, v in probe.items() if k.endswith("_gmacs")})
    if macs and result.get("p50_ms"):
        record["gmacs"] = macs / (result["p50_ms"] * 1e-3) / 1e9
        rate = probe.get(f"probe_{result['precision']}_gmacs")
        record["int8_rate_fraction"] = (record["gmacs"] / probe["probe_int8_gmacs"]
                                        if probe.get("probe_int8_gmacs") else None)
        record["precision_rate_fraction"] = record["gmacs"] / rate if rate else None
    return record
