"""Load `reference.safetensors` from a bundle and run it like any other graph."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fftoolkit.errors import FFTKError
from fftoolkit.runtime.graph import BOTH, GraphInfo, Need, Outputs
from fftoolkit.runtime.manifest import Manifest, read_file


def open_reference(bundle: Path, manifest: Manifest, threads: int) -> TorchGraph:
    """The source network from the bundle's reference weights, eval mode, `threads` threads."""
    try:
        import torch
    except ImportError:
        raise FFTKError("backend 'torch' needs PyTorch, which is not installed: pip install "
                        "fftoolkit (the full install), or pick an onnx/tflite format") from None
    if manifest.reference is None:
        raise FFTKError(f"{bundle}: the bundle has no reference weights (torch-fp32); "
                        "re-export it to include them")
    path = bundle / manifest.reference.file
    data = read_file(bundle, manifest.reference)
    torch.set_num_threads(threads)
    net, normalization = _load(path, data)
    return TorchGraph(net, manifest, GraphInfo(
        layout="NCHW", normalization=normalization, batch=None, runtime="torch",
        version=torch.__version__.split("+")[0], files=[path], artifact="reference"))


def _load(path: Path, data: bytes) -> tuple[Any, dict[str, list[float]]]:
    """The network from the checked safetensors bytes, parsed by the checkpoint loader itself
    (never re-read from `path`): spec, classes and normalisation are its metadata."""
    from fftoolkit.models.checkpoint import checkpoint_from_bytes
    from fftoolkit.models.registry import build_network_from_state

    ckpt = checkpoint_from_bytes(data, str(path))
    net = build_network_from_state(ckpt, source=str(path))
    # The exported graphs may fold block 0's BatchNorm into the input normalisation; the
    # reference keeps the BN, so it needs the training normalisation.
    return net.eval(), ckpt.normalization


class TorchGraph:
    """Normalised NCHW float batch -> (logits (N, J), goodness (N, J)), as `fftoolkit.ff`
    defines them. The improved FF computes only what `need` asks for (one-pass skips eq. 2,
    as the exported graphs do); the original FF overlays the J labels itself, like the fused
    export, and always gives both."""

    def __init__(self, net: Any, manifest: Manifest, info: GraphInfo):
        from fftoolkit.ff.predict import make_predictor

        self.net, self.manifest, self.info = net, manifest, info
        self.predictor = make_predictor(net).eval()

    def __call__(self, x: np.ndarray, need: Need = BOTH) -> Outputs:
        import torch

        with torch.inference_mode():
            logits, g = self.predictor(torch.from_numpy(x), need)
        return (logits.numpy() if logits is not None else None,
                g.numpy() if g is not None else None)
