"""The local losses each FF layer/block is trained on.

Each family lists the ones its objective can minimise, by `fftk train --loss` name
(`fftoolkit.ff.family`): the improved family's take the channel-group goodness G (N, J) and the
labels, the original family's the per-sample goodness of the positive and negative passes.
"""

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


SYMBA_ALPHA = 4.0  # Lee & Song 2023 and Trifecta (Dooms et al. 2023)


def symba_loss(g_pos: torch.Tensor, g_neg: torch.Tensor,
               alpha: float = SYMBA_ALPHA) -> torch.Tensor:
    """SymBa (Lee & Song 2023): softplus(-alpha (g_pos - g_neg)), averaged over samples.

    One term on the goodness *difference*: the gradients on g_pos and g_neg are equal and
    opposite (eq. 1 weighs them by how far each is from theta), and no threshold is needed.
    """
    return F.softplus(-alpha * (g_pos - g_neg)).mean()


def hardest_wrong(g: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample, g_pos = G[n, label] and g_neg = max over the wrong classes of G[n, j]."""
    pos = g.gather(1, labels[:, None]).squeeze(1)
    wrong = g.masked_fill(F.one_hot(labels, g.shape[1]).bool(), float("-inf"))
    return pos, wrong.amax(dim=1)


def channelwise_symba_loss(g: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """SymBa on the channel-group goodness, against the hardest wrong class.

    g_neg = max_{j != label} G[n, j], not the mean (nor SPEC's sum) of the wrong classes: goodness
    prediction is argmax_j G, so g_pos - g_neg > 0 is exactly "predicted right", and the loss
    is a smooth margin on the mistake being measured; a mean could be low while one wrong class
    still wins, and would spread the negative gradient over J-1 groups (SymBa's point is one
    positive and one negative term of equal weight). Eq. 3 is the same comparison made soft:
    cross-entropy = softplus(logsumexp_{j != label} G[n, j] - g_pos), i.e. alpha = 1 and a
    log-sum-exp for the max. No scale normalisation: G is a per-element mean (independent of
    the group's channels and the map size), the scale eq. 3 already reads, and alpha = 4 sets
    how sharp the margin is on it.
    """
    return symba_loss(*hardest_wrong(g, labels))
