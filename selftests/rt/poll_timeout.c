// SPDX-License-Identifier: GPL-2.0
/*
 * poll() with a timeout across the checkpoint, in threads that block every
 * signal (main handles SIGTERM): no EINTR, which natively never comes.
 * - 2 s on a pipe that stays empty: returns 0 after 2 s in all;
 * - 60 s on a pipe main writes to after the restore: returns 1, POLLIN.
 */
#include "rt.h"
#include <poll.h>

static int p[2], q[2];
static volatile int done[2], leave, n[2] = { -2, -2 }, err[2], revents;
static volatile long ms;

static void on_signal(int sig)
{
}

static void *poller(void *arg)
{
	int i = (int)(long)arg;
	struct pollfd f = { .fd = i ? q[0] : p[0], .events = POLLIN };
	struct timespec a;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	clock_gettime(CLOCK_MONOTONIC, &a);
	n[i] = poll(&f, 1, i ? 60000 : 2000);
	err[i] = errno;
	if (i)
		revents = f.revents;
	else
		ms = rt_ms_since(&a);
	done[i] = 1;
	rt_stay(&leave);
	return NULL;
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	pthread_t t[2];

	sigaction(SIGTERM, &sa, NULL);
	if (pipe(p) || pipe(q))
		rt_die("pipe");
	for (long i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, poller, (void *)i))
			rt_die("pthread_create");
	usleep(100 * 1000);
	rt_ready_wait();

	for (int i = 0; i < 400 && !done[0]; i++)
		usleep(10 * 1000);
	rt_check(done[0], "poll(2000 ms) did not end within 4 s of the restore");
	rt_check(n[0] == 0, "poll(2000 ms) returned %d (%s)", n[0], strerror(err[0]));
	rt_check(ms >= 1995, "poll(2000 ms) waited %ld ms", ms);

	rt_check(!done[1], "poll(60000 ms) returned early: %d (%s)", n[1], strerror(err[1]));
	rt_check(write(q[1], "x", 1) == 1, "write");
	for (int i = 0; i < 400 && !done[1]; i++)
		usleep(10 * 1000);
	rt_check(n[1] == 1 && (revents & POLLIN), "poll(60000 ms) returned %d (%s), revents %#x",
		 n[1], strerror(err[1]), revents);
	leave = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	return rt_verdict();
}
