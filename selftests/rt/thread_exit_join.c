// SPDX-License-Identifier: GPL-2.0
/* Threads exit after the restore and pthread_join sees it: the kernel
 * clears each thread's tid word (set_tid_address) and wakes the joiner. */
#include "rt.h"

static volatile int go;

static void *worker(void *arg)
{
	while (!go)
		usleep(1000);
	return (void *)((long)arg * 3);
}

int main(void)
{
	pthread_t t[4];
	void *ret;

	for (long i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	usleep(50 * 1000);
	rt_ready_wait();
	go = 1;
	for (long i = 0; i < 4; i++) {
		rt_check(pthread_join(t[i], &ret) == 0, "join %ld", i);
		rt_check((long)ret == i * 3, "thread %ld returned %ld", i, (long)ret);
	}
	return rt_verdict();
}
