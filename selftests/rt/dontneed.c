// SPDX-License-Identifier: GPL-2.0
/* MADV_DONTNEED holes read back as zero after the restore. */
#include "rt.h"

int main(void)
{
	unsigned char *m = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		rt_die("mmap");
	rt_fill(m, 4 * MiB, 14);
	madvise(m + MiB, MiB, MADV_DONTNEED);
	rt_ready_wait();
	rt_check(rt_differs(m, MiB, 14) < 0, "first MiB differs");
	rt_check(rt_zero(m + MiB, MiB), "the dropped MiB is not zero");
	rt_check(rt_differs(m + 2 * MiB, 2 * MiB, 14 + 2 * MiB) < 0, "last 2 MiB differ");
	return rt_verdict();
}
