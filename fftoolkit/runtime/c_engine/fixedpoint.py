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


ADD_LEFT_SHIFT = 20  # TFLite's int8 ADD: inputs shifted left by 20 before rescaling


def add_multipliers(in1_scale: float, in2_scale: float,
                    out_scale: float) -> list[tuple[int, int]]:
    """TFLite int8 ADD's three (multiplier, shift): each input to twice the larger input scale,
    the sum (shifted left by ADD_LEFT_SHIFT) back to the output's."""
    twice_max = 2 * max(float(in1_scale), float(in2_scale))
    return [quantize_multiplier(float(in1_scale) / twice_max),
            quantize_multiplier(float(in2_scale) / twice_max),
            quantize_multiplier(twice_max / ((1 << ADD_LEFT_SHIFT) * float(out_scale)))]


def per_tensor_fc_multiplier(input_scale: float, filter_scale: float,
                             output_scale: float) -> tuple[int, int]:
    """Per-tensor FC: the scale product is taken in float32 before widening, as TFLite does."""
    product = float(np.float32(input_scale) * np.float32(filter_scale))
    return quantize_multiplier(product / float(output_scale))


INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def wrap_int32(x: int) -> int:
    """x modulo 2^32 as a signed 32-bit value (what C's uint32_t arithmetic then int32_t gives)."""
    return (x + (1 << 31)) % (1 << 32) - (1 << 31)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier on an int32, written as TFLite writes it
    (SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT): the reference the exported
    lookup tables are computed with (the C kernels' fftk_requant computes the same)."""
    left, right = max(shift, 0), max(-shift, 0)
    a = wrap_int32(x << left)
    if a == INT32_MIN and multiplier == INT32_MIN:
        return INT32_MAX
    product = a * multiplier
    nudge = (1 << 30) if product >= 0 else 1 - (1 << 30)
    total = product + nudge
    high = abs(total) // (1 << 31) * (1 if total >= 0 else -1)  # C's truncating division
    mask = (1 << right) - 1
    threshold = (mask >> 1) + (1 if high < 0 else 0)
    return (high >> right) + (1 if (high & mask) > threshold else 0)


def add_input_table(zero_point: int, left_shift: int, multiplier: int, shift: int) -> list[int]:
    """TFLite ADD's rescaling of one int8 input, for q = -128..127: ((q - zp) << left_shift)
    times the input's multiplier."""
    return [multiply_by_quantized_multiplier((q - zero_point) << left_shift, multiplier, shift)
            for q in range(INT8_MIN, INT8_MAX + 1)]


def requantize_table(in_zero_point: int, out_zero_point: int, multiplier: int,
                     shift: int) -> list[int]:
    """TFLite's int8 -> int8 QUANTIZE for q = -128..127."""
    return [min(INT8_MAX, max(INT8_MIN, multiply_by_quantized_multiplier(
        q - in_zero_point, multiplier, shift) + out_zero_point))
        for q in range(INT8_MIN, INT8_MAX + 1)]
