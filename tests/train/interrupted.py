"""A training run killed in the middle of an epoch, for the resume tests."""

from __future__ import annotations

import pytest

import fftoolkit.train.loop as loop
from fftoolkit.train import TrainConfig, train


class Crash(Exception):
    """Stands for a kill in the middle of a run."""


def run_killed_in_epoch(monkeypatch: pytest.MonkeyPatch, cfg: TrainConfig, epoch: int) -> None:
    """Run `cfg` and stop it inside epoch `epoch` (1-based), once `epoch - 1` epochs are
    checkpointed: what a resume starts from after a kill."""
    validate, calls = loop._validate, []

    def crash(*args):
        calls.append(1)
        if len(calls) == epoch:
            raise Crash
        return validate(*args)

    with monkeypatch.context() as patch:
        patch.setattr(loop, "_validate", crash)
        with pytest.raises(Crash):
            train(cfg, progress=False)
