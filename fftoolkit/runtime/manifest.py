"""The bundle contract: `manifest.json` says everything a device needs to run a model.

The device side owns this schema (the exporter writes through it), and it is plain JSON read
with the standard library: no torch, no onnx.

Layout of a bundle directory:
    manifest.json
    model.onnx, block_0.onnx, ..., head.onnx                (artifact "onnx-fp32")
    model.int8.onnx, block_0.int8.onnx, ...                  (artifact "onnx-int8")
    model.tflite / model.int8.tflite / model.int8.b8.tflite  (artifacts "tflite-fp32", ...)
    reference.safetensors                                    (the source network, "torch-fp32")
    overlay.npy                                              (original FF, fourier overlays only)

Artifact keys are "<format>-<precision>" with a "-b<N>" suffix for a fixed batch N > 1.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fftoolkit.errors import FFTKError

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"


@dataclass
class TensorInfo:
    """One graph input/output. `quant` = {"scale": s, "zero_point": z} for integer tensors:
    real = scale * (q - zero_point)."""

    name: str
    shape: list[int | None]  # None = dynamic dimension (batch)
    dtype: str  # "float32" | "int8" | "uint8"
    quant: dict[str, float] | None = None


@dataclass
class ModelFile:
    file: str  # relative to the bundle directory
    sha256: str
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]


@dataclass
class Artifact:
    """One format at one precision: the fused model plus per-block files and the head.

    Fused outputs are ("logits", "goodness") when `goodness == "in-graph"`, or ("logits",
    "features_a", "features_b") — the last two blocks' outputs — when `goodness == "from-features"`
    and the runner computes eq. 2 itself (keeps the squared reduction out of int8).
    """

    format: str  # "onnx" | "tflite" | "edgetpu"
    precision: str  # "fp32" | "int8"
    layout: str  # "NCHW" | "NHWC"
    batch: int | None  # None = dynamic batch
    fused: ModelFile
    blocks: list[ModelFile] = field(default_factory=list)
    head: ModelFile | None = None
    goodness: str = "in-graph"


@dataclass
class Manifest:
    model_name: str
    algorithm: str  # "improved" | "original"
    spec: dict[str, Any]
    classes: list[str]
    input_shape: list[int]  # (C, H, W)
    normalization: dict[str, list[float]]  # {"mean": [...], "std": [...]} on [0, 1] pixels
    goodness_blocks: list[int]  # blocks whose goodness feeds prediction
    head_blocks: list[int]  # blocks whose flattened outputs feed the one-pass head
    # How multi-pass works: {"kind": "channel-groups", "groups": J} (improved: one pass, argmax
    # of G) or {"kind": "label-overlay", "overlay": "first-pixels"|"fourier", "num_classes": J,
    # "goodness": "mean"|"sum", "patterns": "overlay.npy"|None} (original: J overlaid passes).
    multi_pass: dict[str, Any]
    artifacts: dict[str, Artifact]
    source_checkpoint_sha256: str
    reference: ModelFile | None = None  # weights for the torch-fp32 reference
    fftk_version: str = ""
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def write(self, bundle_dir: str | Path) -> Path:
        path = Path(bundle_dir) / MANIFEST_NAME
        path.write_text(self.to_json())
        return path


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _model_file(d: dict[str, Any]) -> ModelFile:
    return ModelFile(d["file"], d["sha256"], [TensorInfo(**t) for t in d["inputs"]],
                     [TensorInfo(**t) for t in d["outputs"]])


def _artifact(d: dict[str, Any]) -> Artifact:
    return Artifact(
        format=d["format"], precision=d["precision"], layout=d["layout"], batch=d["batch"],
        fused=_model_file(d["fused"]), blocks=[_model_file(b) for b in d.get("blocks", [])],
        head=_model_file(d["head"]) if d.get("head") else None,
        goodness=d.get("goodness", "in-graph"),
    )


def load_manifest(bundle_dir: str | Path) -> Manifest:
    """Read and check `manifest.json`; a missing key or bad JSON is a one-line `FFTKError`."""
    path = Path(bundle_dir) / MANIFEST_NAME
    if not path.is_file():
        raise FFTKError(f"{path}: no manifest (is {bundle_dir} an fftk bundle?)")
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FFTKError(f"{path}: not valid JSON ({exc})") from None
    try:
        if raw["format_version"] != FORMAT_VERSION:
            raise FFTKError(f"{path}: bundle format {raw['format_version']} is not supported "
                            f"(this fftk reads format {FORMAT_VERSION})")
        raw["artifacts"] = {k: _artifact(v) for k, v in raw["artifacts"].items()}
        raw["reference"] = _model_file(raw["reference"]) if raw.get("reference") else None
        return Manifest(**raw)
    except KeyError as exc:
        raise FFTKError(f"{path}: missing key {exc}") from None
    except TypeError as exc:
        raise FFTKError(f"{path}: malformed manifest ({exc})") from None


def verify_file(bundle_dir: str | Path, entry: ModelFile) -> Path:
    """The file exists and its sha256 matches the manifest; returns its path."""
    path = Path(bundle_dir) / entry.file
    if not path.is_file():
        raise FFTKError(f"{path}: listed in the manifest but missing from the bundle")
    if sha256_file(path) != entry.sha256:
        raise FFTKError(f"{path}: sha256 does not match the manifest (file changed or damaged)")
    return path
