/* FULLY_CONNECTED, int8, weights [out][in] with one multiplier per output (per-channel). The
 * exporter folded the input offset into the bias, so each output is a plain int8 dot product
 * (plus filter_offset * sum(x), which TFLite's int8 filters never need: their zero point is
 * 0), requantized once. With the Arm DSP extension, two outputs at a time share each input
 * word and every two MACs are one SMLAD. */
#include "fftk_kernels.h"

#if FFTK_DSP
/* sum(w0 * x), sum(w1 * x) over n into acc[0..1] */
static void dot1x2(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n,
                   int32_t *acc) {
  int32_t s0 = acc[0], s1 = acc[1], i;
  for (i = 0; i + 4 <= n; i += 4) {
    const uint32_t v = fftk_read4(x + i), f0 = fftk_read4(w0 + i), f1 = fftk_read4(w1 + i);
    const int32_t ve = __sxtb16(v), vo = fftk_sxtb16_odd(v);
    s0 = __smlad(__sxtb16(f0), ve, s0);
    s0 = __smlad(fftk_sxtb16_odd(f0), vo, s0);
    s1 = __smlad(__sxtb16(f1), ve, s1);
    s1 = __smlad(fftk_sxtb16_odd(f1), vo, s1);
  }
  for (; i < n; ++i) {
    s0 += w0[i] * x[i];
    s1 += w1[i] * x[i];
  }
  acc[0] = s0;
  acc[1] = s1;
}
#else
static void dot1x2(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n,
                   int32_t *acc) {
  int32_t s0 = acc[0], s1 = acc[1], i;
  for (i = 0; i < n; ++i) {
    s0 += w0[i] * x[i];
    s1 += w1[i] * x[i];
  }
  acc[0] = s0;
  acc[1] = s1;
}
#endif

void fftk_fully_connected_s8(const fftk_fc_params *p, const int8_t *in, int8_t *out) {
  const int32_t n = p->in_depth;
  int32_t b, o, i;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *x = in + (int64_t)b * n;
    int32_t extra = 0;
    if (p->filter_offset != 0) {
      for (i = 0; i < n; ++i) {
        extra += x[i];
      }
      extra *= p->filter_offset;
    }
    for (o = 0; o < p->out_depth; o += 2) {
      const int32_t o1 = o + 1 < p->out_depth ? o + 1 : o; /* an odd output out: twice */
      int32_t acc[2];
      acc[0] = p->bias[o] + extra;
      acc[1] = p->bias[o1] + extra;
      dot1x2(x, p->filter + (int64_t)o * n, p->filter + (int64_t)o1 * n, n, acc);
      out[(int64_t)b * p->out_depth + o] = fftk_out_s8(acc[0], p->multiplier[o], p->shift[o],
                                                       p->out_offset, p->act_min, p->act_max);
      out[(int64_t)b * p->out_depth + o1] = fftk_out_s8(acc[1], p->multiplier[o1],
                                                        p->shift[o1], p->out_offset,
                                                        p->act_min, p->act_max);
    }
  }
}
