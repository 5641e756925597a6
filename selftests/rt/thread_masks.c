// SPDX-License-Identifier: GPL-2.0
/* Each thread has its own blocked mask. */
#include "rt.h"

static volatile int go, ok[3];

static void *worker(void *arg)
{
	long i = (long)arg;
	sigset_t set, got;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1 + 0 * i);
	sigaddset(&set, SIGRTMIN + (int)i);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	while (!go)
		usleep(1000);
	pthread_sigmask(SIG_SETMASK, NULL, &got);
	ok[i] = 1;
	for (int s = 1; s < NSIG; s++)
		if (sigismember(&set, s) != sigismember(&got, s))
			ok[i] = 0;
	return NULL;
}

int main(void)
{
	pthread_t t[3];

	for (long i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	usleep(50 * 1000);
	rt_ready_wait();
	go = 1;
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		rt_check(ok[i], "thread %d's mask changed", i);
	}
	return rt_verdict();
}
