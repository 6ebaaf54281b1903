"""The local losses each FF layer/block is trained on."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def ff_loss(g_pos: torch.Tensor, g_neg: torch.Tensor, threshold: float) -> torch.Tensor:
    """Original FF loss, paper eq. 1: softplus(theta - g_pos) + softplus(g_neg - theta), averaged.

    Pushes goodness above theta for positive data and below it for negative data.
    """
    return (F.softplus(threshold - g_pos) + F.softplus(g_neg - threshold)).mean()


def channelwise_loss(g: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Channel-wise competitive loss, paper eq. 3: cross-entropy of the group goodness G (N, J).

    -log( exp(g_pos) / sum_j exp(G[n, j]) ) with g_pos = G·Z^T for one-hot labels Z; only real
    images, no negative data.
    """
    return F.cross_entropy(g, labels)


def split_goodness(g: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample g_pos = sum_j G Z and g_neg = sum_j G (1 - Z) for one-hot Z (paper §III)."""
    z = F.one_hot(labels, g.shape[1]).to(g.dtype)
    return (g * z).sum(dim=1), (g * (1 - z)).sum(dim=1)
