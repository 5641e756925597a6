// SPDX-License-Identifier: GPL-2.0
/* The restored process forks; the child sees the parent's memory and its
 * exit status comes back. */
#include "rt.h"
#include <sys/wait.h>

static unsigned char data[65536];

int main(void)
{
	int st = 0;
	pid_t c;

	rt_fill(data, sizeof(data), 6);
	rt_ready_wait();
	c = fork();
	if (c == 0)
		_exit(rt_differs(data, sizeof(data), 6) < 0 ? 42 : 1);
	rt_check(c > 0 && waitpid(c, &st, 0) == c, "fork or wait failed");
	rt_check(WIFEXITED(st) && WEXITSTATUS(st) == 42, "child status %#x", st);
	return rt_verdict();
}
