"""Backends: one small class per runtime that loads one model file and runs it on numpy arrays.

`BACKENDS` (in the formats table, `formats.py`) says what each needs. Each
runtime package is imported only when its backend is used, and a missing package is a one-line
error naming what to install. The torch reference lives outside the runtime
(`fftoolkit.reference`, which registers its graph opener when imported; see graph.py).
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from fftoolkit.errors import FFTKError
from fftoolkit.runtime.formats import BACKENDS, backend_info
from fftoolkit.runtime.onnx_scan import MalformedProto, uses_external_data

# Same optimisation policy for every format: each runtime's full graph optimisations
# (ONNX Runtime ORT_ENABLE_ALL; LiteRT's built-in ops with its default XNNPACK delegate).
GRAPH_OPTIMIZATION = "full (ORT_ENABLE_ALL; LiteRT builtin ops + XNNPACK)"


EDGETPU_LIBRARY = {"linux": "libedgetpu.so.1", "darwin": "libedgetpu.1.dylib",
                   "win32": "edgetpu.dll"}


def require(backend: str) -> ModuleType:
    """Import the backend's runtime module, or say exactly what to install."""
    info = backend_info(backend)
    try:
        return importlib.import_module(info.module)
    except ImportError:
        raise FFTKError(f"backend '{backend}' needs the {info.module.split('.')[0]} package, "
                        f"which is not installed: {info.install}") from None


class Session:
    """One loaded model file. `run` takes and returns arrays in the model's own dtypes."""

    runtime: str
    version: str
    delegate: str = ""
    input_names: list[str]
    output_names: list[str]
    input_dtypes: list[str]
    output_dtypes: list[str]

    def run(self, arrays: list[np.ndarray], wanted: list[int]) -> list[np.ndarray]:
        """The `wanted` outputs (model positions), in that order."""
        raise NotImplementedError


class OnnxRuntimeSession(Session):
    """ONNX Runtime on the CPU, `threads` intra-op threads, full graph optimisations."""

    def __init__(self, path: Path, data: bytes, threads: int):
        ort = require("onnxruntime")
        _refuse_external_data(path, data)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph/... types
            raise FFTKError(f"{path}: onnxruntime cannot load this model "
                            f"({_first_line(exc)})") from None
        self.runtime, self.version = "onnxruntime", ort.__version__
        self.path = path
        # a failing run is reported by run() as one FFTKError line; without this, ORT also logs
        # the same failure on stderr ("[E:onnxruntime:...] Non-zero status code ...")
        self.run_options = ort.RunOptions()
        self.run_options.log_severity_level = 4  # fatal only
        ins, outs = self.sess.get_inputs(), self.sess.get_outputs()
        self.input_names = [t.name for t in ins]
        self.output_names = [t.name for t in outs]
        self.input_dtypes = [_ort_dtype(t.type) for t in ins]
        self.output_dtypes = [_ort_dtype(t.type) for t in outs]

    def run(self, arrays: list[np.ndarray], wanted: list[int]) -> list[np.ndarray]:
        names = [self.output_names[i] for i in wanted]
        try:
            return self.sess.run(names, dict(zip(self.input_names, arrays, strict=True)),
                                 self.run_options)
        except Exception as exc:
            raise FFTKError(f"{self.path}: inference failed ({_first_line(exc)})") from None


class LiteRTSession(Session):
    """A .tflite model in LiteRT's interpreter (`ai-edge-litert`), XNNPACK by default."""

    backend = "litert"

    def __init__(self, path: Path, data: bytes, threads: int):
        module = require(self.backend)
        self.runtime = self.backend
        self.version = _package_version(module)
        self.path = path
        with _quiet_native_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate ..."
            self.interp = self._open(module, path, data, threads)
            try:
                self.interp.allocate_tensors()
            except RuntimeError as exc:
                raise FFTKError(f"{path}: {self.backend} cannot prepare this model "
                                f"({_first_line(exc)})") from None
        self.ins = self.interp.get_input_details()
        self.outs = self.interp.get_output_details()
        self.input_names = [d["name"] for d in self.ins]
        self.output_names = [d["name"] for d in self.outs]
        self.input_dtypes = [np.dtype(d["dtype"]).name for d in self.ins]
        self.output_dtypes = [np.dtype(d["dtype"]).name for d in self.outs]
        self.input_shapes = [tuple(int(v) for v in d["shape"]) for d in self.ins]

    def _open(self, module: ModuleType, path: Path, data: bytes, threads: int) -> Any:
        try:
            return module.Interpreter(model_content=data, num_threads=threads)
        except (ValueError, RuntimeError) as exc:
            raise FFTKError(f"{path}: {self.backend} cannot load this model "
                            f"({_first_line(exc)})") from None

    def run(self, arrays: list[np.ndarray], wanted: list[int]) -> list[np.ndarray]:
        for detail, shape, array in zip(self.ins, self.input_shapes, arrays, strict=True):
            if array.shape != shape:
                raise FFTKError(f"{self.path}: input {detail['name']!r} takes shape {shape}, "
                                f"got {array.shape}")
        # A kernel that refuses its data at run time (e.g. int8 DIV by a quantized zero) raises
        # RuntimeError from invoke(), a wrong dtype ValueError from set_tensor: one line each.
        try:
            for detail, array in zip(self.ins, arrays, strict=True):
                self.interp.set_tensor(detail["index"], array)
            self.interp.invoke()
        except (ValueError, RuntimeError) as exc:
            raise FFTKError(f"{self.path}: {self.backend} inference failed "
                            f"({_first_line(exc)})") from None
        return [self.interp.get_tensor(self.outs[i]["index"]) for i in wanted]


