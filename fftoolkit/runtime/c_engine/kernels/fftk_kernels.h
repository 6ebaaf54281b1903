/* fftk C engine: int8 kernels and their parameter blocks.
 *
 * Plain C99, no allocation, no floating point. Every kernel takes a const parameter block
 * filled at export time: multipliers and shifts derived from the float scales, filters laid
 * out for the kernel, input zero points folded into the biases, per-input lookup tables, so
 * the inner loops are plain integer dot products. Tensors are batch 1, NHWC. Arithmetic is
 * TensorFlow Lite Micro's reference kernels', bit for bit.
 */
#ifndef FFTK_KERNELS_H
#define FFTK_KERNELS_H

#include <stdint.h>
#include <string.h>

/* The Arm DSP extension (Cortex-M4, M7, M33/M55 with DSP; the compiler's -mcpu says so): the
 * convolution and fully connected kernels then widen int8 pairs with SXTB16 and do two
 * multiply-accumulates per SMLAD. Elsewhere (the host, Cortex-M0+) the same kernels run as
 * plain C that compilers vectorise. Both give the same integers. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h>
#define FFTK_DSP 1
#else
#define FFTK_DSP 0
#endif

/* --- fixed-point helpers (TFLite's reference arithmetic, bit for bit) --- */

/* TFLite's MultiplyByQuantizedMultiplierSmallerThanOneExp: x * multiplier * 2^-(31 + right),
 * i.e. SaturatingRoundingDoublingHighMul(x, multiplier) then RoundingDivideByPOT(right), bit
 * for bit, for multiplier >= 0 (every multiplier the exporter writes: the Q0.31 significand
 * of a positive scale, or 0), so the one saturating case (both INT32_MIN) cannot occur, and
 * 0 <= right <= 31. TFLite rounds the product by adding 2^30 (1 - 2^30 below zero) and
 * dividing with truncation, which for every product equals adding 2^30 and flooring: an
 * arithmetic shift (right shifts of negative values are arithmetic on GCC, Clang, Arm
 * Compiler, IAR and MSVC). */
static inline int32_t fftk_requant_right(int32_t x, int32_t multiplier, int32_t right) {
  const int32_t high = (int32_t)(((int64_t)x * multiplier + ((int64_t)1 << 30)) >> 31);
  /* high / 2^right rounded to nearest, ties away from zero */
  const int32_t mask = (int32_t)(((uint32_t)1 << right) - 1u);
  const int32_t threshold = (mask >> 1) + (int32_t)((uint32_t)high >> 31);
  return (high >> right) + ((high & mask) > threshold ? 1 : 0);
}

/* TFLite's MultiplyByQuantizedMultiplier: x * multiplier * 2^(shift - 31), x shifted left
 * first when shift > 0 (wrapping as TFLite's int32 multiply does). */
static inline int32_t fftk_requant(int32_t x, int32_t multiplier, int32_t shift) {
  const int32_t left = shift & ~(shift >> 31); /* shift > 0 ? shift : 0, without a branch */
  return fftk_requant_right((int32_t)((uint32_t)x << left), multiplier, left - shift);
}

