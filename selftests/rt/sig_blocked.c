// SPDX-License-Identifier: GPL-2.0
/* The blocked-signal mask of the main thread. */
#include "rt.h"

int main(void)
{
	sigset_t set, got;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGRTMIN + 5);
	sigaddset(&set, SIGRTMAX);
	sigprocmask(SIG_SETMASK, &set, NULL);
	rt_ready_wait();
	sigprocmask(SIG_SETMASK, NULL, &got);
	for (int s = 1; s < NSIG; s++)
		rt_check(sigismember(&set, s) == sigismember(&got, s), "signal %d: blocked %d, want %d", s,
			 sigismember(&got, s), sigismember(&set, s));
	return rt_verdict();
}
