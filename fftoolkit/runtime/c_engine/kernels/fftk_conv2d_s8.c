/* CONV_2D, int8 activations, int8 per-channel weights, int32 bias (also a DEPTHWISE_CONV_2D
 * of a one-channel input, the same arithmetic): the accumulators of two output pixels, which
 * fftk_conv_add_pool_s8 requantizes (once per output, or once per pool window).
 *
 * Each output pixel's receptive field is gathered once into scratch (k_h * k_w * in_c int8 in
 * the filter's order, a padded tap holding the input zero point), then each output channel is
 * a plain int8 dot product with its filter row. The exporter folded TFLite's input offset
 * into the bias (bias - zp * sum of the row), so sum(w * x) + bias' = sum(w * (x - zp)) + bias
 * exactly, and a padded tap adds w * zp - w * zp = 0, as the tap TFLite skips. Two pixels and
 * two channels at a time: four accumulators, each value loaded serves two MACs. Each gathered
 * pixel is widened to int16 once: with the Arm DSP extension (SXTB16) in the order that SMLAD
 * (two MACs per instruction) pairs with the filter words, elsewhere in plain order for
 * vectorised int16 x int8 dot products.
 */
#include "fftk_kernels.h"

/* The receptive field of output pixel (oy, ox) into dst[k_pad]. */
static void gather(const fftk_conv_params *p, const int8_t *in, int32_t oy, int32_t ox,
                   int8_t *dst) {
  const int32_t y0 = oy * p->stride_h - p->pad_top;
  const int32_t x0 = ox * p->stride_w - p->pad_left;
  const int32_t c = p->in_c;
  const int32_t whole = p->dil_w == 1 && x0 >= 0 && x0 + p->k_w <= p->in_w;
  int32_t ky, kx;
  int8_t *d = dst;
  for (ky = 0; ky < p->k_h; ++ky) {
    const int32_t y = y0 + ky * p->dil_h;
    const int8_t *row = in + (int64_t)y * p->in_w * c;
    if (y < 0 || y >= p->in_h) {
      memset(d, p->pad_value, (size_t)(p->k_w * c));
      d += p->k_w * c;
    } else if (whole) { /* the kernel row lies inside the input: one copy */
      memcpy(d, row + (int64_t)x0 * c, (size_t)(p->k_w * c));
      d += p->k_w * c;
    } else {
      for (kx = 0; kx < p->k_w; ++kx) {
        const int32_t x = x0 + kx * p->dil_w;
        if (x < 0 || x >= p->in_w) {
          memset(d, p->pad_value, (size_t)c);
        } else {
          memcpy(d, row + (int64_t)x * c, (size_t)c);
        }
        d += c;
      }
    }
  }
  memset(d, 0, (size_t)(dst + p->k_pad - d)); /* filter zeros up to k_pad */
}

#if FFTK_DSP

/* One gathered pixel widened to int16 pairs: for every 4 bytes (x0 x1 x2 x3), the words
 * (x0, x2) and (x1, x3), at dst[4 * g + 2 * slot]: the pair's two pixels interleaved, so that
 * one pointer walks both. A filter word's __sxtb16 / fftk_sxtb16_odd pair with them. */
static void widen(const int8_t *src, int32_t k_pad, int32_t slot, uint32_t *dst) {
  int32_t g;
  dst += 2 * slot;
  for (g = 0; g < k_pad; g += 4) {
    const uint32_t w = fftk_read4(src + g);
    dst[0] = (uint32_t)__sxtb16(w);
    dst[1] = (uint32_t)fftk_sxtb16_odd(w);
    dst += 4;
  }
}

/* One group of 4 filter values of both channels (w) with both widened pixels (col): four
 * loads, four SXTB16, eight SMLAD for 16 MACs. */
#define FFTK_GROUP(w, col)                                                                \
  do {                                                                                    \
    const int32_t ae = (int32_t)(col)[0], ao = (int32_t)(col)[1];                         \
    const int32_t be = (int32_t)(col)[2], bo = (int32_t)(col)[3];                         \
    uint32_t f = fftk_read4(w);                                                           \
    int32_t e = __sxtb16(f), o = fftk_sxtb16_odd(f);                                      \
    s00 = __smlad(e, ae, s00);                                                            \
    s00 = __smlad(o, ao, s00);                                                            \
    s10 = __smlad(e, be, s10);                                                            \
    s10 = __smlad(o, bo, s10);                                                            \
    f = fftk_read4((w) + 4);                                                              \
    e = __sxtb16(f);                                                                      \
    o = fftk_sxtb16_odd(f);                                                               \
    s01 = __smlad(e, ae, s01);                                                            \
    s01 = __smlad(o, ao, s01);                                                            \
    s11 = __smlad(e, be, s11);                                                            \
    s11 = __smlad(o, bo, s11);                                                            \
  } while (0)

