"""The one table of export formats: it drives the CLI choices, validation and the report.

Rows are keyed by the manifest's artifact key ("<format>-<precision>"); a fixed batch N > 1
adds "-b<N>" (TFLite only: ONNX graphs have a dynamic batch).
"""

from __future__ import annotations

from dataclasses import dataclass

from fftoolkit.errors import FFTKError


@dataclass(frozen=True)
class ExportFormat:
    key: str
    format: str  # "onnx" | "tflite" | "edgetpu"
    precision: str  # "fp32" | "int8"
    layout: str  # layout of image inputs and feature outputs
    tag: str  # file name part: model<tag>.<ext>
    ext: str
    goodness: str  # "in-graph" | "from-features"
    dynamic_batch: bool
    blocks: bool  # per-block files and a head besides the fused model
    description: str

    def file_name(self, base: str, batch: int | None = None) -> str:
        """model.int8.tflite, block_0.onnx, model.int8.b8.tflite, ..."""
        return f"{base}{self.tag}{f'.b{batch}' if batch else ''}.{self.ext}"


FORMATS: dict[str, ExportFormat] = {f.key: f for f in (
    ExportFormat("onnx-fp32", "onnx", "fp32", "NCHW", "", "onnx", "in-graph", True, True,
                 "ONNX opset 17, dynamic batch"),
    ExportFormat("onnx-int8", "onnx", "int8", "NCHW", ".int8", "onnx", "in-graph", True, True,
                 "ONNX static QDQ int8, per-channel weights; goodness reduced in float"),
    ExportFormat("tflite-fp32", "tflite", "fp32", "NHWC", "", "tflite", "from-features", False,
                 True, "TFLite float32, NHWC, static batch"),
    ExportFormat("tflite-int8", "tflite", "int8", "NHWC", ".int8", "tflite", "from-features",
                 False, True, "TFLite full integer (int8 in/out), NHWC, static batch"),
    ExportFormat("edgetpu-int8", "edgetpu", "int8", "NHWC", ".int8_edgetpu", "tflite",
                 "from-features", False, False, "tflite-int8 compiled by edgetpu_compiler"),
)}

# --target -> formats it asks for; "all" means every format the chosen precision allows.
TARGETS: dict[str, tuple[str, ...]] = {
    "onnx": ("onnx",), "tflite": ("tflite",), "edgetpu": ("edgetpu",),
    "all": ("onnx", "tflite", "edgetpu"),
}
QUANTIZE = ("none", "int8")


@dataclass(frozen=True)
class Planned:
    """One artifact to write: a format row at a batch (None = the row's default)."""

    fmt: ExportFormat
    batch: int | None = None

    @property
    def key(self) -> str:
        return f"{self.fmt.key}-b{self.batch}" if self.batch else self.fmt.key


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
            if batch > 1 and not fmt.dynamic_batch and fmt.format == "tflite":
                out.append(Planned(fmt, batch))
    return out
