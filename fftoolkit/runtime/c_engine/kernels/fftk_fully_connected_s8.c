/* FULLY_CONNECTED, int8, weights [out][in] with one multiplier per output (per-channel). */
#include "fftk_kernels.h"

void fftk_fully_connected_s8(const fftk_fc_params *p, const int8_t *in, int8_t *out) {
  int32_t b, o, i;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *x = in + (int64_t)b * p->in_depth;
    for (o = 0; o < p->out_depth; ++o) {
      const int8_t *w = p->filter + (int64_t)o * p->in_depth;
      int32_t acc = 0;
      for (i = 0; i < p->in_depth; ++i) {
        acc += ((int32_t)w[i] + p->filter_offset) * ((int32_t)x[i] + p->in_offset);
      }
      if (p->bias) {
        acc += p->bias[o];
      }
      acc = fftk_requant(acc, p->multiplier[o], p->shift[o]) + p->out_offset;
      out[(int64_t)b * p->out_depth + o] = (int8_t)fftk_clamp(acc, p->act_min, p->act_max);
    }
  }
}
