// SPDX-License-Identifier: GPL-2.0
/*
 * Relative nanosleeps across the checkpoint resume for the time they had
 * left, as the kernel's own restart does after a stop:
 * - "quiet" sleeps 2 s (the nanosleep system call) with rem = NULL, in a
 *   thread that blocks every signal the process handles (main has handlers
 *   for SIGTERM and SIGUSR1): natively nothing can interrupt it, so it must
 *   return 0 after 2 s in all, with no EINTR from the restore;
 * - "long" sleeps 60 s (glibc's nanosleep, which is clock_nanosleep) with a
 *   rem; after the restore main sends it SIGUSR1, which interrupts it (as
 *   natively), and rem must be what was left of the sleep *before* the
 *   checkpoint, not a sleep started again in full: at most 60 s minus the
 *   time it slept before "ready".
 */
#include "rt.h"

static volatile int quiet_done, long_done, leave, sent, got_usr1;
static volatile int quiet_rc = -2, quiet_errno, long_rc = -2, long_errno, early_eintr;
static volatile long quiet_ms;
static struct timespec long_start, long_rem;
static volatile pid_t long_tid;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		got_usr1++;
}

static void *quiet(void *arg)
{
	struct timespec req = { 2, 0 }, a;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	clock_gettime(CLOCK_MONOTONIC, &a);
	quiet_rc = syscall(SYS_nanosleep, &req, NULL);	/* glibc's nanosleep is clock_nanosleep */
	quiet_errno = errno;
	quiet_ms = rt_ms_since(&a);
	quiet_done = 1;
	rt_stay(&leave);
	return NULL;
}

static void *long_sleep(void *arg)
{
	struct timespec req = { 60, 0 }, rem = { 0, 0 };

	long_tid = gettid();
	clock_gettime(CLOCK_MONOTONIC, &long_start);
	long_rc = nanosleep(&req, &rem);
	long_errno = errno;
	early_eintr = long_rc && !sent;
	long_rem = rem;
	long_done = 1;
	rt_stay(&leave);
	return NULL;
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	pthread_t q, l;
	long before_ms, left_ms;

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	if (pthread_create(&q, NULL, quiet, NULL) || pthread_create(&l, NULL, long_sleep, NULL))
		rt_die("pthread_create");
	usleep(500 * 1000);
	before_ms = rt_ms_since(&long_start);	/* "long" slept at least this before the freeze */
	rt_ready_wait();

	rt_check(!long_done, "the 60 s sleep ended before any signal: %d (%s)", long_rc,
		 strerror(long_errno));
	sent = 1;
	syscall(SYS_tgkill, getpid(), long_tid, SIGUSR1);
	for (int i = 0; i < 400 && !long_done; i++)
		usleep(10 * 1000);
	rt_check(long_done, "SIGUSR1 did not end the 60 s sleep");
	rt_check(!early_eintr, "the 60 s sleep returned before SIGUSR1 was sent");
	rt_check(long_rc == -1 && long_errno == EINTR, "the 60 s sleep ended with %d (%s)", long_rc,
		 strerror(long_errno));
	rt_check(got_usr1 == 1, "%d SIGUSR1 handled, want 1", got_usr1);
	left_ms = long_rem.tv_sec * 1000 + long_rem.tv_nsec / 1000000;
	rt_check(left_ms > 0 && left_ms <= 60000 - before_ms,
		 "rem after SIGUSR1 was %ld ms; it slept %ld ms before the checkpoint, so at most %ld",
		 left_ms, before_ms, 60000 - before_ms);

	for (int i = 0; i < 400 && !quiet_done; i++)
		usleep(10 * 1000);
	rt_check(quiet_done, "the 2 s sleep did not end within 4 s of the restore");
	rt_check(quiet_rc == 0, "the 2 s sleep ended with %d (%s)", quiet_rc, strerror(quiet_errno));
	rt_check(quiet_ms >= 1995, "the 2 s sleep slept %ld ms", quiet_ms);

	leave = 1;
	pthread_join(q, NULL);
	pthread_join(l, NULL);
	return rt_verdict();
}