class TfliteRuntimeSession(LiteRTSession):
    """The same interpreter from the older `tflite-runtime` wheel (boards stuck on numpy < 2)."""

    backend = "tflite-runtime"


class EdgeTPUSession(LiteRTSession):
    """LiteRT with the Edge TPU delegate, loaded by library name through the delegate API."""

    backend = "edgetpu"

    @staticmethod
    def library() -> str:
        return EDGETPU_LIBRARY.get(sys.platform, EDGETPU_LIBRARY["linux"])

    def _open(self, module: ModuleType, path: Path, data: bytes, threads: int) -> Any:
        lib = self.library()
        delegate = None
        # A failed load_delegate leaves a half-built Delegate whose __del__ prints a traceback;
        # silence it so the user sees one line.
        hook, sys.unraisablehook = sys.unraisablehook, lambda _: None
        try:
            try:
                delegate = module.load_delegate(lib)
            except (ValueError, OSError, RuntimeError):
                pass
        finally:
            sys.unraisablehook = hook
        if delegate is None:
            raise FFTKError(f"Edge TPU runtime {lib} could not be loaded (is it installed and an "
                            f"Edge TPU attached?): {BACKENDS['edgetpu'].install}")
        self.delegate = f"edgetpu ({lib})"
        try:
            return module.Interpreter(model_content=data, num_threads=threads,
                                      experimental_delegates=[delegate])
        except (ValueError, RuntimeError) as exc:
            raise FFTKError(f"{path}: the Edge TPU cannot run this model "
                            f"({_first_line(exc)})") from None


SESSIONS: dict[str, type[Session]] = {
    "onnxruntime": OnnxRuntimeSession,
    "litert": LiteRTSession,
    "tflite-runtime": TfliteRuntimeSession,
    "edgetpu": EdgeTPUSession,
}


def open_session(backend: str, path: Path, threads: int, data: bytes | None = None) -> Session:
    """Load one model with the named backend: from `data` (bytes already checked against the
    manifest, so what was verified is what runs) or, for fftk's own files, from `path`."""
    info = backend_info(backend)
    if backend not in SESSIONS:
        runs = "the source network" if info.family == "torch" else f"{info.family} artifacts"
        raise FFTKError(f"backend '{backend}' runs {runs}, not model files")
    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise FFTKError(f"{path}: cannot read ({exc.strerror})") from None
    return SESSIONS[backend](path, data, threads)


def _refuse_external_data(path: Path, data: bytes) -> None:
    """A bundle's ONNX model must hold all its tensors (see onnx_scan)."""
    try:
        external = uses_external_data(data)
    except MalformedProto as exc:
        raise FFTKError(f"{path}: not an ONNX model ({exc})") from None
    if external:
        raise FFTKError(f"{path}: the model keeps tensors in external data files; fftk refuses "
                        "them (a bundle's models must be self-contained; re-export it)")


@contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Drop what native code prints on fd 2 meanwhile (errors reach the user as FFTKError)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _ort_dtype(type_str: str) -> str:
    """ORT's 'tensor(int8)' -> 'int8' ('float' -> 'float32')."""
    inner = type_str[type_str.find("(") + 1:type_str.rfind(")")]
    return {"float": "float32", "double": "float64"}.get(inner, inner)


def _package_version(module: ModuleType) -> str:
    top = sys.modules.get(module.__name__.split(".")[0])
    version = getattr(top, "__version__", "")
    if version:
        return str(version)
    from importlib import metadata

    for dist in ("ai-edge-litert", "tflite-runtime"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
