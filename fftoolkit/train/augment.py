"""Training-time augmentation on normalised float NCHW batches (made by `ff.predict.to_float`).

`fftk train --augment none|basic|strong` picks one entry of `AUGMENTATIONS`. Every draw comes
from the run's generator, so a resumed run augments exactly as an uninterrupted one, and the
whole batch is done in a few tensor ops (the data path stays a small share of a step).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop from a zero-padded (= mean-coloured after normalising) image, and h-flip."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]  # (N, H, 1)
    cols = (dx[:, None] + torch.arange(w))[:, None, :]  # (N, 1, W)
    idx = torch.arange(n)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[idx, rows, cols].permute(0, 3, 1, 2)  # (N, C, H, W)
    flip = torch.rand(n, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(3), out).contiguous()


def cutout(x: torch.Tensor, generator: torch.Generator, fraction: float = 0.25) -> torch.Tensor:
    """Cutout (DeVries & Taylor 2017): one square per image, of side `fraction` of the image's
    (8 px on 32x32), set to 0 like the crop's padding (the mean colour where inputs are
    normalised with the split's statistics); its centre is anywhere in the image, so part of
    the square may fall outside.

    The paper's 16 px suits ResNets on CIFAR-10; FF_tiny underfits (training error with crop
    and flip is above its validation error), so the square here is a quarter of the side.
    """
    n, _, h, w = x.shape
    side = max(1, round(fraction * min(h, w)))
    top = torch.randint(0, h, (n, 1), generator=generator) - side // 2
    left = torch.randint(0, w, (n, 1), generator=generator) - side // 2
    ys, xs = torch.arange(h), torch.arange(w)
    rows = ((ys >= top) & (ys < top + side)).to(x.dtype)  # (N, H)
    cols = ((xs >= left) & (xs < left + side)).to(x.dtype)  # (N, W)
    # a multiply by the kept pixels: a vectorised broadcast, ~8x faster than masked_fill
    return x * (1.0 - rows[:, None, :, None] * cols[:, None, None, :])


def crop_flip_cutout(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return cutout(random_crop_flip(x, generator), generator)


# `--augment` name (fftoolkit.models.spec.AUGMENTS) -> what is done to each training batch
AUGMENTATIONS: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None] = {
    "none": None,
    "basic": random_crop_flip,  # random crop (pad 4) + horizontal flip
    "strong": crop_flip_cutout,  # basic, then cutout
}
