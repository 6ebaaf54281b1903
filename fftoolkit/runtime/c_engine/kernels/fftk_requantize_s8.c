/* QUANTIZE int8 -> int8: a change of scale and zero point. */
#include "fftk_kernels.h"

void fftk_requantize_s8(const fftk_requant_params *p, const int8_t *in, int8_t *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const int32_t r = fftk_requant((int32_t)in[i] - p->in_zero_point, p->multiplier, p->shift) +
                      p->out_zero_point;
    out[i] = (int8_t)fftk_clamp(r, -128, 127);
  }
}
