/* fftk C engine: int8 kernels and their parameter blocks.
 *
 * Plain C99, no allocation, no floating point. Every kernel takes a const parameter block
 * filled at export time (multipliers and shifts already derived from the float scales), so
 * an optimised kernel (DSP) can replace one file without touching the model.
 * Tensors are batch 1, NHWC. Arithmetic matches TensorFlow Lite Micro's reference kernels.
 */
#ifndef FFTK_KERNELS_H
#define FFTK_KERNELS_H

#include <stdint.h>

/* --- fixed-point helpers (gemmlowp-style rounding, as TFLite's reference kernels) --- */

/* round(a * b / 2^31) with ties away from zero; the one overflow case saturates. */
static inline int32_t fftk_high_mul(int32_t a, int32_t b) {
  int64_t product;
  int64_t nudge;
  if (a == INT32_MIN && b == INT32_MIN) {
    return INT32_MAX;
  }
  product = (int64_t)a * (int64_t)b;
  nudge = product >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
  return (int32_t)((product + nudge) / ((int64_t)1 << 31));
}

/* x / 2^exponent rounded to nearest, ties away from zero. */
static inline int32_t fftk_shift_round(int32_t x, int exponent) {
  const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * multiplier * 2^(shift - 31): a real scale applied with a Q0.31 multiplier. */
static inline int32_t fftk_requant(int32_t x, int32_t multiplier, int32_t shift) {
  const int left = shift > 0 ? (int)shift : 0;
  const int right = shift > 0 ? 0 : (int)-shift;
  return fftk_shift_round(fftk_high_mul((int32_t)((uint32_t)x << left), multiplier), right);
}

static inline int32_t fftk_clamp(int32_t x, int32_t lo, int32_t hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

/* --- parameter blocks --- */

typedef struct {
  int32_t in_h, in_w, in_c, out_h, out_w, out_c;
  int32_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
  int32_t in_offset, out_offset, act_min, act_max;
  const int8_t *filter;     /* [out_c][k_h][k_w][in_c] */
  const int32_t *bias;      /* [out_c] or NULL */
  const int32_t *multiplier, *shift; /* [out_c] */
} fftk_conv_params;

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
  int32_t in_offset, filter_offset, out_offset, act_min, act_max;
  const int8_t *filter;     /* [out_depth][in_depth] */
  const int32_t *bias;      /* [out_depth] or NULL */
  const int32_t *multiplier, *shift; /* [out_depth] */
} fftk_fc_params;

typedef struct {
  int32_t size, left_shift;
  int32_t in1_offset, in1_multiplier, in1_shift;
  int32_t in2_offset, in2_multiplier, in2_shift;
  int32_t out_offset, out_multiplier, out_shift, act_min, act_max;
} fftk_add_params;

/* computes a convolution's output rows [row0, row0 + rows) into out (rows * out_w * out_c);
 * params is that convolution's own parameter block */
typedef void (*fftk_conv_rows_fn)(const void *params, const int8_t *in, int32_t row0,
                                  int32_t rows, int8_t *out);

typedef struct {
  fftk_conv_rows_fn conv_rows;
  const void *conv;              /* the conv's fftk_conv_params / fftk_dwconv_params */
  int32_t conv_h, conv_w, conv_c; /* the conv's output (never whole in memory with a pool) */
  const int8_t *map;             /* constant map added after the conv (in1 = conv), or NULL */
  const fftk_add_params *add;
  const fftk_pool_params *pool;  /* MAX_POOL_2D after that, or NULL */
} fftk_conv_add_pool_params;

typedef struct {
  int32_t size, in_zero_point, out_zero_point, multiplier, shift;
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

/* --- kernels (one per file) --- */

void fftk_conv2d_s8(const fftk_conv_params *p, const int8_t *in, int8_t *out);
void fftk_conv2d_rows_s8(const void *params, const int8_t *in, int32_t row0, int32_t rows,
                         int8_t *out);
void fftk_depthwise_conv2d_s8(const fftk_dwconv_params *p, const int8_t *in, int8_t *out);
void fftk_depthwise_conv2d_rows_s8(const void *params, const int8_t *in, int32_t row0,
                                   int32_t rows, int8_t *out);
void fftk_max_pool_s8(const fftk_pool_params *p, const int8_t *in, int8_t *out);
void fftk_max_pool_row_s8(const fftk_pool_params *p, const int8_t *in, int32_t in_row0,
                          int32_t oy, int8_t *out);
/* conv [-> ADD of a constant map] [-> MAX_POOL_2D] a pool window at a time */
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
void fftk_copy_s8(int32_t size, const int8_t *in, int8_t *out);
/* FF goodness: out[g] = sum over positions and group g's channels of (q - zero_point)^2 */
void fftk_channel_goodness_s8(const int8_t *feat, int32_t positions, int32_t channels,
                              int32_t groups, int32_t zero_point, int32_t *out);

#endif /* FFTK_KERNELS_H */
