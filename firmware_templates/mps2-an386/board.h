/* The MPS2 AN386 as QEMU emulates it: semihosting output, the CMSDK APB timer 0 at the 25 MHz
 * system clock, and the stack paint word. Everything board-specific lives here. */
#ifndef FFTK_BOARD_H
#define FFTK_BOARD_H

#include <stdint.h>

#define FFTK_STACK_PAINT 0xC0FFEE5Au

/* CMSDK APB timer 0 (AN386 application note, QEMU hw/arm/mps2.c): a 32-bit down counter. */
#define FFTK_TIMER0_CTRL (*(volatile uint32_t *)0x40000000u)
#define FFTK_TIMER0_VALUE (*(volatile uint32_t *)0x40000004u)
#define FFTK_TIMER0_RELOAD (*(volatile uint32_t *)0x40000008u)
#define FFTK_TIMER_HZ 25000000u /* PCLK = SYSCLK on the AN386 */
/* Under `qemu-system-arm -icount shift=0` virtual time advances 1 ns per instruction, so one
 * tick of the 25 MHz timer is 1e9 / 25e6 = 40 instructions. */
#define FFTK_INSNS_PER_TICK (1000000000u / FFTK_TIMER_HZ)

static inline void fftk_timer_start(void) {
  FFTK_TIMER0_CTRL = 0;
  FFTK_TIMER0_RELOAD = 0xFFFFFFFFu;
  FFTK_TIMER0_VALUE = 0xFFFFFFFFu;
  FFTK_TIMER0_CTRL = 1; /* enable, no interrupt, internal clock */
}

/* Elapsed ticks since `start` (a down counter: start - now, modulo 2^32). */
static inline uint32_t fftk_ticks(void) { return FFTK_TIMER0_VALUE; }

/* Arm semihosting (QEMU -semihosting): BKPT 0xAB with the operation in r0, argument in r1. */
static inline uint32_t fftk_semihost(uint32_t op, const void *arg) {
  register uint32_t r0 __asm__("r0") = op;
  register const void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

static inline void fftk_puts(const char *s) { fftk_semihost(0x04u, s); } /* SYS_WRITE0 */

/* SYS_EXIT_EXTENDED: QEMU exits with `code` as its own exit status. */
static inline void fftk_exit(int code) {
  const uint32_t block[2] = {0x20026u /* ADP_Stopped_ApplicationExit */, (uint32_t)code};
  fftk_semihost(0x20u, block);
  for (;;) {
  }
}

#endif /* FFTK_BOARD_H */
