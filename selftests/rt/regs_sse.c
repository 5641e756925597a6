// SPDX-License-Identifier: GPL-2.0
/* SSE registers live across the checkpoint: xmm0-xmm15 hold known values
 * while a thread spins checking them, and MXCSR holds a non-default mode. */
#include "rt.h"

static volatile int stop;
static volatile uint64_t turns;
static volatile int bad = 1;
static uint64_t want[32] __attribute__((aligned(16)));

static void *spin(void *arg)
{
	int b = 0;
	uint32_t mxcsr = 0x1f80 | (3 << 13), got;	/* round toward zero */

	__asm__ volatile("ldmxcsr %0" ::"m"(mxcsr));
#define LOAD(n) "movdqa " #n "*16(%[w]), %%xmm" #n "\n"
#define CHECK(n) "movdqa " #n "*16(%[w]), %%xmm0\n"
	__asm__ volatile(LOAD(1) LOAD(2) LOAD(3) LOAD(4) LOAD(5) LOAD(6) LOAD(7) LOAD(8)
			 LOAD(9) LOAD(10) LOAD(11) LOAD(12) LOAD(13) LOAD(14) LOAD(15)
			 "1:\n"
			 "incq %[turns]\n"
#define CMP(n) "movdqa " #n "*16(%[w]), %%xmm0\n pcmpeqb %%xmm" #n ", %%xmm0\n pmovmskb %%xmm0, %%eax\n cmp $0xffff, %%eax\n jne 2f\n"
			 CMP(1) CMP(2) CMP(3) CMP(4) CMP(5) CMP(6) CMP(7) CMP(8)
			 CMP(9) CMP(10) CMP(11) CMP(12) CMP(13) CMP(14) CMP(15)
			 "cmpl $0, %[stop]\n"
			 "je 1b\n"
			 "xor %[b], %[b]\n"
			 "jmp 3f\n"
			 "2: mov $1, %[b]\n"
			 "3:\n"
			 : [turns] "+m"(turns), [b] "+r"(b)
			 : [w] "r"(want), [stop] "m"(stop)
			 : "rax", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
			   "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory", "cc");
	__asm__ volatile("stmxcsr %0" : "=m"(got));
	bad = b || (got & ~0x3f) != (mxcsr & ~0x3f);
	return NULL;
}

int main(void)
{
	rt_fill(want, sizeof(want), 21);
	rt_spin_across(spin, &turns, &stop);
	rt_check(!bad, "an xmm register or MXCSR changed under the spinning thread");
	return rt_verdict();
}
