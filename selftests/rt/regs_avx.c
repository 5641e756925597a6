// SPDX-License-Identifier: GPL-2.0
/* AVX: the upper halves of ymm1-ymm15 live across the checkpoint. */
#include "rt.h"
#include <cpuid.h>

static volatile int stop;
static volatile uint64_t turns;
static volatile int bad = 1;
static uint64_t want[64] __attribute__((aligned(32)));

__attribute__((target("avx2"))) static void *spin(void *arg)
{
	int b = 0;

#define LOAD(n) "vmovdqa " #n "*32(%[w]), %%ymm" #n "\n"
#define CMP(n) "vmovdqa " #n "*32(%[w]), %%ymm0\n vpcmpeqb %%ymm" #n ", %%ymm0, %%ymm0\n vpmovmskb %%ymm0, %%eax\n cmp $0xffffffff, %%eax\n jne 2f\n"
	__asm__ volatile(LOAD(1) LOAD(2) LOAD(3) LOAD(4) LOAD(5) LOAD(6) LOAD(7) LOAD(8)
			 LOAD(9) LOAD(10) LOAD(11) LOAD(12) LOAD(13) LOAD(14) LOAD(15)
			 "1:\n"
			 "incq %[turns]\n"
			 CMP(1) CMP(2) CMP(3) CMP(4) CMP(5) CMP(6) CMP(7) CMP(8)
			 CMP(9) CMP(10) CMP(11) CMP(12) CMP(13) CMP(14) CMP(15)
			 "cmpl $0, %[stop]\n"
			 "je 1b\n"
			 "xor %[b], %[b]\n"
			 "jmp 3f\n"
			 "2: mov $1, %[b]\n"
			 "3: vzeroupper\n"
			 : [turns] "+m"(turns), [b] "+r"(b)
			 : [w] "r"(want), [stop] "m"(stop)
			 : "rax", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
			   "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory", "cc");
	bad = b;
	return NULL;
}

int main(void)
{
	unsigned int a, b, c, d;

	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & (1 << 5)))
		rt_skip("this CPU has no AVX2");
	rt_fill(want, sizeof(want), 31);
	rt_spin_across(spin, &turns, &stop);
	rt_check(!bad, "a ymm register changed under the spinning thread");
	return rt_verdict();
}
