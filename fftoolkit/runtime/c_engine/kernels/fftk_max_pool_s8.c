/* MAX_POOL_2D, int8 (output shares the input's scale and zero point). */
#include "fftk_kernels.h"

/* Output row oy from input rows held from row in_row0 on (in points at row in_row0): the
 * whole map, or the rows the fused conv-add-pool kernel just computed. */
void fftk_max_pool_row_s8(const fftk_pool_params *p, const int8_t *in, int32_t in_row0,
                          int32_t oy, int8_t *out) {
  int32_t ox, c, y, x;
  const int32_t y0 = oy * p->stride_h - p->pad_top;
  /* the window clipped to the input: padding never wins */
  const int32_t ys = y0 < 0 ? 0 : y0;
  const int32_t ye = y0 + p->f_h > p->in_h ? p->in_h : y0 + p->f_h;
  for (ox = 0; ox < p->out_w; ++ox) {
    const int32_t x0 = ox * p->stride_w - p->pad_left;
    const int32_t xs = x0 < 0 ? 0 : x0;
    const int32_t xe = x0 + p->f_w > p->in_w ? p->in_w : x0 + p->f_w;
    for (c = 0; c < p->c; ++c) {
      int32_t best = -128;
      for (y = ys; y < ye; ++y) {
        for (x = xs; x < xe; ++x) {
          const int32_t v = in[((int64_t)(y - in_row0) * p->in_w + x) * p->c + c];
          best = v > best ? v : best;
        }
      }
      out[(int64_t)ox * p->c + c] = (int8_t)fftk_clamp(best, p->act_min, p->act_max);
    }
  }
}

void fftk_max_pool_s8(const fftk_pool_params *p, const int8_t *in, int8_t *out) {
  int32_t oy;
  for (oy = 0; oy < p->out_h; ++oy) {
    fftk_max_pool_row_s8(p, in, 0, oy, out + (int64_t)oy * p->out_w * p->c);
  }
}
