"""The torch modules that get exported: per-block graphs, the head, and the fused predictor.

Improved FF: the folded (lean) network of `fold.py`; its graphs expect the input normalised
with block 0's BN merged in. Original FF: the layers as trained (each normalises its input's
length), the fused graph batches the J label overlays itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from fftoolkit.export.fold import fold_network, merged_normalization
from fftoolkit.ff.goodness import channel_goodness
from fftoolkit.ff.overlay import fourier_patterns
from fftoolkit.ff.predict import OriginalPredictor


class FlatHead(nn.Module):
    """logits = Linear(concat of the flattened (NCHW order) features)."""

    def __init__(self, fc: nn.Linear):
        super().__init__()
        self.fc = fc

    def forward(self, *feats: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.cat([f.flatten(1) for f in feats], dim=1))


class LeanImproved(nn.Module):
    """Folded improved-FF inference. `goodness="in-graph"`: (logits, G summed over the last two
    blocks); `"from-features"`: (logits, features_a, features_b) and the runner computes G."""

    def __init__(self, blocks: list[nn.Module], head: FlatHead, groups: int, goodness: str):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.head = head
        self.groups = groups
        self.goodness = goodness

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        a, b = feats[-2:]
        logits = self.head(a, b)
        if self.goodness == "from-features":
            return logits, a, b
        return logits, channel_goodness(a, self.groups) + channel_goodness(b, self.groups)


class OriginalUnit(nn.Module):
    """Layer i of an original-FF network, including the length normalisation of its input."""

    def __init__(self, net: nn.Module, i: int):
        super().__init__()
        self.net = net
        self.i = i

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_unit(self.i, x)


@dataclass
class ExportGraphs:
    """Everything the format exporters need, independent of the format."""

    algorithm: str
    normalization: dict[str, list[float]]  # what the exported graphs expect on [0, 1] pixels
    blocks: list[nn.Module]
    block_inputs: list[tuple[int, ...]]  # per-sample input shape of each block (NCHW order)
    head: nn.Module
    head_blocks: list[int]
    goodness_blocks: list[int]
    fused: dict[str, nn.Module]  # goodness mode ("in-graph" | "from-features") -> module
    multi_pass: dict[str, Any]
    overlay_patterns: torch.Tensor | None = None  # original FF, fourier overlay: (J, H, W)
    feature_names: list[str] = field(default_factory=list)


def _probe_shapes(blocks: list[nn.Module], input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    shapes, x = [], torch.zeros(1, *input_shape)
    with torch.no_grad():
        for block in blocks:
            shapes.append(tuple(x.shape[1:]))
            x = block(x)
    return shapes


def build_graphs(net: nn.Module, normalization: dict[str, list[float]]) -> ExportGraphs:
    """The exportable graphs of a trained network (eval mode, weights frozen)."""
    spec = net.spec
    if spec.algorithm == "improved":
        blocks, fc = fold_network(net)
        head = FlatHead(fc).eval()
        last = len(blocks) - 1
        fused = {mode: LeanImproved(blocks, head, spec.num_classes, mode).eval()
                 for mode in ("in-graph", "from-features")}
        return ExportGraphs(
            algorithm="improved",
            normalization=merged_normalization(net, normalization["mean"], normalization["std"]),
            blocks=blocks, block_inputs=_probe_shapes(blocks, spec.input), head=head,
            head_blocks=[last - 1, last], goodness_blocks=[last - 1, last], fused=fused,
            multi_pass={"kind": "channel-groups", "groups": spec.num_classes},
            feature_names=["features_a", "features_b"],
        )
    units: list[nn.Module] = [OriginalUnit(net, i).eval() for i in range(len(net.layers))]
    later = list(range(1, len(units)))
    patterns = None
    if spec.ff.overlay == "fourier":
        patterns = fourier_patterns(spec.num_classes, spec.input[1], spec.input[2])
    return ExportGraphs(
        algorithm="original", normalization=dict(normalization), blocks=units,
        block_inputs=_probe_shapes(units, spec.input), head=FlatHead(net.head).eval(),
        head_blocks=later, goodness_blocks=later,
        fused={"in-graph": OriginalPredictor(net).eval()},
        multi_pass={"kind": "label-overlay", "overlay": spec.ff.overlay,
                    "num_classes": spec.num_classes, "goodness": spec.ff.goodness,
                    "patterns": "overlay.npy" if patterns is not None else None,
                    "fused_batches_overlays": True},
        overlay_patterns=patterns,
        feature_names=[f"features_{i}" for i in later],
    )
