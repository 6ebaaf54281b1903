/* A convolution (CONV_2D or DEPTHWISE_CONV_2D), then optionally ADD of a constant map (the
 * folded border maps, fused ReLU), then optionally MAX_POOL_2D, as one step: the conv's
 * output map never exists whole, and each stage's arithmetic is its TFLite kernel's on the
 * same values, so the result is bit for bit what the separate operators compute.
 *
 * The conv kernel returns int32 accumulators two pixels at a time; each is requantized to int8
 * (fftk_out_s8) and the map added (fftk_add_n_s8). With a pool whose windows tile the map
 * (pool_on_accs), the taps of a window whose map values agree (all of them, except near the
 * borders of FF's folded maps) are requantized and added once, from the largest accumulator of
 * each channel: requantization, ADD and clamps are monotone (non-decreasing) functions, so the
 * max of their results is their result at the max. Any other pool runs on int8 conv rows.
 *
 * scratch: rows_bytes of conv rows, then int32 accumulators, conv_c for each of two pixels
 * (with a pool: max(2, taps rounded up to even) + 1 of them), then the conv's own scratch. */
#include "fftk_kernels.h"

/* The conv's int8 outputs (requantization, activation) of one pixel's accumulators. */
static void requantize(const fftk_conv_add_pool_params *p, const int32_t *acc, int8_t *out) {
  const int32_t *mult = p->multiplier, *shift = p->shift;
  const int32_t offset = p->out_offset, lo = p->act_min, hi = p->act_max, c = p->conv_c;
  int32_t ch;
  if (lo == -128 && hi == 127) { /* no activation: a plain saturation */
    for (ch = 0; ch < c; ++ch) {
      out[ch] = fftk_sat8(fftk_requant(acc[ch], mult[ch], shift[ch]) + offset);
    }
    return;
  }
  for (ch = 0; ch < c; ++ch) {
    out[ch] = fftk_out_s8(acc[ch], mult[ch], shift[ch], offset, lo, hi);
  }
}

/* Two pixels' accumulators (the second may repeat the first) to int8, plus the map. */
static void finish(const fftk_conv_add_pool_params *p, const int32_t *acc, int32_t pixels,
                   const int8_t *map, int8_t *out) {
  const int32_t c = p->conv_c;
  requantize(p, acc, out);
  if (pixels > 1) {
    requantize(p, acc + c, out + c);
  }
  if (map) {
    fftk_add_n_s8(p->add, pixels * c, out, map, out);
  }
}

/* Conv rows [row0, row0 + rows) (+ the map) as int8 into out, two pixels at a time. */
static void rows_s8(const fftk_conv_add_pool_params *p, const int8_t *in, int32_t row0,
                    int32_t rows, int8_t *out, int32_t *acc, int8_t *scratch) {
  const int32_t c = p->conv_c, n = rows * p->conv_w;
  const int8_t *map = p->map ? p->map + (int64_t)row0 * p->conv_w * c : 0;
  int32_t yx[4], i;
  yx[0] = row0;
  yx[1] = 0;
  for (i = 0; i < n; i += 2) {
    const int32_t pair = i + 1 < n; /* an odd last pixel is computed twice */
    yx[2] = yx[0];
    yx[3] = yx[1] + pair;
    if (yx[3] == p->conv_w) {
      yx[2] += 1;
      yx[3] = 0;
    }
    p->conv_accs(p->conv, in, yx, acc, scratch);
    finish(p, acc, 1 + pair, map ? map + (int64_t)i * c : 0, out + (int64_t)i * c);
    yx[0] = yx[2];
    yx[1] = yx[3] + 1;
    if (yx[1] == p->conv_w) {
      yx[0] += 1;
      yx[1] = 0;
    }
  }
}

/* Whether n bytes at a and b are equal (4 at a time: a library memcmp may go byte by byte). */
static int32_t same(const int8_t *a, const int8_t *b, int32_t n) {
  int32_t i = 0;
  for (; i + 4 <= n; i += 4) {
    if (fftk_read4(a + i) != fftk_read4(b + i)) {
      return 0;
    }
  }
  for (; i < n; ++i) {
    if (a[i] != b[i]) {
      return 0;
    }
  }
  return 1;
}

