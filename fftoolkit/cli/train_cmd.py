"""`fftk train` and `fftk eval`."""

from __future__ import annotations

import json
import math
import sys

import click

from fftoolkit.cli.data_cmd import ValSplitType
from fftoolkit.errors import FFTKError

POSITIVE = click.IntRange(min=1)
SEED = click.IntRange(0, 2**32 - 1)  # what numpy's default_rng and torch.manual_seed accept


class FiniteFloat(click.ParamType):
    """A number in (low, high]; unlike click.FloatRange it refuses nan (which compares false
    with every bound) and infinity."""

    name = "float"

    def __init__(self, low: float, high: float = math.inf):
        self.low, self.high = low, high

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or not self.low < number <= self.high:
            bound = f"above {self.low:g}" if self.high == math.inf else \
                f"in ({self.low:g}, {self.high:g}]"
            self.fail(f"{value!r} is not a finite number {bound}", param, ctx)
        return number


class EpochList(click.ParamType):
    """Comma-separated epochs >= 1, e.g. `25,35,45` (empty: no LR decay)."""

    name = "EPOCHS"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> list[int]:
        if isinstance(value, list):
            return value
        parts = [v.strip() for v in str(value).split(",") if v.strip()]
        if not all(p.isdigit() and int(p) >= 1 for p in parts):
            self.fail(f"expected comma-separated epochs >= 1 (e.g. 25,35,45), got {value!r}",
                      param, ctx)
        return [int(p) for p in parts]


@click.command(epilog="""\b
Examples:
  fftk train ff_tiny --dataset ../shared/data/cifar10/cifar10-train-jpeg.tar.gz --out runs/tiny
  fftk train mnist_mlp --dataset mnist --epochs 30 --out runs/mlp
  fftk train ff_tiny --out runs/tiny --resume        # continue an interrupted run
  fftk train ff_tiny --loss symba --lr-schedule cosine --augment strong --out runs/tiny-recipe
  fftk train ff_tiny --out runs/tiny --nproc 4       # 4 data-parallel ranks on this machine
  fftk train ff_tiny --out runs/tiny --nproc 2 --parallel blocks   # a 2-stage block pipeline
  torchrun --nnodes 2 --nproc-per-node 4 --rdzv-endpoint HOST:PORT -m fftoolkit train ff_tiny
""")
@click.argument("model")
@click.option("--dataset", help="Dataset name (mnist, fashion-mnist, cifar10) or image-folder "
              "path/.tar.gz. Default: the spec's dataset.")
@click.option("--out", default=None, help="Run directory (checkpoint, metrics.jsonl). "
              "Default: runs/MODEL.")
@click.option("--epochs", type=POSITIVE, help="Default: the spec's schedule.")
@click.option("--batch-size", type=POSITIVE)
@click.option("--lr", type=FiniteFloat(0.0), help="Learning rate of every block (and of the "
              "head, unless the spec sets train.head_lr); the spec's train.optimizer, Adam "
              "by default.")
@click.option("--routine", type=click.Choice(["chunked", "greedy", "overlapping"]),
              help="Local update routine (paper §II-B c). Default: the spec's.")
@click.option("--lr-schedule", type=click.Choice(["step", "cosine", "linear-cooldown"]),
              help="LR decay, stepped after each epoch: step = x --gamma at each of "
              "--milestones; cosine = from --lr down to 1% of it over --epochs; "
              "linear-cooldown = constant for half the --epochs, then linearly towards 0 "
              "(Hinton's MNIST recipe). Default: the spec's (step).")
@click.option("--milestones", type=EpochList(),
              help="Step schedule: epochs to decay at, comma-separated, e.g. 25,35,45.")
@click.option("--gamma", type=FiniteFloat(0.0, 1.0),
              help="Step schedule: decay factor, in (0, 1].")
@click.option("--loss", metavar="NAME",
              help="Local loss of each block. Improved FF: cwc = channel-wise competitive "
              "(cross-entropy of the channel-group goodness, paper eq. 3; the default), "
              "symba = SymBa softplus(-4 (g_pos - g_neg)) against the hardest wrong class. "
              "Original FF: ff (eq. 1).")
@click.option("--augment", type=click.Choice(["none", "basic", "strong"]), is_flag=False,
              flag_value="basic", default=None,
              help="Training-batch augmentation: basic = random crop (pad 4) + flip (also "
              "plain --augment), strong = basic + cutout (an 8x8 square on 32x32 images); "
              "none = --no-augment. Default: the spec's.")
