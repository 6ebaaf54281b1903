"""What one `fftk export` writes: --target and --quantize turned into rows of the formats
table (`fftoolkit.runtime.formats`, the one definition of a format), in build order.

A fixed batch N > 1 adds "-b<N>" variants (TFLite only: ONNX graphs have a dynamic batch).
The C engine (c-int8) is generated from tflite-int8, so asking for it builds that too; it runs
channel-group (improved FF) models only, which `for_network` applies once the model is known.
"""

from __future__ import annotations

from dataclasses import dataclass

from fftoolkit.errors import FFTKError
from fftoolkit.runtime.formats import FORMATS, Format

# --target -> formats it asks for; "all" means every format the chosen precision allows.
TARGETS: dict[str, tuple[str, ...]] = {
    "onnx": ("onnx",), "tflite": ("tflite",), "edgetpu": ("edgetpu",), "c": ("c",),
    "all": ("onnx", "tflite", "edgetpu", "c"),
}
INT8_ONLY = {"edgetpu": "the Edge TPU runs int8 only",
             "c": "the C engine is generated from the int8 TFLite model"}
BUILT_FROM_TFLITE = ("edgetpu", "c")  # families made from tflite-int8
C_NETWORK = "channel-groups"  # the networks the C engine runs
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
    if quantize != "int8":
        if target in INT8_ONLY:
            raise FFTKError(f"--target {target} needs --quantize int8 ({INT8_ONLY[target]})")
        formats = tuple(f for f in formats if f not in INT8_ONLY)
    precisions = ("fp32", "int8") if quantize == "int8" else ("fp32",)
    out: list[Planned] = []
    for name in ("onnx", "tflite", "edgetpu", "c"):
        wanted = name in formats or (name == "tflite" and
                                     any(f in formats for f in BUILT_FROM_TFLITE))
        for precision in precisions:
            fmt = FORMATS.get(f"{name}-{precision}")
            if not wanted or fmt is None:
                continue
            out.append(Planned(fmt))
            if batch > 1 and not fmt.dynamic_batch and fmt.family == "tflite":
                out.append(Planned(fmt, batch))
    return out


def for_network(planned: list[Planned], target: str, network: str,
                model: str) -> tuple[list[Planned], list[str]]:
    """The plan for a model's network: the C engine runs channel groups only, so an original-FF
    model drops c-int8 with a note under `all`, and `--target c` on it is an error."""
    if network == C_NETWORK or not any(p.fmt.family == "c" for p in planned):
        return planned, []
    why = (f"the C engine runs improved-FF (channel-group) models; {model} is an original-FF "
           f"model ({network})")
    if target == "c":
        raise FFTKError(f"--target c: {why}; export it with --target onnx or tflite")
    return [p for p in planned if p.fmt.family != "c"], [f"no C engine (c-int8): {why}"]
