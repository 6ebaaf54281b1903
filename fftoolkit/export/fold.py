"""Exact BatchNorm folding: the lean, int8-friendly inference graph of an improved-FF network.

An improved-FF block is BN(C_in) -> Conv(zero padding, no bias) -> ReLU -> [MaxPool]. The BN is
a per-input-channel affine a * x + c in front of the conv. Folding it is exact only if the zero
padding is respected: the shift `c` becomes a bias that is constant inside the image and
differs at the borders, where some kernel taps read padding (zero after BN, not `c`). We
precompute that border-correct bias map once: conv(W, pad0(c * ones)) = interior bias + a
border correction that is zero inside.

Two choices make the folded graph quantize well (measured in benchmarks/export_int8.md):
- Pixel-centred input. The graphs take x = pixel - 128 (normalisation mean 128/255, std
  1/255), so an int8 input is the image itself, losslessly (scale 1, zero point 0). The
  checkpoint's normalisation and BN0 fold into block 0's conv like any other BN.
- Scale equalisation. Folding `a` into the next conv scales its *input* channels; per-output-
  channel int8 weights then crush the channels with small `a` (FF_tiny's BN1 spans 0.45..13.5).
  For a block whose output is internal (not read by the head or goodness), |a| moves instead
  into that block's conv as an output-channel scale (|a| relu(z) = relu(|a| z), max-pool
  commutes with a positive scale); only sign(a) stays with the next conv.
The head's BatchNorm1d folds into its Linear, which scales the Linear's input columns by the
BN's `a`; features that barely vary in training (MNIST's empty borders) get |a| in the hundreds
and per-row int8 weights would zero most other columns (ff_tiny_mnist: 58 % of the weights,
one-pass agreement 92 %). The few outlier columns therefore move into small gathered Linears of
their own (exact in float; each part gets its own int8 scales).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fftoolkit.models.nets import FFBlock, ImprovedFFNet, OnePassHead

PIXEL_CENTRE = 128.0


def pixel_normalization(channels: int) -> dict[str, list[float]]:
    """(p / 255 - mean) / std = p - 128: the exported graphs' input normalisation."""
    return {"mean": [PIXEL_CENTRE / 255.0] * channels, "std": [1.0 / 255.0] * channels}


