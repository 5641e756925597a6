// SPDX-License-Identifier: GPL-2.0
/* A thread in clock_nanosleep(TIMER_ABSTIME) across the checkpoint: it is
 * restarted and wakes at its deadline, not before. */
#include "rt.h"

static struct timespec deadline;
static volatile int rc = -1;

static void *sleeper(void *arg)
{
	rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL);
	return NULL;
}

int main(void)
{
	struct timespec now;
	pthread_t t;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += 3;
	if (pthread_create(&t, NULL, sleeper, NULL))
		rt_die("pthread_create");
	usleep(100 * 1000);
	rt_ready_wait();
	pthread_join(t, NULL);
	clock_gettime(CLOCK_MONOTONIC, &now);
	rt_check(rc == 0, "clock_nanosleep returned %d", rc);
	rt_check(now.tv_sec > deadline.tv_sec ||
		 (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec),
		 "woke before its deadline");
	return rt_verdict();
}
