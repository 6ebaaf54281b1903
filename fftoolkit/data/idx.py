"""Read MNIST-style IDX files (gzip or raw), checking magic, dimensions and byte counts.

The declared size may be at most $FFTK_MAX_DATASET_BYTES (default 2 GiB); see MAX_IDX_BYTES.
"""

from __future__ import annotations

import gzip
import io
import math
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO, cast

import numpy as np

from fftoolkit.data.registry import IDX_FILES
from fftoolkit.data.sources import Member, Tree
from fftoolkit.errors import FFTKError
from fftoolkit.limits import GiB, Limit

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (N, rows, cols)
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (N,)

# Limits (see fftoolkit/limits.py): the body one IDX file may declare, checked before reading it.
MAX_IDX_BYTES = Limit(2 * GiB, "FFTK_MAX_DATASET_BYTES")
CHUNK = 1 << 20  # bytes decompressed per read
REST_CAP = 1 << 20  # trailing bytes counted past the declared body before giving up counting


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
    """Decode one IDX file, streaming: the header is checked against the file and the size limit
    before the body is decompressed, so a small gzip bomb fails before anything is allocated."""
    with _reading(member), _open_stream(member) as stream:
        dims, header = _read_header(stream, member, magic)
        size = math.prod(dims)
        if size > MAX_IDX_BYTES.get():
            raise FFTKError(f"{member.label}: IDX header declares {dims} ({size:,} bytes), over "
                            f"the size limit ({MAX_IDX_BYTES.hint()})")
        body = np.empty(size, dtype=np.uint8)  # pages are only touched as data arrives
        got = _read_into(stream, body)
        extra = _count_rest(stream) if got == size else 0
    if got != size or extra:
        total = header + got + extra
        found = f"{total} bytes" if extra <= REST_CAP else f"more than {total - 1} bytes"
        raise FFTKError(f"{member.label}: IDX header says {dims} ({header + size} bytes), "
                        f"file has {found}")
    return body.reshape(dims)


def _read_header(stream: BinaryIO, member: Member, magic: int) -> tuple[tuple[int, ...], int]:
    """(dims, header length) after checking the magic number and that no dimension is zero."""
    head = _read_exact(stream, 4)
    if len(head) < 4:
        raise FFTKError(f"{member.label}: too short to be an IDX file ({len(head)} bytes)")
    found = int.from_bytes(head, "big")
    if found != magic:
        raise FFTKError(f"{member.label}: wrong IDX magic {found}, expected {magic}")
    ndim = magic & 0xFF
    raw = _read_exact(stream, 4 * ndim)
    if len(raw) < 4 * ndim:
        raise FFTKError(f"{member.label}: IDX header truncated")
    dims = tuple(int.from_bytes(raw[4 * i : 4 * i + 4], "big") for i in range(ndim))
    if any(d == 0 for d in dims[1:]):
        raise FFTKError(f"{member.label}: IDX header declares an empty image size {dims[1:]}")
    return dims, 4 + 4 * ndim


@contextmanager
def _open_stream(member: Member) -> Iterator[BinaryIO]:
    """The member's bytes as a stream, gunzipped on the fly if it starts with the gzip magic."""
    if member.data is not None:
        raw: BinaryIO = io.BytesIO(member.data)
    else:
        assert member.path is not None
        try:
            raw = member.path.open("rb")
        except OSError as exc:
            raise FFTKError(f"{member.label}: cannot read ({exc.strerror or exc})") from None
    with raw:
        magic = raw.read(2)
        raw.seek(0)
        if magic != b"\x1f\x8b":
            yield raw
            return
        with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
            yield cast(BinaryIO, unzipped)


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    """Up to `n` bytes (fewer only at the end of the file)."""
    parts, left = [], n
    while left:
        block = stream.read(left)
        if not block:
            break
        parts.append(block)
        left -= len(block)
    return b"".join(parts)


def _read_into(stream: BinaryIO, out: np.ndarray) -> int:
    """Fill `out` from the stream in chunks; returns how many bytes there were."""
    view = memoryview(out)
    pos = 0
    while pos < len(view):
        n = stream.readinto(view[pos : pos + CHUNK])
        if not n:
            break
        pos += n
    return pos


def _count_rest(stream: BinaryIO) -> int:
    """Bytes left after the declared body, counted up to just past REST_CAP (then we stop)."""
    rest = 0
    while rest <= REST_CAP:
        block = stream.read(CHUNK)
        if not block:
            break
        rest += len(block)
    return rest


@contextmanager
def _reading(member: Member) -> Iterator[None]:
    """A damaged or truncated file read inside the block becomes an error naming it."""
    try:
        yield
    except EOFError:
        raise FFTKError(f"{member.label}: truncated gzip file (download it again)") from None
    except (OSError, zlib.error) as exc:
        raise FFTKError(f"{member.label}: damaged gzip file ({exc})") from None


def _find(tree: Tree, prefix: str, name: str) -> Member | None:
    for candidate in (f"{prefix}{name}.gz", f"{prefix}{name}"):
        if candidate in tree.files:
            return tree.files[candidate]
    return None
