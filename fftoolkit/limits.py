"""Size limits on untrusted input (datasets, images, arrays, model specs), checked before any
allocation, so a small hostile file ends in one line instead of an out-of-memory crash.

Each module that reads untrusted files declares its own limits as named `Limit` constants at its
top; this module only holds the type and reads the environment variable that may raise one.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fftoolkit.errors import FFTKError

GiB = 1 << 30


@dataclass(frozen=True)
class Limit:
    """A maximum with a default; `env` (if set) names the variable that overrides it."""

    default: int
    env: str | None = None

    def get(self) -> int:
        """The value in force: $env if set (a positive integer, `_` separators allowed)."""
        raw = os.environ.get(self.env) if self.env else None
        if raw is None or not raw.strip():
            return self.default
        try:
            value = int(raw.strip())
        except ValueError:
            value = 0
        if value < 1:
            raise FFTKError(f"${self.env}: expected a positive whole number, got {raw!r}")
        return value

    def hint(self) -> str:
        """The limit for an error message, and how to raise it where that is allowed."""
        how = f"; set ${self.env} to allow more" if self.env else ""
        return f"limit {self.get():,}{how}"


# One decoded image (dataset image folders, `fftk run`/`bench` image files): 4096 x 4096.
MAX_IMAGE_PIXELS = Limit(4096 * 4096, "FFTK_MAX_IMAGE_PIXELS")


@contextmanager
def image_pixel_limit(label: str) -> Iterator[None]:
    """Open/decode images inside this block with Pillow's bomb check set to MAX_IMAGE_PIXELS:
    Pillow refuses from the header, before decoding; its warning and error become one
    `FFTKError` naming the file (Pillow is imported here, so only callers that decode need it)."""
    from PIL import Image

    limit = MAX_IMAGE_PIXELS.get()
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = limit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise FFTKError(f"{label}: image has more than {limit:,} pixels "
                        f"({MAX_IMAGE_PIXELS.hint()})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = saved
