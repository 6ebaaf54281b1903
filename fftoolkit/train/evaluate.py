"""Error rates of a trained network in both inference modes, on uint8 images."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fftoolkit.errors import FFTKError
from fftoolkit.ff import make_predictor
from fftoolkit.models import build_network_from_state
from fftoolkit.train.augment import to_float
from fftoolkit.train.checkpoint import load_checkpoint

MODES = ("one-pass", "multi-pass")


@dataclass
class EvalResult:
    one_pass_error: float | None
    multi_pass_error: float | None
    n: int
    seconds: float

    def as_dict(self) -> dict[str, float | int | None]:
        return self.__dict__.copy()


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


def error_rates(net: nn.Module, images: np.ndarray, labels: np.ndarray, mean: list[float],
                std: list[float], device: torch.device | None = None) -> tuple[float, float]:
    one, multi = predict_both(net, images, mean, std, device=device)
    return 100.0 * float((one != labels).mean()), 100.0 * float((multi != labels).mean())


def check_dataset_fits(spec_input: tuple[int, ...] | list[int], num_classes: int,
                       classes: list[str], images: np.ndarray, source: str) -> None:
    """A dataset must match the model's input shape and class count; say how if it does not."""
    c, h, w = spec_input
    if images.ndim != 4 or tuple(images.shape[1:]) != (h, w, c):
        raise FFTKError(f"{source}: images are {tuple(images.shape[1:])} (H, W, C) but the model "
                        f"expects {(h, w, c)}")
    if len(classes) != num_classes:
        raise FFTKError(f"{source}: {len(classes)} classes but the model has {num_classes}")


def evaluate_checkpoint(checkpoint: str | Path, dataset: str, split: str = "val",
                        inference: str = "both", val_split: float | int | None = None,
                        limit: int | None = None) -> EvalResult:
    """`fftk eval`: load a checkpoint, check the dataset fits, measure error % per mode."""
    from fftoolkit.data import load_dataset

    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise FFTKError(f"--limit must be a whole number >= 1, got {limit!r}")
    state = load_checkpoint(checkpoint)
    net = build_network_from_state(state, source=str(checkpoint))
    ds = load_dataset(dataset, split, val_split=val_split)
    check_dataset_fits(net.spec.input, net.spec.num_classes, ds.classes, ds.images, dataset)
    if len(ds) == 0:
        raise FFTKError(f"{dataset}: the {split} split is empty (nothing to evaluate)")
    images, labels = ds.images[:limit], ds.labels[:limit]
    norm = state["normalization"]
    t0 = time.perf_counter()
    one, multi = predict_both(net, images, norm["mean"], norm["std"])
    seconds = time.perf_counter() - t0
    one_err = 100.0 * float((one != labels).mean()) if inference != "multi-pass" else None
    multi_err = 100.0 * float((multi != labels).mean()) if inference != "one-pass" else None
    return EvalResult(one_err, multi_err, int(len(labels)), seconds)
