// SPDX-License-Identifier: GPL-2.0
/* Thread names (prctl PR_SET_NAME / pthread_setname_np) per thread. */
#include "rt.h"
#include <sys/prctl.h>

static volatile int go, ok;

static void *worker(void *arg)
{
	char name[16];

	prctl(PR_SET_NAME, "rt-worker");
	while (!go)
		usleep(1000);
	prctl(PR_GET_NAME, name);
	ok = !strcmp(name, "rt-worker");
	return NULL;
}

int main(void)
{
	char name[16];
	pthread_t t;

	prctl(PR_SET_NAME, "rt-main-name");
	pthread_create(&t, NULL, worker, NULL);
	usleep(50 * 1000);
	rt_ready_wait();
	go = 1;
	pthread_join(t, NULL);
	prctl(PR_GET_NAME, name);
	rt_check(!strcmp(name, "rt-main-name"), "main is called %s", name);
	rt_check(ok, "the worker lost its name");
	return rt_verdict();
}
