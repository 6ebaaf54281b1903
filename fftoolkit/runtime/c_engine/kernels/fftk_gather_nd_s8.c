/* GATHER_ND with constant int32 indices: out[i] = params[indices[i]] (a slice each). */
#include "fftk_kernels.h"

void fftk_gather_nd_s8(const fftk_gather_nd_params *p, const int8_t *in, int8_t *out) {
  int32_t i, d, k;
  for (i = 0; i < p->n_indices; ++i) {
    int64_t flat = 0;
    for (d = 0; d < p->index_depth; ++d) {
      flat = flat * p->dims[d] + p->indices[i * p->index_depth + d];
    }
    for (k = 0; k < p->slice; ++k) {
      out[(int64_t)i * p->slice + k] = in[flat * p->slice + k];
    }
  }
}
