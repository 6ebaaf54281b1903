/* ADD, int8, same shapes: both inputs rescaled to a common fixed-point scale, summed,
 * rescaled to the output. */
#include "fftk_kernels.h"

/* The first n elements (element-wise, so out may be in1: the fused conv-add-pool kernel adds
 * its constant map in place, a few rows at a time). */
void fftk_add_n_s8(const fftk_add_params *p, int32_t n, const int8_t *in1, const int8_t *in2,
                   int8_t *out) {
  int32_t i;
  for (i = 0; i < n; ++i) {
    const int32_t a = (int32_t)((uint32_t)((int32_t)in1[i] + p->in1_offset) << p->left_shift);
    const int32_t b = (int32_t)((uint32_t)((int32_t)in2[i] + p->in2_offset) << p->left_shift);
    const int32_t sum = fftk_requant(a, p->in1_multiplier, p->in1_shift) +
                        fftk_requant(b, p->in2_multiplier, p->in2_shift);
    const int32_t r = fftk_requant(sum, p->out_multiplier, p->out_shift) + p->out_offset;
    out[i] = (int8_t)fftk_clamp(r, p->act_min, p->act_max);
  }
}

void fftk_add_s8(const fftk_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out) {
  fftk_add_n_s8(p, p->size, in1, in2, out);
}
