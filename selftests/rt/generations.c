// SPDX-License-Identifier: GPL-2.0
/* Checkpointed and restored three times (the test does it): memory, a
 * thread and a counter that goes on across generations. */
#include "rt.h"

static volatile uint64_t ticks;
static volatile int stop;
static unsigned char *m;

static void *ticker(void *arg)
{
	while (!stop) {
		ticks++;
		usleep(1000);
	}
	return NULL;
}

int main(void)
{
	pthread_t t;
	uint64_t before;

	m = malloc(8 * MiB);
	if (!m)
		rt_die("malloc");
	rt_fill(m, 8 * MiB, 99);
	pthread_create(&t, NULL, ticker, NULL);
	rt_ready_wait();
	before = ticks;
	usleep(100 * 1000);
	stop = 1;
	pthread_join(t, NULL);
	rt_check(ticks > before, "the ticker stopped");
	rt_check(rt_differs(m, 8 * MiB, 99) < 0, "memory differs");
	return rt_verdict();
}