static inline int32_t fftk_clamp(int32_t x, int32_t lo, int32_t hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

/* x saturated to int8 (one SSAT with the DSP extension) */
static inline int8_t fftk_sat8(int32_t x) {
#if FFTK_DSP
  return (int8_t)__ssat(x, 8);
#else
  return (int8_t)fftk_clamp(x, -128, 127);
#endif
}

/* An accumulator to its int8 output: requantized, offset, clamped to the activation range. */
static inline int8_t fftk_out_s8(int32_t acc, int32_t multiplier, int32_t shift, int32_t offset,
                                 int32_t lo, int32_t hi) {
  return (int8_t)fftk_clamp(fftk_requant(acc, multiplier, shift) + offset, lo, hi);
}

/* 4 bytes from any address (one LDR where unaligned loads are allowed). */
static inline uint32_t fftk_read4(const int8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

#if FFTK_DSP && defined(__GNUC__) && !defined(__clang__)
/* GCC: no instruction scheduling before register allocation in a DSP inner loop (it
 * interleaves the unrolled groups and spills what SMLAD needs) */
#define FFTK_NO_SCHEDULE __attribute__((optimize("no-schedule-insns")))
#else
#define FFTK_NO_SCHEDULE
#endif

#if FFTK_DSP
/* bytes 1 and 3 of w, sign-extended to two int16 (bytes 0 and 2: __sxtb16(w)): one
 * SXTB16 with its rotation, which arm_acle.h has no intrinsic for */
static inline int32_t fftk_sxtb16_odd(uint32_t w) {
#if defined(__GNUC__)
  int32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(w));
  return r;
#else
  return __sxtb16((w >> 8) | (w << 24));
#endif
}
#endif

/* --- parameter blocks --- */

typedef struct {
  int32_t in_h, in_w, in_c, out_h, out_w, out_c;
  int32_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
  int32_t k_pad;            /* k_h * k_w * in_c rounded up to a multiple of 4 */
  int32_t pad_value;        /* the input zero point: what a padded tap holds */
  int32_t out_offset, act_min, act_max;
  const int8_t *filter;     /* channel pairs (2i, 2i + 1; an odd last channel twice), each
                               row [k_h][k_w][in_c] then zeros up to k_pad, the pair's two
                               rows interleaved 4 values at a time: [pair][k_pad / 4][2][4] */
  const int32_t *bias;      /* [out_c]: the model's bias - input zero point * sum of the row */
  const int32_t *multiplier, *shift; /* [out_c] */
} fftk_conv_params;

/* scratch bytes fftk_conv2d_accs_s8 needs for a k_pad: one gathered receptive field (int8),
 * two widened to int16 */
#define FFTK_CONV_SCRATCH(k_pad) (5 * (k_pad))

typedef struct {
  int32_t in_h, in_w, in_c, out_h, out_w, out_c, depth_multiplier; /* out_c = in_c * mult */
  int32_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
  int32_t in_offset, out_offset, act_min, act_max;
  const int8_t *filter;     /* [1][k_h][k_w][out_c] */
  const int32_t *bias;      /* [out_c] or NULL */
  const int32_t *multiplier, *shift; /* [out_c] */
} fftk_dwconv_params;

typedef struct {
  int32_t in_h, in_w, c, out_h, out_w;
  int32_t f_h, f_w, stride_h, stride_w, pad_top, pad_left, act_min, act_max;
} fftk_pool_params;

typedef struct {
  int32_t batches, in_depth, out_depth;
  int32_t filter_offset;    /* minus the filter zero point (0 for TFLite's int8 filters) */
  int32_t out_offset, act_min, act_max;
  const int8_t *filter;     /* [out_depth][in_depth] */
  const int32_t *bias;      /* [out_depth]: the model's bias + in_offset * sum(w +
                               filter_offset), in_offset = -input zero point, so that TFLite's
                               sum((w + filter_offset) * (x + in_offset)) + its bias is
                               sum(w * x) + filter_offset * sum(x) + this */
  const int32_t *multiplier, *shift; /* [out_depth] */
} fftk_fc_params;

/* TFLite's ADD: each input q rescaled to (q - zp) << left_shift times its own multiplier (a
 * function of q alone: one table of 256 per input, indexed by q + 128), the sum rescaled to
 * the output by a multiplier below one. */
typedef struct {
  int32_t size;
  const int32_t *in1_table, *in2_table; /* [256] */
  int32_t out_offset, out_multiplier, out_right_shift, act_min, act_max;
} fftk_add_params;

/* One ADD element: TFLite's ADD of two int8 values (its tables and output requantization). */
static inline int8_t fftk_add_one(const fftk_add_params *p, int32_t q1, int32_t q2) {
  const int32_t sum = p->in1_table[q1 + 128] + p->in2_table[q2 + 128];
  return (int8_t)fftk_clamp(fftk_requant_right(sum, p->out_multiplier, p->out_right_shift) +
                            p->out_offset, p->act_min, p->act_max);
}

/* A convolution's accumulators (its bias included, before requantization) for every output
 * channel of two output pixels, (yx[0], yx[1]) into acc[0 .. out_c) and (yx[2], yx[3]) into
 * acc[out_c .. 2 out_c); params is that convolution's own parameter block, scratch its
 * scratch bytes (4-aligned). */
typedef void (*fftk_conv_accs_fn)(const void *params, const int8_t *in, const int32_t *yx,
                                  int32_t *acc, int8_t *scratch);

#define FFTK_POOL_TAPS 16

/* A convolution (CONV_2D or DEPTHWISE_CONV_2D), optionally followed by ADD of a constant map
 * and then optionally by MAX_POOL_2D: one step. */
typedef struct {
  fftk_conv_accs_fn conv_accs;
  const void *conv;                  /* the conv's fftk_conv_params / fftk_dwconv_params */
  int32_t conv_h, conv_w, conv_c;    /* the conv's output (never whole in memory with a pool) */
  const int32_t *multiplier, *shift; /* the conv's requantization, per output channel */
  int32_t out_offset, act_min, act_max;
  const int8_t *map;                 /* constant map added after the conv (in1 = conv), or NULL */
  const fftk_add_params *add;
  const fftk_pool_params *pool;      /* MAX_POOL_2D after that, or NULL */
  int32_t pool_on_accs;  /* 1: the pool's windows tile the map (at most FFTK_POOL_TAPS taps)
                            and every requantization here is monotone (no left shift), so a
                            window whose map values agree is requantized once, from its
                            largest accumulator */
  int32_t rows_bytes;    /* scratch for conv rows under a pool window (0 with pool_on_accs) */
} fftk_conv_add_pool_params;

/* QUANTIZE int8 -> int8: the output is a function of the input byte alone */
typedef struct {
  int32_t size;
  const int8_t *table; /* [256], indexed by q + 128 */
} fftk_requant_params;

typedef struct {
  int32_t in_shape[4];  /* input dims, padded on the left with 1s */
  int32_t perm[4];      /* output dim i = input dim perm[i] */
} fftk_transpose_params;

typedef struct {
  int32_t in_shape[4];
  int32_t before[4], after[4];
  int8_t value;
} fftk_pad_params;

typedef struct {
  int32_t outer;        /* product of dims before the axis */
  int32_t count;        /* number of inputs (at most 8) */
  int32_t inner[8];     /* per input: product of its dims from the axis on */
} fftk_concat_params;

typedef struct {
  int32_t n_indices, index_depth, slice;
  const int32_t *indices;  /* [n_indices][index_depth] */
  int32_t dims[4];         /* the leading index_depth dims of params */
} fftk_gather_nd_params;

typedef struct {
  int32_t in_shape[4];  /* input dims, padded on the left with 1s */
  int32_t begin[4];     /* first input index of the box, per dim */
  int32_t size[4];      /* box dims = output dims */
} fftk_slice_params;

/* --- kernels (one per file) --- */

void fftk_conv2d_accs_s8(const void *params, const int8_t *in, const int32_t *yx, int32_t *acc,
                         int8_t *scratch);
void fftk_depthwise_conv2d_accs_s8(const void *params, const int8_t *in, const int32_t *yx,
                                   int32_t *acc, int8_t *scratch);
void fftk_max_pool_s8(const fftk_pool_params *p, const int8_t *in, int8_t *out);
void fftk_max_pool_row_s8(const fftk_pool_params *p, const int8_t *in, int32_t in_row0,
                          int32_t oy, int8_t *out);
/* conv [-> ADD of a constant map] [-> MAX_POOL_2D] (every convolution runs through it) */
void fftk_conv_add_pool_s8(const fftk_conv_add_pool_params *p, const int8_t *in, int8_t *out,
                           int8_t *scratch);
void fftk_fully_connected_s8(const fftk_fc_params *p, const int8_t *in, int8_t *out);
void fftk_add_s8(const fftk_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);
void fftk_add_n_s8(const fftk_add_params *p, int32_t n, const int8_t *in1, const int8_t *in2,
                   int8_t *out);
void fftk_requantize_s8(const fftk_requant_params *p, const int8_t *in, int8_t *out);
void fftk_transpose_s8(const fftk_transpose_params *p, const int8_t *in, int8_t *out);
void fftk_pad_s8(const fftk_pad_params *p, const int8_t *in, int8_t *out);
void fftk_concat_s8(const fftk_concat_params *p, const int8_t *const *ins, int8_t *out);
void fftk_gather_nd_s8(const fftk_gather_nd_params *p, const int8_t *in, int8_t *out);
void fftk_slice_s8(const fftk_slice_params *p, const int8_t *in, int8_t *out);
void fftk_copy_s8(int32_t size, const int8_t *in, int8_t *out);
/* FF goodness: out[g] = sum over positions and group g's channels of (q - zero_point)^2 */
void fftk_channel_goodness_s8(const int8_t *feat, int32_t positions, int32_t channels,
                              int32_t groups, int32_t zero_point, int32_t *out);

#endif /* FFTK_KERNELS_H */
