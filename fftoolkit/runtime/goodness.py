"""Per-class goodness from the last two blocks' features, for bundles with
`goodness == "from-features"` (numpy only: runs on a board without torch).

Keeping eq. 2's squared reduction out of the int8 graph preserves accuracy: the runner
dequantizes the int8 features (real = scale * (q - zero_point)) and reduces in float32.
"""

from __future__ import annotations

import numpy as np


def channel_goodness(feat: np.ndarray, groups: int, layout: str = "NCHW") -> np.ndarray:
    """Paper eq. 2: G[n, j] = mean over (s, h, w) of Y[n, j, s, h, w]^2, channels split into
    `groups` contiguous groups. feat: (N, C, H, W) or (N, H, W, C) -> (N, groups) float32."""
    y = np.asarray(feat, dtype=np.float32)
    if layout == "NHWC":
        y = y.transpose(0, 3, 1, 2)
    elif layout != "NCHW":
        raise ValueError(f"layout must be NCHW or NHWC, not {layout!r}")
    n = y.shape[0]
    return np.square(y.reshape(n, groups, -1)).mean(axis=2)


def goodness_from_features(feat_a: np.ndarray, feat_b: np.ndarray, groups: int,
                           layout: str = "NCHW") -> np.ndarray:
    """Goodness summed over the last two blocks (the improved FF's "multi-pass" logits)."""
    return channel_goodness(feat_a, groups, layout) + channel_goodness(feat_b, groups, layout)


def overlay_goodness(feats: list[np.ndarray], num_classes: int,
                     reduction: str = "mean") -> np.ndarray:
    """Original FF: per-label goodness (N, J) from the overlaid passes' features of each goodness
    layer, each (J*N, ...) label-major; goodness = mean or sum of squares (Hinton), summed."""
    total = 0.0
    for f in feats:
        sq = np.square(np.asarray(f, dtype=np.float32).reshape(len(f), -1))
        total = total + (sq.mean(axis=1) if reduction == "mean" else sq.sum(axis=1))
    return np.asarray(total, dtype=np.float32).reshape(num_classes, -1).T


def dequantize(q: np.ndarray, quant: dict[str, float] | None) -> np.ndarray:
    """Integer tensor -> float32 with the manifest's {"scale", "zero_point"}; floats pass."""
    if quant is None:
        return np.asarray(q, dtype=np.float32)
    return (np.asarray(q, dtype=np.float32) - np.float32(quant["zero_point"])) * np.float32(
        quant["scale"])
