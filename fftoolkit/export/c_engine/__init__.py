"""The C engine: an int8 TFLite model -> plain C99 (weights as const arrays, one static arena,
TFLite Micro's integer arithmetic) that a board compiles without any runtime.

`tflite_model` reads the model, `lower` turns each operator into a kernel call, `arena`
places the activations, `emit` writes the files; `kernels/` holds one C file per op.
"""

from __future__ import annotations

from pathlib import Path

from fftoolkit.export.c_engine.emit import EngineSpec, generate
from fftoolkit.export.c_engine.tflite_model import read_model

__all__ = ["EngineSpec", "generate", "read_model", "write_c_engine"]


def write_c_engine(model_path: str | Path, out: str | Path, spec: EngineSpec) -> list[Path]:
    """Generate the C engine of `model_path` (an int8 .tflite) into the directory `out`."""
    return generate(read_model(model_path), spec, Path(out))