/* Every channel pair's interleaved filter rows (w) with the two widened pixels (col), `groups`
 * groups of 4 values each, bias first, into acc (pixel a's out_c, then pixel b's). Four
 * groups per iteration; GCC keeps the four accumulators and the eight live operands in
 * registers only when its pre-register-allocation scheduler leaves the order as written
 * (FFTK_NO_SCHEDULE; otherwise spills cost about 10 % more instructions). */
FFTK_NO_SCHEDULE static void channels(const int8_t *w, const uint32_t *col, int32_t groups,
                                      const int32_t *bias, int32_t out_c, int32_t *acc) {
  int32_t oc;
  for (oc = 0; oc < out_c; oc += 2) {
    const int32_t oc1 = oc + 1 < out_c ? oc + 1 : oc; /* an odd channel out: twice */
    const uint32_t *x = col;
    int32_t s00 = bias[oc], s01 = bias[oc1], s10 = s00, s11 = s01;
    int32_t n;
    for (n = groups >> 2; n > 0; --n) {
      FFTK_GROUP(w, x);
      FFTK_GROUP(w + 8, x + 4);
      FFTK_GROUP(w + 16, x + 8);
      FFTK_GROUP(w + 24, x + 12);
      w += 32;
      x += 16;
    }
    for (n = groups & 3; n > 0; --n) {
      FFTK_GROUP(w, x);
      w += 8;
      x += 4;
    }
    acc[oc] = s00;
    acc[oc1] = s01;
    acc[out_c + oc] = s10;
    acc[out_c + oc1] = s11;
  }
}

#else

/* One gathered pixel widened to int16 at dst + 2 * k_pad * slot (through memcpy: the scratch
 * is the arena's int32 words). Widened once, it serves every channel as a vectorisable
 * int16 x int8 dot product. */
static void widen(const int8_t *src, int32_t k_pad, int32_t slot, int8_t *dst) {
  int32_t k;
  dst += 2 * k_pad * slot;
  for (k = 0; k < k_pad; ++k) {
    const int16_t v = src[k];
    memcpy(dst + 2 * k, &v, 2);
  }
}

static int16_t at16(const int8_t *p, int32_t k) {
  int16_t v;
  memcpy(&v, p + 2 * k, 2);
  return v;
}

/* Every channel pair's interleaved filter rows (w) with the two widened pixels a and b,
 * `groups` groups of 4 values each, bias first, into acc (pixel a's out_c, then b's). */
static void channels(const int8_t *w, const int8_t *a, const int8_t *b, int32_t groups,
                     const int32_t *bias, int32_t out_c, int32_t *acc) {
  int32_t oc, g, j;
  for (oc = 0; oc < out_c; oc += 2) {
    const int32_t oc1 = oc + 1 < out_c ? oc + 1 : oc; /* an odd channel out: twice */
    int32_t s00 = bias[oc], s01 = bias[oc1], s10 = s00, s11 = s01;
    for (g = 0; g < groups; ++g) {
      for (j = 0; j < 4; ++j) {
        const int16_t x = at16(a, 4 * g + j), y = at16(b, 4 * g + j);
        const int16_t f0 = w[j], f1 = w[4 + j];
        s00 += f0 * x;
        s01 += f1 * x;
        s10 += f0 * y;
        s11 += f1 * y;
      }
      w += 8;
    }
    acc[oc] = s00;
    acc[oc1] = s01;
    acc[out_c + oc] = s10;
    acc[out_c + oc1] = s11;
  }
}

#endif

/* The accumulators of every output channel of pixels (yx[0], yx[1]) and (yx[2], yx[3]) into
 * acc[0 .. out_c) and acc[out_c .. 2 out_c): each gathered and widened to int16, then a
 * channel pair at a time. scratch holds FFTK_CONV_SCRATCH(k_pad) bytes: k_pad for a gathered
 * pixel, 4 k_pad for the two widened ones. */
void fftk_conv2d_accs_s8(const void *params, const int8_t *in, const int32_t *yx, int32_t *acc,
                         int8_t *scratch) {
  const fftk_conv_params *p = (const fftk_conv_params *)params;
  const int32_t k_pad = p->k_pad;
#if FFTK_DSP
  const uint32_t *col = (const uint32_t *)(const void *)(scratch + k_pad);
  gather(p, in, yx[0], yx[1], scratch);
  widen(scratch, k_pad, 0, (uint32_t *)(void *)(scratch + k_pad));
  gather(p, in, yx[2], yx[3], scratch);
  widen(scratch, k_pad, 1, (uint32_t *)(void *)(scratch + k_pad));
  channels(p->filter, col, k_pad / 4, p->bias, p->out_c, acc);
#else
  gather(p, in, yx[0], yx[1], scratch);
  widen(scratch, k_pad, 0, scratch + k_pad);
  gather(p, in, yx[2], yx[3], scratch);
  widen(scratch, k_pad, 1, scratch + k_pad);
  channels(p->filter, scratch + k_pad, scratch + 3 * k_pad, k_pad / 4, p->bias, p->out_c, acc);
#endif
}
