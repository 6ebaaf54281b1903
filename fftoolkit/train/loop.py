"""The training loop: local (forward-only between chunks) updates, one Adam per block.

`_train` reads top to bottom: start or resume -> data -> network, optimisers and RNGs -> for
each epoch: shuffle, per batch train every chunk of the routine's schedule and the one-pass
head, then validate, log, checkpoint.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from contextlib import ExitStack
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from fftoolkit.atomic import atomic_path
from fftoolkit.data.dataset import Dataset, check_dataset_fits
from fftoolkit.errors import FFTKError
from fftoolkit.ff import chunk_schedule, pipeline_cuts
from fftoolkit.ff.family import family_of
from fftoolkit.ff.objectives import head_loss, make_objective
from fftoolkit.ff.predict import to_float
from fftoolkit.models import build_network_from_state, create_model, load_spec
from fftoolkit.models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from fftoolkit.models.spec import (
    AUGMENTS,
    LR_SCHEDULES,
    ROUTINES,
    ModelSpec,
    augment_level,
    spec_from_dict,
)
from fftoolkit.sampling import seeded_subset
from fftoolkit.train.augment import AUGMENTATIONS
from fftoolkit.train.distributed import BACKENDS, PARALLEL_MODES, World, join_world
from fftoolkit.train.evaluate import error_rates
from fftoolkit.train.memory import peak_device_mb, ru_maxrss_mb
from fftoolkit.train.pipeline import Pipeline, check_blocks, check_resume
from fftoolkit.train.precision import PRECISIONS, autocast, resolve, resumed
from fftoolkit.train.runlock import run_lock
from fftoolkit.train.schedule import SCHEDULES


@dataclass
class TrainConfig:
    """Every knob of a run; `None` means "take it from the model spec"."""

    model: str
    dataset: str | None = None
    out: str = "runs/run"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    routine: str | None = None
    milestones: list[int] | None = None
    gamma: float | None = None
    augment: str | bool | None = None  # none | basic | strong (true/false: basic/none)
    loss: str | None = None  # a loss of the model's family (fftoolkit.ff.family); stored resolved
    lr_schedule: str | None = None  # step | cosine
    seed: int = 0
    device: str = "auto"
    val_split: float | int | None = None
    limit: int | None = None  # train on N images only, a seeded subset (smoke tests, quick looks)
    threads: int | None = None
    precision: str | None = None  # fp32 | bf16 | auto (None: auto); stored resolved
    resume: bool = False
    # how this invocation runs, not what the run is: never saved, never taken from a checkpoint
    parallel: str = "data"  # how ranks share the work when a launcher started several
    dist_backend: str | None = None  # None: gloo on CPU, NCCL on CUDA
    ghost_batches: int = 1  # BatchNorm sees each batch as N sub-batches (data mode's reference)
    pipeline_stages: int = 1  # chunks cut as for N block ranks (blocks mode's reference)

    def resolved(self, spec: ModelSpec) -> TrainConfig:
        """Fill unset fields from the spec's training schedule."""
        t = spec.train
        return replace(
            self,
            dataset=self.dataset or t.dataset,
            epochs=self.epochs or t.epochs,
            batch_size=self.batch_size or t.batch_size,
            lr=self.lr or t.lr,
            routine=self.routine or t.routine,
            milestones=list(self.milestones if self.milestones is not None else t.milestones),
            gamma=self.gamma if self.gamma is not None else t.gamma,
            augment=augment_level(t.augment if self.augment is None else self.augment),
            loss=family_of(spec).loss_name(self.loss if self.loss is not None else t.loss),
            lr_schedule=self.lr_schedule or t.lr_schedule,
        )


# metrics fields that differ between two identical runs (time and memory, not what was learnt)
MACHINE_FIELDS = ("epoch_seconds", "images_per_s", "data_wait_pct", "ru_maxrss_mb",
                  "ru_maxrss_mb_per_rank", "peak_device_mb")
LAUNCH_FIELDS = ("resume", "parallel", "dist_backend", "ghost_batches", "pipeline_stages")
# what the run is: a resume keeps the saved value and refuses another one given with it
FIXED_ON_RESUME = ("lr", "batch_size", "routine", "augment", "loss", "lr_schedule", "limit",
                   "val_split")
