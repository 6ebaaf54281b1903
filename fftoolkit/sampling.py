"""The one seeded subset: which images a `--limit N` run (train, eval, run, bench) and export
calibration use.

Dataset splits and image folders are sorted by class, so a prefix of N images would hold the
first classes only; a seeded random draw holds every class and is the same N every time.
Shared leaf (docs/ARCHITECTURE.md): data, runtime, train and export all import it, so it
imports nothing of fftoolkit and no third-party package but numpy.
"""

from __future__ import annotations

import numpy as np


def seeded_subset(n_total: int, n: int | None, seed: int = 0) -> np.ndarray:
    """Sorted indices of `n` items drawn without replacement out of `n_total` (seeded), or all
    of them (0 .. n_total - 1) when `n` is None or at least `n_total`.

    The draw is `np.random.default_rng(seed).choice(n_total, n, replace=False)`, sorted: export
    calibration has always picked its images this way, so int8 bundles do not change.
    """
    if n is None or n >= n_total:
        return np.arange(n_total)
    if n < 0:
        raise ValueError(f"a subset of {n} items")
    return np.sort(np.random.default_rng(seed).choice(n_total, size=n, replace=False))
