"""The formats table: one row per deployable format, driving CLI choices, checks and bench rows.

A format is an artifact family at a precision; the artifact key in the manifest is its name
(`tflite-int8`), and a fixed-batch variant adds `-b<N>` (`tflite-int8-b8`).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from fftoolkit.errors import FFTKError
from fftoolkit.runtime.backends import BACKENDS, backend_info
from fftoolkit.runtime.manifest import Artifact, Manifest


@dataclass(frozen=True)
class Format:
    name: str  # also the manifest's artifact key
    family: str  # "torch" | "onnx" | "tflite" | "edgetpu"
    precision: str  # "fp32" | "int8"
    backend: str  # default backend


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("torch-fp32", "torch", "fp32", "torch"),
    Format("onnx-fp32", "onnx", "fp32", "onnxruntime"),
    Format("onnx-int8", "onnx", "int8", "onnxruntime"),
    Format("tflite-fp32", "tflite", "fp32", "litert"),
    Format("tflite-int8", "tflite", "int8", "litert"),
    Format("edgetpu-int8", "edgetpu", "int8", "edgetpu"),
)}
DEMO_FORMATS = ("torch-fp32", "onnx-fp32", "onnx-int8", "tflite-fp32", "tflite-int8")
PRECISIONS = ("fp32", "int8")


def get_format(name: str) -> Format:
    if name not in FORMATS:
        raise FFTKError(f"unknown format '{name}' (choose from {', '.join(FORMATS)})")
    return FORMATS[name]


def format_for(backend: str, precision: str) -> Format:
    """The format a backend runs at a precision (`litert` + `int8` -> `tflite-int8`)."""
    family = backend_info(backend).family
    name = f"{family}-{precision}"
    if name not in FORMATS:
        runs = [f.precision for f in FORMATS.values() if f.family == family]
        raise FFTKError(f"backend '{backend}' runs {'/'.join(runs)} models, not {precision}")
    return FORMATS[name]


def installed(backend: str) -> bool:
    module = BACKENDS[backend].module
    return importlib.util.find_spec(module.split(".")[0]) is not None


def default_backend(fmt: Format) -> str:
    """The format's backend; TFLite falls back to `tflite-runtime` where LiteRT is absent."""
    if fmt.backend == "litert" and not installed("litert") and installed("tflite-runtime"):
        return "tflite-runtime"
    return fmt.backend


def auto_backend(manifest: Manifest) -> str:
    """`--backend auto`: TFLite where the bundle and an interpreter have it, else ONNX Runtime."""
    has = {a.format for a in manifest.artifacts.values()}
    if "tflite" in has and (installed("litert") or installed("tflite-runtime")):
        return default_backend(FORMATS["tflite-int8"])
    if "onnx" in has:
        return "onnxruntime"
    return "torch"


def find_artifact(manifest: Manifest, fmt: Format, bundle: str,
                  batch: int | None = None) -> tuple[str, Artifact]:
    """The manifest's artifact for a format (`batch` picks a `-b<N>` variant if there is one)."""
    key = fmt.name
    if fmt.family == "edgetpu" and key not in manifest.artifacts:
        key = "tflite-int8"  # runs on the CPU where edgetpu_compiler has not mapped ops to the TPU
    if batch is not None and f"{key}-b{batch}" in manifest.artifacts:
        key = f"{key}-b{batch}"
    if key not in manifest.artifacts:
        have = ", ".join(manifest.artifacts) or "none"
        raise FFTKError(f"{bundle}: the bundle has no '{key}' model (it has: {have}); "
                        "re-export with that target/precision")
    return key, manifest.artifacts[key]
