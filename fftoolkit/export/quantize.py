"""ONNX int8: static QDQ with per-channel weights, calibrated on training images.

SPEC §5 pitfall: on x86 CPUs without VNNI, ORT's fused int8 kernels for uint8 x int8 (U8S8)
products can saturate their 16-bit intermediate sums, giving wrong classes. Measured on FF_tiny
(benchmarks/export_int8.md): signed int8 activations or QUInt8 activations with int8 weights
agree with fp32 on only ~85 % of images; `reduce_range` (7-bit weights) recovers ~96.5 %;
unsigned int8 for both activations and per-channel weights (U8U8, full 8 bits, no saturation)
~98 %, so that is what we ship. Tests check agreement, not just loading. The goodness reduction
(eq. 2's squares and means) stays in float: its nodes are excluded from quantization.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fftoolkit.export.quiet import quiet_native_logs


@dataclass(frozen=True)
class OnnxQuantOptions:
    """The knobs the benchmark compares; the defaults are what `fftk export` ships."""

    activation: str = "QUInt8"  # "QUInt8" | "QInt8"
    weight: str = "QUInt8"  # "QUInt8" | "QInt8"
    reduce_range: bool = False
    method: str = "MinMax"  # "MinMax" | "Percentile" | "Entropy"
    percentile: float = 99.999
    keep_goodness_float: bool = True


class ArrayReader:
    """`CalibrationDataReader` over in-memory arrays: yields {input name: one batch}."""

    def __init__(self, arrays: dict[str, np.ndarray], batch: int = 32):
        n = len(next(iter(arrays.values())))
        self._batches = iter([{k: v[i:i + batch] for k, v in arrays.items()}
                              for i in range(0, n, batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return iter(self.get_next, None)


def goodness_nodes(model_path: Path, goodness_output: str = "goodness") -> list[str]:
    """Nodes that only feed the goodness output (not the logits): eq. 2's reduction."""
    import onnx

    graph = onnx.load(str(model_path)).graph
    producer = {out: node for node in graph.node for out in node.output}

    def ancestors(tensor: str) -> set[str]:
        seen: set[str] = set()
        stack = [tensor]
        while stack:
            node = producer.get(stack.pop())
            if node is not None and node.name not in seen:
                seen.add(node.name)
                stack.extend(node.input)
        return seen

    outputs = [o.name for o in graph.output]
    if goodness_output not in outputs:
        return []
    others = set().union(*(ancestors(o) for o in outputs if o != goodness_output))
    return sorted(ancestors(goodness_output) - others)


def quantize_onnx(fp32_path: Path, int8_path: Path, calib: dict[str, np.ndarray],
                  options: OnnxQuantOptions | None = None) -> None:
    """Static QDQ int8 copy of `fp32_path`, calibrated on `calib` ({input name: float array})."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    opts = options or OnnxQuantOptions()
    with tempfile.TemporaryDirectory(prefix="fftk-onnxq-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        # ORT warns that each head part's fused Gemm has a non-constant bias: by design, the
        # parts' running sum (fold.GroupedLinear), and covered by the export's accuracy check
        with quiet_native_logs():
            quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
            exclude = goodness_nodes(pre) if opts.keep_goodness_float else []
            quantize_static(
                str(pre), str(int8_path), ArrayReader(calib),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                reduce_range=opts.reduce_range,
                activation_type=getattr(QuantType, opts.activation),
                weight_type=getattr(QuantType, opts.weight),
                nodes_to_exclude=exclude,
                calibrate_method=getattr(CalibrationMethod, opts.method),
                extra_options={"CalibPercentile": opts.percentile,
                               "CalibTensorRangeSymmetric": False},
            )
