"""Read the official CIFAR-10 python batches (`cifar-10-batches-py/`) without trusting pickle.

The batches are Python-2 pickles of dicts with bytes keys holding a numpy uint8 array. The
unpickler below resolves only the few globals those files name (a numpy array rebuilt from raw
bytes, an integer dtype, latin-1 bytes), so a crafted file cannot run code.
"""

from __future__ import annotations

import codecs
import io
import pickle
from typing import Any

import numpy as np

from fftoolkit.data.sources import Member, Tree
from fftoolkit.errors import FFTKError

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"


class _NdarrayName:
    """What the pickle's `numpy.ndarray` global resolves to: a name for `_reconstruct` to check,
    not the class itself, which a REDUCE could call to allocate an array of any size."""

    __slots__ = ()  # and no __dict__ a BUILD could write into


_NDARRAY = _NdarrayName()


def _reconstruct(subtype: object, shape: object, typecode: object) -> np.ndarray:
    """Stand-in for numpy's `_reconstruct`: an empty array whose state BUILD then fills in
    (numpy checks that the pickled bytes match the declared shape, so no size is trusted)."""
    if subtype is not _NDARRAY:
        raise pickle.UnpicklingError("only plain numpy arrays are allowed")
    return np.empty(0, dtype=np.uint8)


def _dtype(spec: object, align: object = False, copy: object = False) -> np.dtype:
    """numpy.dtype restricted to plain numbers: an object dtype would reopen the door."""
    if isinstance(spec, bytes):
        spec = spec.decode("ascii")
    dtype = np.dtype(spec)
    if dtype.kind not in "biuf":
        raise pickle.UnpicklingError(f"dtype {dtype} is not allowed")
    return dtype


def _latin1(text: str, encoding: str = "latin1") -> bytes:
    """`_codecs.encode` as protocol-2 pickles use it for bytes; only latin-1 is allowed."""
    if codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(f"codec {encoding!r} is not allowed")
    return text.encode("latin1")


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _latin1,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed") from None


def find_root(tree: Tree) -> str | None:
    """The prefix of the folder holding `batches.meta` + `data_batch_1`, if any."""
    for prefix in tree.prefixes():
        if f"{prefix}{META}" in tree.files and f"{prefix}{TRAIN_BATCHES[0]}" in tree.files:
            return prefix
    return None


def read_cifar_splits(
    tree: Tree, prefix: str, source: str
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str]]:
    """train = data_batch_1..5 in order, test = test_batch (if present); class names from meta."""
    meta = load_batch(tree.files[f"{prefix}{META}"])
    names = meta.get(b"label_names")
    if not isinstance(names, list) or not names:
        raise FFTKError(f"{source}:{prefix}{META}: no label_names list")
    classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    out = {}
    for split, batches in (("train", TRAIN_BATCHES), ("test", (TEST_BATCH,))):
        present = [b for b in batches if f"{prefix}{b}" in tree.files]
        if split == "test" and not present:
            continue
        if present != list(batches):
            missing = ", ".join(b for b in batches if b not in present)
            raise FFTKError(f"{source}: missing CIFAR batch file(s) {missing} in {prefix or './'}")
        parts = [_batch_arrays(tree.files[f"{prefix}{b}"], len(classes)) for b in batches]
        out[split] = (
            np.concatenate([images for images, _ in parts]),
            np.concatenate([labels for _, labels in parts]),
        )
    return out, classes


def load_batch(member: Member) -> dict:
    """Unpickle one batch file with the restricted unpickler."""
    try:
        obj = _RestrictedUnpickler(io.BytesIO(member.read()), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, UnicodeError, MemoryError, RecursionError) as exc:
        raise FFTKError(f"{member.label}: not a valid CIFAR-10 batch ({exc})") from None
    if not isinstance(obj, dict):
        raise FFTKError(f"{member.label}: not a valid CIFAR-10 batch (no dict inside)")
    return obj


def _batch_arrays(member: Member, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, 32, 32, 3) uint8 images from the row-major CHW rows, and int64 labels."""
    batch = load_batch(member)
    data, labels = batch.get(b"data"), batch.get(b"labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3 * 32 * 32:
        shape = getattr(data, "shape", None)
        raise FFTKError(f"{member.label}: b'data' is not a uint8 (N, 3072) array (got {shape})")
    if not isinstance(labels, list) or len(labels) != data.shape[0]:
        raise FFTKError(f"{member.label}: b'labels' does not hold one label per image")
    labels_arr = np.asarray(labels, dtype=np.int64)
    if labels_arr.size and (labels_arr.min() < 0 or labels_arr.max() >= n_classes):
        raise FFTKError(f"{member.label}: labels outside 0..{n_classes - 1}")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels_arr
