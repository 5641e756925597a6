// SPDX-License-Identifier: GPL-2.0
/* sigaltstack: the alternate stack is set after the restore, and an
 * SA_ONSTACK handler runs on it. */
#include "rt.h"

static char alt[64 * 1024];
static volatile uintptr_t handler_sp;

static void on_sig(int sig)
{
	int here;

	handler_sp = (uintptr_t)&here;
}

int main(void)
{
	stack_t ss = { .ss_sp = alt, .ss_size = sizeof(alt) }, got;
	struct sigaction a = { .sa_handler = on_sig, .sa_flags = SA_ONSTACK };

	if (sigaltstack(&ss, NULL))
		rt_die("sigaltstack");
	sigemptyset(&a.sa_mask);
	sigaction(SIGUSR2, &a, NULL);
	rt_ready_wait();
	sigaltstack(NULL, &got);
	rt_check(got.ss_sp == alt && got.ss_size == sizeof(alt) && !(got.ss_flags & SS_DISABLE),
		 "sigaltstack is %p/%zu/%#x", got.ss_sp, got.ss_size, got.ss_flags);
	raise(SIGUSR2);
	rt_check(handler_sp >= (uintptr_t)alt && handler_sp < (uintptr_t)alt + sizeof(alt),
		 "the handler did not run on the alternate stack");
	return rt_verdict();
}
