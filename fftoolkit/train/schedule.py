"""`fftk train --lr-schedule step|cosine|linear-cooldown`: how the LR of every block and the
head decays.

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


class LinearCooldown:
    """The LR factor for epoch `epoch` (0-based) of `epochs`: 1 for the first half, then falling
    linearly to 2/`epochs` in the last epoch (Hinton's ffcode; Loewe's reimplementation)."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def __call__(self, epoch: int) -> float:
        return min(1.0, 2.0 * (self.epochs - min(epoch, self.epochs - 1)) / self.epochs)


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

    name = "cosine"
    curve: Any = CosineDecay

    @classmethod
    def make(cls, optimizer: torch.optim.Optimizer, cfg: Any) -> LRScheduler:
        return LambdaLR(optimizer, cls.curve(cfg.epochs))

    @classmethod
    def resume(cls, schedulers: list[Any], cfg: Any, done_epochs: int) -> None:
        """The span is fixed when the run starts: another --epochs would bend the curve."""
        span = schedulers[0].lr_lambdas[0].epochs
        if cfg.epochs != span:
            raise FFTKError(f"cannot change --epochs from {span} to {cfg.epochs} after epoch "
                            f"{done_epochs} of a --lr-schedule {cls.name} run: its LR decays "
                            f"over {span} epochs (resume with --epochs {span}, or start a new "
                            "run)")


class CooldownSchedule(CosineSchedule):
    """Constant --lr for half the run's --epochs, then linear towards 0 (`LinearCooldown`)."""

    name = "linear-cooldown"
    curve = LinearCooldown


SCHEDULES: dict[str, type[StepSchedule] | type[CosineSchedule]] = {
    "step": StepSchedule,
    "cosine": CosineSchedule,
    "linear-cooldown": CooldownSchedule,
}