DEVICES = ("auto", "cpu", "cuda")
MAX_SEED = 2**32 - 1  # numpy's default_rng and torch.manual_seed both take 0..2**32-1


def check_config(cfg: TrainConfig) -> None:
    """Refuse settings that would crash mid-run or silently fall back to the spec's value
    (`epochs=0` used to mean "the spec's epochs"), naming the option as the CLI spells it."""
    for key in ("epochs", "batch_size", "limit", "threads", "ghost_batches", "pipeline_stages"):
        value = getattr(cfg, key)
        if value is not None and not _is_int(value, low=1):
            raise FFTKError(f"{_flag(key)} must be a whole number >= 1, got {value!r}")
    if cfg.lr is not None and not (_is_finite(cfg.lr) and cfg.lr > 0):
        raise FFTKError(f"--lr must be a finite number above 0, got {cfg.lr!r}")
    if cfg.gamma is not None and not (_is_finite(cfg.gamma) and 0 < cfg.gamma <= 1):
        raise FFTKError(f"--gamma must be a number in (0, 1], got {cfg.gamma!r}")
    if cfg.milestones is not None and not (
            isinstance(cfg.milestones, list) and all(_is_int(m, low=1) for m in cfg.milestones)):
        raise FFTKError(f"--milestones must be epochs >= 1, got {cfg.milestones!r}")
    if not _is_int(cfg.seed, low=0, high=MAX_SEED):
        raise FFTKError(f"--seed must be a whole number from 0 to {MAX_SEED}, got {cfg.seed!r}")
    _check_choices(cfg)


def _check_choices(cfg: TrainConfig) -> None:
    """The text and flag settings (the CLI's types check them too; a checkpoint's may not)."""
    if not isinstance(cfg.model, str) or not (cfg.dataset is None or isinstance(cfg.dataset, str)):
        raise FFTKError(f"model and --dataset must be text, got {cfg.model!r}, {cfg.dataset!r}")
    if cfg.routine is not None and cfg.routine not in ROUTINES:
        raise FFTKError(f"--routine must be one of {', '.join(ROUTINES)}, got {cfg.routine!r}")
    if cfg.device not in DEVICES:
        raise FFTKError(f"--device must be one of {', '.join(DEVICES)}, got {cfg.device!r}")
    if cfg.parallel not in PARALLEL_MODES:
        raise FFTKError(f"--parallel must be one of {', '.join(PARALLEL_MODES)}, "
                        f"got {cfg.parallel!r}")
    if cfg.dist_backend is not None and cfg.dist_backend not in BACKENDS:
        raise FFTKError(f"--dist-backend must be one of {', '.join(BACKENDS)}, "
                        f"got {cfg.dist_backend!r}")
    if cfg.augment is not None and not isinstance(cfg.augment, bool) \
            and cfg.augment not in AUGMENTS:
        raise FFTKError(f"--augment must be one of {', '.join(AUGMENTS)}, got {cfg.augment!r}")
    if cfg.loss is not None and not isinstance(cfg.loss, str):
        raise FFTKError(f"--loss must be a loss name, got {cfg.loss!r}")
    if cfg.lr_schedule is not None and cfg.lr_schedule not in LR_SCHEDULES:
        raise FFTKError(f"--lr-schedule must be one of {', '.join(LR_SCHEDULES)}, "
                        f"got {cfg.lr_schedule!r}")
    if cfg.precision is not None and cfg.precision not in PRECISIONS:
        raise FFTKError(f"--precision must be one of {', '.join(PRECISIONS)}, "
                        f"got {cfg.precision!r}")


def _is_int(value: object, low: int, high: int | None = None) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low \
        and (high is None or value <= high)


