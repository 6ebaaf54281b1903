/* DEPTHWISE_CONV_2D, int8 per-channel: output channel ic * depth_multiplier + m filters
 * input channel ic alone (the converter's form of a conv on a 1-channel input). */
#include "fftk_kernels.h"

/* Output rows [row0, row0 + rows) into out (row row0 first), as fftk_conv2d_rows_s8. */
void fftk_depthwise_conv2d_rows_s8(const void *params, const int8_t *in, int32_t row0,
                                   int32_t rows, int8_t *out) {
  const fftk_dwconv_params *p = (const fftk_dwconv_params *)params;
  int32_t oy, ox, ic, m, ky, kx;
  for (oy = row0; oy < row0 + rows; ++oy) {
    for (ox = 0; ox < p->out_w; ++ox) {
      const int32_t y0 = oy * p->stride_h - p->pad_top;
      const int32_t x0 = ox * p->stride_w - p->pad_left;
      for (ic = 0; ic < p->in_c; ++ic) {
        for (m = 0; m < p->depth_multiplier; ++m) {
          const int32_t oc = ic * p->depth_multiplier + m;
          int32_t acc = 0;
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
              acc += (int32_t)p->filter[((int64_t)ky * p->k_w + kx) * p->out_c + oc] *
                     ((int32_t)in[((int64_t)y * p->in_w + x) * p->in_c + ic] + p->in_offset);
            }
          }
          if (p->bias) {
            acc += p->bias[oc];
          }
          acc = fftk_requant(acc, p->multiplier[oc], p->shift[oc]) + p->out_offset;
          out[((int64_t)(oy - row0) * p->out_w + ox) * p->out_c + oc] =
              (int8_t)fftk_clamp(acc, p->act_min, p->act_max);
        }
      }
    }
  }
}

void fftk_depthwise_conv2d_s8(const fftk_dwconv_params *p, const int8_t *in, int8_t *out) {
  fftk_depthwise_conv2d_rows_s8(p, in, 0, p->out_h, out);
}
