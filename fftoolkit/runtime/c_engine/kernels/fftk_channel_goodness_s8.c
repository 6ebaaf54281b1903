/* FF channel-group goodness of one block's int8 features (NHWC), in integers:
 * out[g] = sum over positions and the channels of group g of (q - zero_point)^2.
 * The float goodness is scale^2 * out[g] / (positions * channels / groups). */
#include "fftk_kernels.h"

void fftk_channel_goodness_s8(const int8_t *feat, int32_t positions, int32_t channels,
                              int32_t groups, int32_t zero_point, int32_t *out) {
  const int32_t per_group = channels / groups;
  int32_t pos, c, g;
  for (g = 0; g < groups; ++g) {
    out[g] = 0;
  }
  for (pos = 0; pos < positions; ++pos) {
    const int8_t *q = feat + (int64_t)pos * channels;
    for (g = 0; g < groups; ++g) {
      int32_t sum = 0;
      for (c = 0; c < per_group; ++c) {
        const int32_t v = q[c] - zero_point;
        sum += v * v;
      }
      out[g] += sum;
      q += per_group;
    }
  }
}
