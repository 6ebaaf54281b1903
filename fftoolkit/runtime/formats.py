"""The one formats table: what each deployable format is, read by the exporter, the runtime,
bench, firmware and the board entry point.

A format is an artifact family at a precision; the manifest's artifact key is its name
(`tflite-int8`), and a fixed-batch variant adds `-b<N>` (`tflite-int8-b8`). A row says how the
exporter writes it (layout, file names, where goodness is computed, per-block files) and what
runs it (its default backend; `BACKENDS` says which module and package that needs, or for the
C engine, which program: a C compiler that builds the bundle's `c/` on first use).
Standard library only, so a board can read it before numpy or a runtime is installed.
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass

from fftoolkit.errors import FFTKError
from fftoolkit.runtime.manifest import Artifact, Manifest


@dataclass(frozen=True)
class BackendInfo:
    """What a backend runs (its artifact `family`), the module it imports (or the program it
    runs), the package that provides it, and what to tell a user who lacks it."""

    name: str
    family: str  # artifact format it runs: "onnx" | "tflite" | "edgetpu" | "torch" | "c"
    module: str  # Python module it needs ("" for a program)
    distribution: str  # the pip package providing `module` ("" for a program)
    install: str  # how to get it
    program: str = ""  # a program it needs on PATH instead of a module


BACKENDS: dict[str, BackendInfo] = {
    "onnxruntime": BackendInfo("onnxruntime", "onnx", "onnxruntime", "onnxruntime",
                               "pip install 'fftoolkit[device]' (onnxruntime)"),
    "litert": BackendInfo("litert", "tflite", "ai_edge_litert.interpreter", "ai-edge-litert",
                          "pip install 'fftoolkit[device]' (ai-edge-litert)"),
    "tflite-runtime": BackendInfo("tflite-runtime", "tflite", "tflite_runtime.interpreter",
                                  "tflite-runtime", "pip install tflite-runtime (needs numpy<2)"),
    "edgetpu": BackendInfo("edgetpu", "edgetpu", "ai_edge_litert.interpreter", "ai-edge-litert",
                           "pip install 'fftoolkit[device]' and the Edge TPU runtime "
                           "(libedgetpu1-std from the Coral apt repository)"),
    "torch": BackendInfo("torch", "torch", "torch", "torch",
                         "pip install fftoolkit (the full install brings torch)"),
    "c": BackendInfo("c", "c", "", "", "install one (Debian/Ubuntu: sudo apt install gcc; "
                     "macOS: xcode-select --install)", program="cc"),
}

def backend_info(name: str) -> BackendInfo:
    if name not in BACKENDS:
        raise FFTKError(f"unknown backend '{name}' (choose one of {', '.join(BACKENDS)})")
    return BACKENDS[name]


@dataclass(frozen=True)
class Format:
    name: str  # also the manifest's artifact key
    family: str  # "torch" | "onnx" | "tflite" | "edgetpu" | "c" (the artifact's `format` field)
    precision: str  # "fp32" | "int8"
    backend: str  # default backend (a key of BACKENDS)
    layout: str = "NCHW"  # layout of image inputs and feature outputs
    tag: str = ""  # file name part: model<tag>.<ext>
    ext: str = ""
    goodness: str = "in-graph"  # "in-graph" | "from-features" (eq. 2 in the runner)
    dynamic_batch: bool = True
    blocks: bool = False  # per-block files and a head besides the fused model
    description: str = ""

    def file_name(self, base: str, batch: int | None = None) -> str:
        """model.int8.tflite, block_0.onnx, model.int8.b8.tflite, ..."""
        return f"{base}{self.tag}{f'.b{batch}' if batch else ''}.{self.ext}"

    @property
    def runs_on(self) -> BackendInfo:
        """The default backend's module and the package that provides it (what a board needs)."""
        return BACKENDS[self.backend]


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("torch-fp32", "torch", "fp32", "torch", description="the source network (PyTorch)"),
    Format("onnx-fp32", "onnx", "fp32", "onnxruntime", "NCHW", "", "onnx", "in-graph", True,
           True, "ONNX opset 17, dynamic batch"),
    Format("onnx-int8", "onnx", "int8", "onnxruntime", "NCHW", ".int8", "onnx", "in-graph", True,
           True, "ONNX static QDQ int8, per-channel weights; goodness reduced in float"),
    Format("tflite-fp32", "tflite", "fp32", "litert", "NHWC", "", "tflite", "from-features",
           False, True, "TFLite float32, NHWC, static batch"),
    Format("tflite-int8", "tflite", "int8", "litert", "NHWC", ".int8", "tflite", "from-features",
           False, True, "TFLite full integer (int8 in/out), NHWC, static batch"),
    Format("edgetpu-int8", "edgetpu", "int8", "edgetpu", "NHWC", ".int8_edgetpu", "tflite",
           "from-features", False, False, "tflite-int8 compiled by edgetpu_compiler"),
    Format("c-int8", "c", "int8", "c", "NHWC", "", "", "from-features", False, False,
           "C99 engine generated from tflite-int8 (c/, TFLite Micro's int8 arithmetic); "
           "built with cc on first use"),
)}
DEMO_FORMATS = ("torch-fp32", "onnx-fp32", "onnx-int8", "tflite-fp32", "tflite-int8", "c-int8")
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
    """The backend's module can be imported (or its program is on PATH)."""
    info = BACKENDS[backend]
    if info.program:
        return shutil.which(info.program) is not None
    return importlib.util.find_spec(info.module.split(".")[0]) is not None


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


def artifact_format(key: str) -> tuple[str, int | None]:
    """An artifact key -> (format name, fixed batch or None): "tflite-int8-b8" -> (.., 8)."""
    name, sep, batch = key.rpartition("-b")
    if sep and batch.isdigit() and name in FORMATS:
        return name, int(batch)
    return key, None


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
