"""Writers for dataset fixtures in the exact on-disk formats (the CLI runner: tests/fftk_cli.py)."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck"]
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's own _reconstruct


class Py2Pickler(pickle._Pickler):  # noqa: SLF001 - the pure-Python pickler is the extensible one
    """Protocol 2 as Python 2's cPickle wrote the official CIFAR batches: every str/bytes as a
    BINSTRING, numpy arrays rebuilt by `numpy.core.multiarray._reconstruct`."""

    dispatch = pickle._Pickler.dispatch.copy()  # noqa: SLF001

    def save_py2_str(self, obj: str | bytes) -> None:
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str

    def save_global(self, obj: object, name: str | None = None) -> None:
        if obj is _RECONSTRUCT:
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)


def py2_pickle(obj: object) -> bytes:
    out = io.BytesIO()
    Py2Pickler(out, protocol=2).dump(obj)
    return out.getvalue()


def cifar_batch(n: int, seed: int, label: str) -> tuple[dict, np.ndarray, np.ndarray]:
    """An official-layout batch dict + the (N, 32, 32, 3) images and labels it encodes."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = (np.arange(n) + seed) % 10
    batch = {
        b"batch_label": label.encode(),
        b"labels": [int(v) for v in labels],
        b"data": images.transpose(0, 3, 1, 2).reshape(n, 3072).copy(),  # row-major CHW
        b"filenames": [f"img_{seed}_{i}.png".encode() for i in range(n)],
    }
    return batch, images, labels


def write_cifar_batches(
    root: Path, per_batch: int = 30, dumps: Callable[[object], bytes] = py2_pickle
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """`root/cifar-10-batches-py/` with data_batch_1..5, test_batch, batches.meta."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    expected = {}
    parts = []
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for seed, name in enumerate(names, 1):
        batch, images, labels = cifar_batch(per_batch, seed, f"batch {seed} of 6")
        (folder / name).write_bytes(dumps(batch))
        parts.append((images, labels))
    expected["train"] = (np.concatenate([p[0] for p in parts[:5]]),
                         np.concatenate([p[1] for p in parts[:5]]))
    expected["test"] = parts[5]
    meta = {b"num_cases_per_batch": per_batch,
            b"label_names": [c.encode() for c in CIFAR_CLASSES], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(dumps(meta))
    return expected


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file: magic 0x0000 08 <ndim>, big-endian uint32 dims, then the uint8 data."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, np.uint8).tobytes()


def write_idx_dataset(root: Path, n_train: int = 50, n_test: int = 20, gz: bool = True) -> dict:
    """The four MNIST-named IDX files with random 28x28 digits; returns the arrays written."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            data = idx_bytes(array)
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (root / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (root / name).write_bytes(data)
        out[split] = (images, labels)
    return out


def make_tar(source: Path, target: Path, arcname: str = ".") -> Path:
    with tarfile.open(target, "w:gz") as tar:
        tar.add(source, arcname=arcname)
    return target


def write_png_tree(root: Path, counts: dict[str, dict[str, int]], size=(8, 6), mode="RGB") -> None:
    """ROOT/<split>/<class>/NNN.png with distinct random pixels; counts[split][class] images."""
    rng = np.random.default_rng(1)
    channels = {"RGB": 3, "L": 1}[mode]
    for split, by_class in counts.items():
        for name, n in by_class.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
                Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode).save(
                    folder / f"{i:03d}.png"
                )


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []
