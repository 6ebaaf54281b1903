"""Where `fftk run` images come from: an image file, a folder, or .npy/.npz arrays.

Pillow is imported only to decode image files, so a board without it can still run on
arrays (and on the bundled demo set); the error says which package to install.

Limits, checked from headers before anything is decoded or allocated: an image file may have at
most $FFTK_MAX_IMAGE_PIXELS pixels (fftoolkit/limits.py), and one array in a .npy/.npz at most
MAX_ARRAY_BYTES ($FFTK_MAX_ARRAY_BYTES, default 1 GiB); arrays of objects are never unpickled.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from fftoolkit.errors import FFTKError
from fftoolkit.limits import GiB, Limit, image_pixel_limit
from fftoolkit.sampling import seeded_subset

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".ppm", ".pgm", ".tif",
                  ".tiff")
ARRAY_SUFFIXES = (".npy", ".npz")
MAX_ARRAY_BYTES = Limit(1 * GiB, "FFTK_MAX_ARRAY_BYTES")  # one array of a .npy/.npz input
NPZ_ARRAYS = ("images", "labels", "classes")  # the arrays of a .npz that are read


@dataclass(eq=False)
class Inputs:
    """Images to classify: uint8 (H, W, C) each, a name each, and labels where known (-1 = none).

    `paths` keeps the image files (not arrays) so end-to-end timing can include decoding.
    """

    images: list[np.ndarray]
    names: list[str]
    labels: np.ndarray
    classes: list[str] | None = None
    paths: list[Path] | None = None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def labelled(self) -> bool:
        return bool(len(self.labels)) and bool((self.labels >= 0).all())

    def subset(self, limit: int | None, seed: int = 0) -> Inputs:
        """`limit` images drawn at random (seeded, in their original order: `seeded_subset`,
        as for train/eval --limit), so a limited run of a class-sorted dataset still sees
        every class; all of them if None."""
        if limit is None or limit >= len(self):
            return self
        keep = seeded_subset(len(self), limit, seed)
        paths = [self.paths[i] for i in keep] if self.paths is not None else None
        return Inputs([self.images[i] for i in keep], [self.names[i] for i in keep],
                      self.labels[keep], self.classes, paths)


def decode_image(path: str | Path) -> np.ndarray:
    """An image file -> uint8 (H, W, C); grayscale gives C = 1, RGBA keeps its 4 channels."""
    path = Path(path)
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise FFTKError(f"{path}: decoding image files needs Pillow (pip install pillow), or "
                        "pass the images as a .npy/.npz array") from None
    try:
        with image_pixel_limit(str(path)), Image.open(path) as im:
            if im.mode in ("1", "I", "I;16", "F"):
                im = im.convert("L")
            elif im.mode not in ("L", "LA", "RGB", "RGBA"):
                im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise FFTKError(f"{path}: not a readable image ({type(exc).__name__})") from None
    return arr[:, :, None] if arr.ndim == 2 else arr


def load_arrays(path: str | Path) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """.npy (one HWC image or an NHWC batch) or .npz (`images`, optional `labels`, `classes`)."""
    path = Path(path)
    try:
        _check_array_headers(path)
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.lib.npyio.NpzFile):
            with data:
                if "images" not in data.files:
                    raise FFTKError(f"{path}: .npz has no 'images' array "
                                    f"(found: {', '.join(data.files) or 'nothing'})")
                images = data["images"]
                labels = data["labels"] if "labels" in data.files else None
                classes = [str(c) for c in data["classes"]] if "classes" in data.files else None
        else:
            images, labels, classes = data, None, None
    except FFTKError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise FFTKError(f"{path}: not a readable .npy/.npz file ({first})") from None
    if labels is not None and (labels.ndim != 1 or labels.dtype.kind not in "iu"):
        raise FFTKError(f"{path}: 'labels' must be a 1-D integer array, got {labels.dtype} "
                        f"{labels.shape}")
    return _as_nhwc(images, path), labels, classes


def _check_array_headers(path: Path) -> None:
    """Read the header of the .npy (or of each array a .npz holds that is used) and refuse
    object arrays and sizes over MAX_ARRAY_BYTES, before numpy allocates anything."""
    with path.open("rb") as fp:
        magic = fp.read(6)
        fp.seek(0)
        if magic.startswith(b"PK"):
            with zipfile.ZipFile(fp) as archive:
                names = archive.namelist()
                for name in NPZ_ARRAYS:
                    if name in names:  # numpy would read a raw member whole, unchecked
                        raise FFTKError(f"{path}: .npz member {name!r} is not a .npy array")
                    if f"{name}.npy" in names:
                        with archive.open(f"{name}.npy") as member:
                            _check_header(member, path, f"'{name}' ")
        elif magic == b"\x93NUMPY":
            _check_header(fp, path, "")


def _check_header(fp: IO[bytes], path: Path, which: str) -> None:
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
    else:
        raise FFTKError(f"{path}: {which}array uses .npy format {version}; save it with "
                        "numpy.save as plain numbers")
    if dtype.hasobject:
        raise FFTKError(f"{path}: {which}array holds Python objects ({dtype}); only plain "
                        "numbers and strings are read, never pickles")
    size = math.prod(shape) * dtype.itemsize
    if size > MAX_ARRAY_BYTES.get():
        raise FFTKError(f"{path}: {which}array declares shape {shape} of {dtype} "
                        f"({size:,} bytes), over the size limit ({MAX_ARRAY_BYTES.hint()})")


def _as_nhwc(images: np.ndarray, path: Path) -> np.ndarray:
    if images.dtype != np.uint8:
        raise FFTKError(f"{path}: expected uint8 pixels (0-255), got {images.dtype}")
    if images.ndim == 2:  # one grayscale image
        return images[None, :, :, None]
    if images.ndim == 3:  # one HWC image, or a batch of grayscale images
        return images[None] if images.shape[-1] in (1, 3, 4) else images[..., None]
    if images.ndim == 4:
        return images
    raise FFTKError(f"{path}: expected images shaped (H, W[, C]) or (N, H, W, C), "
                    f"got {images.shape}")


def load_inputs(source: str | Path, classes: list[str]) -> Inputs:
    """An image file, a .npy/.npz file, or a folder of them (class sub-folders give labels)."""
    source = Path(source)
    if source.is_dir():
        files = sorted(p for p in source.rglob("*")
                       if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES + ARRAY_SUFFIXES)
        if not files:
            raise FFTKError(f"{source}: no images ({', '.join(IMAGE_SUFFIXES)}) or arrays "
                            "(.npy/.npz) in this folder")
        parts = [_load_file(p, classes) for p in files]
        return Inputs(
            images=[im for part in parts for im in part.images],
            names=[n for part in parts for n in part.names],
            labels=np.concatenate([part.labels for part in parts]),
            classes=classes,
            paths=[p for part in parts for p in (part.paths or [])] if all(
                part.paths for part in parts) else None,
        )
    if not source.exists():
        raise FFTKError(f"{source}: no such file or folder")
    return _load_file(source, classes)


def _load_file(path: Path, classes: list[str]) -> Inputs:
    suffix = path.suffix.lower()
    if suffix in ARRAY_SUFFIXES:
        images, labels, file_classes = load_arrays(path)
        if labels is None:
            labels = np.full(len(images), -1, dtype=np.int64)
        elif len(labels) != len(images):
            raise FFTKError(f"{path}: {len(labels)} labels for {len(images)} images")
        elif len(labels) and (labels.min() < -1 or labels.max() >= len(classes)):
            raise FFTKError(f"{path}: labels must be -1 (unknown) or 0..{len(classes) - 1} "
                            f"(the model's {len(classes)} classes), found {labels.min()}.."
                            f"{labels.max()}")
        if file_classes is not None and file_classes != classes:
            raise FFTKError(f"{path}: its classes {file_classes} are not the model's {classes}")
        names = [f"{path.name}[{i}]" for i in range(len(images))]
        return Inputs(list(images), names, np.asarray(labels, dtype=np.int64), file_classes)
    if suffix not in IMAGE_SUFFIXES:
        raise FFTKError(f"{path}: not an image ({', '.join(IMAGE_SUFFIXES)}) or a .npy/.npz "
                        "array file")
    label = classes.index(path.parent.name) if path.parent.name in classes else -1
    return Inputs([decode_image(path)], [str(path)], np.array([label], dtype=np.int64),
                  classes, [path])
