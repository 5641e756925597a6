// SPDX-License-Identifier: GPL-2.0
/* A thread checkpointed while inside a signal handler (sleeping there)
 * returns from it through sigreturn after the restore. */
#include "rt.h"

static volatile int in, out, after;
static int p[2];

static void on_sig(int sig)
{
	char c;

	in = 1;
	if (read(p[0], &c, 1) == 1)
		out = 1;
}

static void *worker(void *arg)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	while (!in)
		usleep(1000);
	while (!out)
		usleep(1000);
	after = 1;
	return NULL;
}

int main(void)
{
	struct sigaction a = { .sa_handler = on_sig };
	sigset_t set;
	pthread_t t;

	if (pipe(p))
		rt_die("pipe");
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sigaction(SIGUSR1, &a, NULL);
	pthread_create(&t, NULL, worker, NULL);
	pthread_kill(t, SIGUSR1);
	while (!in)
		usleep(1000);
	usleep(50 * 1000);
	rt_ready_wait();
	rt_check(write(p[1], "x", 1) == 1, "write");
	pthread_join(t, NULL);
	rt_check(after, "the thread did not come back from its handler");
	return rt_verdict();
}
