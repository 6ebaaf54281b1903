/* ADD, int8, same shapes. TFLite rescales each input q to ((q - zp) << left_shift) * its own
 * multiplier, a function of q alone: the exporter tabulated it (256 int32 per input), so an
 * element costs two lookups and the one requantization of the sum to the output. */
#include "fftk_kernels.h"

/* The first n elements (element-wise, so out may be in1: the conv-add-pool kernel adds its
 * constant map in place, a few values at a time). */
void fftk_add_n_s8(const fftk_add_params *p, int32_t n, const int8_t *in1, const int8_t *in2,
                   int8_t *out) {
  const int32_t *t1 = p->in1_table + 128, *t2 = p->in2_table + 128;
  const int32_t mult = p->out_multiplier, right = p->out_right_shift, offset = p->out_offset;
  const int32_t lo = p->act_min, hi = p->act_max;
  const int8_t *end = in1 + n;
  if (lo == -128 && hi == 127) { /* no activation: a plain saturation */
    while (in1 != end) {
      *out++ = fftk_sat8(fftk_requant_right(t1[*in1++] + t2[*in2++], mult, right) + offset);
    }
    return;
  }
  while (in1 != end) {
    const int32_t r = fftk_requant_right(t1[*in1++] + t2[*in2++], mult, right) + offset;
    *out++ = (int8_t)fftk_clamp(r, lo, hi);
  }
}

void fftk_add_s8(const fftk_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out) {
  fftk_add_n_s8(p, p->size, in1, in2, out);
}
