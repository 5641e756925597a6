// SPDX-License-Identifier: GPL-2.0
/* The gs base (arch_prctl ARCH_SET_GS), per thread: the main thread's and a
 * spinning thread's, each pointing at its own word, read through %gs. */
#include "rt.h"
#include <asm/prctl.h>

static uint64_t main_word = 0x6161616161616161ULL, thread_word = 0x7272727272727272ULL;
static volatile int stop, bad = -1;
static volatile uint64_t turns;

static uint64_t gs_word(void)
{
	uint64_t v;

	__asm__ volatile("movq %%gs:0, %0" : "=r"(v));
	return v;
}

static void *spin(void *arg)
{
	if (syscall(SYS_arch_prctl, ARCH_SET_GS, &thread_word))
		return NULL;
	bad = 0;
	while (!stop) {
		if (gs_word() != thread_word)
			bad = 1;
		turns++;
	}
	return NULL;
}

int main(void)
{
	unsigned long base = 0;

	if (syscall(SYS_arch_prctl, ARCH_SET_GS, &main_word))
		rt_die("arch_prctl(ARCH_SET_GS)");
	rt_spin_across(spin, &turns, &stop);
	syscall(SYS_arch_prctl, ARCH_GET_GS, &base);
	rt_check(base == (unsigned long)&main_word, "main's gs base is %#lx", base);
	rt_check(gs_word() == main_word, "%%gs:0 reads %#llx", (unsigned long long)gs_word());
	rt_check(bad == 0, "the thread's gs base changed");
	return rt_verdict();
}
