"""`fftk run` and `fftk bench`: inference and benchmarks from a bundle, no torch needed.

Only runtime and bench code is imported here; the dataset loader (Pillow) and the torch
reference (`fftoolkit.reference`, which registers the torch-fp32 graph opener) load only when
an option asks for them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from fftoolkit.bench.bench import BenchOptions, BenchReport, run_bench
from fftoolkit.cli.options import expect_sha256
from fftoolkit.errors import FFTKError
from fftoolkit.runtime.backends import BACKENDS
from fftoolkit.runtime.demo_set import load_demo_set
from fftoolkit.runtime.formats import DEMO_FORMATS, FORMATS, PRECISIONS
from fftoolkit.runtime.images import Inputs, load_inputs
from fftoolkit.runtime.manifest import load_manifest, manifest_sha256
from fftoolkit.runtime.predictor import INFERENCE
from fftoolkit.runtime.runner import choose_format, classify, open_bundle

_bundle_arg = click.argument("bundle", type=click.Path(path_type=Path))
_input_arg = click.argument("input", required=False, type=click.Path(path_type=Path))


def _input_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed([
        click.option("--dataset", help="A dataset name or path (as for fftk train) instead "
                                       "of INPUT; needs Pillow."),
        click.option("--split", type=click.Choice(["val", "test"]), default="val",
                     show_default=True),
        click.option("--limit", type=click.IntRange(min=1),
                     help="Use N images drawn at random (seeded: the same N every time)."),
        click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True),
        click.option("--inference", type=click.Choice(INFERENCE), default="one-pass",
                     show_default=True, help="one-pass head, or multi-pass (improved FF: "
                     "goodness prediction; original FF: one pass per label overlay)."),
        click.option("--per-block", is_flag=True,
                     help="Chain the per-block files instead of the fused model."),
    ]):
        f = opt(f)
    return f


def _inputs(source: Path | None, dataset: str | None, split: str, limit: int | None,
            classes: list[str], default_demo: bool) -> tuple[Inputs, str]:
    """INPUT, --dataset, or (bench only) the bundled demo set; with a label for the logs."""
    if source is not None and dataset:
        raise FFTKError("give either INPUT or --dataset, not both")
    if dataset:
        try:
            from fftoolkit.data import load_dataset
        except ImportError as exc:
            raise FFTKError(f"--dataset needs the data extras ({exc.name} is missing): pip "
                            "install pillow, or pass INPUT as an image folder or .npz") from None
        ds = load_dataset(dataset, split)
        if list(ds.classes) != list(classes):
            raise FFTKError(f"{dataset}: its classes {ds.classes} are not the model's {classes}")
        inputs = Inputs(list(ds.images), [f"{ds.name}/{split}[{i}]" for i in range(len(ds))],
                        ds.labels, list(ds.classes))
        label = f"{ds.name}:{split}"
    elif source is not None:
        inputs, label = load_inputs(source, classes), str(source)
    elif default_demo:
        inputs, label = load_demo_set(classes), "bundled demo set (cifar10 val, 500 images)"
    else:
        raise FFTKError("give INPUT (an image, a folder or an .npz) or --dataset")
    return inputs.subset(limit), label


def _progress(total: int, desc: str) -> Any:
    """tqdm on stderr when installed (it is not in the device extra), else nothing."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="img", file=sys.stderr, leave=False,
                disable=total < 512)


