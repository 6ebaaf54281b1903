"""Label overlays for the original FF: how the label enters the input, and negative labels."""

from __future__ import annotations

import math

import torch


def negative_labels(labels: torch.Tensor, num_classes: int,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """A uniformly drawn *wrong* label per sample (never the true one, unlike a randperm)."""
    offset = torch.randint(1, num_classes, labels.shape, generator=generator)
    return (labels + offset) % num_classes


def first_pixels_overlay(x: torch.Tensor, labels: torch.Tensor | None,
                         num_classes: int) -> torch.Tensor:
    """MLP overlay: the first `num_classes` values of each flattened image become the one-hot label.

    `labels=None` gives the neutral label (1/num_classes everywhere), used by one-pass inference.
    """
    out = x.clone().flatten(1)
    if labels is None:
        out[:, :num_classes] = 1.0 / num_classes
    else:
        out[:, :num_classes] = 0.0
        out[torch.arange(len(out)), labels] = 1.0
    return out.view_as(x)


def fourier_patterns(num_classes: int, height: int, width: int,
                     amplitude: float = 0.5) -> torch.Tensor:
    """Spatially extended labels for CNNs: one low-frequency cosine mode per class, (J, H, W).

    Every filter sees the label wherever it looks (Scodellaro 2024-style Fourier modes).
    """
    yy, xx = torch.meshgrid(torch.arange(height, dtype=torch.float32),
                            torch.arange(width, dtype=torch.float32), indexing="ij")
    patterns = []
    for c in range(num_classes):
        fy, fx = 1 + c // 4, 1 + c % 4
        phase = math.pi * c / num_classes
        patterns.append(amplitude * torch.cos(2 * math.pi * (fy * yy / height + fx * xx / width)
                                              + phase))
    return torch.stack(patterns)


def fourier_overlay(x: torch.Tensor, labels: torch.Tensor | None,
                    patterns: torch.Tensor) -> torch.Tensor:
    """CNN overlay: add the label's pattern to every channel; `labels=None` adds nothing."""
    if labels is None:
        return x
    return x + patterns[labels].unsqueeze(1)


def apply_overlay(kind: str, x: torch.Tensor, labels: torch.Tensor | None,
                  num_classes: int) -> torch.Tensor:
    """Dispatch on the spec's `ff.overlay` (`first-pixels` or `fourier`)."""
    if kind == "first-pixels":
        return first_pixels_overlay(x, labels, num_classes)
    patterns = fourier_patterns(num_classes, x.shape[-2], x.shape[-1]).to(x.device, x.dtype)
    return fourier_overlay(x, labels, patterns)
