"""Integer I/O: turn float tensors into a model's int8/uint8 inputs and its outputs back.

The scale and zero point come from the manifest (real = scale * (q - zero_point)), so every
backend quantizes the same way and a bundle can be checked without opening the model.
"""

from __future__ import annotations

import numpy as np

from fftoolkit.runtime.manifest import TensorInfo

_LIMITS = {"int8": (-128, 127), "uint8": (0, 255)}


def quantize(x: np.ndarray, info: TensorInfo) -> np.ndarray:
    """Float -> the tensor's dtype; a float tensor passes through as float32."""
    if info.dtype not in _LIMITS:
        return np.asarray(x, dtype=np.float32)
    scale, zero = _params(info)
    lo, hi = _LIMITS[info.dtype]
    q = np.rint(np.asarray(x, dtype=np.float32) / scale) + zero
    return np.clip(q, lo, hi).astype(info.dtype)


def dequantize(q: np.ndarray, info: TensorInfo) -> np.ndarray:
    """The tensor's dtype -> float32."""
    if info.dtype not in _LIMITS:
        return np.asarray(q, dtype=np.float32)
    scale, zero = _params(info)
    return (q.astype(np.float32) - zero) * np.float32(scale)


def _params(info: TensorInfo) -> tuple[float, int]:
    if not info.quant or "scale" not in info.quant or "zero_point" not in info.quant:
        raise ValueError(f"tensor {info.name!r} is {info.dtype} but has no scale/zero_point")
    return float(info.quant["scale"]), int(info.quant["zero_point"])
