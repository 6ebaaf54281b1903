/* PAD of up to 4 dims with a constant (the output zero point unless the model gives one). */
#include "fftk_kernels.h"

void fftk_pad_s8(const fftk_pad_params *p, const int8_t *in, int8_t *out) {
  int32_t s[4], i[4], d;
  int64_t n = 0, src = 0;
  for (d = 0; d < 4; ++d) {
    s[d] = p->before[d] + p->in_shape[d] + p->after[d];
  }
  for (i[0] = 0; i[0] < s[0]; ++i[0]) {
    for (i[1] = 0; i[1] < s[1]; ++i[1]) {
      for (i[2] = 0; i[2] < s[2]; ++i[2]) {
        for (i[3] = 0; i[3] < s[3]; ++i[3]) {
          int inside = 1;
          for (d = 0; d < 4; ++d) {
            inside &= i[d] >= p->before[d] && i[d] < p->before[d] + p->in_shape[d];
          }
          /* inside elements come in the input's own row-major order */
          out[n++] = inside ? in[src++] : p->value;
        }
      }
    }
  }
}
