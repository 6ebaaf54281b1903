"""Original-FF label overlays in numpy, matching `fftoolkit.ff.overlay` (the torch reference).

Applied to the normalised input in the model's layout, as the trainer does.
"""

from __future__ import annotations

import numpy as np

from fftoolkit.errors import FFTKError


def first_pixels(x: np.ndarray, labels: np.ndarray | None, num_classes: int,
                 layout: str) -> np.ndarray:
    """The first `num_classes` values of each flattened (C, H, W) image become the label
    (one-hot, or 1/J each for the neutral label when `labels` is None)."""
    out = x.copy()
    c, h, w = np.unravel_index(np.arange(num_classes), _chw(x, layout))
    # (N, J) overlay values for positions (c, h, w) of the CHW flattening
    if labels is None:
        values = np.full((len(x), num_classes), 1.0 / num_classes, dtype=x.dtype)
    else:
        values = np.eye(num_classes, dtype=x.dtype)[labels]
    if layout == "NCHW":
        out[:, c, h, w] = values
    else:
        out[:, h, w, c] = values
    return out


def fourier(x: np.ndarray, labels: np.ndarray | None, patterns: np.ndarray,
            layout: str) -> np.ndarray:
    """Add the label's (H, W) pattern to every channel; the neutral label adds nothing."""
    if labels is None:
        return x
    p = patterns[labels].astype(x.dtype)  # (N, H, W)
    return x + (p[:, None] if layout == "NCHW" else p[..., None])


def apply(kind: str, x: np.ndarray, labels: np.ndarray | None, num_classes: int, layout: str,
          patterns: np.ndarray | None) -> np.ndarray:
    if kind == "first-pixels":
        return first_pixels(x, labels, num_classes, layout)
    if kind == "fourier":
        if patterns is None:
            raise FFTKError("this bundle uses fourier overlays but ships no patterns file")
        return fourier(x, labels, patterns, layout)
    raise FFTKError(f"unknown overlay kind {kind!r} in the manifest")


def _chw(x: np.ndarray, layout: str) -> tuple[int, int, int]:
    _, a, b, d = x.shape
    return (a, b, d) if layout == "NCHW" else (d, a, b)
