"""Load `reference.safetensors` from a bundle and run it like any other graph."""

from __future__ import annotations

import json
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
    net, normalization = _load(path, data, manifest)
    return TorchGraph(net, manifest, GraphInfo(
        layout="NCHW", normalization=normalization, batch=None, runtime="torch",
        version=torch.__version__.split("+")[0], files=[path], artifact="reference"))


def _load(path: Path, data: bytes, manifest: Manifest) -> tuple[Any, dict[str, list[float]]]:
    """The network from checked safetensors bytes (header metadata: spec, normalization)."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_tensors

    from fftoolkit.models.nets import build_network
    from fftoolkit.models.spec import spec_from_dict

    try:
        state = load_tensors(data)
        size = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8:8 + size]).get("__metadata__") or {}
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            raise ValueError("metadata is not a map of strings")
        if "spec" in meta:
            meta["spec"] = json.loads(meta["spec"])
        if "normalization" in meta:
            meta["normalization"] = json.loads(meta["normalization"])
    except (SafetensorError, ValueError, AttributeError) as exc:
        raise FFTKError(f"{path}: not a readable safetensors file ({exc})") from None
    spec = spec_from_dict(meta.get("spec", manifest.spec), source=str(path))
    net = build_network(spec)
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise FFTKError(f"{path}: weights do not fit model '{spec.name}' "
                        f"({str(exc).splitlines()[0]})") from None
    # The exported graphs may fold block 0's BatchNorm into the input normalisation; the
    # reference keeps the BN, so it needs the training normalisation.
    norm = meta.get("normalization") or manifest.extra.get("reference_normalization",
                                                           manifest.normalization)
    return net.eval(), norm


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

        from fftoolkit.ff.goodness import channel_goodness

        with torch.inference_mode():
            t = torch.from_numpy(x)
            if self.manifest.algorithm != "improved":
                logits, g = self.predictor(t)
                return logits.numpy(), g.numpy()
            a, b = self.net.forward_features(t)[-2:]
            logits = self.net.head([a, b]).numpy() if need[0] else None
            groups = self.net.spec.num_classes
            g = (channel_goodness(a, groups) + channel_goodness(b, groups)).numpy() \
                if need[1] else None
        return logits, g
