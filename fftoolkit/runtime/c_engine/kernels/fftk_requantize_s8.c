/* QUANTIZE int8 -> int8: a change of scale and zero point, a function of the input byte
 * alone, which the exporter tabulated (TFLite's requantization of each of the 256 values). */
#include "fftk_kernels.h"

void fftk_requantize_s8(const fftk_requant_params *p, const int8_t *in, int8_t *out) {
  const int8_t *table = p->table + 128;
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    out[i] = table[in[i]];
  }
}
