/* MAX_POOL_2D, int8 (output shares the input's scale and zero point). Channels innermost: a
 * 2x2 window inside the map (the usual pool) takes each group of channels' maximum over its
 * four taps in one pass; with the Arm DSP extension four channels at a time (SSUB8 + SEL). */
#include "fftk_kernels.h"

static int32_t max_i32(int32_t a, int32_t b) {
  return a > b ? a : b;
}

/* out[i] = max of the four taps' channel i, clamped */
static void max4(const int8_t *a, const int8_t *b, const int8_t *c, const int8_t *d, int32_t n,
                 int32_t lo, int32_t hi, int8_t *out) {
  int32_t i = 0;
#if FFTK_DSP
  if (lo == -128 && hi == 127) {
    for (; i + 4 <= n; i += 4) {
      uint32_t m = fftk_read4(a + i), v = fftk_read4(b + i);
      (void)__ssub8((int32_t)m, (int32_t)v); /* GE flags: m >= v, per byte */
      m = __sel(m, v);
      v = fftk_read4(c + i);
      (void)__ssub8((int32_t)m, (int32_t)v);
      m = __sel(m, v);
      v = fftk_read4(d + i);
      (void)__ssub8((int32_t)m, (int32_t)v);
      m = __sel(m, v);
      memcpy(out + i, &m, 4);
    }
  }
#endif
  for (; i < n; ++i) {
    const int32_t m = max_i32(max_i32(a[i], b[i]), max_i32(c[i], d[i]));
    out[i] = (int8_t)fftk_clamp(m, lo, hi);
  }
}

/* Output row oy from input rows held from row in_row0 on (in points at row in_row0): the
 * whole map, or the rows the fused conv-add-pool kernel just computed. */
void fftk_max_pool_row_s8(const fftk_pool_params *p, const int8_t *in, int32_t in_row0,
                          int32_t oy, int8_t *out) {
  const int32_t c = p->c;
  const int32_t y0 = oy * p->stride_h - p->pad_top;
  /* the window clipped to the input: padding never wins */
  const int32_t ys = y0 < 0 ? 0 : y0;
  const int32_t ye = y0 + p->f_h > p->in_h ? p->in_h : y0 + p->f_h;
  const int64_t row = (int64_t)p->in_w * c;
  int32_t ox, ch, y, x;
  for (ox = 0; ox < p->out_w; ++ox) {
    const int32_t x0 = ox * p->stride_w - p->pad_left;
    const int32_t xs = x0 < 0 ? 0 : x0;
    const int32_t xe = x0 + p->f_w > p->in_w ? p->in_w : x0 + p->f_w;
    const int8_t *top = in + (ys - in_row0) * row + (int64_t)xs * c;
    int8_t *o = out + (int64_t)ox * c;
    if (ye - ys == 2 && xe - xs == 2) {
      max4(top, top + c, top + row, top + row + c, c, p->act_min, p->act_max, o);
      continue;
    }
    for (ch = 0; ch < c; ++ch) {
      int32_t best = -128;
      for (y = ys; y < ye; ++y) {
        for (x = xs; x < xe; ++x) {
          best = max_i32(best, in[((int64_t)(y - in_row0) * p->in_w + x) * c + ch]);
        }
      }
      o[ch] = (int8_t)fftk_clamp(best, p->act_min, p->act_max);
    }
  }
}

void fftk_max_pool_s8(const fftk_pool_params *p, const int8_t *in, int8_t *out) {
  int32_t oy;
  for (oy = 0; oy < p->out_h; ++oy) {
    fftk_max_pool_row_s8(p, in, 0, oy, out + (int64_t)oy * p->out_w * p->c);
  }
}