def _is_finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _resumed_config(cfg: TrainConfig, saved: object, ckpt_path: Path) -> TrainConfig:
    """The saved run's settings (only the schedule's future may change), checked field by field:
    a checkpoint's `train_args` is data from a file, not trusted keyword arguments."""
    known = {f.name for f in fields(TrainConfig)} - set(LAUNCH_FIELDS)
    if not isinstance(saved, dict) or not {"model", "epochs"} <= set(saved) <= known:
        extra = sorted(set(saved) - known) if isinstance(saved, dict) else []
        what = f"unknown key {extra[0]!r}" if extra else "missing 'model' or 'epochs'"
        raise FFTKError(f"{ckpt_path}: checkpoint field 'train_args' is not a saved run "
                        f"({what}); start a new run instead of --resume")
    resumed = replace(
        TrainConfig(**saved, **{k: getattr(cfg, k) for k in LAUNCH_FIELDS}),
        epochs=cfg.epochs or saved["epochs"],
        milestones=saved.get("milestones") if cfg.milestones is None else cfg.milestones,
        gamma=saved.get("gamma") if cfg.gamma is None else cfg.gamma,
        # where and on how many threads this invocation runs: the one given, else the saved one
        threads=cfg.threads or saved.get("threads"),
        device=saved.get("device", "auto") if cfg.device == "auto" else cfg.device,
        precision=saved.get("precision") or "fp32",  # runs from before --precision: fp32
    )
    try:
        check_config(resumed)
    except FFTKError as exc:
        raise FFTKError(f"{ckpt_path}: checkpoint field 'train_args': {exc}") from None
    return resumed


def pick_device(name: str, index: int = 0) -> torch.device:
    """The device by name; a CUDA rank takes GPU `index` (its local rank)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise FFTKError("--device cuda: no CUDA device is available (use --device cpu)")
    return torch.device("cuda", index) if name == "cuda" else torch.device(name)


def make_optimizer(name: str, params: Any, lr: float, weight_decay: float,
                   momentum: float) -> torch.optim.Optimizer:
    """The spec's `train.optimizer`: Adam (the paper's), or SGD with momentum (Hinton's ffcode
    and the reimplementations that reach his MNIST error use it with weight decay)."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


