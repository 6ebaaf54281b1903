"""Inference: one-pass (softmax head) and multi-pass / goodness prediction, on uint8 images."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from fftoolkit.ff.goodness import channel_goodness, goodness
from fftoolkit.ff.overlay import apply_overlay


class ImprovedPredictor(nn.Module):
    """Fused improved-FF inference from the last two blocks, in one forward pass.

    Returns (head logits (N, J), per-class goodness (N, J) = G of eq. 2 summed over the last two
    blocks). The paper's "multi-pass" column for the improved FF is argmax of the goodness.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.groups = net.spec.num_classes

    def forward(self, x: torch.Tensor, need: tuple[bool, bool] = (True, True),
                ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """`need` = (logits, goodness): what is left out is not computed (None)."""
        last = self.net.forward_features(x)[-2:]
        logits = self.net.head(last) if need[0] else None
        g = (channel_goodness(last[0], self.groups) + channel_goodness(last[1], self.groups)
             if need[1] else None)
        return logits, g


class OriginalPredictor(nn.Module):
    """Original-FF inference: one-pass with a neutral label, multi-pass with N label overlays.

    forward(x) returns (head logits (N, J), goodness per label (N, J)); the J overlays of each
    image are batched into one forward pass of J*N samples. Goodness sums layers 2..L (Hinton).
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.spec = net.spec

    def forward(self, x: torch.Tensor, need: tuple[bool, bool] = (True, True),
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Both outputs always: the neutral pass and the J overlays share nothing to skip."""
        j, n = self.spec.num_classes, len(x)
        neutral = self.net.forward_features(apply_overlay(self.spec.ff.overlay, x, None, j))
        logits = self.net.head_logits(neutral)
        labels = torch.arange(j, device=x.device).repeat_interleave(n)  # (J*N,) label-major
        overlaid = apply_overlay(self.spec.ff.overlay, x.repeat(j, *[1] * (x.dim() - 1)), labels, j)
        feats = self.net.forward_features(overlaid)[1:]
        g = sum(goodness(f, self.spec.ff.goodness) for f in feats)  # (J*N,)
        return logits, g.view(j, n).t()


def make_predictor(net: nn.Module) -> nn.Module:
    from fftoolkit.ff.family import family_of

    return family_of(net.spec).predictor(net)


def to_float(images: torch.Tensor, mean: list[float], std: list[float]) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float32 (N, C, H, W), scaled to [0, 1] then per-channel normalised."""
    x = images.permute(0, 3, 1, 2).float().div_(255.0)
    m = torch.tensor(mean, dtype=x.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - m) / s


@torch.no_grad()
def predict_both(net: nn.Module, images: np.ndarray, mean: list[float], std: list[float],
                 batch_size: int = 500,
                 device: torch.device | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Predicted classes (one-pass, multi-pass) for uint8 NHWC images."""
    device = device or torch.device("cpu")
    predictor = make_predictor(net).to(device).eval()
    one, multi = [], []
    data = torch.from_numpy(images)
    for start in range(0, len(data), batch_size):
        x = to_float(data[start:start + batch_size], mean, std).to(device)
        logits, goodness = predictor(x)
        one.append(logits.argmax(1).cpu())
        multi.append(goodness.argmax(1).cpu())
    return torch.cat(one).numpy(), torch.cat(multi).numpy()
