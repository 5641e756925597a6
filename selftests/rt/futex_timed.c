// SPDX-License-Identifier: GPL-2.0
/*
 * Timed futex waits across the checkpoint, in threads that block every
 * signal (main handles SIGTERM): none may return EINTR, which natively they
 * never would.
 * - sem_timedwait with an absolute CLOCK_REALTIME deadline 2 s away
 *   (FUTEX_WAIT_BITSET): ETIMEDOUT, not before the deadline;
 * - FUTEX_WAIT with a relative 2 s timeout: ETIMEDOUT after 2 s in all;
 * - FUTEX_WAIT with a relative 60 s timeout, woken by main after the
 *   restore: returns 0, so it still waits on the same word.
 */
#include "rt.h"
#include <linux/futex.h>
#include <semaphore.h>

static sem_t sem;
static struct timespec deadline;
static volatile uint32_t word, woken_word;
static volatile int done[3], leave, rc[3] = { -2, -2, -2 }, err[3];
static volatile long ms[3];
static volatile int waiting_long;

static void on_signal(int sig)
{
}

static void *waiter(void *arg)
{
	int i = (int)(long)arg;
	struct timespec a, t2 = { 2, 0 }, t60 = { 60, 0 };
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	clock_gettime(CLOCK_MONOTONIC, &a);
	if (i == 0) {
		rc[i] = sem_timedwait(&sem, &deadline);
	} else if (i == 1) {
		rc[i] = syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, &t2, NULL, 0);
	} else {
		waiting_long = 1;
		rc[i] = syscall(SYS_futex, &woken_word, FUTEX_WAIT_PRIVATE, 0, &t60, NULL, 0);
	}
	err[i] = errno;
	ms[i] = rt_ms_since(&a);
	done[i] = 1;
	rt_stay(&leave);
	return NULL;
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct timespec now;
	pthread_t t[3];

	sigaction(SIGTERM, &sa, NULL);
	if (sem_init(&sem, 0, 0))
		rt_die("sem_init");
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 2;
	for (long i = 0; i < 3; i++)
		if (pthread_create(&t[i], NULL, waiter, (void *)i))
			rt_die("pthread_create");
	usleep(100 * 1000);
	rt_ready_wait();

	for (int i = 0; i < 400 && !(done[0] && done[1]); i++)
		usleep(10 * 1000);
	clock_gettime(CLOCK_REALTIME, &now);
	rt_check(done[0] && done[1], "the 2 s waits did not end within 4 s of the restore");
	rt_check(rc[0] == -1 && err[0] == ETIMEDOUT, "sem_timedwait ended with %d (%s)", rc[0],
		 strerror(err[0]));
	rt_check(now.tv_sec > deadline.tv_sec ||
		 (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec),
		 "sem_timedwait returned before its deadline");
	rt_check(rc[1] == -1 && err[1] == ETIMEDOUT, "FUTEX_WAIT(2 s) ended with %d (%s)", rc[1],
		 strerror(err[1]));
	rt_check(ms[1] >= 1995, "FUTEX_WAIT(2 s) waited %ld ms", ms[1]);

	rt_check(waiting_long && !done[2], "FUTEX_WAIT(60 s) ended early: %d (%s)", rc[2],
		 strerror(err[2]));
	woken_word = 1;
	syscall(SYS_futex, &woken_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	for (int i = 0; i < 400 && !done[2]; i++)
		usleep(10 * 1000);
	rt_check(done[2], "FUTEX_WAKE did not end FUTEX_WAIT(60 s)");
	rt_check(rc[2] == 0, "FUTEX_WAIT(60 s) woken ended with %d (%s)", rc[2], strerror(err[2]));
	leave = 1;
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	return rt_verdict();
}
