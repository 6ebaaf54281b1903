"""Error rates of a trained network in both inference modes, on uint8 images."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fftoolkit.data.dataset import check_dataset_fits
from fftoolkit.errors import FFTKError
from fftoolkit.ff.predict import predict_both
from fftoolkit.models import build_network_from_state, load_checkpoint
from fftoolkit.sampling import seeded_subset

MODES = ("one-pass", "multi-pass")


@dataclass
class EvalResult:
    one_pass_error: float | None
    multi_pass_error: float | None
    n: int
    seconds: float

    def as_dict(self) -> dict[str, float | int | None]:
        return self.__dict__.copy()


def error_rates(net: nn.Module, images: np.ndarray, labels: np.ndarray, mean: list[float],
                std: list[float], device: torch.device | None = None) -> tuple[float, float]:
    one, multi = predict_both(net, images, mean, std, device=device)
    return 100.0 * float((one != labels).mean()), 100.0 * float((multi != labels).mean())


def evaluate_checkpoint(checkpoint: str | Path, dataset: str, split: str = "val",
                        inference: str = "both", val_split: float | int | None = None,
                        limit: int | None = None) -> EvalResult:
    """`fftk eval`: load a checkpoint, check the dataset fits, measure error % per mode."""
    from fftoolkit.data import load_dataset

    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise FFTKError(f"--limit must be a whole number >= 1, got {limit!r}")
    ckpt = load_checkpoint(checkpoint)
    net = build_network_from_state(ckpt, source=str(checkpoint))
    ds = load_dataset(dataset, split, val_split=val_split)
    check_dataset_fits(net.spec.input, net.spec.num_classes, ds.classes, ds.images, dataset)
    if len(ds) == 0:
        raise FFTKError(f"{dataset}: the {split} split is empty (nothing to evaluate)")
    # the same seeded subset as `fftk run --limit` (splits are sorted by class: a prefix
    # would be the first classes only)
    keep = seeded_subset(len(ds), limit)
    images, labels = ds.images[keep], ds.labels[keep]
    norm = ckpt.normalization
    t0 = time.perf_counter()
    one, multi = predict_both(net, images, norm["mean"], norm["std"])
    seconds = time.perf_counter() - t0
    one_err = 100.0 * float((one != labels).mean()) if inference != "multi-pass" else None
    multi_err = 100.0 * float((multi != labels).mean()) if inference != "one-pass" else None
    return EvalResult(one_err, multi_err, int(len(labels)), seconds)
