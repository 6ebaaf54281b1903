"""uint8 images -> the model's input tensor: resize, check channels, normalise, lay out.

The same numpy code runs on every backend and board (no Pillow, no OpenCV), so a bundle gives
the same inputs everywhere.
"""

from __future__ import annotations

import numpy as np

from fftoolkit.errors import FFTKError


def resize_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W, C) -> (height, width, C) float32, bilinear with half-pixel centres (no antialias)."""
    h, w = image.shape[:2]
    src = image.astype(np.float32)
    ys = np.clip((np.arange(height, dtype=np.float32) + 0.5) * h / height - 0.5, 0, h - 1)
    xs = np.clip((np.arange(width, dtype=np.float32) + 0.5) * w / width - 0.5, 0, w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = src[y0][:, x0] * (1 - fx) + src[y0][:, x1] * fx
    bottom = src[y1][:, x0] * (1 - fx) + src[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


class Preprocessor:
    """Turns uint8 (H, W, C) images into a normalised float32 batch in the model's layout."""

    def __init__(self, input_shape: list[int], normalization: dict[str, list[float]],
                 layout: str):
        self.channels, self.height, self.width = (int(v) for v in input_shape)
        self.mean = np.asarray(normalization["mean"], dtype=np.float32) * 255.0
        self.inv_std = 1.0 / (np.asarray(normalization["std"], dtype=np.float32) * 255.0)
        self.layout = layout

    def check(self, image: np.ndarray, name: str) -> bool:
        """Raise on a wrong channel count; True if the image will be resized."""
        if image.ndim != 3 or image.shape[-1] != self.channels:
            got = image.shape[-1] if image.ndim == 3 else f"shape {image.shape}"
            raise FFTKError(f"{name}: image has {got} channels; the model expects "
                            f"{self.height}x{self.width} images with {self.channels} channel(s)")
        return image.shape[:2] != (self.height, self.width)

    def resize_note(self, images: list[np.ndarray], names: list[str]) -> str | None:
        """Check every image; a one-line note if some will be resized to the model's input."""
        pairs = zip(images, names, strict=True)
        sizes = {im.shape[:2] for im, name in pairs if self.check(im, name)}
        if not sizes:
            return None
        shown = ", ".join(f"{h}x{w}" for h, w in sorted(sizes)[:3])
        more = " and others" if len(sizes) > 3 else ""
        return (f"note: images of size {shown}{more} were resized to the model's "
                f"{self.height}x{self.width} input (bilinear)")

    def __call__(self, images: list[np.ndarray] | np.ndarray) -> np.ndarray:
        """(N, H, W, C) uint8 -> (N, C, H, W) or (N, H, W, C) float32, normalised."""
        batch = np.stack([
            resize_bilinear(im, self.height, self.width)
            if im.shape[:2] != (self.height, self.width) else im
            for im in images
        ]).astype(np.float32)
        batch = (batch - self.mean) * self.inv_std
        if self.layout == "NCHW":
            batch = batch.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(batch)
