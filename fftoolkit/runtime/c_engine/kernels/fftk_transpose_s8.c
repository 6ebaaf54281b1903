/* TRANSPOSE of up to 4 dims (quantization unchanged): the output in order, each input
 * element reached by strides (no index arithmetic per element). */
#include "fftk_kernels.h"

void fftk_transpose_s8(const fftk_transpose_params *p, const int8_t *in, int8_t *out) {
  int32_t stride[4], s[4], n[4], i0, i1, i2, i3, d;
  stride[3] = 1;
  for (d = 2; d >= 0; --d) {
    stride[d] = stride[d + 1] * p->in_shape[d + 1];
  }
  for (d = 0; d < 4; ++d) { /* output dim d walks input dim perm[d] */
    n[d] = p->in_shape[p->perm[d]];
    s[d] = stride[p->perm[d]];
  }
  for (i0 = 0; i0 < n[0]; ++i0) {
    for (i1 = 0; i1 < n[1]; ++i1) {
      for (i2 = 0; i2 < n[2]; ++i2) {
        const int8_t *src = in + (int64_t)i0 * s[0] + (int64_t)i1 * s[1] + (int64_t)i2 * s[2];
        for (i3 = 0; i3 < n[3]; ++i3) {
          *out++ = src[(int64_t)i3 * s[3]];
        }
      }
    }
  }
}