def bn_affine(bn: nn.BatchNorm1d | nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BN as y = a * x + c (per channel), in float64."""
    var = bn.running_var.detach().double()
    mean = bn.running_mean.detach().double()
    a = bn.weight.detach().double() / torch.sqrt(var + bn.eps)
    return a, bn.bias.detach().double() - mean * a


class FoldedBlock(nn.Module):
    """Conv(folded weights, interior bias) + border correction -> ReLU -> [MaxPool]."""

    def __init__(self, conv: nn.Conv2d, border: torch.Tensor | None, pool: bool):
        super().__init__()
        self.conv = conv
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()
        self.border: torch.Tensor | None
        self.register_buffer("border", border)  # (1, C_out, H, W), zero inside, or None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if self.border is not None:
            y = y + self.border
        return self.pool(torch.relu(y))


def fold_block(block: FFBlock, in_hw: tuple[int, int], a: torch.Tensor, c: torch.Tensor,
               out_scale: torch.Tensor | None = None) -> FoldedBlock:
    """conv(pad0(a * x + c)) + ReLU [+ pool] as one conv with a border-correct bias, exactly.

    a, c: the per-input-channel affine in front of the conv (float64). out_scale: a positive
    per-output-channel factor folded in as well (the next block's |a|), or None.
    """
    conv = block[1]
    w = conv.weight.detach().double()  # (C_out, C_in, k, k)
    shift = c.view(1, -1, 1, 1).expand(1, len(c), *in_hw)
    bias_map = F.conv2d(shift, w, padding=conv.padding)  # (1, C_out, H', W'), border-correct
    interior = (w * c.view(1, -1, 1, 1)).sum(dim=(1, 2, 3))  # what a full kernel window sees
    border = bias_map - interior.view(1, -1, 1, 1)
    # Inside the image the two sums differ only by float64 summation order: make that exactly 0.
    border[border.abs() <= 1e-12 * (1.0 + interior.abs().max())] = 0.0
    w = w * a.view(1, -1, 1, 1)
    if out_scale is not None:
        w, interior = w * out_scale.view(-1, 1, 1, 1), interior * out_scale
        border = border * out_scale.view(1, -1, 1, 1)
    new = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                    conv.padding, bias=True)
    new.weight.data, new.bias.data = w.float(), interior.float()
    has_border = bool(border.abs().max() > 0)
    return FoldedBlock(new.eval(), border.float() if has_border else None, len(block) > 3)


def input_affine(net: ImprovedFFNet, mean: list[float], std: list[float]
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """BN0 applied to the checkpoint's normalisation, as an affine on x = pixel - 128:
    a0 ((x + 128) / 255 - m) / s + c0 = (a0 / (255 s)) x + a0 (128 / 255 - m) / s + c0."""
    a0, c0 = bn_affine(net.blocks[0][0])
    m = torch.tensor(mean, dtype=torch.float64)
    s = torch.tensor(std, dtype=torch.float64)
    return a0 / (255.0 * s), a0 * (PIXEL_CENTRE / 255.0 - m) / s + c0


class GroupedLinear(nn.Module):
    """y = Linear_dense(x) + sum_k Linear_k(x[:, index_k]): outlier columns (zeroed in the dense
    part) are gathered into groups of similar magnitude, so every part quantizes apart."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, groups: list[torch.Tensor]):
        super().__init__()
        dense = weight.clone()
        for idx in groups:
            dense[:, idx] = 0.0
        self.dense = nn.Linear(weight.shape[1], weight.shape[0])
        self.dense.weight.data, self.dense.bias.data = dense.float(), bias.float()
        self.parts = nn.ModuleList()
        for idx in groups:
            cols = weight[:, idx]
            if len(idx) == 1:  # a 1-input Linear converts to MUL: add a zero-weight neighbour
                neighbour = idx + 1 if int(idx[0]) + 1 < weight.shape[1] else idx - 1
                idx, cols = torch.cat([idx, neighbour]), torch.cat([cols, 0.0 * cols], dim=1)
            part = nn.Linear(len(idx), weight.shape[0], bias=False)
            part.weight.data = cols.float().contiguous()
            part.register_buffer("index", idx.to(torch.int32))
            self.parts.append(part)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dense(x)
        for part in self.parts:
            out = out + part(x.index_select(1, part.index))
        return out


def outlier_groups(weight: torch.Tensor, factor: float = 4.0) -> list[torch.Tensor]:
    """Columns more than `factor` x the median column magnitude, grouped by magnitude in
    steps of `factor` (few columns: the gathered indices stay small)."""
    col = weight.abs().amax(dim=0)
    outliers = torch.nonzero(col > factor * col.median()).flatten()
    if len(outliers) == 0:
        return []
    mags = col[outliers]
    rank = torch.floor(torch.log(mags.max() / mags) / torch.log(
        torch.tensor(factor, dtype=mags.dtype))).long()
    return [outliers[rank == k] for k in rank.unique().tolist()]


def fold_head(head: OnePassHead, split: bool = True) -> nn.Module:
    """BatchNorm1d(F) + Linear(F, J) -> W (a x + c) + b = (W a) x + (W c + b): one Linear, or
    a GroupedLinear when some folded columns are outliers in magnitude."""
    a, c = bn_affine(head.norm)
    w = head.fc.weight.detach().double()
    weight, bias = w * a.view(1, -1), w @ c + head.fc.bias.detach().double()
    groups = outlier_groups(weight) if split else []
    if not groups:
        fc = nn.Linear(head.fc.in_features, head.fc.out_features)
        fc.weight.data, fc.bias.data = weight.float(), bias.float()
        return fc.eval()
    return GroupedLinear(weight, bias, groups).eval()


def merged_normalization(net: ImprovedFFNet, mean: list[float],
                         std: list[float]) -> dict[str, list[float]]:
    """The alternative to pixel-centred input, kept to measure it: BN0 merged into the input
    normalisation, a0 (p - m) / s + c0 = (p - (m - c0 s / a0)) / (s / a0)."""
    a0, c0 = bn_affine(net.blocks[0][0])
    if bool((a0.abs() < 1e-12).any()):
        raise ValueError("block 0 BatchNorm has a zero scale: cannot merge it")
    m = torch.tensor(mean, dtype=torch.float64)
    s = torch.tensor(std, dtype=torch.float64)
    return {"mean": (m - c0 * s / a0).tolist(), "std": (s / a0).tolist()}


def fold_network(net: ImprovedFFNet, normalization: dict[str, list[float]],
                 feature_blocks: list[int], pixel_input: bool = True, equalize: bool = True,
                 split_head: bool = True
                 ) -> tuple[list[FoldedBlock], nn.Module, dict[str, list[float]]]:
    """Every block folded for pixel-centred input, internal outputs equalised, + the head, and
    the input normalisation the folded graph expects.

    feature_blocks: blocks whose outputs leave the graph (head/goodness); they keep their
    exact values, so the next BN's scale is not moved into them. `pixel_input=False` (BN0
    merged into the normalisation), `equalize=False` and `split_head=False` exist to measure
    what they buy.
    """
    c_in = net.spec.input[0]
    if pixel_input:
        affines = [input_affine(net, normalization["mean"], normalization["std"])]
        graph_norm = pixel_normalization(c_in)
    else:
        one = torch.ones(c_in, dtype=torch.float64)
        affines = [(one, torch.zeros_like(one))]
        graph_norm = merged_normalization(net, normalization["mean"], normalization["std"])
    affines += [bn_affine(block[0]) for block in net.blocks[1:]]
    scales: list[torch.Tensor | None] = [None] * len(affines)
    for i in range(1, len(affines)):
        if i - 1 in feature_blocks or not equalize:
            continue
        a, c = affines[i]
        s = torch.where(a.abs() > 1e-12, a.abs(), torch.ones_like(a))
        affines[i], scales[i - 1] = (a / s, c), s
    _, h, w = net.spec.input
    blocks = []
    for i, block in enumerate(net.blocks):
        folded = fold_block(block, (h, w), *affines[i], out_scale=scales[i])
        blocks.append(folded)
        with torch.no_grad():
            h, w = folded(torch.zeros(1, block[1].in_channels, h, w)).shape[-2:]
    return blocks, fold_head(net.head, split_head), graph_norm
