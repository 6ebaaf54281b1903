/* SLICE of up to 4 dims (quantization unchanged): the box begin .. begin + size of the input,
 * copied row by row of its innermost dim. */
#include "fftk_kernels.h"

void fftk_slice_s8(const fftk_slice_params *p, const int8_t *in, int8_t *out) {
  int32_t stride[4], i0, i1, i2, d;
  stride[3] = 1;
  for (d = 2; d >= 0; --d) {
    stride[d] = stride[d + 1] * p->in_shape[d + 1];
  }
  for (i0 = 0; i0 < p->size[0]; ++i0) {
    for (i1 = 0; i1 < p->size[1]; ++i1) {
      for (i2 = 0; i2 < p->size[2]; ++i2) {
        const int8_t *src = in + (int64_t)(p->begin[0] + i0) * stride[0] +
                            (int64_t)(p->begin[1] + i1) * stride[1] +
                            (int64_t)(p->begin[2] + i2) * stride[2] + p->begin[3];
        memcpy(out, src, (size_t)p->size[3]);
        out += p->size[3];
      }
    }
  }
}