/* Pool output (oy, ox) of a tiling pool into out[conv_c]: the taps' accumulators, then per
 * group of taps whose map values agree (all of them inside FF's folded maps; at the borders,
 * the taps in the same border row or column) the max of the group's accumulators requantized
 * and added once, then the max over the groups. acc holds (taps rounded up to even, + 1) *
 * conv_c int32. */
static void window(const fftk_conv_add_pool_params *p, const int8_t *in, int32_t oy,
                   int32_t ox, int8_t *out, int32_t *acc, int8_t *scratch) {
  const fftk_pool_params *pool = p->pool;
  const int32_t c = p->conv_c, fw = pool->f_w, taps = pool->f_h * fw;
  const int32_t y0 = oy * pool->f_h, x0 = ox * fw;
  const int8_t *map = p->map ? p->map + ((int64_t)y0 * p->conv_w + x0) * c : 0;
  int8_t *q = (int8_t *)(acc + (taps + (taps & 1)) * c); /* one group's int8 values */
  int32_t yx[4], at[FFTK_POOL_TAPS], group[FFTK_POOL_TAPS], t, u, ch, first = 1;
  for (t = 0; t < taps; t += 2) {
    const int32_t v = t + 1 < taps ? t + 1 : t;
    yx[0] = y0 + t / fw;
    yx[1] = x0 + t % fw;
    yx[2] = y0 + v / fw;
    yx[3] = x0 + v % fw;
    p->conv_accs(p->conv, in, yx, acc + t * c, scratch);
  }
  for (t = 0; t < taps; ++t) { /* group[t]: the first tap with t's map values */
    at[t] = ((t / fw) * p->conv_w + t % fw) * c;
    group[t] = map ? t : 0;
    for (u = 0; map && u < t; ++u) {
      if (group[u] == u && same(map + at[u], map + at[t], c)) {
        group[t] = u;
        break;
      }
    }
  }
  for (u = 0; u < taps; ++u) {
    int32_t *best = acc + u * c;
    if (group[u] != u) {
      continue;
    }
    for (t = u + 1; t < taps; ++t) {
      if (group[t] == u) {
        const int32_t *a = acc + t * c;
        for (ch = 0; ch < c; ++ch) {
          best[ch] = a[ch] > best[ch] ? a[ch] : best[ch];
        }
      }
    }
    finish(p, best, 1, map ? map + at[u] : 0, first ? out : q);
    if (!first) {
      for (ch = 0; ch < c; ++ch) {
        out[ch] = q[ch] > out[ch] ? q[ch] : out[ch];
      }
    }
    first = 0;
  }
  if (pool->act_min > -128 || pool->act_max < 127) {
    for (ch = 0; ch < c; ++ch) {
      out[ch] = (int8_t)fftk_clamp(out[ch], pool->act_min, pool->act_max);
    }
  }
}

void fftk_conv_add_pool_s8(const fftk_conv_add_pool_params *p, const int8_t *in, int8_t *out,
                           int8_t *scratch) {
  const fftk_pool_params *pool = p->pool;
  int32_t *acc = (int32_t *)(void *)(scratch + p->rows_bytes);
  int8_t *conv_scratch;
  int32_t oy, ox, taps;
  if (!pool) {
    conv_scratch = (int8_t *)(acc + 2 * p->conv_c);
    rows_s8(p, in, 0, p->conv_h, out, acc, conv_scratch);
    return;
  }
  taps = pool->f_h * pool->f_w;
  conv_scratch = (int8_t *)(acc + (taps > 2 ? taps + (taps & 1) + 1 : 3) * p->conv_c);
  for (oy = 0; oy < pool->out_h; ++oy) {
    int8_t *row = out + (int64_t)oy * pool->out_w * p->conv_c;
    if (p->pool_on_accs) {
      for (ox = 0; ox < pool->out_w; ++ox) {
        window(p, in, oy, ox, row + (int64_t)ox * p->conv_c, acc, conv_scratch);
      }
    } else {
      /* the conv rows under this output row's window, clipped to the map */
      const int32_t y0 = oy * pool->stride_h - pool->pad_top;
      const int32_t ys = y0 < 0 ? 0 : y0;
      const int32_t ye = y0 + pool->f_h > p->conv_h ? p->conv_h : y0 + pool->f_h;
      if (ye > ys) {
        rows_s8(p, in, ys, ye - ys, scratch, acc, conv_scratch);
      }
      fftk_max_pool_row_s8(pool, scratch, ys, oy, row);
    }
  }
}
