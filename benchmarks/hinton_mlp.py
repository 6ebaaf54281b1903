"""Hinton's 4 x 2000 MNIST MLP (`mnist_mlp_hinton`) from checkpoint to runtime, measured.

1. torch: one-pass and multi-pass error on the MNIST test split (`fftk eval`'s library call);
2. export: `fftk export CKPT --target all --quantize int8 --calib-dataset MNIST` into a
   temporary bundle, then `fftk run BUNDLE --dataset MNIST --split test --inference MODE` for
   each format and both modes: the error the deployed model gives, next to torch's;
3. cost: batch-1 latency of one-pass (neutral label) vs multi-pass (10 label overlays) with the
   per-block files, where the runner overlays the labels (`benchmarks/bench_formats.py`'s
   `mlp` measurement).

    python benchmarks/hinton_mlp.py weights/mnist_mlp_hinton-mnist.safetensors \
        --mnist ../shared/data/mnist --out benchmarks/results/mnist_mlp_hinton-runtime.json
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

from fftoolkit.bench.sysinfo import machine_facts
from fftoolkit.train import evaluate_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_formats import mlp  # noqa: E402

FORMATS = ("onnx-fp32", "onnx-int8", "tflite-fp32", "tflite-int8")
MODES = ("one-pass", "multi-pass")


def fftk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fftoolkit", *args], capture_output=True,
                          text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def runtime_errors(bundle: Path, mnist: str, limit: int | None) -> list[dict]:
    rows = []
    for fmt in FORMATS:
        backend = "onnxruntime" if fmt.startswith("onnx") else "litert"
        for mode in MODES:
            args = ["run", str(bundle), "--dataset", mnist, "--split", "test", "--backend",
                    backend, "--precision", fmt.split("-")[1], "--inference", mode, "--json",
                    "-q"] + (["--limit", str(limit)] if limit else [])
            start = time.perf_counter()
            out = json.loads(fftk(*args).stdout)
            rows.append({"format": fmt, "inference": mode, "error": out["error"], "n": out["n"],
                         "runtime": out["runtime"],
                         "seconds": round(time.perf_counter() - start, 1)})
            click.echo(f"  {fmt} {mode}: {out['error']:.2f} % of {out['n']}", err=True)
    return rows


@click.command()
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mnist", default="../shared/data/mnist", show_default=True)
@click.option("--limit", type=int, default=None, help="test images (default: all 10,000)")
@click.option("--runs", default=200, show_default=True, help="timed runs per latency row")
@click.option("--repeat", default=3, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def main(checkpoint: Path, mnist: str, limit: int | None, runs: int, repeat: int,
         out: Path) -> None:
    """Measure and write OUT (JSON)."""
    command = "python " + " ".join(shlex.quote(a) for a in ["benchmarks/hinton_mlp.py",
                                                            *sys.argv[1:]])
    start = time.perf_counter()
    torch_eval = evaluate_checkpoint(checkpoint, mnist, split="test", limit=limit)
    click.echo(f"torch: one-pass {torch_eval.one_pass_error:.2f} %, multi-pass "
               f"{torch_eval.multi_pass_error:.2f} %", err=True)
    with tempfile.TemporaryDirectory(prefix="fftk-hinton-") as tmp:
        bundle = Path(tmp) / "bundle"
        fftk("export", str(checkpoint), "--target", "all", "--quantize", "int8",
             "--calib-dataset", mnist, "--out", str(bundle))
        errors = runtime_errors(bundle, mnist, limit)
        cost = mlp(checkpoint, mnist, Path(tmp), runs, repeat, 1000)
    out.write_text(json.dumps({
        "command": command, "machine": machine_facts(),
        "seconds": round(time.perf_counter() - start, 1),
        "torch": {"one_pass_error": round(torch_eval.one_pass_error, 2),
                  "multi_pass_error": round(torch_eval.multi_pass_error, 2),
                  "n": torch_eval.n},
        "runtime_errors": errors, "latency": cost}, indent=1, default=str) + "\n")
    click.echo(f"wrote {out}", err=True)


if __name__ == "__main__":
    main()
