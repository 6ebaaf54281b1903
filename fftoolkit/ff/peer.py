"""Peer normalisation (Hinton 2022, §3.3): keep every unit of a layer about as active as its peers.

FF layers trained on label overlays tend to hand the whole goodness to a few units and silence
the rest; those dead units then carry no information for the one-pass head or the next layer.
The regulariser pulls each unit's running mean activity on positive data towards the layer's
mean of those means. The running means are training state (saved with the optimisers, not in
the network), updated once per loss evaluation with `MOMENTUM`.
"""

from __future__ import annotations

import torch

MOMENTUM = 0.9  # running mean: MOMENTUM * old + (1 - MOMENTUM) * this batch (Loewe's setting)
START = 0.5  # every unit's running mean before the first batch


class PeerNormalization:
    """Running per-unit mean activity of each layer, and the loss that evens them out."""

    def __init__(self, units: list[int]):
        self.means = [torch.full((u,), START) for u in units]

    def loss(self, layer: int, positive: torch.Tensor) -> torch.Tensor:
        """Mean over units of (layer mean - unit mean)^2, with this batch's activity (N, ...)
        folded into the running means; the gradient reaches this batch's share."""
        running = self.means[layer].to(positive.device, positive.dtype)
        running = MOMENTUM * running + (1 - MOMENTUM) * positive.flatten(1).mean(dim=0)
        self.means[layer] = running.detach().float()
        return (running.mean() - running).pow(2).mean()

    def state(self) -> list[torch.Tensor]:
        return [m.cpu() for m in self.means]

    def load_state(self, means: list[torch.Tensor]) -> None:
        if len(means) != len(self.means) or any(
                m.shape != s.shape for m, s in zip(means, self.means, strict=True)):
            raise ValueError("peer-normalisation state does not fit the layers")
        self.means = [m.float().clone() for m in means]
