// SPDX-License-Identifier: GPL-2.0
/* Signal dispositions: handlers with flags and masks, ignored and default
 * signals; after the restore each is as set, and a handler runs. */
#include "rt.h"

static volatile int hits;
static volatile int info_val;

static void on_usr1(int sig) { hits++; }
static void on_rt(int sig, siginfo_t *si, void *uc) { info_val = si->si_value.sival_int; }

int main(void)
{
	struct sigaction a = { .sa_handler = on_usr1, .sa_flags = SA_RESTART }, got;
	struct sigaction r = { .sa_sigaction = on_rt, .sa_flags = SA_SIGINFO | SA_NODEFER };

	sigemptyset(&a.sa_mask);
	sigaddset(&a.sa_mask, SIGUSR2);
	sigaddset(&a.sa_mask, SIGRTMIN + 3);
	sigaction(SIGUSR1, &a, NULL);
	sigaction(SIGRTMIN + 1, &r, NULL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	rt_ready_wait();
	sigaction(SIGUSR1, NULL, &got);
	rt_check(got.sa_handler == on_usr1, "SIGUSR1 handler");
	rt_check(got.sa_flags & SA_RESTART, "SIGUSR1 flags %#x", got.sa_flags);
	rt_check(sigismember(&got.sa_mask, SIGUSR2) && sigismember(&got.sa_mask, SIGRTMIN + 3),
		 "SIGUSR1 mask");
	sigaction(SIGRTMIN + 1, NULL, &got);
	rt_check(got.sa_sigaction == on_rt && (got.sa_flags & (SA_SIGINFO | SA_NODEFER)) ==
		 (SA_SIGINFO | SA_NODEFER), "SIGRTMIN+1 disposition");
	sigaction(SIGHUP, NULL, &got);
	rt_check(got.sa_handler == SIG_IGN, "SIGHUP not ignored");
	sigaction(SIGTERM, NULL, &got);
	rt_check(got.sa_handler == SIG_DFL, "SIGTERM not default");
	raise(SIGUSR1);
	rt_check(hits == 1, "the SIGUSR1 handler did not run");
	sigqueue(getpid(), SIGRTMIN + 1, (union sigval){ .sival_int = 4321 });
	rt_check(info_val == 4321, "the SA_SIGINFO handler saw %d", info_val);
	return rt_verdict();
}
