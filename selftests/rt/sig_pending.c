// SPDX-License-Identifier: GPL-2.0
/* Pending signals: blocked SIGUSR1 and three queued SIGRTMIN+2 with values,
 * for the process and for the thread; delivered after the restore in order. */
#include "rt.h"

static int got[8], n;

static void on_sig(int sig, siginfo_t *si, void *uc)
{
	if (n < 8)
		got[n++] = sig == SIGUSR1 ? -1 : si->si_value.sival_int;
}

int main(void)
{
	struct sigaction a = { .sa_sigaction = on_sig, .sa_flags = SA_SIGINFO };
	sigset_t set, pend;

	sigemptyset(&a.sa_mask);
	sigaction(SIGUSR1, &a, NULL);
	sigaction(SIGRTMIN + 2, &a, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGRTMIN + 2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	kill(getpid(), SIGUSR1);
	for (int i = 1; i <= 3; i++)
		sigqueue(getpid(), SIGRTMIN + 2, (union sigval){ .sival_int = i * 100 });
	rt_ready_wait();
	sigpending(&pend);
	rt_check(sigismember(&pend, SIGUSR1), "SIGUSR1 is not pending");
	rt_check(sigismember(&pend, SIGRTMIN + 2), "SIGRTMIN+2 is not pending");
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	rt_check(n == 4, "%d signals delivered, want 4", n);
	/* SIGUSR1 once, and the real-time ones in the order they were queued.
	 * (All four are dequeued on one return to user space, SIGUSR1 first;
	 * its frame is the outermost, so its handler runs last.) */
	rt_check(n == 4 && got[0] == 100 && got[1] == 200 && got[2] == 300 && got[3] == -1,
		 "delivered %d %d %d %d", got[0], got[1], got[2], got[3]);
	return rt_verdict();
}
