"""`load_dataset`: name or path -> one split as uint8 arrays, decoding each source only once."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from fftoolkit.data import cifar_pickle, idx, imagefolder
from fftoolkit.data.cache import (
    FORMAT_VERSION,
    Prepared,
    cache_root,
    prepared_path,
    read_prepared,
    write_prepared,
)
from fftoolkit.data.dataset import SPLITS, Dataset
from fftoolkit.data.fetch import sha256_of
from fftoolkit.data.registry import DATASETS, NamedDataset
from fftoolkit.data.sources import ARCHIVE_SUFFIXES, fingerprint, read_source
from fftoolkit.data.splits import ValSplit, carve, check_val_split, default_val_split
from fftoolkit.errors import FFTKError


def load_dataset(
    name_or_path: str | Path,
    split: str = "train",
    val_split: float | int | None = None,
    cache_dir: str | Path | None = None,
) -> Dataset:
    """One split of a named dataset (mnist, fashion-mnist, cifar10) or an image-folder tree.

    `val` is carved from the training images (the last `val_split` of each class) unless the
    source has its own validation split; `train` then excludes those images.
    """
    if split not in SPLITS:
        raise FFTKError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    prepared = prepare(name_or_path, cache_dir)
    images, labels = select(prepared, split, val_split)
    return Dataset(images=images, labels=labels, classes=list(prepared.classes),
                   name=prepared.name, split=split)


def prepare(name_or_path: str | Path, cache_dir: str | Path | None = None) -> Prepared:
    """The decoded cache of a source, decoding every image now if it is not there yet."""
    root = cache_root(cache_dir)
    source, named = _resolve(name_or_path, root)
    name = named.name if named else _path_name(source)
    key = hashlib.sha256(f"v{FORMAT_VERSION}\0{fingerprint(source)}".encode()).hexdigest()
    target = prepared_path(root, name, key)
    done = read_prepared(target)
    if done is not None:
        return done
    arrays, classes, fmt = _decode(source, named)
    train_labels = arrays["train"][1] if "train" in arrays else np.empty(0, np.int64)
    counts = [int(np.count_nonzero(train_labels == c)) for c in range(len(classes))]
    return write_prepared(
        target, arrays, name=name, source=str(source), fmt=fmt, classes=classes,
        default_val_split=default_val_split(fmt, counts),
    )


def resolve_val_split(prepared: Prepared, val_split: float | int | None) -> ValSplit | None:
    """The validation split that applies: None if the source brings its own val split."""
    if "val" in prepared.counts:
        if val_split is not None:
            raise FFTKError(
                f"{prepared.source}: has its own val/ split; do not pass a val_split for it"
            )
        return None
    if val_split is None:
        return prepared.default_val_split
    return check_val_split(val_split, prepared.source)


def select(
    prepared: Prepared, split: str, val_split: float | int | None
) -> tuple[np.ndarray, np.ndarray]:
    """In-memory (images, labels) of one split, carving val from train when needed."""
    carve_with = resolve_val_split(prepared, val_split)
    if split == "test" and "test" not in prepared.counts:
        raise FFTKError(f"{prepared.source}: has no test split ({_test_hint(prepared.fmt)})")
    if split != "test" and "train" not in prepared.counts and (split == "train" or carve_with):
        raise FFTKError(f"{prepared.source}: has no train split (only "
                        f"{', '.join(sorted(prepared.counts))}); use --split test")
    if split == "test" or carve_with is None:
        images, labels = prepared.arrays(split)
        return np.array(images), np.array(labels)
    images, labels = prepared.arrays("train")
    train_idx, val_idx = carve_indices(prepared, carve_with)
    chosen = train_idx if split == "train" else val_idx
    return images[chosen], np.asarray(labels[chosen])


def carve_indices(prepared: Prepared, carve_with: ValSplit) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) positions inside the stored training split."""
    _, labels = prepared.arrays("train")
    return carve(np.asarray(labels), prepared.classes, carve_with, prepared.source)