@click.option("--no-augment", is_flag=True, hidden=True)  # --augment none, as before 'none'
@click.option("--val-split", type=ValSplitType(),
              help="Validation images per class (int) or fraction (float).")
@click.option("--limit", type=POSITIVE, help="Train on N training images only (a seeded sample).")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@click.option("--threads", type=POSITIVE, help="CPU threads for torch.")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "auto"]), default=None,
              help="bf16 autocast, or fp32; auto (the default for a new run) picks bf16 only "
                   "where it is native (AMX/AVX512-BF16 CPUs, CUDA). A resume keeps the run's.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint "
              "with the settings it was started with: --lr, --batch-size, --routine, --loss, "
              "--lr-schedule, --augment, --limit and --val-split cannot change (another value "
              "is refused); --epochs and the step schedule's milestones still ahead can; "
              "--threads and --device apply to this invocation.")
@click.option("--nproc", type=POSITIVE, help="Train on N processes of this machine "
              "(torch.distributed; as torchrun --nproc-per-node N -m fftoolkit train ...).")
@click.option("--rdzv-port", type=click.IntRange(0, 65535), default=0,
              help="With --nproc: the rendezvous port on 127.0.0.1. Default: a free one.")
@click.option("--parallel", type=click.Choice(["data", "blocks"]), default="data",
              show_default=True,
              help="How ranks share the work: data = each a share of every batch, gradients "
              "averaged (global batch = --batch-size); blocks = each a contiguous group of "
              "blocks, batches pipelined rank to rank (chunks cut at the ranks' boundaries).")
@click.option("--dist-backend", type=click.Choice(["gloo", "nccl"]),
              help="Process-group backend. Default: gloo on CPU, nccl on CUDA.")
@click.option("--ghost-batches", type=POSITIVE, default=1, hidden=True)  # data mode's reference
@click.option("--pipeline-stages", type=POSITIVE, default=1, hidden=True)  # blocks mode's
def train(model: str, out: str | None, nproc: int | None, rdzv_port: int, **options) -> None:
    """Train MODEL (a zoo name or a spec .yaml) with local Forward-Forward updates.

    Writes OUT/last.pt after every epoch (atomic, resumable) and OUT/metrics.jsonl.
    """
    from fftoolkit.train import TrainConfig
    from fftoolkit.train import train as run_training
    from fftoolkit.train.distributed import is_main_process, launched_ranks

    out = out or f"runs/{model}"
    if options.pop("no_augment"):
        if options["augment"] not in (None, "none"):
            raise FFTKError(f"--no-augment contradicts --augment {options['augment']}")
        options["augment"] = "none"
    if nproc:
        if launched_ranks() > 1:
            raise FFTKError("--nproc starts its own ranks; under torchrun leave it out")
        from fftoolkit.train.launch import launch_local

        command = [sys.executable, "-m", "fftoolkit", "train", *_rank_args(model, out, options)]
        launch_local(nproc, rdzv_port, command, out)  # rank 0 prints the checkpoint's path
        return
    cfg = TrainConfig(model=model, out=out, **options)
    try:
        path = run_training(cfg)
    except KeyboardInterrupt:
        raise FFTKError(f"interrupted; the last complete checkpoint is in {cfg.out} "
                        "(continue with --resume)") from None
    if is_main_process():
        click.echo(f"checkpoint: {path}")


def _rank_args(model: str, out: str, options: dict[str, object]) -> list[str]:
    """The `fftk train` arguments each rank gets: these options, the launcher's own left out."""
    args = [model, "--out", out]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            args.append(flag)
        elif isinstance(value, list):
            args += [flag, ",".join(map(str, value))]
        elif value is not None and value is not False:
            args += [flag, str(value)]
    return args


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
@click.option("--val-split", type=ValSplitType(),
              help="Validation images per class (int) or fraction (float).")
@click.option("--limit", type=POSITIVE,
              help="Evaluate N images drawn at random (seeded: the same N as fftk run --limit).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def evaluate(checkpoint: str, dataset: str, split: str, inference: str,
             val_split: float | int | None, limit: int | None, as_json: bool) -> None:
    """Error % of CHECKPOINT per inference mode on a dataset split, and the time it took."""
    from fftoolkit.train import evaluate_checkpoint

    result = evaluate_checkpoint(checkpoint, dataset, split, inference, val_split, limit)
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
