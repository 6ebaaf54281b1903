/* A convolution (CONV_2D or DEPTHWISE_CONV_2D), then optionally ADD of a constant map (the
 * folded border maps, fused ReLU), then optionally MAX_POOL_2D, run a pool window at a time:
 * the conv's full output map never exists, only the few rows one pool output row needs, in
 * `scratch`. Each stage is its own kernel's code on the same int8 values, so the result is
 * bit for bit what the separate operators compute. Without a pool, the conv writes straight
 * into `out` and the map is added in place (no scratch). */
#include "fftk_kernels.h"

void fftk_conv_add_pool_s8(const fftk_conv_add_pool_params *p, const int8_t *in, int8_t *out,
                           int8_t *scratch) {
  const int64_t row = (int64_t)p->conv_w * p->conv_c;
  const fftk_pool_params *pool = p->pool;
  int32_t oy;
  if (!pool) {
    p->conv_rows(p->conv, in, 0, p->conv_h, out);
    if (p->map) {
      fftk_add_n_s8(p->add, (int32_t)(p->conv_h * row), out, p->map, out);
    }
    return;
  }
  for (oy = 0; oy < pool->out_h; ++oy) {
    /* the conv rows under this output row's window, clipped to the map */
    const int32_t y0 = oy * pool->stride_h - pool->pad_top;
    const int32_t ys = y0 < 0 ? 0 : y0;
    const int32_t ye = y0 + pool->f_h > p->conv_h ? p->conv_h : y0 + pool->f_h;
    if (ye > ys) {
      p->conv_rows(p->conv, in, ys, ye - ys, scratch);
      if (p->map) {
        fftk_add_n_s8(p->add, (int32_t)((ye - ys) * row), scratch, p->map + ys * row, scratch);
      }
    }
    fftk_max_pool_row_s8(pool, scratch, ys, oy, out + (int64_t)oy * pool->out_w * p->conv_c);
  }
}
