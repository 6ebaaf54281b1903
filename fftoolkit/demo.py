"""`fftk demo` (`make demo`): the README's main job, offline, in a few minutes.

Exports the shipped FF_tiny checkpoint to every CPU format (ONNX and TFLite, fp32 and int8,
int8 calibrated on bundled images, and the C engine generated from the int8 TFLite model),
then benchmarks each format in its own process on the other bundled validation images (c-int8
is built with cc on first use; without a compiler its row is skipped with a warning) and
prints the comparison table. The bundle is kept under
`--out` so it can be copied to a board (see docs/DEVICE.md).

Then the larger shipped models (FF_medium, FF_optimal: the paper's picks for accuracy) get the
same export and a shorter bench (the int8 formats a board runs), one table each, so a user sees
what each step up in accuracy costs in latency and size. A model whose weights are not shipped
is skipped with a note.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fftoolkit.bench.bench import BenchOptions, BenchReport, run_bench
from fftoolkit.errors import FFTKError
from fftoolkit.runtime.demo_set import demo_set_path
from fftoolkit.runtime.formats import DEMO_FORMATS
from fftoolkit.runtime.images import Inputs, load_arrays

if TYPE_CHECKING:
    from fftoolkit.export import ExportResult

CHECKPOINT = "ff_tiny-cifar10.safetensors"
TRAINING_RUN = Path("runs/ff_tiny-cifar10/last.pt")
CALIB_PER_CLASS = 15  # 150 calibration images; the other 350 are only ever benchmarked
LARGER_MODELS = ("ff_medium", "ff_optimal")  # shipped as models/weights/<name>-cifar10
LARGER_FORMATS = ("onnx-int8", "tflite-int8", "c-int8")


def find_checkpoint(explicit: Path | None) -> tuple[Path, str | None]:
    """--checkpoint, else the shipped weights, else this checkout's training run (with a note)."""
    if explicit is not None:
        return explicit, None
    from fftoolkit.models.registry import weights_dir

    shipped = weights_dir() / CHECKPOINT
    if shipped.is_file():
        return shipped, None
    if TRAINING_RUN.is_file():
        return TRAINING_RUN, (f"note: {shipped} is not shipped yet; using the training run's "
                              f"latest checkpoint {TRAINING_RUN} (accuracy reflects its epoch)")
    raise FFTKError(f"{shipped}: the shipped FF_tiny checkpoint is missing; train one with "
                    "`fftk train ff_tiny --dataset cifar10 --out runs/ff_tiny-cifar10` or pass "
                    "--checkpoint PATH")


def split_demo_set(per_class: int) -> tuple[Inputs, Inputs, list[str]]:
    """(calibration, held-out) images of the bundled set: the first `per_class` of each class
    calibrate the int8 models, the rest are benchmarked."""
    images, labels, classes = load_arrays(demo_set_path())
    if labels is None or classes is None:
        raise FFTKError(f"{demo_set_path()}: the demo set has no labels/classes")
    calib = np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(len(classes))])
    held = np.setdiff1d(np.arange(len(labels)), calib)

    def part(idx: np.ndarray, name: str) -> Inputs:
        return Inputs(list(images[idx]), [f"{name}[{i}]" for i in idx],
                      labels[idx].astype(np.int64), classes)

    return part(np.sort(calib), "calib"), part(held, "demo"), classes


def write_tree(root: Path, calib: Inputs, held: Inputs, classes: list[str]) -> Path:
    """An image-folder tree (train/ = calibration, val/ = held-out) the exporter can read."""
    from PIL import Image

    for split, part in (("train", calib), ("val", held)):
        for i, (image, label) in enumerate(zip(part.images, part.labels, strict=True)):
            folder = root / split / classes[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{i:04d}.png")
    return root


def export_demo_bundle(checkpoint: Path, bundle: Path,
                       threads: int = 1) -> tuple[ExportResult, Inputs]:
    """Export `checkpoint` to `bundle` (every CPU format, int8 calibrated on 150 bundled
    images); returns the export result and the 350 held-out images to benchmark on."""
    from fftoolkit.export import ExportOptions, export_bundle

    calib, held, classes = split_demo_set(CALIB_PER_CLASS)
    with tempfile.TemporaryDirectory(prefix="fftk-demo-") as tmp:
        tree = write_tree(Path(tmp) / "demo-images", calib, held, classes)
        old = os.environ.get("FFTK_DATA")
        os.environ["FFTK_DATA"] = str(Path(tmp) / "cache")  # decode cache, thrown away after
        try:
            result = export_bundle(checkpoint, bundle, ExportOptions(
                target="all", quantize="int8", calib_dataset=str(tree),
                calib_samples=len(calib), eval_samples=len(held), batch=8, force=True,
                threads=threads))
        finally:
            if old is None:
                os.environ.pop("FFTK_DATA", None)
            else:
                os.environ["FFTK_DATA"] = old
    return result, held


@dataclass
class DemoResult:
    report: BenchReport
    bundle: Path
    seconds: float
    plot: Path | None
    larger: list[BenchReport]  # FF_medium, FF_optimal where shipped, in LARGER_MODELS order


def run_demo(checkpoint: Path | None, out: Path, runs: int = 200, repeat: int = 1,
             threads: int = 1, log: Callable[[str], None] = print,
             larger: bool = True) -> DemoResult:
    """Export FF_tiny into `out/bundle` and benchmark every CPU format on the held-out
    bundled images (logs in `out/logs`); then, with `larger`, each shipped larger model into
    `out/<name>/` on LARGER_FORMATS. Progress and notes go to `log`."""
    start = time.perf_counter()
    checkpoint, note = find_checkpoint(checkpoint)
    if note:
        log(note)
    jobs = [("FF_tiny", checkpoint, out, DEMO_FORMATS)]
    if larger:
        jobs += _larger_jobs(out, log)
    reports = []
    for step, (name, ckpt, where, formats) in enumerate(jobs, 1):
        log(f"[{step}/{len(jobs)}] {name}: exporting {ckpt} -> {where / 'bundle'} (int8 "
            f"calibrated on {CALIB_PER_CLASS * 10} bundled images), then benchmarking "
            f"{', '.join(formats)}, each in its own process")
        reports.append(_export_and_bench(ckpt, where, formats, runs, repeat, threads, log))
    return DemoResult(reports[0], out / "bundle", time.perf_counter() - start,
                      reports[0].write_plot(), reports[1:])


def _larger_jobs(out: Path, log: Callable[[str], None]
                 ) -> list[tuple[str, Path, Path, tuple[str, ...]]]:
    from fftoolkit.models.registry import weights_dir

    jobs = []
    for name in LARGER_MODELS:
        shipped = weights_dir() / f"{name}-cifar10.safetensors"
        if shipped.is_file():
            jobs.append((name, shipped, out / name, LARGER_FORMATS))
        else:
            log(f"note: {shipped} is not shipped; {name} is left out of the demo")
    return jobs


def _export_and_bench(checkpoint: Path, out: Path, formats: tuple[str, ...], runs: int,
                      repeat: int, threads: int, log: Callable[[str], None]) -> BenchReport:
    result, held = export_demo_bundle(checkpoint, out / "bundle", threads)
    log(result.summary())
    opts = BenchOptions(formats=list(formats), threads=threads, runs=runs, repeat=repeat,
                        log_dir=out / "logs", dataset=f"bundled demo set ({len(held)} "
                        "CIFAR-10 val images)")
    report = run_bench(out / "bundle", held, opts, progress=lambda what: log(f"  {what} ..."))
    for line in report.warning_lines():
        log(line)
    return report
