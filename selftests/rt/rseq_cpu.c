// SPDX-License-Identifier: GPL-2.0
/* rseq: glibc registers each thread's rseq area; after the restore the
 * kernel keeps it up to date (cpu_id is a real CPU), and sched_getcpu works. */
#include "rt.h"
#include <sched.h>
#include <sys/rseq.h>

int main(void)
{
	volatile uint32_t *cpu_id;

	if (!__rseq_size)
		rt_skip("glibc did not register rseq");
	cpu_id = &((struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset))->cpu_id;
	if ((int32_t)*cpu_id < 0)
		rt_skip("rseq is not registered");
	rt_ready_wait();
	sched_yield();
	rt_check(*cpu_id < 1024, "rseq cpu_id is %d", (int)*cpu_id);
	rt_check(sched_getcpu() >= 0, "sched_getcpu");
	return rt_verdict();
}
