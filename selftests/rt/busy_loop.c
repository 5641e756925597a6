// SPDX-License-Identifier: GPL-2.0
/* Threads computing in user space when checkpointed go on computing the
 * same sequence. */
#include "rt.h"

#define N 4
static volatile uint64_t steps[N], state[N];
static volatile int stop, bad = -1;

static void *worker(void *arg)
{
	long i = (long)arg;
	uint64_t x = 1 + i, n = 0;

	while (!stop) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		n++;
		state[i] = x;
		steps[i] = n;
	}
	/* Replay: the state must be the n-th of the sequence. */
	uint64_t y = 1 + i;
	for (uint64_t k = 0; k < n; k++)
		y = y * 6364136223846793005ULL + 1442695040888963407ULL;
	if (y != x)
		bad = (int)i;
	return NULL;
}

int main(void)
{
	pthread_t t[N];
	uint64_t before[N];

	for (long i = 0; i < N; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	usleep(50 * 1000);
	rt_ready_wait();
	for (int i = 0; i < N; i++)
		before[i] = steps[i];
	usleep(100 * 1000);
	stop = 1;
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		rt_check(steps[i] > before[i], "thread %d stopped computing", i);
	}
	rt_check(bad < 0, "thread %d's computation went wrong", bad);
	return rt_verdict();
}