def _resolve(name_or_path: str | Path, root: Path) -> tuple[Path, NamedDataset | None]:
    """The source on disk, and the registry entry when the user gave a dataset name."""
    key = str(name_or_path)
    if key in DATASETS:  # a name always wins; a folder called "mnist" is reached as ./mnist
        named = DATASETS[key]
        folder = root / named.name
        if named.fmt == "cifar-pickle":
            for candidate in (folder / named.files[0].name, folder / "cifar-10-batches-py"):
                if candidate.exists():
                    return candidate, named
        elif all((folder / f.name).is_file() for f in named.files):
            return folder, named
        raise FFTKError(
            f"{named.name} is not in the cache ({folder}): run `fftk data fetch {named.name}`"
            + ("" if root.resolve() == cache_root().resolve() else f" --cache-dir {root}")
        )
    path = Path(name_or_path).expanduser()
    if not path.exists():
        raise FFTKError(
            f"{path}: no such file or folder (and not a dataset name: "
            f"{', '.join(DATASETS)})"
        )
    return path.resolve(), DATASETS.get(path.name)


def dataset_record(name_or_path: str | Path) -> dict[str, str]:
    """How a bundle records the data it was calibrated/checked on, without the exporting
    machine's absolute paths: a named dataset by its name ({"name": "cifar10"}); a file (a
    .tar.gz) by {"name": basename, "sha256": ...}; a folder by {"name": folder name}, plus
    "path" relative to the current directory when it lies inside it. A path that is not there
    is recorded by its last component only. Names win over paths, as in `load_dataset`."""
    key = str(name_or_path)
    if key in DATASETS:
        return {"name": DATASETS[key].name}
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return {"name": path.name, "sha256": sha256_of(path)}
    record = {"name": path.resolve().name if path.exists() else path.name}
    if path.is_dir():
        here, there = Path.cwd().resolve(), path.resolve()
        if there.is_relative_to(here):
            record["path"] = there.relative_to(here).as_posix()
    return record


def _path_name(path: Path) -> str:
    for suffix in ARCHIVE_SUFFIXES:
        if path.name.lower().endswith(suffix):
            return path.name[: -len(suffix)]
    return path.name


def _decode(
    source: Path, named: NamedDataset | None
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str], str]:
    """Detect the source's format and decode it: (split arrays, class names, format)."""
    tree = read_source(source)
    prefix = cifar_pickle.find_root(tree)
    if prefix is not None:
        arrays, classes = cifar_pickle.read_cifar_splits(tree, prefix, str(source))
        return arrays, classes, "cifar-pickle"
    prefix = idx.find_root(tree)
    if prefix is not None:
        arrays = idx.read_idx_splits(tree, prefix, str(source))
        top = max((int(labels.max()) for _, labels in arrays.values() if labels.size), default=-1)
        if named is not None and named.fmt == "idx":
            classes = list(named.classes)
            if top >= len(classes):
                raise FFTKError(f"{source}: label {top} in IDX files of {named.name} "
                                f"({len(classes)} classes)")
        else:
            classes = [str(c) for c in range(top + 1)]
        return arrays, classes, "idx"
    prefix = imagefolder.find_root(tree)
    if prefix is not None:
        arrays, classes = imagefolder.decode_tree(tree, prefix, str(source))
        return arrays, classes, "imagefolder"
    raise FFTKError(
        f"{source}: no dataset found: expected train/<class>/*.png|jpg, "
        "IDX files (train-images-idx3-ubyte.gz, ...) or cifar-10-batches-py/"
    )


def _test_hint(fmt: str) -> str:
    return {
        "imagefolder": "no test/<class>/ folders",
        "idx": "no t10k-images-idx3-ubyte(.gz)",
        "cifar-pickle": "no test_batch",
    }[fmt]
