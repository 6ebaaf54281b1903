"""The integer requantization parameters TFLite Micro derives from float scales at Prepare
time, derived here at export so the C engine holds only integers.

Each function mirrors the arithmetic (double precision, rounding half away from zero) that
the reference kernels use, since one ulp of difference in a multiplier changes outputs.
"""

from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127


def round_half_away(x: float) -> int:
    """C's round(): halves go away from zero (Python's round() goes to even)."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def quantize_multiplier(m: float) -> tuple[int, int]:
    """A real multiplier as (Q0.31 significand, power-of-two exponent): m ~ q * 2^(shift-31)."""
    if m == 0.0:
        return 0, 0
    q, shift = math.frexp(m)
    fixed = round_half_away(q * (1 << 31))
    if fixed == 1 << 31:
        fixed //= 2
        shift += 1
    if shift < -31:  # every bit would be shifted out: flush to zero
        return 0, 0
    return fixed, shift


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """The int8 clamp of a fused activation (quantized with float division, as Prepare does)."""
    def q(f: float) -> int:
        return zero_point + round_half_away(float(np.float32(f) / np.float32(scale)))

    if activation == "NONE":
        return INT8_MIN, INT8_MAX
    if activation == "RELU":
        return max(INT8_MIN, q(0.0)), INT8_MAX
    if activation == "RELU6":
        return max(INT8_MIN, q(0.0)), min(INT8_MAX, q(6.0))
    if activation == "RELU_N1_TO_1":
        return max(INT8_MIN, q(-1.0)), min(INT8_MAX, q(1.0))
    raise ValueError(f"unsupported fused activation {activation}")


def per_channel_multipliers(input_scale: float, filter_scales: np.ndarray,
                            output_scale: float, channels: int) -> tuple[list[int], list[int]]:
    """Conv / per-channel FC: in_scale * filter_scale[c] / out_scale in double, one per output
    channel (a per-tensor filter scale is repeated)."""
    scales = [float(s) for s in np.asarray(filter_scales, np.float32)]
    if len(scales) == 1:
        scales = scales * channels
    pairs = [quantize_multiplier(float(input_scale) * s / float(output_scale)) for s in scales]
    return [m for m, _ in pairs], [s for _, s in pairs]


def per_tensor_fc_multiplier(input_scale: float, filter_scale: float,
                             output_scale: float) -> tuple[int, int]:
    """Per-tensor FC: the scale product is taken in float32 before widening, as TFLite does."""
    product = float(np.float32(input_scale) * np.float32(filter_scale))
    return quantize_multiplier(product / float(output_scale))
