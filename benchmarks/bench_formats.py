"""Measure issue 5's runtime targets on this machine and write benchmarks/RESULTS-runtime.md
(+ results-runtime.json with every record).

1. FF_tiny: exported as `make demo` does (int8 calibrated on 150 bundled images), then every
   format benchmarked in fresh processes on the 350 other bundled images, batch 1, 1 thread,
   `--repeat` processes per format (the table shows the median of their p50s).
2. Original FF (MNIST MLP 784-500-100): the cost of multi-pass (10 label overlays, batched)
   vs one-pass (neutral label), from the per-block files where the runner overlays the labels.

    python benchmarks/bench_formats.py --repeat 5 --runs 500 \\
        --mlp-checkpoint runs/mnist_mlp/last.pt --mnist ../shared/data/mnist
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from fftoolkit.bench.bench import BenchOptions, BenchReport, run_bench
from fftoolkit.bench.sysinfo import machine_facts
from fftoolkit.bench.table import comparison_table, summarize
from fftoolkit.demo import export_demo_bundle, find_checkpoint
from fftoolkit.runtime.formats import DEMO_FORMATS
from fftoolkit.runtime.images import Inputs

HERE = Path(__file__).resolve().parent


def busy_processes() -> list[str]:
    """Other processes using CPU right now (`ps`), to state how quiet the machine was; this
    script and its children are left out."""
    out = subprocess.run(["ps", "-eo", "pid,ppid,pcpu,etime,args", "--sort=-pcpu"],
                         capture_output=True, text=True, check=False).stdout.splitlines()[1:]
    mine = {os.getpid()}
    busy = []
    for line in out:
        pid, ppid, pcpu, rest = line.split(None, 3)
        if int(pid) in mine or int(ppid) in mine:
            mine.add(int(pid))
            continue
        if float(pcpu) >= 5.0:
            busy.append(f"{pcpu} {rest}"[:140])
    return busy[:6]


def load_state() -> dict[str, Any]:
    return {"load_avg": [round(v, 2) for v in os.getloadavg()], "busy": busy_processes()}


def ff_tiny(checkpoint: Path | None, work: Path, runs: int, repeat: int) -> BenchReport:
    ckpt, note = find_checkpoint(checkpoint)
    if note:
        click.echo(note, err=True)
    local = work / f"ff_tiny{ckpt.suffix}"  # the suffix says which checkpoint format
    shutil.copy(ckpt, local)  # a training run rewrites its last.pt; measure one fixed file
    _, held = export_demo_bundle(local, work / "ff_tiny")
    opts = BenchOptions(formats=list(DEMO_FORMATS), runs=runs, warmup=50, repeat=repeat,
                        log_dir=work / "logs-ff_tiny",
                        dataset=f"bundled demo set ({len(held)} CIFAR-10 val images)")
    return run_bench(work / "ff_tiny", held, opts, progress=_say)


def mlp(checkpoint: Path, mnist: str, work: Path, runs: int, repeat: int,
        limit: int) -> list[dict[str, Any]]:
    from fftoolkit.data import load_dataset
    from fftoolkit.export import ExportOptions, export_bundle

    local = work / f"mnist_mlp{checkpoint.suffix}"
    shutil.copy(checkpoint, local)
    bundle = work / "mnist_mlp"
    export_bundle(local, bundle, ExportOptions(target="all", quantize="none", eval_samples=0,
                                               force=True), progress=False)
    ds = load_dataset(mnist, "test")
    inputs = Inputs(list(ds.images[:limit]), [str(i) for i in range(limit)],
                    ds.labels[:limit], list(ds.classes))
    rows = []
    for per_block in (True, False):
        for mode in ("one-pass", "multi-pass"):
            opts = BenchOptions(formats=["onnx-fp32", "tflite-fp32"], runs=runs, warmup=50,
                                repeat=repeat, inference=mode, per_block=per_block, probe=False,
                                log_dir=work / "logs-mnist_mlp", dataset=f"mnist test[:{limit}]")
            report = run_bench(bundle, inputs, opts, progress=_say)
            for row in summarize(report.records):
                rows.append({**row, "per_block": per_block})
    return rows


def _say(what: str) -> None:
    click.echo(f"  {what} ...", err=True)


def write_results(command: str, facts: dict[str, Any], before: dict[str, Any],
                  after: dict[str, Any], tiny: BenchReport, mlp_rows: list[dict[str, Any]],
                  seconds: float) -> Path:
    rows = summarize(tiny.records)
    by = {r["format"]: r for r in rows}
    t8, torch_row, lite = by["tflite-int8"], by["torch-fp32"], by["tflite-fp32"]
    speedup = torch_row["p50_ms"] / t8["p50_ms"]
    probe = tiny.probe
    lines = [
        "# Runtime results (issue 5): FF_tiny across formats, original-FF multi-pass cost",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')} in {seconds / 60:.1f} min with:",
        "", f"    {command}", "",
        f"Machine: {facts['cpu_model']}, {facts['cores']} cores ({facts['arch']}), "
        f"{facts['os']}, Python {facts['python']}, fftk {facts['fftk_version']} "
        f"(commit {facts['git_commit'] or 'n/a'}); runtimes: "
        f"{', '.join(sorted({r['runtime'] + ' ' + r['runtime_version'] for r in rows}))}.",
        f"Load average before: {before['load_avg']}, after: {after['load_avg']}.",
    ]
    for when, state in (("start", before), ("end", after)):
        if state["busy"]:
            lines += ["", f"**Not quiet at the {when}**: other processes using CPU (%CPU, "
                      "elapsed, command):", ""] + [f"    {p}" for p in state["busy"]]
    if before["busy"] or after["busy"]:
        lines += ["", "Tail latencies (p95/p99) and throughput suffer most from them."]
    else:
        lines += ["No other process used >= 5 % CPU at the start or the end."]
    lines += [
        "",
        f"## FF_tiny (CIFAR-10), batch 1, 1 thread, median of {rows[0]['repeats']} fresh "
        "processes per format",
        "",
        f"Each process: {tiny.records[0]['count']} timed runs after 50 warm-up runs; "
        f"accuracy on {tiny.records[0]['n_eval']} held-out bundled images; throughput at "
        f"batch {tiny.records[0]['throughput_batch']}; graph optimisations: "
        f"{tiny.records[0]['graph_opt']} for every format (torch: eager, inference_mode).",
        "", comparison_table(rows), "",
        "Targets:",
        f"- tflite-int8 p50 {t8['p50_ms']:.3f} ms vs torch-fp32 eager {torch_row['p50_ms']:.3f} "
        f"ms: **{speedup:.2f}x** faster (target >= 2x: {'met' if speedup >= 2 else 'NOT met'}).",
        f"- CPU conv rate (probe: one 64->64 3x3 conv at 56x56, LiteRT, 1 thread): int8 "
        f"{probe.get('probe_int8_gmacs', float('nan')):.1f} GMAC/s, fp32 "
        f"{probe.get('probe_fp32_gmacs', float('nan')):.1f} GMAC/s. FF_tiny "
        f"({(t8.get('macs_per_image') or 0) / 1e6:.1f} M MACs) in tflite-int8 reaches "
        f"**{100 * (t8.get('int8_rate_fraction') or 0):.0f}%** of the int8 rate "
        f"(tflite-fp32: {100 * (lite.get('precision_rate_fraction') or 0):.0f}% of the fp32 "
        "rate).",
        f"- Peak RSS of the LiteRT runner process: tflite-int8 {t8['peak_rss_mb']:.0f} MB, "
        f"tflite-fp32 {lite['peak_rss_mb']:.0f} MB (target < 150 MB: "
        f"{'met' if max(t8['peak_rss_mb'], lite['peak_rss_mb']) < 150 else 'NOT met'}).",
        "- End-to-end per image (preprocess + inference + postprocess; the bundled images are "
        "uint8 arrays, so no decode): the `e2e p50 ms` column.",
    ]
    if mlp_rows:
        lines += ["", "## Original FF: MNIST MLP 784-500-100, multi-pass vs one-pass", "",
                  "Per-block files: the runner overlays the labels, so one-pass is one forward "
                  "pass (neutral label) and multi-pass is 10 (one per label, batched as 10*N). "
                  "The fused graph computes both in one call (its cost is the same for either "
                  "mode).", "",
                  "| format | files | inference | p50 ms | p95 ms | img/s @b8 | error % |",
                  "|---|---|---|---|---|---|---|"]
        for r in mlp_rows:
            lines.append(f"| {r['format']} | {'per-block' if r['per_block'] else 'fused'} | "
                         f"{r['inference']} | {r['p50_ms']:.3f} | {r['p95_ms']:.3f} | "
                         f"{r['throughput_ips']:.0f} | {r['error']:.2f} |")
        for fmt in ("onnx-fp32", "tflite-fp32"):
            pb = {r["inference"]: r for r in mlp_rows if r["format"] == fmt and r["per_block"]}
            ratio = pb["multi-pass"]["p50_ms"] / pb["one-pass"]["p50_ms"]
            lines.append(f"\n{fmt}: multi-pass costs {ratio:.1f}x one-pass at batch 1 "
                         "(per-block).")
    lines += ["", "Every record (all repeats, all fields) is in `results-runtime.json`."]
    path = HERE / "RESULTS-runtime.md"
    path.write_text("\n".join(lines) + "\n")
    return path


@click.command()
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mlp-checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mnist", default="../shared/data/mnist", show_default=True)
@click.option("--mlp-limit", default=1000, show_default=True)
@click.option("--runs", default=500, show_default=True)
@click.option("--repeat", default=5, show_default=True)
def main(checkpoint: Path | None, mlp_checkpoint: Path | None, mnist: str, mlp_limit: int,
         runs: int, repeat: int) -> None:
    """Run the measurements and write RESULTS-runtime.md / results-runtime.json."""
    command = "python " + " ".join(shlex.quote(a) for a in ["benchmarks/bench_formats.py",
                                                            *sys.argv[1:]])
    start = time.perf_counter()
    before = load_state()
    with tempfile.TemporaryDirectory(prefix="fftk-results-") as tmp:
        tiny = ff_tiny(checkpoint, Path(tmp), runs, repeat)
        mlp_rows = mlp(mlp_checkpoint, mnist, Path(tmp), runs, repeat, mlp_limit) \
            if mlp_checkpoint else []
        after = load_state()
        records = {"command": command, "machine": machine_facts(), "load_before": before,
                   "load_after": after, "probe": tiny.probe, "ff_tiny": tiny.records,
                   "mnist_mlp": mlp_rows}
        (HERE / "results-runtime.json").write_text(json.dumps(records, indent=1, default=str))
        path = write_results(command, machine_facts(), before, after, tiny, mlp_rows,
                             time.perf_counter() - start)
    click.echo(path.read_text())


if __name__ == "__main__":
    main()
