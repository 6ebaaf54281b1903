"""What each FF algorithm minimises, block by block, and how its one-pass head learns.

The trainer is algorithm-agnostic: it asks an objective for the training inputs, the local
loss of a block's output, and the head's loss on detached features. Which local loss is the
run's `--loss`, picked from the family's table (`fftoolkit.ff.family`) and passed in.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from fftoolkit.ff.goodness import channel_goodness, goodness
from fftoolkit.ff.losses import channelwise_loss, ff_loss
from fftoolkit.ff.overlay import apply_overlay, negative_labels
from fftoolkit.ff.peer import PeerNormalization


class ImprovedObjective:
    """Channel-wise competitive learning (paper §III): real images only, a loss of the group
    goodness G per block (eq. 3 by default)."""

    def __init__(self, net: nn.Module,
                 loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = channelwise_loss):
        self.net = net
        self.groups = net.spec.num_classes
        self.loss = loss

    def inputs(self, x: torch.Tensor, labels: torch.Tensor,
               generator: torch.Generator) -> torch.Tensor:
        return x

    def part(self, inputs: torch.Tensor, n: int, rows: slice) -> torch.Tensor:
        """The inputs of rows `rows` of an n-image batch: one sub-batch of a data-parallel step."""
        return inputs[rows]

    def block_loss(self, out: torch.Tensor, labels: torch.Tensor, block: int) -> torch.Tensor:
        return self.loss(channel_goodness(out, self.groups), labels)

    def state(self) -> dict[str, object]:
        """Training state beyond the optimisers (none)."""
        return {}

    def load_state(self, state: dict[str, object]) -> None:
        pass

    def head_logits(self, x: torch.Tensor, feats: list[torch.Tensor]) -> torch.Tensor:
        """One-pass head on the last two blocks' (detached) outputs of the training pass."""
        return self.net.head([f.detach() for f in feats[-2:]])

    def multi_pass_mistakes(self, feats: list[torch.Tensor], labels: torch.Tensor) -> int:
        """Goodness-prediction mistakes on the batch just trained on (no extra pass)."""
        g = channel_goodness(feats[-2], self.groups) + channel_goodness(feats[-1], self.groups)
        return int((g.argmax(1) != labels).sum())


class OriginalObjective:
    """Hinton's FF: positive (true label) and negative (wrong label) overlays, eq. 1 per layer,
    plus `ff.peer_normalization` x the peer-normalisation loss when the spec asks for it.

    Positives and negatives travel as one stacked batch (2N, ...): first N positive.
    """

    def __init__(self, net: nn.Module,
                 loss: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor] = ff_loss):
        self.net = net
        self.spec = net.spec
        self.loss = loss
        self.peer = PeerNormalization(net.layer_units) if self.spec.ff.peer_normalization \
            else None

    def inputs(self, x: torch.Tensor, labels: torch.Tensor,
               generator: torch.Generator) -> torch.Tensor:
        j = self.spec.num_classes
        wrong = negative_labels(labels, j, generator).to(labels.device)
        pos = apply_overlay(self.spec.ff.overlay, x, labels, j)
        neg = apply_overlay(self.spec.ff.overlay, x, wrong, j)
        return torch.cat([pos, neg])

    def part(self, inputs: torch.Tensor, n: int, rows: slice) -> torch.Tensor:
        """The positives and negatives of rows `rows` of an n-image batch, stacked the same way."""
        if rows == slice(0, n):
            return inputs
        return torch.cat([inputs[:n][rows], inputs[n:][rows]])

    def block_loss(self, out: torch.Tensor, labels: torch.Tensor, block: int) -> torch.Tensor:
        g = goodness(out, self.spec.ff.goodness)
        n = len(labels)
        loss = self.loss(g[:n], g[n:], self.spec.ff.threshold)
        if self.peer is not None:
            loss = loss + self.spec.ff.peer_normalization * self.peer.loss(block, out[:n])
        return loss

    def state(self) -> dict[str, object]:
        """Training state beyond the optimisers: the peer-normalisation running means."""
        return {"peer_means": self.peer.state()} if self.peer is not None else {}

    def load_state(self, state: dict[str, object]) -> None:
        if self.peer is not None:
            self.peer.load_state(state["peer_means"])  # type: ignore[arg-type]

    def head_logits(self, x: torch.Tensor, feats: list[torch.Tensor]) -> torch.Tensor:
        """Softmax head on layers 2..L of a neutral-label pass (no gradient into the layers)."""
        with torch.no_grad():
            neutral = self.net.forward_features(
                apply_overlay(self.spec.ff.overlay, x, None, self.spec.num_classes))
        return self.net.head_logits(neutral)

    def multi_pass_mistakes(self, feats: list[torch.Tensor], labels: torch.Tensor) -> int:
        """-1: multi-pass on training data costs J forward passes, so it is measured on the
        val split only."""
        return -1


def make_objective(net: nn.Module, loss: str | None = None
                   ) -> ImprovedObjective | OriginalObjective:
    """The objective of `net`'s family, minimising the family's loss named `loss` (None: its
    default)."""
    from fftoolkit.ff.family import family_of

    family = family_of(net.spec)
    return family.objective(net, family.losses[family.loss_name(loss)])


def head_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The one-pass head is a plain softmax classifier trained with cross-entropy."""
    return F.cross_entropy(logits, labels)
