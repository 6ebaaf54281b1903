/* Minimal Cortex-M4 startup for the MPS2 AN386 (and any Cortex-M part with the same layout):
 * the vector table, and a reset handler that paints the stack (for the high-water
 * measurement), copies .data from flash, zeroes .bss and calls main(). No C library start-up,
 * no heap: the engine needs neither. */
#include <stdint.h>

#include "board.h"

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint32_t __stack_limit[], __stack_top[];

int main(void);
void Reset_Handler(void);
void Fault_Handler(void);

/* Cortex-M4 system exceptions; the board's peripheral interrupts stay disabled. */
__attribute__((section(".isr_vector"), used))
void (*const fftk_vectors[16])(void) = {
  (void (*)(void))(uintptr_t)__stack_top, /* initial main stack pointer */
  Reset_Handler,
  Fault_Handler, /* NMI */
  Fault_Handler, /* HardFault */
  Fault_Handler, /* MemManage */
  Fault_Handler, /* BusFault */
  Fault_Handler, /* UsageFault */
  0, 0, 0, 0,
  Fault_Handler, /* SVCall */
  Fault_Handler, /* DebugMonitor */
  0,
  Fault_Handler, /* PendSV */
  Fault_Handler, /* SysTick */
};

void Reset_Handler(void) {
  volatile uint32_t *paint; /* volatile: stays a loop, never a memset call using this stack */
  uint32_t *p;
  const uint32_t *src;
  uint32_t *sp;
  /* Paint the stack below this frame (64 bytes of margin) so main can find how deep it went. */
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  for (paint = __stack_limit; paint < sp - 16; ++paint) {
    *paint = FFTK_STACK_PAINT;
  }
  for (p = __data_start, src = __data_load; p < __data_end; ++p, ++src) {
    *p = *src;
  }
  for (p = __bss_start; p < __bss_end; ++p) {
    *p = 0;
  }
  fftk_exit(main());
}

/* Any fault: say so over semihosting and stop QEMU with a failure status. */
void Fault_Handler(void) {
  fftk_puts("fftk: fault (HardFault/BusFault/UsageFault); stopping\n");
  fftk_exit(3);
}
