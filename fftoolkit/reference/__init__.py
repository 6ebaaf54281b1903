"""The `torch` backend: the bundle's source network run eagerly in PyTorch (`torch-fp32`).

It is the reference every exported format is compared against, so it runs the network the
trainer built (BatchNorm unfolded, no export tricks). Lives outside `fftoolkit.runtime` so the
device runtime never imports torch: importing this package registers the `torch` family's graph
opener with the runtime (`register_graph_opener`), which the CLI and the bench worker do only
when `torch-fp32` is asked for. torch itself is imported only when a reference is opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fftoolkit.errors import FFTKError
from fftoolkit.reference.torch_graph import open_reference
from fftoolkit.runtime.formats import Format
from fftoolkit.runtime.graph import register_graph_opener
from fftoolkit.runtime.manifest import Manifest

__all__ = ["open_reference"]


def _open_torch(bundle: Path, manifest: Manifest, fmt: Format, backend: str, threads: int,
                per_block: bool, batch: int | None) -> Any:
    """`open_graph` for `torch-fp32`: the whole source network (no per-block files)."""
    if per_block:
        raise FFTKError("--per-block needs an exported format (onnx/tflite), not torch-fp32")
    return open_reference(bundle, manifest, threads)


register_graph_opener("torch", _open_torch)
