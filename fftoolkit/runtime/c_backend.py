"""The C engine backend: a bundle's `c/` sources (the c-int8 artifact, manifest format 3).

`read_c_sources` is the one way to get the engine's files out of a bundle (sha256-checked
bytes, keyed by their name inside `c/`); the firmware for a microcontroller uses it too.
"""

from __future__ import annotations

from pathlib import Path

from fftoolkit.errors import FFTKError
from fftoolkit.runtime.manifest import C_KEY, Manifest, read_file


def read_c_sources(bundle_dir: str | Path, manifest: Manifest) -> dict[str, bytes]:
    """The C engine's files, verified against the manifest: name inside `c/` -> bytes."""
    art = manifest.artifacts.get(C_KEY)
    if art is None:
        have = ", ".join(manifest.artifacts) or "none"
        raise FFTKError(f"{bundle_dir}: the bundle has no '{C_KEY}' engine (it has: {have}); "
                        "re-export with --target c --quantize int8")
    return {s.file.split("/", 1)[1]: read_file(bundle_dir, s) for s in art.sources}
