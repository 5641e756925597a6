// SPDX-License-Identifier: GPL-2.0
/* The process and its threads keep their ids (restored with --pid original). */
#include "rt.h"

static pid_t tids[3];
static volatile int go;

static void *worker(void *arg)
{
	tids[(long)arg] = rt_gettid();
	while (!go)
		usleep(1000);
	tids[(long)arg] = tids[(long)arg] == rt_gettid() ? tids[(long)arg] : -1;
	return NULL;
}

int main(void)
{
	pthread_t t[3];
	pid_t pid = getpid(), ppid_seen;

	for (long i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	while (!tids[0] || !tids[1] || !tids[2])
		usleep(1000);
	rt_ready_wait();
	go = 1;
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	rt_check(getpid() == pid, "pid %d, was %d", getpid(), pid);
	rt_check(rt_gettid() == pid, "main thread id");
	for (int i = 0; i < 3; i++)
		rt_check(tids[i] > 0, "thread %d has another id", i);
	ppid_seen = getppid();
	rt_check(ppid_seen > 0, "getppid");
	return rt_verdict();
}
