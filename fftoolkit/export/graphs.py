"""The torch modules that get exported: per-block graphs, the head, and the fused predictor.

Improved FF: the folded (lean) network of `fold.py`; its graphs take the pixel-centred image
(x = pixel - 128, the manifest's normalisation). Original FF: the layers as trained (each
normalises its input's length, written by `int8_safe_normalize` so that int8 keeps faint samples
and never divides by a quantized zero), the fused graph batches the J label overlays itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from fftoolkit.export.fold import fold_network
from fftoolkit.ff.goodness import channel_goodness, goodness
from fftoolkit.ff.overlay import fourier_patterns


class FlatHead(nn.Module):
    """logits = Linear(concat of the flattened (NCHW order) features)."""

    def __init__(self, fc: nn.Module):
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


# sigmoid(-GUARD_GAIN * d) for d >= 1e-18: at most sigmoid(-100) ~ 4e-44 in float, below d;
# 0.5 where an int8 model has d quantized to zero.
GUARD_GAIN = 1e20


def _nonzero(d: torch.Tensor) -> torch.Tensor:
    """max(d, sigmoid(-GUARD_GAIN * d)) for d >= 0: d itself in float (d >= 1e-18; a positive
    value below that), never an int8 zero. In an int8 TFLite a divisor quantized to its zero
    point stops LiteRT's DIV ("div.cc data[i] != zero_point"); here it gives sigmoid(0) = 0.5
    instead, which MAXIMUM requantizes into d's scale (at least one step for ranges up to 255),
    while a d of one step or more saturates the sigmoid to an exact 0. LOGISTIC's int8 output
    range is fixed and MAXIMUM's is d's, so calibration, which never sees the guard fire, cannot
    clip it away."""
    return torch.maximum(d, torch.sigmoid(d * -GUARD_GAIN))


def int8_safe_normalize(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """`fftoolkit.models.nets.length_normalize` (x / (rms(x) + eps), per sample), the same maths
    in float (equal up to rounding), written so that a full-integer model keeps each sample's
    direction however faint the sample is (benchmarks/RESULTS.md, "Original-FF int8 TFLite").

    The plain form puts rms(x)^2 on one int8 scale for all samples. Label-gated layers under the
    neutral label are often faint, so a faint sample's mean square is under half a step: the
    divisor became the guard's 0.5, far above the true rms, and the sample's activity all but
    vanished (the shipped mnist_mlp's layer 1: 2.5 % of the MNIST test images).
    Here y = x / p with p = max|x|, one of x's own int8 values, so y lies in [-1, 1] with
    max |y| = 1 whatever the loudness and mean(y^2) in [1/D, 1]; then
    y / (rms(y) + eps / p) = x / (rms(x) + eps) for any p > 0.

    The last division is y * (1 / d): TFLite's int8 DIV kernel (measured in LiteRT 2.3) gives
    one step, not 0, for 0 / d once its rounding shift reaches 32 bits (about when the output
    multiplier s_y / (s_d s_out) is below d's integer value), which happens here; a nonzero
    numerator, or MUL, is exact.
    """
    flat = x.flatten(1)
    # max|x|: the int8 quantizer has no ABS or REDUCE_MAX. (int8 MAXIMUM clips -x to its own
    # range [0, max|x|], which keeps what the maximum needs; for x >= 0 the peak is exact.)
    peak = _nonzero(-torch.amin(-torch.maximum(flat, -flat), dim=1, keepdim=True))
    y = flat / peak
    rms = y.pow(2).mean(dim=1, keepdim=True).sqrt() + eps / peak
    # rms(y) >= 1/sqrt(D) unless x == 0 (max |y| = 1), so the floor changes nothing else; it keeps
    # the reciprocal's range at most 2 sqrt(D) (x == 0 gives y * 2 sqrt(D) = 0, not y / eps).
    # `_nonzero` for D > 255^2, where the floor itself can quantize to zero.
    floor = 0.5 / math.sqrt(flat.shape[1])
    return (y * (1.0 / _nonzero(torch.clamp_min(rms, floor)))).view_as(x)


def _original_unit(net: nn.Module, i: int, x: torch.Tensor) -> torch.Tensor:
    """`OriginalFFNet.forward_unit` with `int8_safe_normalize`."""
    return net.layers[i](int8_safe_normalize(x))


def _original_features(net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """`OriginalFFNet.forward_features` with `int8_safe_normalize`."""
    feats = []
    for i in range(len(net.layers)):
        x = _original_unit(net, i, x)
        feats.append(x)
    return feats


def _original_head(net: nn.Module, later: list[torch.Tensor]) -> torch.Tensor:
    """`OriginalFFNet.head_logits` on the features of layers 2..L, with `int8_safe_normalize`."""
    return net.head(torch.cat([int8_safe_normalize(f).flatten(1) for f in later], dim=1))


class OriginalHead(nn.Module):
    """Original-FF one-pass head on the features of layers 2..L (per-block head file), with the
    length normalisation of `OriginalFFNet.head_logits`."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, *feats: torch.Tensor) -> torch.Tensor:
        return _original_head(self.net, list(feats))


class OriginalUnit(nn.Module):
    """Layer i of an original-FF network, including the length normalisation of its input."""

    def __init__(self, net: nn.Module, i: int):
        super().__init__()
        self.net = net
        self.i = i

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _original_unit(self.net, self.i, x)


class OverlayPredictor(nn.Module):
    """Original-FF inference as one traceable graph with a free batch size: the neutral pass
    gives the head logits, the J label overlays are batched label-major as (J*N, ...) and give
    the goodness (N, J). Same maths as `fftoolkit.ff.OriginalPredictor`, written with
    broadcasting and reshape(-1) only, so no batch size is baked into the exported graph.
    `goodness="from-features"` returns (logits, the overlaid passes' features of every goodness
    layer, (J*N, ...) label-major) and the runner reduces them."""

    def __init__(self, net: nn.Module, patterns: torch.Tensor | None, goodness: str):
        super().__init__()
        self.net = net
        self.goodness = goodness
        self.j = net.spec.num_classes
        self.reduction = net.spec.ff.goodness
        self.patterns: torch.Tensor | None
        self.register_buffer("patterns", patterns)  # (J, H, W) fourier, None = first-pixels
        self.register_buffer("onehot", torch.eye(self.j).unsqueeze(1))  # (J, 1, J), a constant

    def _overlays(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(neutral (N, ...), every label (J*N, ...))."""
        shape = x.shape[1:]
        if self.patterns is not None:
            every = x.unsqueeze(0) + self.patterns[:, None, None]  # (J, N, C, H, W)
            return x, every.reshape(-1, *shape)
        j, flat = self.j, x.flatten(1)  # (N, D); the first J values carry the label
        rest = flat[:, j:]
        neutral = torch.cat([torch.full_like(flat[:, :j], 1.0 / j), rest], dim=1)
        onehot = self.onehot + 0 * flat[None, :, :j]  # (J, N, J), batch from broadcasting
        every = torch.cat([onehot, rest.unsqueeze(0).expand(j, -1, -1)], dim=2)
        return neutral.reshape(x.shape), every.reshape(-1, *shape)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        neutral, every = self._overlays(x)
        logits = _original_head(self.net, _original_features(self.net, neutral)[1:])
        overlaid = _original_features(self.net, every)[1:]
        if self.goodness == "from-features":
            return (logits, *overlaid)
        g = sum(goodness(f, self.reduction) for f in overlaid)
        return logits, g.reshape(self.j, -1).t()  # (N, J)


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
    input_range: tuple[float, float] | None = None  # fixed int8 input range (exact pixels)
    feature_names: list[str] = field(default_factory=list)


def _probe_shapes(blocks: list[nn.Module], input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    shapes, x = [], torch.zeros(1, *input_shape)
    with torch.no_grad():
        for block in blocks:
            shapes.append(tuple(x.shape[1:]))
            x = block(x)
    return shapes


def build_graphs(net: nn.Module, normalization: dict[str, list[float]],
                 **fold_options: bool) -> ExportGraphs:
    """The exportable graphs of a trained network (eval mode, weights frozen).
    fold_options: `fold_network`'s switches, for measuring them (defaults are what ships)."""
    return GRAPH_BUILDERS[net.spec.network](net, normalization, **fold_options)


def _improved_graphs(net: nn.Module, normalization: dict[str, list[float]],
                     **fold_options: bool) -> ExportGraphs:
    """Folded BN blocks, the lean head, and fused graphs giving goodness in-graph or not."""
    spec = net.spec
    last = len(spec.blocks) - 1
    blocks, fc, graph_norm = fold_network(net, normalization, [last - 1, last],
                                          **fold_options)
    pixels = fold_options.get("pixel_input", True)
    head = FlatHead(fc).eval()
    fused = {mode: LeanImproved(blocks, head, spec.num_classes, mode).eval()
             for mode in ("in-graph", "from-features")}
    return ExportGraphs(
        algorithm="improved",
        normalization=graph_norm, input_range=(-128.0, 127.0) if pixels else None,
        blocks=blocks, block_inputs=_probe_shapes(blocks, spec.input), head=head,
        head_blocks=[last - 1, last], goodness_blocks=[last - 1, last], fused=fused,
        multi_pass={"kind": "channel-groups", "groups": spec.num_classes},
        feature_names=["features_a", "features_b"],
    )


def _original_graphs(net: nn.Module, normalization: dict[str, list[float]],
                     **fold_options: bool) -> ExportGraphs:
    """One unit per layer, the neutral-label head, and fused graphs that batch the J label
    overlays themselves (fold_options do not apply: nothing is folded)."""
    spec = net.spec
    units: list[nn.Module] = [OriginalUnit(net, i).eval() for i in range(len(net.layers))]
    later = list(range(1, len(units)))
    patterns = None
    if spec.ff.overlay == "fourier":
        patterns = fourier_patterns(spec.num_classes, spec.input[1], spec.input[2])
    return ExportGraphs(
        algorithm="original", normalization=dict(normalization), blocks=units,
        block_inputs=_probe_shapes(units, spec.input), head=OriginalHead(net).eval(),
        head_blocks=later, goodness_blocks=later,
        fused={mode: OverlayPredictor(net, patterns, mode).eval()
               for mode in ("in-graph", "from-features")},
        multi_pass={"kind": "label-overlay", "overlay": spec.ff.overlay,
                    "num_classes": spec.num_classes, "goodness": spec.ff.goodness,
                    "patterns": "overlay.npy" if patterns is not None else None,
                    # the fused graphs apply the J overlays themselves; "from-features" outputs
                    # are (J*N, ...) label-major, one per goodness layer
                    "fused_batches_overlays": True},
        overlay_patterns=patterns,
        feature_names=[f"features_{i}" for i in later],
    )


# network kind (models.spec.ALGORITHMS) -> how its exportable graphs are built
GRAPH_BUILDERS = {"channel-groups": _improved_graphs, "label-overlay": _original_graphs}
