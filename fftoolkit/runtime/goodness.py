"""Goodness computed by the runner from feature outputs, for both FF families (numpy only:
runs on a board without torch).

Improved FF: per-class goodness from the last two blocks' features, for bundles with
`goodness == "from-features"`; keeping eq. 2's squared reduction out of the int8 graph
preserves accuracy (the runner dequantizes the int8 features and reduces in float32).
Original FF: per-label goodness of the overlaid passes, or per sample for per-block runs where
the runner overlays the labels.
"""

from __future__ import annotations

from typing import Any

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


def goodness_from_sums(sums: np.ndarray, scales: list[float], group_sizes: list[int],
                       groups: int) -> np.ndarray:
    """The C engine's integer goodness -> eq. 2 summed over its blocks, as
    `goodness_from_features` gives from the dequantized int8 features.

    sums: (N, K*groups), per block k and class j the sum of (q - zero_point)^2 over j's channel
    group; scales[k], group_sizes[k]: block k's feature scale and elements per group.
    -> (N, groups) float32: sum over k of scale_k^2 * sum / group_size_k."""
    per_block = np.asarray(sums, dtype=np.float64).reshape(len(sums), len(scales), groups)
    weights = np.asarray([s * s / n for s, n in zip(scales, group_sizes, strict=True)])
    return (per_block * weights[None, :, None]).sum(axis=1).astype(np.float32)


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


def layer_goodness(y: np.ndarray, reduction: str) -> np.ndarray:
    """Original FF goodness: per-sample mean or sum of squared activities -> (N,)."""
    sq = np.square(y.reshape(len(y), -1), dtype=np.float32)
    return sq.mean(axis=1) if reduction == "mean" else sq.sum(axis=1)


def fused_goodness(features: list[np.ndarray], multi_pass: dict[str, Any],
                   layout: str) -> np.ndarray:
    """(N, J) from a fused model's feature outputs: the last two blocks' channel groups, or
    (original FF, overlays in-graph) the J*N label-major overlaid passes."""
    if multi_pass["kind"] == "channel-groups":
        a, b = features
        return goodness_from_features(a, b, int(multi_pass["groups"]), layout)
    return overlay_goodness(features, int(multi_pass["num_classes"]),
                            multi_pass.get("goodness", "mean"))


def block_goodness(features: list[np.ndarray], multi_pass: dict[str, Any],
                   layout: str) -> np.ndarray:
    """From per-block outputs: (N, J) channel groups, or (N,) per overlaid sample for the
    original FF (the runner overlaid the labels)."""
    if multi_pass["kind"] == "channel-groups":
        a, b = features
        return goodness_from_features(a, b, int(multi_pass["groups"]), layout)
    total = np.zeros(len(features[0]), dtype=np.float32)
    for f in features:
        total += layer_goodness(f, multi_pass.get("goodness", "mean"))
    return total
