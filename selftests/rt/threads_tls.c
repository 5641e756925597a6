// SPDX-License-Identifier: GPL-2.0
/* 8 threads, each with its own TLS values and thread id, waiting on a
 * condition variable; after the restore each checks its TLS and its tid. */
#include "rt.h"

#define N 8
static __thread uint64_t tls_value;
static __thread unsigned char tls_buf[4096];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int started, go;
static pid_t tids[N];
static int ok[N];

static void *worker(void *arg)
{
	long i = (long)arg;

	tls_value = 0x1000 + i * 0x1111;
	rt_fill(tls_buf, sizeof(tls_buf), i + 100);
	tids[i] = rt_gettid();
	pthread_mutex_lock(&lock);
	started++;
	pthread_cond_broadcast(&cond);
	while (!go)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	ok[i] = tls_value == 0x1000 + (uint64_t)i * 0x1111 &&
		rt_differs(tls_buf, sizeof(tls_buf), i + 100) < 0 && tids[i] == rt_gettid();
	return NULL;
}

int main(void)
{
	pthread_t t[N];

	tls_value = 42;
	for (long i = 0; i < N; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)i))
			rt_die("pthread_create");
	pthread_mutex_lock(&lock);
	while (started < N)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	rt_ready_wait();
	pthread_mutex_lock(&lock);
	go = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < N; i++)
		rt_check(ok[i], "thread %d: TLS or tid wrong", i);
	rt_check(tls_value == 42, "main's TLS");
	return rt_verdict();
}
