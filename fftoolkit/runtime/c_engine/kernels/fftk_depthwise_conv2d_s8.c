/* DEPTHWISE_CONV_2D, int8 per-channel: output channel ic * depth_multiplier + m filters
 * input channel ic alone. (The converter's form of a conv on a one-channel input runs as
 * fftk_conv2d_s8, which the exporter gives the transposed filter: the same arithmetic.) */
#include "fftk_kernels.h"

/* The accumulators of one output pixel into acc[out_c] (TFLite's reference loop). */
static void pixel(const fftk_dwconv_params *p, const int8_t *in, int32_t oy, int32_t ox,
                  int32_t *acc) {
  const int32_t y0 = oy * p->stride_h - p->pad_top;
  const int32_t x0 = ox * p->stride_w - p->pad_left;
  int32_t ic, m, ky, kx;
  for (ic = 0; ic < p->in_c; ++ic) {
    for (m = 0; m < p->depth_multiplier; ++m) {
      const int32_t oc = ic * p->depth_multiplier + m;
      int32_t sum = p->bias ? p->bias[oc] : 0;
      for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t y = y0 + ky * p->dil_h;
        if (y < 0 || y >= p->in_h) {
          continue; /* padding holds the zero point: contributes nothing */
        }
        for (kx = 0; kx < p->k_w; ++kx) {
          const int32_t x = x0 + kx * p->dil_w;
          if (x < 0 || x >= p->in_w) {
            continue;
          }
          sum += (int32_t)p->filter[((int64_t)ky * p->k_w + kx) * p->out_c + oc] *
                 ((int32_t)in[((int64_t)y * p->in_w + x) * p->in_c + ic] + p->in_offset);
        }
      }
      acc[oc] = sum;
    }
  }
}

/* As fftk_conv2d_accs_s8: pixels (yx[0], yx[1]) and (yx[2], yx[3]); no scratch needed. */
void fftk_depthwise_conv2d_accs_s8(const void *params, const int8_t *in, const int32_t *yx,
                                   int32_t *acc, int8_t *scratch) {
  const fftk_dwconv_params *p = (const fftk_dwconv_params *)params;
  (void)scratch;
  pixel(p, in, yx[0], yx[1], acc);
  pixel(p, in, yx[2], yx[3], acc + p->out_c);
}
