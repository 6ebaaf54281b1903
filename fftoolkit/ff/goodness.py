"""Goodness functions: how strongly a layer "likes" its input."""

from __future__ import annotations

import torch


def goodness(h: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Original FF goodness (Hinton 2022): per-sample `mean` or `sum` of squared activities.

    h: (N, ...) -> (N,). With `mean` the threshold is on a per-unit scale (~2); with `sum`
    it scales with the layer width.
    """
    sq = h.flatten(1).pow(2)
    return sq.mean(dim=1) if reduction == "mean" else sq.sum(dim=1)


def channel_goodness(y: torch.Tensor, groups: int) -> torch.Tensor:
    """Channel-group goodness, paper eq. 2: G[n, j] = mean over (s, h, w) of Y[n, j, s, h, w]^2.

    y: (N, C, H, W) with C = groups * S, split into `groups` contiguous channel groups -> (N, J).
    """
    n, c, h, w = y.shape
    return y.reshape(n, groups, (c // groups) * h * w).pow(2).mean(dim=2)
