"""The in-memory dataset every stage consumes, the statistics the trainer normalises with, and
whether a dataset fits a model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fftoolkit.errors import FFTKError

SPLITS = ("train", "val", "test")


@dataclass(eq=False)
class Dataset:
    """One split: uint8 images (N, H, W, C), int64 labels (N,), class names by index."""

    images: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    classes: list[str]
    name: str
    split: str = "train"

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, split={self.split!r}, images={self.images.shape}, "
            f"classes={len(self.classes)})"
        )


def channel_stats(images: np.ndarray, chunk: int = 4096) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 (N, H, W, C) images in [0, 1] units.

    Accumulated in float64 chunks so 50,000 CIFAR images never need a 1.2 GB float copy.
    """
    if images.ndim != 4:
        raise ValueError(f"channel_stats expects (N, H, W, C) images, got shape {images.shape}")
    n_channels = images.shape[-1]
    total = np.zeros(n_channels, dtype=np.float64)
    total_sq = np.zeros(n_channels, dtype=np.float64)
    for start in range(0, images.shape[0], chunk):
        block = images[start : start + chunk].reshape(-1, n_channels).astype(np.float64)
        total += block.sum(axis=0)
        total_sq += np.square(block).sum(axis=0)
    count = images.shape[0] * images.shape[1] * images.shape[2]
    if count == 0:
        raise ValueError("channel_stats needs at least one image")
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - np.square(mean), 0.0))
    return [float(m) / 255.0 for m in mean], [float(s) / 255.0 for s in std]


def check_dataset_fits(spec_input: Sequence[int], num_classes: int, classes: list[str],
                       images: np.ndarray, source: str) -> None:
    """A dataset must match the model's input shape (C, H, W) and class count; say how if not."""
    c, h, w = spec_input
    if images.ndim != 4 or tuple(images.shape[1:]) != (h, w, c):
        raise FFTKError(f"{source}: images are {tuple(images.shape[1:])} (H, W, C) but the model "
                        f"expects {(h, w, c)}")
    if len(classes) != num_classes:
        raise FFTKError(f"{source}: {len(classes)} classes but the model has {num_classes}")
