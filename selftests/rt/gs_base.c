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
	pthread_t t;

	if (syscall(SYS_arch_prctl, ARCH_SET_GS, &main_word))
		rt_die("arch_prctl(ARCH_SET_GS)");
	if (pthread_create(&t, NULL, spin, NULL))
		rt_die("pthread_create");
	if (!rt_wait_for(&turns, 1000, 10000))
		rt_die("the spinning thread did not start");
	rt_ready_wait();
	syscall(SYS_arch_prctl, ARCH_GET_GS, &base);
	rt_check(base == (unsigned long)&main_word, "main's gs base is %#lx", base);
	rt_check(gs_word() == main_word, "%%gs:0 reads %#llx", (unsigned long long)gs_word());
	rt_check(rt_wait_for(&turns, turns + 1000, 10000), "the spinning thread stopped");
	stop = 1;
	pthread_join(t, NULL);
	rt_check(bad == 0, "the thread's gs base changed");
	return rt_verdict();
}
