"""Decode an image-folder tree `ROOT/<split>/<class>/*.{png,jpg,jpeg}` into uint8 arrays.

Class index = position of the class folder in the sorted names of the first split present
(`train/`, else `val/`, else `test/`), so a held-out tree with only `test/<class>/` works too;
images inside a class are taken in file-name order, the rank order the validation carve uses.
"""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image
from tqdm import tqdm

from fftoolkit.data.sources import Member, Tree
from fftoolkit.errors import FFTKError
from fftoolkit.limits import GiB, Limit, image_pixel_limit

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}
SPLIT_ORDER = ("train", "val", "test")
SplitArrays = dict[str, tuple[np.ndarray, np.ndarray]]  # split -> (images, labels)
# Limits (see fftoolkit/limits.py; MAX_IMAGE_PIXELS there bounds each image): the decoded
# arrays of all splits together, checked before they are allocated.
MAX_DECODED_BYTES = Limit(2 * GiB, "FFTK_MAX_DATASET_BYTES")


def find_root(tree: Tree) -> str | None:
    """The tree's root prefix ("" or "name/") if it holds `<split>/<class>/<image>`."""
    for prefix in tree.prefixes():
        for split in SPLIT_ORDER:
            if f"{prefix}{split}" in tree.dirs and any(
                rel.startswith(f"{prefix}{split}/") and _is_image(rel) for rel in tree.files
            ):
                return prefix
    return None


def decode_tree(tree: Tree, prefix: str, source: str) -> tuple[SplitArrays, list[str]]:
    """Decode every image of every split under `prefix`; returns arrays and class names."""
    layout = _layout(tree, prefix, source)
    reference = next(iter(layout))  # layout keeps SPLIT_ORDER: train, else val, else test
    classes = sorted(layout[reference])
    index = {name: i for i, name in enumerate(classes)}
    for split, by_class in layout.items():
        unknown = sorted(set(by_class) - set(index))
        if unknown:
            raise FFTKError(
                f"{source}: {prefix}{split}/ has class folder(s) {', '.join(unknown)} "
                f"that {prefix}{reference}/ lacks"
            )
    first = layout[reference][classes[0]][0]
    mode, size = _first_mode_and_size(first)
    shape = (size[1], size[0], 1 if mode == "L" else 3)
    total = sum(len(m) for by_class in layout.values() for m in by_class.values())
    _check_decoded_size(total, shape, source)
    out: SplitArrays = {}
    desc = f"decoding {Path(source).name}"
    with tqdm(total=total, desc=desc, unit="img", file=sys.stderr, leave=False) as bar:
        for split, by_class in layout.items():
            members = [(index[name], m) for name in sorted(by_class) for m in by_class[name]]
            images = np.empty((len(members), *shape), dtype=np.uint8)
            labels = np.fromiter((label for label, _ in members), np.int64, len(members))
            for i, (_, member) in enumerate(members):
                images[i] = _decode(member, mode, size).reshape(shape)
                bar.update()
            out[split] = (images, labels)
    return out, classes


def _check_decoded_size(count: int, shape: tuple[int, int, int], source: str) -> None:
    """Refuse before allocating when `count` images of `shape` exceed MAX_DECODED_BYTES."""
    size = count * math.prod(shape)
    if size > MAX_DECODED_BYTES.get():
        h, w, c = shape
        raise FFTKError(f"{source}: {count:,} images of {h}x{w}x{c} decode to {size:,} bytes, "
                        f"over the size limit ({MAX_DECODED_BYTES.hint()})")


def _is_image(rel: str) -> bool:
    return rel.lower().endswith(IMAGE_SUFFIXES)


def _layout(tree: Tree, prefix: str, source: str) -> dict[str, dict[str, list[Member]]]:
    """split -> class -> members in file-name order; a class folder without images is an error."""
    found: dict[tuple[str, str], list[tuple[str, Member]]] = {}
    for rel in tree.dirs:
        parts = PurePosixPath(rel[len(prefix) :]).parts if rel.startswith(prefix) else ()
        if len(parts) == 2 and parts[0] in SPLIT_ORDER:
            found.setdefault((parts[0], parts[1]), [])
    for rel, member in tree.files.items():
        parts = PurePosixPath(rel[len(prefix) :]).parts if rel.startswith(prefix) else ()
        if len(parts) == 3 and parts[0] in SPLIT_ORDER and _is_image(parts[2]):
            found.setdefault((parts[0], parts[1]), []).append((parts[2], member))
    for (split, name), items in sorted(found.items()):
        if not items:
            raise FFTKError(
                f"{source}: class folder {prefix}{split}/{name}/ is empty "
                "(no .png/.jpg/.jpeg images)"
            )
    layout: dict[str, dict[str, list[Member]]] = {}
    for split in SPLIT_ORDER:
        by_class = {
            name: [m for _, m in sorted(items, key=lambda item: item[0])]
            for (s, name), items in found.items()
            if s == split
        }
        if by_class:
            layout[split] = by_class
    if not layout:
        raise FFTKError(f"{source}: no {prefix}train|val|test/<class>/ folders with images")
    return layout


def _first_mode_and_size(member: Member) -> tuple[str, tuple[int, int]]:
    """Target mode ("L" or "RGB") and size (W, H), both decided by the first image."""
    with _open(member) as img:
        return ("L" if img.mode in GREY_MODES else "RGB"), img.size


def _decode(member: Member, mode: str, size: tuple[int, int]) -> np.ndarray:
    with _open(member) as img:
        if img.size != size:
            raise FFTKError(
                f"{member.label}: image is {img.size[0]}x{img.size[1]}, the others are "
                f"{size[0]}x{size[1]}"
            )
        return np.asarray(img.convert(mode), dtype=np.uint8)


def _open(member: Member) -> Image.Image:
    """Open and fully decode one image, so a damaged file fails here with its name; one over
    MAX_IMAGE_PIXELS is refused from its header, before decoding."""
    data = member.read()
    with image_pixel_limit(member.label):
        try:
            img = Image.open(io.BytesIO(data))
            img.load()
            return img
        except (OSError, ValueError, SyntaxError) as exc:
            raise FFTKError(f"{member.label}: unreadable or damaged image ({exc})") from None
