"""torch -> TFLite (litert-torch, NHWC I/O, static batch) and full-integer int8 TFLite
(ai-edge-quantizer). No TensorFlow.

Calibration ranges: ai-edge-quantizer's default merges per-sample min/max with a moving average
(0.95), so the last ~20 images dominate and larger activations seen earlier get clipped; FF
goodness squares activations, so clipping hurts it most. We keep the global min/max over all
calibration images instead (`ranges="minmax"`), which is also independent of image order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fftoolkit.errors import FFTKError
from fftoolkit.export.quiet import quiet_native_logs
from fftoolkit.export.tflite_buffers import inline_buffers

SIGNATURE = "serving_default"


def to_nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if x.ndim == 4 else x


def export_tflite(module: nn.Module, inputs: list[tuple[int, ...]], batch: int,
                  path: Path) -> None:
    """Write `module` (NCHW in torch) as a float32 TFLite with NHWC image/feature I/O."""
    with quiet_native_logs():  # importing it loads torchao, which complains about CUDA kernels
        import litert_torch

    litert_torch.config.show_progress = False
    with torch.no_grad():
        probe = module(*[torch.zeros(batch, *s) for s in inputs])
    outs = probe if isinstance(probe, tuple) else (probe,)
    wrapped = litert_torch.to_channel_last_io(
        module, args=[i for i, s in enumerate(inputs) if len(s) == 3],
        outputs=[i for i, o in enumerate(outs) if o.dim() == 4]).eval()
    samples = tuple(torch.zeros(batch, *s[1:], s[0]) if len(s) == 3 else torch.zeros(batch, *s)
                    for s in inputs)
    with quiet_native_logs():
        litert_torch.convert(wrapped, samples).export(str(path))
    raw = path.read_bytes()
    inlined = inline_buffers(raw, path.name)  # TFLite Micro reads inline buffers only
    if inlined is not raw:
        path.write_bytes(inlined)


def signature_io(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Input and output tensor details in signature order (args_0.., output_0..)."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner(SIGNATURE)

    def ordered(details: dict[str, Any]) -> list[dict[str, Any]]:
        return [details[k] for k in sorted(details, key=lambda k: int(k.rsplit("_", 1)[1]))]

    return ordered(runner.get_input_details()), ordered(runner.get_output_details())


def quantize_tflite(fp32_path: Path, int8_path: Path, calib: list[np.ndarray],
                    ranges: str = "minmax",
                    input_range: tuple[float, float] | None = None) -> None:
    """Full-integer copy of `fp32_path`: int8 weights (per channel), activations, input, output.

    calib: one NCHW float array (N, ...) per model input, N = calibration images; fed in
    chunks of the model's static batch. ranges: "minmax" (global) or "moving-average"
    (ai-edge-quantizer's default, kept to measure what it costs). input_range: a fixed
    (min, max) for the first input instead of the calibrated one: (-128, 127) makes a
    pixel-centred image input exact (scale 1, zero point 0).
    """
    from ai_edge_quantizer import calibrator, quantizer, recipe, recipe_manager
    from ai_edge_quantizer.utils import qsv_utils

    in_details, _ = signature_io(fp32_path)
    batch = int(in_details[0]["shape"][0])
    keys = [f"args_{i}" for i in range(len(in_details))]
    n = len(calib[0]) - len(calib[0]) % batch
    if n == 0:
        raise FFTKError(f"{fp32_path.name}: need at least {batch} calibration images")
    samples = [{k: to_nhwc(a[i:i + batch]).astype(np.float32)
                for k, a in zip(keys, calib, strict=True)} for i in range(0, n, batch)]
    rm = recipe_manager.RecipeManager()
    rm.load_quantization_recipe(recipe.static_wi8_ai8())
    update = qsv_utils.min_max_update if ranges == "minmax" else qsv_utils.moving_average_update
    with quiet_native_logs():
        calib_run = calibrator.Calibrator(fp32_path.read_bytes(), num_threads=1,
                                          qsv_update_func=update)
        calib_run.calibrate({SIGNATURE: samples}, rm)
        qsvs = _widen_constant_ranges(calib_run.get_model_qsvs())
        if input_range is not None:
            old = qsvs[in_details[0]["name"]]
            qsvs[in_details[0]["name"]] = {"min": np.full_like(old["min"], input_range[0]),
                                           "max": np.full_like(old["max"], input_range[1])}
        q = quantizer.Quantizer(str(fp32_path), recipe.static_wi8_ai8())
        result = q.quantize(qsvs, enable_progress_report=False)
    # Its constants come out by offset past the flatbuffer once they reach 256 KiB, a layout
    # TFLite Micro does not read: keep them inline.
    int8_path.write_bytes(inline_buffers(bytes(result.quantized_model), int8_path.name))
    floats = float_tensors(int8_path)
    if floats:
        raise FFTKError(f"{int8_path.name}: not fully int8, float tensors left: {floats[:3]}")


def _widen_constant_ranges(qsvs: dict[str, Any]) -> dict[str, Any]:
    """A tensor that never varied on the calibration images (e.g. a head part reading only
    features of an empty image border) gets a zero range, hence scale 0 or a requantization
    multiplier XNNPACK refuses (> 256). Give it the median width of the other tensors' ranges,
    centred on the constant value it had."""
    widths = [float(np.max(q["max"] - q["min"])) for q in qsvs.values() if "min" in q]
    ref = float(np.median([w for w in widths if w > 1e-6] or [1.0]))
    out = {}
    for name, qsv in qsvs.items():
        if "min" in qsv and float(np.max(qsv["max"] - qsv["min"])) <= 1e-6:
            mid = (np.asarray(qsv["min"]) + np.asarray(qsv["max"])) / 2
            qsv = {**qsv, "min": (mid - ref / 2).astype(np.float32),
                   "max": (mid + ref / 2).astype(np.float32)}
        out[name] = qsv
    return out


def float_tensors(path: Path) -> list[str]:
    """Names of float tensors in a TFLite file (a full-integer model has none)."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    return [d["name"] for d in it.get_tensor_details()
            if np.dtype(d["dtype"]).kind == "f"]
