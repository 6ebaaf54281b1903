"""`fftk train --lr-schedule step|cosine`: how the LR of every block and the head decays.

Both step once per epoch, after it, so the LR an epoch trains with depends only on how many
epochs are done, and a checkpoint (written between epochs) holds the whole schedule state: a
resumed run continues the LR sequence of an uninterrupted one.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, MultiStepLR

from fftoolkit.errors import FFTKError

COSINE_FLOOR = 0.01  # the LR a cosine run ends on, as a fraction of --lr


class CosineDecay:
    """The LR factor after `epoch` of `epochs` epochs: floor + (1 - floor)(1 + cos(pi e/E)) / 2,
    from 1 at the start to `floor` after the last epoch (cosine annealing without restarts,
    Loshchilov & Hutter 2017).

    An object, not a closure: LambdaLR keeps its attributes in the scheduler's state, so the
    checkpoint records the span the run decays over.
    """

    def __init__(self, epochs: int, floor: float = COSINE_FLOOR):
        self.epochs = epochs
        self.floor = floor

    def __call__(self, epoch: int) -> float:
        t = min(epoch, self.epochs) / self.epochs
        return self.floor + (1.0 - self.floor) * (1.0 + math.cos(math.pi * t)) / 2.0


class StepSchedule:
    """MultiStepLR: the LR times `gamma` at each milestone epoch (the paper's recipe)."""

    takes_milestones = True

    @staticmethod
    def make(optimizer: torch.optim.Optimizer, cfg: Any) -> LRScheduler:
        return MultiStepLR(optimizer, cfg.milestones, cfg.gamma)

    @staticmethod
    def resume(schedulers: list[Any], cfg: Any, done_epochs: int) -> None:
        """Take the resumed run's milestones and gamma; only those still ahead may change."""
        old = sorted(schedulers[0].milestones.elements())
        passed_old = [m for m in old if m <= done_epochs]
        passed_new = [m for m in cfg.milestones if m <= done_epochs]
        if passed_old != passed_new or (passed_old and cfg.gamma != schedulers[0].gamma):
            raise FFTKError(f"cannot change milestones {old} to {cfg.milestones} after epoch "
                            f"{done_epochs}: only milestones still ahead may change")
        for s in schedulers:
            s.milestones = Counter(cfg.milestones)
            s.gamma = cfg.gamma


class CosineSchedule:
    """Cosine decay from --lr to COSINE_FLOOR x --lr over the run's --epochs."""

    takes_milestones = False

    @staticmethod
    def make(optimizer: torch.optim.Optimizer, cfg: Any) -> LRScheduler:
        return LambdaLR(optimizer, CosineDecay(cfg.epochs))

    @staticmethod
    def resume(schedulers: list[Any], cfg: Any, done_epochs: int) -> None:
        """The span is fixed when the run starts: another --epochs would bend the curve."""
        span = schedulers[0].lr_lambdas[0].epochs
        if cfg.epochs != span:
            raise FFTKError(f"cannot change --epochs from {span} to {cfg.epochs} after epoch "
                            f"{done_epochs} of a --lr-schedule cosine run: its LR decays over "
                            f"{span} epochs (resume with --epochs {span}, or start a new run)")


SCHEDULES: dict[str, type[StepSchedule] | type[CosineSchedule]] = {
    "step": StepSchedule,
    "cosine": CosineSchedule,
}
