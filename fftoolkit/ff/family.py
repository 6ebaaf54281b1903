"""One object per FF algorithm: every choice that differs between them above the network.

The trainer, the evaluator and the torch reference ask `family_of(spec)` instead of testing
`spec.algorithm`. Which network an algorithm trains is one line of
`fftoolkit.models.spec.ALGORITHMS` ("channel-groups" or "label-overlay"); the models build it
and the exporter exports it by that kind. Adding an FF variant that trains one of those
networks (a new loss, negative data or predictor): one module defining its objective,
predictor and `Family` with `register_family`, plus its line in `ALGORITHMS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from fftoolkit.errors import FFTKError
from fftoolkit.ff.objectives import ImprovedObjective, OriginalObjective
from fftoolkit.ff.predict import ImprovedPredictor, OriginalPredictor


@dataclass(frozen=True)
class Family:
    name: str
    objective: Callable[[nn.Module], Any]  # training inputs, block losses, head logits
    predictor: Callable[[nn.Module], nn.Module]  # (logits, goodness) for a float batch
    # channels-last activations: oneDNN's faster CPU convolutions (~1.4x for the CNN blocks)
    channels_last: bool
    # normalise inputs with the training split's per-channel mean/std; otherwise keep pixels
    # on [0, 1], the scale the label overlays are drawn on
    pixel_statistics: bool
    # the head reads only the block outputs of the training pass, so `--parallel blocks` can
    # run it on the last stage (original FF's head takes a neutral-label pass through all)
    block_pipeline: bool = False


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


register_family(Family("improved", ImprovedObjective, ImprovedPredictor, channels_last=True,
                       pixel_statistics=True, block_pipeline=True))
register_family(Family("original", OriginalObjective, OriginalPredictor, channels_last=False,
                       pixel_statistics=False))
