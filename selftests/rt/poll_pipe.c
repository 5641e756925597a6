// SPDX-License-Identifier: GPL-2.0
/* A thread blocked in poll() with no timeout across the checkpoint. */
#include "rt.h"
#include <poll.h>

static int p[2];
static volatile int n = -2, revents;

static void *poller(void *arg)
{
	struct pollfd f = { .fd = p[0], .events = POLLIN };

	n = poll(&f, 1, -1);
	revents = f.revents;
	return NULL;
}

int main(void)
{
	pthread_t t;

	if (pipe(p))
		rt_die("pipe");
	if (pthread_create(&t, NULL, poller, NULL))
		rt_die("pthread_create");
	usleep(100 * 1000);
	rt_ready_wait();
	rt_check(n == -2, "poll returned early");
	rt_check(write(p[1], "x", 1) == 1, "write");
	pthread_join(t, NULL);
	rt_check(n == 1 && (revents & POLLIN), "poll returned %d, revents %#x", n, revents);
	return rt_verdict();
}
