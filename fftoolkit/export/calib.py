"""Images the exporter needs: calibration images (training split) and held-back images (val).

Both are seeded random subsets with sorted indices, so an export is reproducible bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fftoolkit.models.spec import ModelSpec
from fftoolkit.train.evaluate import check_dataset_fits


@dataclass
class Images:
    images: np.ndarray  # uint8 (N, H, W, C)
    labels: np.ndarray
    source: str
    split: str


def default_dataset(state: dict[str, Any], spec: ModelSpec) -> str:
    """The dataset the checkpoint was trained on (its train_args), else the spec's."""
    return (state.get("train_args") or {}).get("dataset") or spec.train.dataset


def _val_split(state: dict[str, Any], dataset: str) -> float | int | None:
    """Reuse the training run's val carve when exporting against its own dataset, so the
    held-back images really were held back."""
    args = state.get("train_args") or {}
    return args.get("val_split") if args.get("dataset") == dataset else None


def subset(n_total: int, n: int, seed: int) -> np.ndarray:
    """n seeded random indices out of n_total, sorted (all of them if n >= n_total)."""
    if n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, size=n, replace=False))


def load_images(dataset: str, split: str, n: int, state: dict[str, Any], spec: ModelSpec,
                seed: int = 0) -> Images:
    """`n` images of `split`, checked against the model's input shape and class count."""
    from fftoolkit.data import load_dataset

    ds = load_dataset(dataset, split, val_split=_val_split(state, dataset))
    check_dataset_fits(spec.input, spec.num_classes, ds.classes, ds.images, dataset)
    idx = subset(len(ds), n, seed)
    return Images(np.ascontiguousarray(ds.images[idx]), np.asarray(ds.labels[idx]), dataset,
                  split)
