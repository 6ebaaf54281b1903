/* Classify the embedded test images with the fftk C engine and print, over semihosting, each
 * image's class (with its label and int8 logits), the instructions it took, the calibration of
 * the instruction count, the arena and the stack high-water. `report.sh` turns the
 * `fftk-report` lines into report.json. */
#include <stdint.h>

#include "board.h"
#include "fftk_model.h"
#include "fftk_testset.h"

extern uint32_t __stack_limit[], __stack_top[];

#define CALIBRATION_LOOPS 1000000u /* a loop of exactly 2 instructions per iteration */

/* --- output: no printf (no heap, no C library state), just these helpers --- */

static char line[256];
static unsigned line_len;

static void put(const char *s) {
  while (*s != '\0' && line_len + 1 < sizeof line) {
    line[line_len++] = *s++;
  }
}

static void put_u32(uint32_t v) {
  char digits[11];
  int n = 0;
  do {
    digits[n++] = (char)('0' + v % 10u);
    v /= 10u;
  } while (v != 0u);
  while (n > 0 && line_len + 1 < sizeof line) {
    line[line_len++] = digits[--n];
  }
}

static void put_i32(int32_t v) {
  if (v < 0) {
    put("-");
    put_u32(0u - (uint32_t)v);
  } else {
    put_u32((uint32_t)v);
  }
}

static void put_hex(const uint8_t *bytes, unsigned n) {
  static const char hex[] = "0123456789abcdef";
  unsigned i;
  for (i = 0; i < n && line_len + 3 < sizeof line; ++i) {
    line[line_len++] = hex[bytes[i] >> 4];
    line[line_len++] = hex[bytes[i] & 15u];
  }
}

static void flush(void) {
  line[line_len++] = '\n';
  line[line_len] = '\0';
  fftk_puts(line);
  line_len = 0;
}

static void report(const char *key, uint32_t value) {
  put("fftk-report ");
  put(key);
  put(" ");
  put_u32(value);
  flush();
}

/* --- measurement --- */

/* Instructions between two timer reads: 25 MHz ticks * 40 instructions per tick. */
static uint32_t instructions(uint32_t start, uint32_t end) {
  return (start - end) * FFTK_INSNS_PER_TICK;
}

/* A loop of exactly 2 * CALIBRATION_LOOPS instructions (subs + bne), timed like an image. */
static uint32_t calibrate(void) {
  uint32_t n = CALIBRATION_LOOPS;
  const uint32_t start = fftk_ticks();
  __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
  return instructions(start, fftk_ticks());
}

/* Bytes of the stack region ever written: from the top down to the first painted word. */
static uint32_t stack_high_water(void) {
  const uint32_t *p = __stack_limit;
  while (p < __stack_top && *p == FFTK_STACK_PAINT) {
    ++p;
  }
  return (uint32_t)(__stack_top - p) * 4u;
}

static int argmax(const int8_t *v, int n) {
  int best = 0, i;
  for (i = 1; i < n; ++i) {
    if (v[i] > v[best]) {
      best = i;
    }
  }
  return best;
}

int main(void) {
  static int32_t goodness[FFTK_GOODNESS_SIZE];
  int8_t logits[FFTK_LOGITS_SIZE];
  uint32_t total = 0, least = 0xFFFFFFFFu, most = 0, stack, reserved, empty;
  int i, agree = 0;

  fftk_timer_start();
  empty = instructions(fftk_ticks(), fftk_ticks());
  put("fftk mps2-an386: ");
  put_u32((uint32_t)fftk_num_images);
  put(" image(s), arena ");
  put_u32(FFTK_ARENA_SIZE);
  put(" B, timer 25 MHz = ");
  put_u32(FFTK_INSNS_PER_TICK);
  put(" instructions per tick");
  flush();

  for (i = 0; i < fftk_num_images; ++i) {
    const uint32_t start = fftk_ticks();
    uint32_t n;
    int cls;
    fftk_infer(fftk_images[i], logits, goodness);
    n = instructions(start, fftk_ticks());
    total += n;
    least = n < least ? n : least;
    most = n > most ? n : most;
    cls = argmax(logits, FFTK_LOGITS_SIZE);
    agree += cls == fftk_image_labels[i];
    put("image ");
    put_u32((uint32_t)i);
    put(": ");
    put(fftk_class_names[cls]);
    put(" (label ");
    put(fftk_image_labels[i] >= 0 ? fftk_class_names[fftk_image_labels[i]] : "none");
    put("), ");
    put_u32(n);
    put(" instructions");
    flush();
    put("fftk-image ");
    put_u32((uint32_t)i);
    put(" class ");
    put_i32(cls);
    put(" label ");
    put_i32(fftk_image_labels[i]);
    put(" instructions ");
    put_u32(n);
    put(" logits ");
    put_hex((const uint8_t *)logits, sizeof logits);
    put(" goodness ");
    put_hex((const uint8_t *)goodness, sizeof goodness);
    flush();
  }

  stack = stack_high_water();
  reserved = (uint32_t)(__stack_top - __stack_limit) * 4u;
  report("images", (uint32_t)fftk_num_images);
  report("agree_with_labels", (uint32_t)agree);
  report("instructions_total", total);
  report("instructions_min", least);
  report("instructions_max", most);
  report("timer_read_instructions", empty);
  report("calibration_expected", 2u * CALIBRATION_LOOPS);
  report("calibration_measured", calibrate());
  report("arena_bytes", FFTK_ARENA_SIZE);
  report("stack_high_water_bytes", stack);
  report("stack_reserved_bytes", reserved);
  report("macs", fftk_macs_per_image);
  if (stack >= reserved) {
    fftk_puts("fftk: the stack overflowed its reserved region; raise STACK_BYTES\n");
    return 2;
  }
  return 0;
}
