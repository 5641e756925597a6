// SPDX-License-Identifier: GPL-2.0
/* A robust, process-private mutex held by a thread across the checkpoint:
 * the thread's robust list is kept, so when it exits holding the lock the
 * next locker gets EOWNERDEAD. */
#include "rt.h"

static pthread_mutex_t m;
static volatile int go, held;

static void *holder(void *arg)
{
	pthread_mutex_lock(&m);
	held = 1;
	while (!go)
		usleep(1000);
	return NULL;	/* exits holding it */
}

int main(void)
{
	pthread_mutexattr_t a;
	pthread_t t;
	int r;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&m, &a);
	pthread_create(&t, NULL, holder, NULL);
	while (!held)
		usleep(1000);
	rt_ready_wait();
	go = 1;
	pthread_join(t, NULL);
	r = pthread_mutex_lock(&m);
	rt_check(r == EOWNERDEAD, "lock returned %d, want EOWNERDEAD", r);
	return rt_verdict();
}
