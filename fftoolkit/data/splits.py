"""The deterministic validation carve: the last images of each class leave the training split."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

from fftoolkit.errors import FFTKError

ValSplit = int | float


def default_val_split(fmt: str, class_counts: list[int]) -> ValSplit:
    """MNIST-style IDX: 10 % per class; others: 500 per class when every class has >= 1000."""
    if fmt == "idx":
        return 0.1
    present = [n for n in class_counts if n > 0]
    return 500 if present and min(present) >= 1000 else 0.1


def val_count(val_split: ValSplit, n: int) -> int:
    """How many of a class's `n` training images go to validation."""
    if isinstance(val_split, Integral):
        return int(val_split)
    return math.floor(float(val_split) * n + 0.5)


def check_val_split(val_split: object, source: str) -> ValSplit:
    """An int count >= 0 or a float fraction in [0, 1); anything else is a user error."""
    if isinstance(val_split, bool) or not isinstance(val_split, Real):
        raise FFTKError(f"{source}: val_split must be an int count or a float fraction, "
                        f"got {val_split!r}")
    if isinstance(val_split, Integral):
        if val_split < 0:
            raise FFTKError(f"{source}: val_split must be >= 0, got {val_split}")
        return int(val_split)
    if not 0.0 <= float(val_split) < 1.0:
        raise FFTKError(f"{source}: val_split fraction must be in [0, 1), got {val_split}")
    return float(val_split)


def carve(
    labels: np.ndarray, classes: list[str], val_split: ValSplit, source: str
) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, val indices), both in original order; val = last k of each class."""
    val_parts = []
    for c, name in enumerate(classes):
        idx = np.flatnonzero(labels == c)
        if idx.size == 0:
            continue
        k = val_count(val_split, idx.size)
        if k >= idx.size:
            raise FFTKError(
                f"{source}: val_split={val_split} takes all {idx.size} training images of "
                f"class {name!r}; use a smaller value"
            )
        val_parts.append(idx[idx.size - k :])
    val_idx = np.sort(np.concatenate(val_parts)) if val_parts else np.empty(0, np.int64)
    keep = np.ones(labels.shape[0], dtype=bool)
    keep[val_idx] = False
    return np.flatnonzero(keep), val_idx
