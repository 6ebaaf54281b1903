"""`fftk demo`: the README's main job (export FF_tiny, benchmark every format), offline."""

from __future__ import annotations

from pathlib import Path

import click

CHECKPOINT = "models/weights/ff_tiny-cifar10.safetensors"


@click.command("demo", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help=f"Default: {CHECKPOINT}.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("runs/demo"), show_default=True,
              help="Where the bundle (out/bundle) and the logs (out/logs) go.")
@click.option("--runs", type=click.IntRange(min=5), default=200, show_default=True,
              help="Timed batch-1 runs per format.")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True,
              help="Fresh processes per format; the table shows the median.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--larger/--no-larger", default=None,
              help="Also export and bench the shipped FF_medium and FF_optimal (int8 formats) "
              "into OUT/<model>/. Default: on, off with --checkpoint.")
def demo(checkpoint: Path | None, out: Path, runs: int, repeat: int, threads: int,
         larger: bool | None) -> None:
    """Export FF_tiny and benchmark it across formats on the bundled images (offline), then
    the larger shipped models on the int8 formats.

    \b
    Examples:
      fftk demo
      fftk demo --out runs/demo --repeat 5
      fftk demo --no-larger
    """
    from fftoolkit.demo import run_demo

    result = run_demo(checkpoint, out, runs, repeat, threads,
                      log=lambda line: click.echo(line, err=True),
                      larger=checkpoint is None if larger is None else larger)
    click.echo(result.report.summary())
    for report in result.larger:
        click.echo(report.summary())
    if result.plot:
        click.echo(f"plot: {result.plot}")
    click.echo(f"bundle: {result.bundle} (copy it to a board: docs/DEVICE.md); "
               f"done in {result.seconds:.0f} s")
