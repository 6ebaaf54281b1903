/* TRANSPOSE of up to 4 dims (quantization unchanged). */
#include "fftk_kernels.h"

void fftk_transpose_s8(const fftk_transpose_params *p, const int8_t *in, int8_t *out) {
  int32_t stride[4], out_shape[4], o[4], d;
  int64_t n = 0;
  stride[3] = 1;
  for (d = 2; d >= 0; --d) {
    stride[d] = stride[d + 1] * p->in_shape[d + 1];
  }
  for (d = 0; d < 4; ++d) {
    out_shape[d] = p->in_shape[p->perm[d]];
  }
  for (o[0] = 0; o[0] < out_shape[0]; ++o[0]) {
    for (o[1] = 0; o[1] < out_shape[1]; ++o[1]) {
      for (o[2] = 0; o[2] < out_shape[2]; ++o[2]) {
        for (o[3] = 0; o[3] < out_shape[3]; ++o[3]) {
          int64_t src = 0;
          for (d = 0; d < 4; ++d) {
            src += (int64_t)o[d] * stride[p->perm[d]];
          }
          out[n++] = in[src];
        }
      }
    }
  }
}