class Trainer:
    """Holds the network, one optimiser + LR schedule per block, and the head's optimiser."""

    def __init__(self, net: nn.Module, cfg: TrainConfig, device: torch.device,
                 world: World | None = None):
        family = family_of(net.spec)
        self.memory_format = (torch.channels_last if family.channels_last
                              else torch.contiguous_format)
        self.net = net.to(device, memory_format=self.memory_format)
        self.cfg = cfg
        self.device = device
        self.world = world or World()
        self.objective = make_objective(net, cfg.loss)
        units = net.units
        t = net.spec.train
        self.optimizers = [make_optimizer(t.optimizer, u.parameters(), cfg.lr, t.weight_decay,
                                          t.momentum) for u in units]
        self.head_optimizer = make_optimizer(t.optimizer, net.head.parameters(),
                                             t.head_lr or cfg.lr, t.head_weight_decay, t.momentum)
        self.schedule = SCHEDULES[cfg.lr_schedule]
        self.schedulers = [self.schedule.make(o, cfg)
                           for o in [*self.optimizers, self.head_optimizer]]
        self.step = 0  # global iteration: its parity is the chunked routine's phase
        self.precision = cfg.precision or "fp32"
        # what this process trains: every block and the head, or one stage of the block
        # pipeline (`fftoolkit.train.pipeline` narrows these); chunks never straddle a cut
        self.blocks = range(len(units))
        self.has_head = True
        self.cuts = pipeline_cuts(len(units), cfg.pipeline_stages)

    def train_step(self, x: torch.Tensor | None, labels: torch.Tensor,
                   generator: torch.Generator, parts: list[slice] | None = None,
                   received: torch.Tensor | None = None
                   ) -> tuple[list[float], torch.Tensor | None, list[torch.Tensor | None]]:
        """One iteration over every chunk of `self.blocks`; returns per-block losses (0 for the
        blocks of other stages), head logits (None without the head), features (None where
        this process did not compute them).

        `parts`: the rows this process computes, each normalised by BatchNorm on its own, their
        losses averaged (default: the whole batch as one). The random draws (negatives) are made
        for the whole batch, so every rank draws alike and its generator stays in step. The
        logits and features returned are those of the parts' rows, in order. Forwards run under
        the run's autocast (bf16 or none); backward and the optimisers stay fp32.

        A later pipeline stage has no `x`: `received` is the (detached) output of the block
        before its first, computed by the previous stage in this same step.
        """
        n = len(labels)
        parts = parts or [slice(0, n)]
        outputs: list[dict[int, torch.Tensor]] = [{} for _ in parts]
        inputs = None
        if self.blocks.start == 0:
            with autocast(self.precision, self.device):
                inputs = self.objective.inputs(x, labels, generator)
        else:
            assert received is not None and len(parts) == 1, "a later stage takes one input"
            outputs[0][self.blocks.start - 1] = received
        num_units = len(self.net.units)
        losses = [0.0] * num_units
        for chunk in chunk_schedule(num_units, self.step, self.cfg.routine, self.cuts):
            first = chunk.blocks[0]
            if first not in self.blocks:
                continue  # another stage's chunk (cut chunks lie in one stage)
            chunk_loss = torch.zeros((), device=self.device)
            for out, rows in zip(outputs, parts, strict=True):
                h = self.objective.part(inputs, n, rows) if first == 0 else out[first - 1]
                h = h.detach()  # chunk boundary: no gradient flows to earlier blocks
                with autocast(self.precision, self.device):
                    for i in chunk.blocks:
                        h = self.net.forward_unit(i, h)
                        out[i] = h
                        if i in chunk.loss_blocks:
                            loss = self.objective.block_loss(h, labels[rows], i) / len(parts)
                            losses[i] += float(loss.detach())
                            chunk_loss = chunk_loss + loss
            for i in chunk.blocks:
                self.optimizers[i].zero_grad(set_to_none=True)
            chunk_loss.backward()  # frees this chunk's graph at once
            self.world.average_gradients(
                p for i in chunk.blocks for p in self.net.units[i].parameters())
            for i in chunk.blocks:
                self.optimizers[i].step()
            for out in outputs:  # later chunks read detached copies only
                for i in chunk.blocks:
                    out[i] = out[i].detach()
        self.step += 1
        feats = [torch.cat([out[i] for out in outputs]) if i in outputs[0] else None
                 for i in range(num_units)]
        if not self.has_head:
            return losses, None, feats
        return losses, self._train_head(x, labels, parts, outputs), feats

    def _train_head(self, x: torch.Tensor | None, labels: torch.Tensor, parts: list[slice],
                    outputs: list[dict[int, torch.Tensor]]) -> torch.Tensor:
        """One step of the one-pass head on this step's detached features; its logits."""
        logits = []
        loss = torch.zeros((), device=self.device)
        for out, rows in zip(outputs, parts, strict=True):
            with autocast(self.precision, self.device):
                logits.append(self.objective.head_logits(
                    None if x is None else x[rows],
                    [out.get(i) for i in range(len(self.net.units))]))
                loss = loss + head_loss(logits[-1], labels[rows]) / len(parts)
        self.head_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.world.average_gradients(self.net.head.parameters())
        self.head_optimizer.step()
        return torch.cat(logits).detach()

    def end_epoch(self) -> None:
        with warnings.catch_warnings():  # a pipeline stage never steps other stages' blocks
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step")
            for s in self.schedulers:
                s.step()

    def reschedule(self, cfg: TrainConfig, done_epochs: int) -> None:
        """The LR schedule of a resumed run, as its settings say; only the future may change."""
        self.schedule.resume(self.schedulers, cfg, done_epochs)

    def state(self) -> dict[str, Any]:
        return {
            "optimizers": [o.state_dict() for o in self.optimizers],
            "head_optimizer": self.head_optimizer.state_dict(),
            "schedulers": [s.state_dict() for s in self.schedulers],
            "step": self.step,
            "objective": self.objective.state(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        for o, s in zip(self.optimizers, state["optimizers"], strict=True):
            o.load_state_dict(s)
        self.head_optimizer.load_state_dict(state["head_optimizer"])
        for sch, s in zip(self.schedulers, state["schedulers"], strict=True):
            sch.load_state_dict(s)
        self.step = int(state["step"])
        self.objective.load_state(state.get("objective", {}))


def _train_error(trainer: Trainer, logits: torch.Tensor, feats: list[torch.Tensor],
                 labels: torch.Tensor) -> tuple[int, int]:
    """Mistakes of both modes on the training batch just seen (-1: not measured on train)."""
    one = int((logits.argmax(1) != labels).sum())
    return one, trainer.objective.multi_pass_mistakes(feats, labels)


def _check_resumable(ckpt: Checkpoint, ckpt_path: Path) -> None:
    """A checkpoint to resume from holds the trainer's state too; weights-only ones do not."""
    for key, kind in (("trainer", dict), ("rng", dict), ("metrics", list), ("train_args", dict)):
        if not isinstance(getattr(ckpt, key), kind):
            raise FFTKError(f"{ckpt_path}: checkpoint field '{key}' is missing or not a "
                            f"{kind.__name__}: not a resumable training checkpoint")


def _restore(trainer: Trainer, generator: torch.Generator, ckpt: Checkpoint,
             ckpt_path: Path) -> None:
    """Optimiser, schedule and RNG states of a resumed run; a mismatch names the file."""
    try:
        trainer.load_state(ckpt.trainer)
        generator.set_state(ckpt.rng["generator"])
        torch.set_rng_state(ckpt.rng["torch"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise FFTKError(f"{ckpt_path}: checkpoint fields 'trainer'/'rng' do not fit this "
                        f"model ({first})") from None


def _check_not_empty(cfg: TrainConfig, n_train: int, n_val: int) -> None:
    """Training needs images, and each epoch measures the validation error: refuse empty splits
    up front instead of failing after the first epoch."""
    if n_train == 0:
        raise FFTKError(f"{cfg.dataset}: the training split is empty")
    if n_val == 0:
        given = "the default --val-split" if cfg.val_split is None else \
            f"--val-split {cfg.val_split}"
        raise FFTKError(f"{cfg.dataset}: the validation split is empty ({given} takes no "
                        "images); every epoch reports the validation error, so pass a larger "
                        "--val-split or give the dataset a val/ folder")


def _save(out: Path, ckpt_path: Path, metrics: list[dict[str, Any]], ckpt: Checkpoint) -> None:
    """Checkpoint, then metrics.jsonl, both atomic; a failed write is one line, not a trace."""
    try:
        save_checkpoint(ckpt_path, ckpt)
        _write_metrics(out / "metrics.jsonl", metrics)
    except OSError as exc:
        raise FFTKError(f"{out}: cannot write the run ({exc.strerror or exc}); the previous "
                        "checkpoint, if any, is intact") from None


def _write_metrics(path: Path, metrics: list[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(m) + "\n" for m in metrics))


def train(cfg: TrainConfig, progress: bool = True) -> Path:
    """Run (or resume) training; returns the path of the last checkpoint.

    Under a launcher every rank calls this: rank 0 alone locks the run directory, shows
    progress and writes the checkpoint and metrics.jsonl.
    """
    world = join_world(cfg.device, cfg.dist_backend)
    try:
        world.check_same(asdict(cfg))
        with ExitStack() as lock:
            with world.agreed():
                check_config(cfg)
                if world.is_main:
                    lock.enter_context(run_lock(Path(cfg.out)))
            return _train(cfg, world, progress and world.is_main)
    finally:
        world.close()


def _train(cfg: TrainConfig, world: World, progress: bool) -> Path:
    out = Path(cfg.out)
    ckpt_path = out / "last.pt"
    requested_precision = cfg.precision

    with world.agreed():
        # -- start or resume: the spec and settings of this run -------------------------------
        cfg, spec, saved = _start_or_resume(cfg, out, ckpt_path)  # saved: None for a new run
        blocks_mode = cfg.parallel == "blocks" and world.size > 1
        if blocks_mode or cfg.pipeline_stages > 1:
            check_blocks(spec, world, cfg.pipeline_stages, cfg.ghost_batches)
            if saved and blocks_mode:
                check_resume(saved.metrics or [], world)
        else:
            _check_split(cfg, world)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        device = pick_device(cfg.device, world.local_rank)
        cfg = replace(cfg, precision=resolve(requested_precision or "auto", device)
                      if saved is None
                      else resumed(cfg.precision, requested_precision, device, ckpt_path))

        # -- data: the training subset, the val split, the input normalisation -----------------
        data = _load_data(cfg, spec, saved)

    # -- network, optimisers, RNGs: fresh from the seed, or exactly where the checkpoint was ---
    torch.manual_seed(cfg.seed)  # the network's initial weights
    net = build_network_from_state(saved) if saved else create_model(spec)
    # data mode averages the ranks' gradients in the trainer; blocks mode trains one stage
    trainer = Trainer(net, cfg, device, None if blocks_mode else world)
    pipeline = Pipeline(trainer, world) if blocks_mode else None
    world.broadcast_state(trainer.net)
    generator = torch.Generator().manual_seed(cfg.seed)  # shuffles, negatives, augmentation
    metrics: list[dict[str, Any]] = []
    if saved:
        _restore(trainer, generator, saved, ckpt_path)
        try:
            trainer.reschedule(cfg, done_epochs=saved.epochs_done)
        except FFTKError as exc:
            raise FFTKError(f"{ckpt_path}: {exc}") from None
        metrics = saved.metrics or []

    train_args = {k: v for k, v in asdict(cfg).items() if k not in LAUNCH_FIELDS}
    for epoch in range(len(metrics), cfg.epochs):
        # -- epoch: one shuffled pass over the training subset, every block and the head ------
        sent_before = world.sent_bytes
        fit = _train_epoch(trainer, data, generator, cfg, epoch, progress, world, pipeline)
        if pipeline:  # every rank gets every block (validation), rank 0 every optimiser
            pipeline.end_epoch()
        else:
            world.average_buffers(net)  # BatchNorm statistics ran per rank
        sent = world.sent_bytes - sent_before

        # -- validate and log: both inference modes on the val split --------------------------
        val_one, val_multi = _validate(net, data, device, world)
        per_rank = world.per_rank([float(sent), ru_maxrss_mb()])  # (bytes, MiB) by rank
        record = {
            "epoch": epoch + 1,
            "loss_per_block": fit.loss_per_block,
            "train_one_pass_error": fit.one_pass_error,
            "train_multi_pass_error": fit.multi_pass_error,
            "val_one_pass_error": round(val_one, 3),
            "val_multi_pass_error": round(val_multi, 3),
            "lr": trainer.schedulers[0].get_last_lr()[0],
            "epoch_seconds": round(fit.seconds, 2),
            "data_wait_pct": round(100 * fit.data_seconds / max(fit.seconds, 1e-9), 2),
            "world_size": world.size,
            "pipeline_stages": world.size if pipeline else cfg.pipeline_stages,
            "images_per_s": round(fit.images / fit.seconds, 1),
            "ru_maxrss_mb": round(per_rank[world.rank][1], 1),
            # training payload each rank sent (fftoolkit.train.distributed) per image trained
            "sent_bytes_per_image": [round(b / max(fit.images, 1), 1) for b, _ in per_rank],
            "ru_maxrss_mb_per_rank": [round(mb, 1) for _, mb in per_rank],
            "peak_device_mb": peak_device_mb(device),
        }
        metrics.append(record)
        if not world.is_main:  # every rank holds the same state: rank 0 writes it
            continue

        # -- checkpoint: weights and everything a resume needs, then metrics.jsonl ------------
        _save(out, ckpt_path, metrics, Checkpoint(
            spec=spec.to_dict(), classes=data.classes, normalization=data.norm,
            model={k: v.detach().cpu() for k, v in net.state_dict().items()},
            trainer=trainer.state(),
            rng={"generator": generator.get_state(), "torch": torch.get_rng_state()},
            metrics=metrics, train_args=train_args))
        if progress:
            tqdm.write(
                f"epoch {epoch + 1}/{cfg.epochs}  loss {sum(record['loss_per_block']):.4f}  "
                f"train err {record['train_one_pass_error']:.2f}%  val err one-pass "
                f"{val_one:.2f}% multi-pass {val_multi:.2f}%  ({fit.seconds:.0f}s)"
            )
    if pipeline:
        pipeline.close()
    return ckpt_path


def _check_split(cfg: TrainConfig, world: World) -> None:
    """Every sub-batch of a step has the same size, so averaging their losses (or the ranks'
    gradients) is the mean over the whole batch."""
    if world.size > 1 and cfg.ghost_batches > 1:
        raise FFTKError("--ghost-batches is the single-process reference of data mode; "
                        "leave it out when running on several ranks")
    ways = world.size * cfg.ghost_batches
    if cfg.batch_size % ways:
        who = f"{world.size} ranks" if world.size > 1 else f"{ways} ghost batches"
        raise FFTKError(f"--batch-size {cfg.batch_size} does not split evenly over {who}; "
                        f"pass a multiple of {ways}")


def _validate(net: nn.Module, data: _Data, device: torch.device,
              world: World) -> tuple[float, float]:
    """Both modes' val error; the ranks split the val images and add up their mistakes."""
    net.eval()
    images, labels = data.val.images, data.val.labels
    if world.size == 1:
        return error_rates(net, images, labels, data.norm["mean"], data.norm["std"], device)
    mine = np.array_split(np.arange(len(labels)), world.size)[world.rank]
    wrong = [0.0, 0.0]
    if len(mine):
        rates = error_rates(net, images[mine], labels[mine], data.norm["mean"],
                            data.norm["std"], device)
        wrong = [round(r * len(mine) / 100) for r in rates]
    one, multi = world.sum(wrong)
    return 100.0 * one / len(labels), 100.0 * multi / len(labels)


def _start_or_resume(cfg: TrainConfig, out: Path,
                     ckpt_path: Path) -> tuple[TrainConfig, ModelSpec, Checkpoint | None]:
    """(settings with the spec's defaults filled in, spec, checkpoint to resume or None).

    A new run takes the model and settings given; a resumed run keeps those it was started
    with (from its checkpoint): only the LR schedule's future may change, and a different
    value of a `FIXED_ON_RESUME` setting is refused."""
    if not cfg.resume:
        if ckpt_path.exists():
            raise FFTKError(f"{out}: already holds a run; pass --resume to continue it or choose "
                            "another --out")
        spec = load_spec(cfg.model)
        resolved = cfg.resolved(spec)
        _check_schedule_options(cfg, resolved)
        return resolved, spec, None
    if not ckpt_path.is_file():
        raise FFTKError(f"{ckpt_path}: nothing to resume (no checkpoint in {out})")
    saved = load_checkpoint(ckpt_path)
    _check_resumable(saved, ckpt_path)
    spec = spec_from_dict(saved.spec, source=str(ckpt_path))
    resolved = _resumed_config(cfg, saved.train_args, ckpt_path).resolved(spec)
    for key in FIXED_ON_RESUME:
        given, kept = getattr(cfg, key), getattr(resolved, key)
        if given is not None and (augment_level(given) if key == "augment" else given) != kept:
            raise FFTKError(f"{ckpt_path}: this run trains with {_flag(key)} {kept}; a resume "
                            f"cannot change it (got {_flag(key)} {given}): leave it out, or "
                            "start a new run in another --out")
    _check_schedule_options(cfg, resolved)
    return resolved, spec, saved


def _check_schedule_options(given: TrainConfig, cfg: TrainConfig) -> None:
    """--milestones and --gamma belong to the step schedule: refuse them rather than ignore
    them."""
    if not SCHEDULES[cfg.lr_schedule].takes_milestones and \
            (given.milestones is not None or given.gamma is not None):
        raise FFTKError(f"--milestones and --gamma set the step LR schedule; this run's "
                        f"--lr-schedule {cfg.lr_schedule} decays over --epochs without them")


@dataclass
class _Data:
    """What every epoch reads."""

    images: torch.Tensor  # uint8 (N, H, W, C): the training split, or its seeded --limit subset
    labels: torch.Tensor  # int64 (N,)
    val: Dataset  # the validation split, uint8 images
    classes: list[str]
    norm: dict[str, list[float]]  # per-channel mean and std, in [0, 1] pixel units


def _load_data(cfg: TrainConfig, spec: ModelSpec, saved: Checkpoint | None) -> _Data:
    """Both splits, checked against the model; the normalisation is the saved one on resume."""
    from fftoolkit.data import channel_stats, load_dataset

    train_ds = load_dataset(cfg.dataset, "train", val_split=cfg.val_split)
    val_ds = load_dataset(cfg.dataset, "val", val_split=cfg.val_split)
    check_dataset_fits(spec.input, spec.num_classes, train_ds.classes, train_ds.images,
                       cfg.dataset)
    _check_not_empty(cfg, len(train_ds), len(val_ds))
    keep = seeded_subset(len(train_ds.labels), cfg.limit, cfg.seed)  # class-sorted: no prefix
    if saved:
        norm = saved.normalization
    elif family_of(spec).pixel_statistics:  # statistics of the whole training split
        mean, std = channel_stats(train_ds.images)
        norm = {"mean": mean, "std": std}
    else:  # pixels on [0, 1]: the scale the label overlays are drawn on
        norm = {"mean": [0.0] * spec.input[0], "std": [1.0] * spec.input[0]}
    return _Data(images=torch.from_numpy(train_ds.images[keep]),
                 labels=torch.from_numpy(train_ds.labels[keep]).long(), val=val_ds,
                 classes=list(train_ds.classes), norm=norm)


@dataclass
class _EpochFit:
    """An epoch's training figures, as the metrics record rounds them (seconds unrounded)."""

    loss_per_block: list[float]
    one_pass_error: float
    multi_pass_error: float | None  # original FF: measured on val only
    seconds: float
    data_seconds: float  # of which: making batches (index, normalise, augment, copy)
    images: int  # trained on, by all ranks together


def _train_epoch(trainer: Trainer, data: _Data, generator: torch.Generator, cfg: TrainConfig,
                 epoch: int, progress: bool, world: World,
                 pipeline: Pipeline | None = None) -> _EpochFit:
    """One shuffled pass over the training subset, then the LR schedules' step.

    Data mode: every rank shuffles, decodes and augments the whole batch with the same
    generator (the draws one process would make) and trains its share of the rows; a last batch
    is cut to a multiple of the ranks (or ghost batches), so every share has the same size.
    Blocks mode: the first rank alone draws and makes the batches; the others receive their
    inputs and labels from the rank before, the last rank measures the training error.
    """
    net = trainer.net
    net.train()
    t0 = time.perf_counter()
    draws = pipeline is None or pipeline.first
    order = torch.randperm(len(data.images), generator=generator) if draws else None
    ways = 1 if pipeline else world.size * cfg.ghost_batches
    sums = np.zeros(len(net.units))
    wrong_one = wrong_multi = seen = batches = 0
    data_seconds = 0.0
    bar = tqdm(range(0, len(data.images), cfg.batch_size), desc=f"epoch {epoch + 1}/{cfg.epochs}",
               unit="batch", leave=False, disable=not progress)
    for start in bar:
        t_batch = time.perf_counter()
        n = min(cfg.batch_size, len(data.images) - start)
        if not n - n % ways:
            continue
        x = y = None
        if draws:
            x, y = _batch(data, order[start:start + n - n % ways], generator, cfg, trainer)
        data_seconds += time.perf_counter() - t_batch
        if pipeline:
            losses, logits, feats, y = pipeline.step(x, y, generator)
        else:
            parts = world.parts(len(y), cfg.ghost_batches)
            losses, logits, feats = trainer.train_step(x, y, generator, parts)
            y = y[parts[0].start:parts[-1].stop]  # the rows this process trained
        if logits is not None:  # the head's rank (every rank but in blocks mode)
            e1, e2 = _train_error(trainer, logits, feats, y)
            wrong_one, wrong_multi, seen = wrong_one + e1, wrong_multi + e2, seen + len(y)
        sums += losses
        batches += 1
        shown = {"loss": f"{sum(losses):.3f}"}  # this rank's blocks; the error where the head is
        if seen:
            shown["err"] = f"{100 * wrong_one / seen:.1f}%"
        bar.set_postfix(shown)
        world.step_done(trainer.step)
    trainer.end_epoch()
    *loss_sums, wrong_one, wrong_multi, seen = world.sum([*sums, wrong_one, wrong_multi, seen])
    owners = 1 if pipeline else world.size  # ranks whose losses of one block add up
    return _EpochFit(
        loss_per_block=[round(float(v) / owners, 5) for v in
                        np.asarray(loss_sums) / max(batches, 1)],
        one_pass_error=round(100 * wrong_one / max(seen, 1), 3),
        multi_pass_error=round(100 * wrong_multi / seen, 3) if wrong_multi >= 0 else None,
        seconds=time.perf_counter() - t0, data_seconds=data_seconds, images=int(seen))


def _batch(data: _Data, idx: torch.Tensor, generator: torch.Generator, cfg: TrainConfig,
           trainer: Trainer) -> tuple[torch.Tensor, torch.Tensor]:
    """The images (normalised, augmented) and labels of one batch, on the trainer's device."""
    x = to_float(data.images[idx], data.norm["mean"], data.norm["std"])  # (B, C, H, W)
    augment = AUGMENTATIONS[cfg.augment]
    if augment is not None:
        x = augment(x, generator)
    y = data.labels[idx]
    x = x.to(trainer.device, memory_format=trainer.memory_format, non_blocking=True)
    return x, y.to(trainer.device, non_blocking=True)
