"""Goodness computed by the runner from feature outputs (numpy), for both FF families.

Improved FF uses the exporter's eq. 2 reference (`goodness.goodness_from_features`); the
original FF's per-layer goodness (Hinton) is here, for per-block runs that overlay labels
outside the graph.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fftoolkit.runtime.goodness import goodness_from_features


def layer_goodness(y: np.ndarray, reduction: str) -> np.ndarray:
    """Original FF goodness: per-sample mean or sum of squared activities -> (N,)."""
    sq = np.square(y.reshape(len(y), -1), dtype=np.float32)
    return sq.mean(axis=1) if reduction == "mean" else sq.sum(axis=1)


def goodness(features: list[np.ndarray], multi_pass: dict[str, Any], layout: str) -> np.ndarray:
    """Summed goodness of the blocks that feed prediction: (N, J) channel groups, or (N,) per
    overlaid sample for the original FF."""
    if multi_pass["kind"] == "channel-groups":
        a, b = features
        return goodness_from_features(a, b, int(multi_pass["groups"]), layout)
    total = np.zeros(len(features[0]), dtype=np.float32)
    for f in features:
        total += layer_goodness(f, multi_pass.get("goodness", "mean"))
    return total
