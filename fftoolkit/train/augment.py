"""Training-time augmentation on normalised float NCHW batches (made by `ff.predict.to_float`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop from a zero-padded (= mean-coloured after normalising) image, and h-flip."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]  # (N, H, 1)
    cols = (dx[:, None] + torch.arange(w))[:, None, :]  # (N, 1, W)
    idx = torch.arange(n)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[idx, rows, cols].permute(0, 3, 1, 2)  # (N, C, H, W)
    flip = torch.rand(n, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(3), out).contiguous()
