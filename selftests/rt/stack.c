// SPDX-License-Identifier: GPL-2.0
/* Stack: a 256 KiB array in main's frame and a deep chain of frames. */
#include "rt.h"

static int depth(int n, volatile unsigned char *up)
{
	volatile unsigned char mine[1024];

	rt_fill((void *)mine, sizeof(mine), n);
	if (n == 0) {
		rt_ready_wait();
		return 0;
	}
	depth(n - 1, mine);
	rt_check(rt_differs((void *)mine, sizeof(mine), n) < 0, "frame %d differs", n);
	return 0;
}

int main(void)
{
	volatile unsigned char big[256 * 1024];

	rt_fill((void *)big, sizeof(big), 77);
	depth(100, big);
	rt_check(rt_differs((void *)big, sizeof(big), 77) < 0, "main's array differs");
	return rt_verdict();
}
