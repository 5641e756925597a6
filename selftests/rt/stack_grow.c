// SPDX-License-Identifier: GPL-2.0
/* The main stack grows down after the restore (a 4 MiB deep recursion). */
#include "rt.h"

static int deep(int n)
{
	volatile char pad[4096];

	pad[0] = (char)n;
	pad[4095] = (char)n;
	return n ? deep(n - 1) + pad[0] - pad[4095] : 0;
}

int main(void)
{
	rt_ready_wait();
	rt_check(deep(1000) == 0, "recursion result");
	return rt_verdict();
}
