"""`fftk train` and `fftk eval`."""

from __future__ import annotations

import json

import click

from fftoolkit.errors import FFTKError


def _int_list(value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated epochs, got {value!r}") from None


def _val_split(value: str | None) -> float | int | None:
    if value is None:
        return None
    number = float(value)
    return int(number) if number >= 1 else number


@click.command(epilog="""\b
Examples:
  fftk train ff_tiny --dataset ../shared/data/cifar10/cifar10-train-jpeg.tar.gz --out runs/tiny
  fftk train mnist_mlp --dataset mnist --epochs 30 --out runs/mlp
  fftk train ff_tiny --out runs/tiny --resume        # continue an interrupted run
""")
@click.argument("model")
@click.option("--dataset", help="Dataset name (mnist, fashion-mnist, cifar10) or image-folder "
              "path/.tar.gz. Default: the spec's dataset.")
@click.option("--out", default=None, help="Run directory (checkpoint, metrics.jsonl). "
              "Default: runs/MODEL.")
@click.option("--epochs", type=int, help="Default: the spec's schedule.")
@click.option("--batch-size", type=int)
@click.option("--lr", type=float, help="Adam learning rate of every block and the head.")
@click.option("--routine", type=click.Choice(["chunked", "greedy", "overlapping"]),
              help="Local update routine (paper §II-B c). Default: the spec's.")
@click.option("--milestones", help="MultiStepLR epochs, comma-separated, e.g. 25,35,45.")
@click.option("--gamma", type=float, help="MultiStepLR decay factor.")
@click.option("--augment/--no-augment", default=None, help="Random crop (pad 4) + flip.")
@click.option("--val-split", help="Validation images per class (int) or fraction (float).")
@click.option("--limit", type=int, help="Train on the first N training images only.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@click.option("--threads", type=int, help="CPU threads for torch.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
def train(model: str, out: str | None, milestones: str | None, val_split: str | None,
          **options) -> None:
    """Train MODEL (a zoo name or a spec .yaml) with local Forward-Forward updates.

    Writes OUT/last.pt after every epoch (atomic, resumable) and OUT/metrics.jsonl.
    """
    from fftoolkit.train import TrainConfig
    from fftoolkit.train import train as run_training

    cfg = TrainConfig(model=model, out=out or f"runs/{model}", milestones=_int_list(milestones),
                      val_split=_val_split(val_split), **options)
    try:
        path = run_training(cfg)
    except KeyboardInterrupt:
        raise FFTKError(f"interrupted; the last complete checkpoint is in {cfg.out} "
                        "(continue with --resume)") from None
    click.echo(f"checkpoint: {path}")


@click.command("eval", epilog="""\b
Examples:
  fftk eval models/weights/ff_tiny-cifar10.safetensors --dataset cifar10 --split test --json
  fftk eval runs/tiny/last.pt --dataset DIR --split val --inference one-pass
""")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--dataset", required=True, help="Dataset name or image-folder path/.tar.gz.")
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="val",
              show_default=True)
@click.option("--inference", type=click.Choice(["one-pass", "multi-pass", "both"]),
              default="both", show_default=True)
@click.option("--val-split", help="Validation images per class (int) or fraction (float).")
@click.option("--limit", type=int, help="Evaluate the first N images only.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def evaluate(checkpoint: str, dataset: str, split: str, inference: str, val_split: str | None,
             limit: int | None, as_json: bool) -> None:
    """Error % of CHECKPOINT per inference mode on a dataset split, and the time it took."""
    from fftoolkit.train import evaluate_checkpoint

    result = evaluate_checkpoint(checkpoint, dataset, split, inference, _val_split(val_split),
                                 limit)
    if as_json:
        click.echo(json.dumps(result.as_dict()))
        return
    click.echo(f"{result.n} images ({split})")
    if result.one_pass_error is not None:
        click.echo(f"one-pass error:   {result.one_pass_error:6.2f} %")
    if result.multi_pass_error is not None:
        click.echo(f"multi-pass error: {result.multi_pass_error:6.2f} %")
    click.echo(f"inference time:   {result.seconds:.2f} s "
               f"({1000 * result.seconds / max(result.n, 1):.3f} ms/image)")
