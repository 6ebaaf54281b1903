"""Images the exporter needs: calibration images (training split) and held-back images (val).

Both are seeded random subsets with sorted indices (`fftoolkit.sampling.seeded_subset`, the
one every --limit uses), so an export is reproducible bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fftoolkit.data.dataset import check_dataset_fits
from fftoolkit.models.checkpoint import Checkpoint
from fftoolkit.models.spec import ModelSpec
from fftoolkit.sampling import seeded_subset


@dataclass
class Images:
    images: np.ndarray  # uint8 (N, H, W, C)
    labels: np.ndarray
    source: str
    split: str


def default_dataset(state: Checkpoint, spec: ModelSpec) -> str:
    """The dataset the checkpoint was trained on (its train_args), else the spec's."""
    return (state.train_args or {}).get("dataset") or spec.train.dataset


def _val_split(state: Checkpoint, dataset: str) -> float | int | None:
    """Reuse the training run's val carve when exporting against its own dataset, so the
    held-back images really were held back."""
    args = state.train_args or {}
    return args.get("val_split") if args.get("dataset") == dataset else None


def normalise(images: np.ndarray, normalization: dict[str, list[float]]) -> np.ndarray:
    """uint8 NHWC -> float32 NCHW, (p / 255 - mean) / std per channel: the training-side
    transform, which calibration sees (the runtime's Preprocessor computes the same thing in
    another order, for boards)."""
    x = images.astype(np.float32) / np.float32(255.0)
    mean = np.asarray(normalization["mean"], dtype=np.float32)
    std = np.asarray(normalization["std"], dtype=np.float32)
    return np.ascontiguousarray(((x - mean) / std).transpose(0, 3, 1, 2))


def load_images(dataset: str, split: str, n: int, state: Checkpoint, spec: ModelSpec,
                seed: int = 0) -> Images:
    """`n` images of `split`, checked against the model's input shape and class count."""
    from fftoolkit.data import load_dataset

    ds = load_dataset(dataset, split, val_split=_val_split(state, dataset))
    check_dataset_fits(spec.input, spec.num_classes, ds.classes, ds.images, dataset)
    idx = seeded_subset(len(ds), n, seed)
    return Images(np.ascontiguousarray(ds.images[idx]), np.asarray(ds.labels[idx]), dataset,
                  split)