@click.command("run", context_settings={"help_option_names": ["-h", "--help"]})
@_bundle_arg
@_input_arg
@click.option("--backend", type=click.Choice(["auto", *BACKENDS]), default="auto",
              show_default=True, help="auto = LiteRT where installed, else ONNX Runtime; "
              "c = the bundle's C engine (c-int8), built with cc on first use and cached.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="int8", show_default=True)
@_input_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
@click.option("--scores", is_flag=True, help="With --json: every image's class probabilities "
              "too (what fftk deploy --verify compares between board and host).")
@click.option("-q", "--quiet", is_flag=True, help="Only the summary line, no per-image lines.")
@expect_sha256
def run(bundle: Path, input: Path | None, backend: str, precision: str, dataset: str | None,
        split: str, limit: int | None, threads: int, inference: str, per_block: bool,
        as_json: bool, scores: bool, quiet: bool, expect_sha256: str | None) -> None:
    """Classify images with an exported BUNDLE (no torch needed).

    INPUT is an image file, a folder (class sub-folders give labels and accuracy), or a
    .npy/.npz array file; or use --dataset.

    \b
    Examples:
      fftk run bundles/tiny photo.jpg
      fftk run bundles/tiny --dataset cifar10 --split val --limit 1000 --backend onnxruntime
      fftk run bundles/tiny images/ --precision fp32 --per-block --json
      fftk run bundles/tiny images/ --backend c
    """
    if scores and not as_json:
        raise FFTKError("--scores goes with --json (the scores are a field of the JSON)")
    manifest = load_manifest(bundle, expect_sha256)
    inputs, _ = _inputs(input, dataset, split, limit, manifest.classes, default_demo=False)
    if choose_format(manifest, backend, precision)[0].family == "torch":
        import fftoolkit.reference  # noqa: F401  (registers the torch-fp32 graph opener)
    loaded = open_bundle(bundle, backend=backend, precision=precision, threads=threads,
                         per_block=per_block, expect_sha256=manifest_sha256(bundle))
    bar = _progress(len(inputs), "classifying")
    result = classify(loaded, inputs, inference, progress=bar.update if bar else None,
                      keep_scores=scores)
    if bar:
        bar.close()
    if as_json:
        click.echo(json.dumps(result.to_json()))
        return
    for note in result.notes:
        click.echo(note, err=True)
    if not quiet:
        for name, p, conf, y in zip(result.names, result.predictions, result.confidences,
                                    result.labels, strict=True):
            mark = "" if y < 0 else ("  ok" if p == y else f"  (label: {result.classes[y]})")
            click.echo(f"{name}\t{result.classes[p]}\t{conf:.3f}{mark}")
    summary = (f"{result.n} image(s), {result.format} on {result.runtime}, "
               f"{result.inference}")
    if result.error is not None:
        summary += f": error {result.error:.2f}% (accuracy {100 - result.error:.2f}%)"
    click.echo(summary)


@click.command("bench", context_settings={"help_option_names": ["-h", "--help"]})
@_bundle_arg
@_input_arg
@click.option("--formats", default=",".join(DEMO_FORMATS), show_default=True,
              help=f"Comma-separated, from: {', '.join(FORMATS)}.")
@_input_options
@click.option("--runs", type=click.IntRange(min=5), default=200, show_default=True,
              help="Timed batch-1 runs per format.")
@click.option("--warmup", type=click.IntRange(min=0), default=20, show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=8, show_default=True,
              help="Batch size for the throughput measurement.")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True,
              help="Fresh processes per format; the table shows the median.")
@click.option("--log-dir", type=click.Path(path_type=Path), default=Path("fftk-logs"),
              show_default=True, help="One JSON per run plus rows appended to bench.csv.")
@click.option("--probe/--no-probe", default=True, show_default=True,
              help="Time a large int8 3x3 conv to report the fraction of the CPU's rate.")
@click.option("--plot/--no-plot", default=True, show_default=True,
              help="Write a PNG of the latency distributions (needs the plot extra).")
@expect_sha256
def bench(bundle: Path, input: Path | None, formats: str, dataset: str | None, split: str,
          limit: int | None, threads: int, inference: str, per_block: bool, runs: int,
          warmup: int, batch: int, repeat: int, log_dir: Path, probe: bool,
          plot: bool, expect_sha256: str | None) -> None:
    """Benchmark a BUNDLE across formats: latency, throughput, memory, size, accuracy.

    Each format runs in a fresh process. Without INPUT or --dataset, the bundled demo set
    (500 CIFAR-10 validation images) is used.

    \b
    Examples:
      fftk bench bundles/tiny
      fftk bench bundles/tiny --formats torch-fp32,onnx-fp32,onnx-int8,tflite-int8 --repeat 5
      fftk bench bundles/tiny --dataset cifar10 --split val --threads 4 --log-dir logs/pi5
    """
    manifest = load_manifest(bundle, expect_sha256)
    inputs, label = _inputs(input, dataset, split, limit, manifest.classes, default_demo=True)
    names = [f.strip() for f in formats.split(",") if f.strip()]
    opts = BenchOptions(formats=names, threads=threads, runs=runs, warmup=warmup, batch=batch,
                        inference=inference, per_block=per_block, repeat=repeat, probe=probe,
                        log_dir=log_dir, dataset=label, expect_sha256=manifest_sha256(bundle))
    report = run_bench(bundle, inputs, opts,
                       progress=lambda what: click.echo(f"benchmarking {what} ...", err=True))
    print_report(report, plot)


def print_report(report: BenchReport, plot: bool) -> None:
    """Warnings on stderr; the table, the logs and the plot on stdout."""
    for line in report.warning_lines():
        click.echo(line, err=True)
    click.echo(report.summary())
    if plot:
        png = report.write_plot()
        click.echo(f"plot: {png}" if png else
                   "plot: skipped (pip install 'fftoolkit[plot]' for a PNG)")
