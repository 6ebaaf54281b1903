"""One object per FF algorithm: every choice that differs between them above the network.

The trainer, the evaluator and the torch reference ask `family_of(spec)` instead of testing
`spec.algorithm`. Which network an algorithm trains is one line of
`fftoolkit.models.spec.ALGORITHMS` ("channel-groups" or "label-overlay"); the models build it
and the exporter exports it by that kind. Adding an FF variant that trains one of those
networks (negative data, a predictor): one module defining its objective, predictor and
`Family` with `register_family`, plus its line in `ALGORITHMS`. A new local loss for an existing
family is one entry in its `losses` table, chosen per run with `fftk train --loss NAME`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from fftoolkit.errors import FFTKError
from fftoolkit.ff.losses import channelwise_loss, channelwise_symba_loss, ff_loss
from fftoolkit.ff.objectives import ImprovedObjective, OriginalObjective
from fftoolkit.ff.predict import ImprovedPredictor, OriginalPredictor


@dataclass(frozen=True)
class Family:
    name: str
    # training inputs, block losses, head logits: objective(net, one of `losses`)
    objective: Callable[[nn.Module, Callable[..., torch.Tensor]], Any]
    predictor: Callable[[nn.Module], nn.Module]  # (logits, goodness) for a float batch
    # `fftk train --loss` name -> the block loss the objective minimises (the first is the
    # default); each takes what this family's objective computes from a block's output
    losses: Mapping[str, Callable[..., torch.Tensor]]
    # channels-last activations: oneDNN's faster CPU convolutions (~1.4x for the CNN blocks)
    channels_last: bool
    # normalise inputs with the training split's per-channel mean/std; otherwise keep pixels
    # on [0, 1], the scale the label overlays are drawn on
    pixel_statistics: bool
    # the head reads only the block outputs of the training pass, so `--parallel blocks` can
    # run it on the last stage (original FF's head takes a neutral-label pass through all)
    block_pipeline: bool = False

    def loss_name(self, name: str | None) -> str:
        """The loss a run trains with: `name`, checked, or the family's default."""
        if name is None:
            return next(iter(self.losses))
        if name not in self.losses:
            raise FFTKError(f"--loss must be one of {', '.join(self.losses)} for the {self.name} "
                            f"FF, got {name!r}")
        return name


FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    FAMILIES[family.name] = family
    return family


def family_of(spec: Any) -> Family:
    """The family of a ModelSpec (or of its `algorithm` name)."""
    name = spec if isinstance(spec, str) else spec.algorithm
    if name not in FAMILIES:
        raise FFTKError(f"unknown FF algorithm {name!r} (known: {', '.join(FAMILIES)})")
    return FAMILIES[name]


register_family(Family("improved", ImprovedObjective, ImprovedPredictor,
                       {"cwc": channelwise_loss, "symba": channelwise_symba_loss},
                       channels_last=True, pixel_statistics=True, block_pipeline=True))
register_family(Family("original", OriginalObjective, OriginalPredictor, {"ff": ff_loss},
                       channels_last=False, pixel_statistics=False))
