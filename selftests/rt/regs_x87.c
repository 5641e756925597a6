// SPDX-License-Identifier: GPL-2.0
/* x87 state: a control word with another rounding mode and precision, and
 * values on the FPU stack, across the checkpoint (main blocks in read with
 * them loaded). */
#include "rt.h"

int main(void)
{
	uint16_t cw = 0x0a7f, got_cw;	/* 53-bit precision, round up */
	long double a = 0, b = 0;

	__asm__ volatile("fldcw %0" ::"m"(cw));
	__asm__ volatile("fldpi\n fld1\n" ::: "st", "st(1)");
	rt_ready_wait();
	__asm__ volatile("fstpt %0\n fstpt %1\n" : "=m"(a), "=m"(b)::"st", "st(1)");
	__asm__ volatile("fnstcw %0" : "=m"(got_cw));
	rt_check(got_cw == cw, "control word %#x, want %#x", got_cw, cw);
	rt_check(a == 1.0L, "st(0) lost");
	rt_check(b > 3.14159L && b < 3.1416L, "st(1) lost");
	return rt_verdict();
}
