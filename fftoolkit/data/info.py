"""`dataset_info`: what a source holds once decoded (shape, classes, split sizes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fftoolkit.data.loader import carve_indices, prepare, resolve_val_split


def dataset_info(
    name_or_path: str | Path,
    val_split: float | int | None = None,
    cache_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Prepare the cache (decoding every image, so a damaged file shows up now) and describe it."""
    prepared = prepare(name_or_path, cache_dir)
    carve_with = resolve_val_split(prepared, val_split)
    first_split = next(s for s in ("train", "val", "test") if s in prepared.counts)
    images, _ = prepared.arrays(first_split)
    if "train" not in prepared.counts:
        sizes = {"train": None, "val": prepared.counts.get("val")}
        val_from = "own val/ split" if "val" in prepared.counts else "none"
        carve_with = None
    elif carve_with is None:
        sizes = {"train": prepared.counts["train"], "val": prepared.counts["val"]}
        val_from = "own val/ split"
    else:
        train_idx, val_idx = carve_indices(prepared, carve_with)
        sizes = {"train": int(train_idx.size), "val": int(val_idx.size)}
        per_class = "per class" if isinstance(carve_with, int) else "of each class"
        amount = carve_with if isinstance(carve_with, int) else f"{carve_with:.0%}"
        val_from = f"last {amount} {per_class} of train"
    sizes["test"] = prepared.counts.get("test")
    return {
        "name": prepared.name,
        "source": prepared.source,
        "format": prepared.fmt,
        "image_shape": list(images.shape[1:]),
        "dtype": str(images.dtype),
        "classes": prepared.classes,
        "splits": sizes,
        "val_split": carve_with,
        "val_from": val_from,
        "cache": str(prepared.path),
    }
