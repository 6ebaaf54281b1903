/* CONCATENATION, int8, inputs already at the output's scale (the converter inserts QUANTIZE). */
#include "fftk_kernels.h"

void fftk_concat_s8(const fftk_concat_params *p, const int8_t *const *ins, int8_t *out) {
  int32_t o, k, i;
  for (o = 0; o < p->outer; ++o) {
    for (k = 0; k < p->count; ++k) {
      const int8_t *src = ins[k] + (int64_t)o * p->inner[k];
      for (i = 0; i < p->inner[k]; ++i) {
        *out++ = src[i];
      }
    }
  }
}
