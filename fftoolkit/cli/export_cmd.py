"""`fftk export`: a checkpoint -> a deployable bundle of ONNX / TFLite files + manifest."""

from __future__ import annotations

import click

from fftoolkit.export.formats import QUANTIZE, TARGETS


@click.command(epilog="""\b
Examples:
  fftk export runs/tiny/last.pt --target all --quantize int8 --out bundles/tiny
  fftk export runs/tiny/last.pt --target tflite --quantize int8 --batch 8 \\
      --calib-dataset ../shared/data/cifar10/cifar10-train-jpeg.tar.gz --out bundles/tiny-b8
  fftk export models/weights/ff_tiny-cifar10.safetensors --target onnx --out bundles/onnx
  fftk export models/weights/ff_tiny-cifar10.safetensors --target c --quantize int8 \\
      --out bundles/tiny-c                       # then: make -C bundles/tiny-c/c host
""")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--target", default="all", show_default=True, metavar="|".join(TARGETS),
              help="Formats to write; all = onnx + tflite (+ edgetpu and, for improved-FF "
              "models, c with --quantize int8). c: a C99 int8 engine generated from the int8 "
              "TFLite model (needs --quantize int8; no compiler needed to export).")
@click.option("--quantize", default="none", show_default=True, metavar="|".join(QUANTIZE),
              help="int8 also writes int8 files beside the fp32 ones.")
@click.option("--calib-dataset", help="Dataset name or image-folder path/.tar.gz; calibration "
              "draws from its training split. Default: the checkpoint's training dataset.")
@click.option("--calib-samples", type=int, default=256, show_default=True,
              help="Calibration images for int8.")
@click.option("--eval-samples", type=int, default=1000, show_default=True,
              help="Held-back (val) images for the fp32-vs-int8 accuracy report; 0 skips it.")
@click.option("--batch", type=int, default=1, show_default=True,
              help="Also write the fused TFLite models at this fixed batch (ONNX is dynamic).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Bundle directory.")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def export(checkpoint: str, target: str, quantize: str, calib_dataset: str | None,
           calib_samples: int, eval_samples: int, batch: int, out: str, force: bool,
           quiet: bool) -> None:
    """Export CHECKPOINT (.pt or .safetensors) into the bundle directory OUT.

    The bundle (manifest.json, per-block and fused models, report.json) is written to a temp
    directory and renamed into place, so an interrupted export leaves nothing behind.
    """
    from fftoolkit.export import ExportOptions, export_bundle

    opts = ExportOptions(target=target, quantize=quantize, calib_dataset=calib_dataset,
                         calib_samples=calib_samples, eval_samples=eval_samples, batch=batch,
                         force=force)
    result = export_bundle(checkpoint, out, opts, progress=not quiet)
    click.echo(result.summary())
    click.echo(f"bundle: {result.out}")
