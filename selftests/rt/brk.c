// SPDX-License-Identifier: GPL-2.0
/* The program break: memory from sbrk keeps its data, and the break moves
 * on from where it was. */
#include "rt.h"

int main(void)
{
	unsigned char *start = sbrk(0), *more;

	if (sbrk(3 * MiB) == (void *)-1)
		rt_die("sbrk");
	rt_fill(start, 3 * MiB, 12);
	rt_ready_wait();
	rt_check(sbrk(0) == start + 3 * MiB, "the break moved");
	rt_check(rt_differs(start, 3 * MiB, 12) < 0, "heap from sbrk differs");
	more = sbrk(MiB);
	rt_check(more == start + 3 * MiB, "sbrk after the restore");
	if (more != (void *)-1)
		memset(more, 1, MiB);
	return rt_verdict();
}
