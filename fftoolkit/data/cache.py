"""Where datasets live on disk, and the decoded-once uint8 cache of each source.

A prepared source is a folder of `.npy` arrays + `meta.json`, named by a key derived from the
source's absolute path, sizes and mtimes; it is moved into place whole, so it is never half-written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fftoolkit.atomic import atomic_dir
from fftoolkit.errors import FFTKError

ENV_VAR = "FFTK_DATA"
FORMAT_VERSION = 1  # bump when the decoded layout changes, so old caches are ignored


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """`cache_dir`, else $FFTK_DATA, else ~/.cache/fftk."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fftk"


def prepared_path(root: Path, name: str, key: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60] or "dataset"
    return root / "prepared" / f"{slug}-{key[:16]}"


@dataclass(frozen=True)
class Prepared:
    """A decoded source: every split it has, plus what the loader needs to carve validation."""

    path: Path
    name: str
    source: str
    fmt: str
    classes: list[str]
    counts: dict[str, int]  # split -> number of images
    default_val_split: int | float

    def arrays(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Memory-mapped (images, labels) of one split as stored."""
        return (
            np.load(self.path / f"{split}_images.npy", mmap_mode="r"),
            np.load(self.path / f"{split}_labels.npy", mmap_mode="r"),
        )


def read_prepared(path: Path) -> Prepared | None:
    """The prepared cache at `path`, or None if there is none (or it is from another version)."""
    try:
        meta = json.loads((path / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    if meta.get("version") != FORMAT_VERSION:
        return None
    return Prepared(
        path=path,
        name=meta["name"],
        source=meta["source"],
        fmt=meta["format"],
        classes=list(meta["classes"]),
        counts={k: int(v) for k, v in meta["counts"].items()},
        default_val_split=meta["default_val_split"],
    )


def write_prepared(
    path: Path,
    arrays: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    name: str,
    source: str,
    fmt: str,
    classes: list[str],
    default_val_split: int | float,
) -> Prepared:
    """Write all splits + meta.json into a temp folder, then move it into place in one step."""
    meta = {
        "version": FORMAT_VERSION,
        "name": name,
        "source": source,
        "format": fmt,
        "classes": classes,
        "counts": {split: int(labels.shape[0]) for split, (_, labels) in arrays.items()},
        "default_val_split": default_val_split,
    }
    try:
        with atomic_dir(path) as tmp:
            for split, (images, labels) in arrays.items():
                np.save(tmp / f"{split}_images.npy", np.ascontiguousarray(images, np.uint8))
                np.save(tmp / f"{split}_labels.npy", np.ascontiguousarray(labels, np.int64))
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    except OSError as exc:
        done = read_prepared(path)  # another process may have finished the same work first
        if done is not None:
            return done
        raise FFTKError(f"{path}: cannot write the dataset cache ({exc})") from None
    prepared = read_prepared(path)
    assert prepared is not None
    _drop_stale(path, source)
    return prepared


def _drop_stale(keep: Path, source: str) -> None:
    """Delete older caches of `source` (it changed since), so edits do not pile up copies."""
    for other in keep.parent.iterdir():
        if other == keep or other.name.startswith("."):
            continue
        try:
            stale = json.loads((other / "meta.json").read_text()).get("source") == source
        except (OSError, ValueError):
            continue
        if stale:
            shutil.rmtree(other, ignore_errors=True)
