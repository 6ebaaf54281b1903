"""Read MNIST-style IDX files (gzip or raw), checking magic, dimensions and byte counts."""

from __future__ import annotations

import gzip
import zlib

import numpy as np

from fftoolkit.data.registry import IDX_FILES
from fftoolkit.data.sources import Member, Tree
from fftoolkit.errors import FFTKError

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (N, rows, cols)
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (N,)


def find_root(tree: Tree) -> str | None:
    """The prefix ("" or "name/") under which the IDX training images lie, if any."""
    for prefix in tree.prefixes():
        if _find(tree, prefix, IDX_FILES["train"][0]) is not None:
            return prefix
    return None


def read_idx_splits(
    tree: Tree, prefix: str, source: str
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """train (and test, if present) as (N, H, W, 1) uint8 images and int64 labels."""
    out = {}
    for split, (images_name, labels_name) in IDX_FILES.items():
        images_member = _find(tree, prefix, images_name)
        labels_member = _find(tree, prefix, labels_name)
        if images_member is None and labels_member is None and split != "train":
            continue
        if images_member is None or labels_member is None:
            missing = images_name if images_member is None else labels_name
            raise FFTKError(f"{source}: missing {prefix}{missing}(.gz) next to the other IDX files")
        images = read_idx(images_member, IMAGES_MAGIC)
        labels = read_idx(labels_member, LABELS_MAGIC)
        if images.shape[0] != labels.shape[0]:
            raise FFTKError(
                f"{labels_member.label}: {labels.shape[0]} labels for {images.shape[0]} images"
            )
        out[split] = (images[..., None], labels.astype(np.int64))
    return out


def read_idx(member: Member, magic: int) -> np.ndarray:
    """Decode one IDX file; any mismatch with its header is an error naming the file."""
    data = _decompress(member)
    if len(data) < 4:
        raise FFTKError(f"{member.label}: too short to be an IDX file ({len(data)} bytes)")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise FFTKError(f"{member.label}: wrong IDX magic {found}, expected {magic}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise FFTKError(f"{member.label}: IDX header truncated")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        raise FFTKError(
            f"{member.label}: IDX header says {dims} ({expected} bytes), file has {len(data)} bytes"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _find(tree: Tree, prefix: str, name: str) -> Member | None:
    for candidate in (f"{prefix}{name}.gz", f"{prefix}{name}"):
        if candidate in tree.files:
            return tree.files[candidate]
    return None


def _decompress(member: Member) -> bytes:
    raw = member.read()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise FFTKError(f"{member.label}: truncated gzip file (download it again)") from None
    except (OSError, zlib.error) as exc:
        raise FFTKError(f"{member.label}: damaged gzip file ({exc})") from None
