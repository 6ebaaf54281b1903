"""Goodness computed by the runner from feature outputs (numpy), for both FF families.

The reductions themselves are the exporter's numpy references in `goodness.py` (eq. 2 channel
groups; overlaid passes); the per-sample layer goodness (Hinton) is here, for per-block runs
where the runner overlays the labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fftoolkit.runtime.goodness import goodness_from_features, overlay_goodness


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
