"""Exact BatchNorm folding: the lean inference graph of an improved-FF network.

An improved-FF block is BN(C_in) -> Conv(zero padding, no bias) -> ReLU -> [MaxPool]. Folding
the BN into the conv is exact only if the zero padding is respected: the BN shift `c` becomes a
bias that is constant inside the image and differs at the borders, where some kernel taps read
padding (zero after BN, not `c`). We precompute that border-correct bias map once:
conv(W, pad0(c * ones)) = interior bias + a border correction that is zero inside.

Block 0's BN is a per-channel affine on the input, so it merges into the input normalisation
(mean', std') and the padding stays zero in the same space. The head's BatchNorm1d folds into
its Linear.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fftoolkit.errors import FFTKError
from fftoolkit.models.nets import FFBlock, ImprovedFFNet, OnePassHead


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


def fold_block(block: FFBlock, in_hw: tuple[int, int], merge_bn: bool) -> FoldedBlock:
    """Fold `block`'s BN into its conv; with `merge_bn` the BN is left to the input
    normalisation (block 0) and only the conv is copied."""
    bn, conv = block[0], block[1]
    pool = len(block) > 3
    w = conv.weight.detach().double()  # (C_out, C_in, k, k)
    new = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                    conv.padding, bias=not merge_bn)
    if merge_bn:
        new.weight.data = w.float()
        return FoldedBlock(new.eval(), None, pool)
    a, c = bn_affine(bn)
    new.weight.data = (w * a.view(1, -1, 1, 1)).float()
    shift = c.view(1, -1, 1, 1).expand(1, len(c), *in_hw)
    bias_map = F.conv2d(shift, w, padding=conv.padding)  # (1, C_out, H', W'), border-correct
    interior = (w * c.view(1, -1, 1, 1)).sum(dim=(1, 2, 3))  # what a full kernel window sees
    new.bias.data = interior.float()
    border = bias_map - interior.view(1, -1, 1, 1)
    # Inside the image the two sums differ only by float64 summation order: make that exactly 0.
    border[border.abs() <= 1e-12 * (1.0 + interior.abs().max())] = 0.0
    has_border = bool(border.abs().max() > 0)
    return FoldedBlock(new.eval(), border.float() if has_border else None, pool)


def merged_normalization(net: ImprovedFFNet, mean: list[float],
                         std: list[float]) -> dict[str, list[float]]:
    """Input normalisation with block 0's BN merged in: BN0((p - m) / s) = (p - m') / s'.

    a (p - m) / s + c = (p - (m - c s / a)) / (s / a). A channel with a == 0 cannot be merged.
    """
    a, c = bn_affine(net.blocks[0][0])
    if bool((a.abs() < 1e-12).any()):
        raise FFTKError("block 0 BatchNorm has a zero scale: cannot merge it into the input "
                        "normalisation")
    m = torch.tensor(mean, dtype=torch.float64)
    s = torch.tensor(std, dtype=torch.float64)
    return {"mean": (m - c * s / a).tolist(), "std": (s / a).tolist()}


def fold_head(head: OnePassHead) -> nn.Linear:
    """BatchNorm1d(F) + Linear(F, J) -> one Linear: W (a x + c) + b = (W a) x + (W c + b)."""
    a, c = bn_affine(head.norm)
    w = head.fc.weight.detach().double()
    fc = nn.Linear(head.fc.in_features, head.fc.out_features)
    fc.weight.data = (w * a.view(1, -1)).float()
    fc.bias.data = (w @ c + head.fc.bias.detach().double()).float()
    return fc.eval()


def fold_network(net: ImprovedFFNet) -> tuple[list[FoldedBlock], nn.Linear]:
    """Every block folded (block 0 without its BN, which goes to the normalisation) + head."""
    _, h, w = net.spec.input
    blocks = []
    for i, block in enumerate(net.blocks):
        folded = fold_block(block, (h, w), merge_bn=i == 0)
        blocks.append(folded)
        with torch.no_grad():
            h, w = folded(torch.zeros(1, block[1].in_channels, h, w)).shape[-2:]
    return blocks, fold_head(net.head)
