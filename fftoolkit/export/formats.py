"""What one `fftk export` writes: --target and --quantize turned into rows of the formats
table (`fftoolkit.runtime.formats`, the one definition of a format), in build order.

A fixed batch N > 1 adds "-b<N>" variants (TFLite only: ONNX graphs have a dynamic batch).
"""

from __future__ import annotations

from dataclasses import dataclass

from fftoolkit.errors import FFTKError
from fftoolkit.runtime.formats import FORMATS, Format

# --target -> formats it asks for; "all" means every format the chosen precision allows.
TARGETS: dict[str, tuple[str, ...]] = {
    "onnx": ("onnx",), "tflite": ("tflite",), "edgetpu": ("edgetpu",),
    "all": ("onnx", "tflite", "edgetpu"),
}
QUANTIZE = ("none", "int8")


@dataclass(frozen=True)
class Planned:
    """One artifact to write: a format row at a batch (None = the row's default)."""

    fmt: Format
    batch: int | None = None

    @property
    def key(self) -> str:
        return f"{self.fmt.name}-b{self.batch}" if self.batch else self.fmt.name


def plan(target: str, quantize: str, batch: int = 1) -> list[Planned]:
    """The artifacts of one export, in build order (int8 TFLite needs the fp32 one first)."""
    if target not in TARGETS:
        raise FFTKError(f"unknown target {target!r}: choose one of {', '.join(TARGETS)}")
    if quantize not in QUANTIZE:
        raise FFTKError(f"unknown --quantize {quantize!r}: choose one of {', '.join(QUANTIZE)}")
    if batch < 1:
        raise FFTKError(f"--batch must be >= 1, not {batch}")
    formats = TARGETS[target]
    if "edgetpu" in formats and quantize != "int8":
        if target == "edgetpu":
            raise FFTKError("--target edgetpu needs --quantize int8 (the Edge TPU runs int8 only)")
        formats = tuple(f for f in formats if f != "edgetpu")
    precisions = ("fp32", "int8") if quantize == "int8" else ("fp32",)
    out: list[Planned] = []
    for name in ("onnx", "tflite", "edgetpu"):
        wanted = name in formats or (name == "tflite" and "edgetpu" in formats)
        for precision in precisions:
            fmt = FORMATS.get(f"{name}-{precision}")
            if not wanted or fmt is None:
                continue
            out.append(Planned(fmt))
            if batch > 1 and not fmt.dynamic_batch and fmt.family == "tflite":
                out.append(Planned(fmt, batch))
    return out
