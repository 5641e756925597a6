// SPDX-License-Identifier: GPL-2.0
/* New mappings after the restore: anonymous, file, and munmap of a
 * restored area. */
#include "rt.h"

int main(void)
{
	unsigned char *old = mmap(NULL, MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *m;

	if (old == MAP_FAILED)
		rt_die("mmap");
	rt_fill(old, MiB, 17);
	rt_ready_wait();
	rt_check(rt_differs(old, MiB, 17) < 0, "the old area differs");
	rt_check(munmap(old, MiB) == 0, "munmap of a restored area");
	m = mmap(NULL, 16 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	rt_check(m != MAP_FAILED, "mmap after the restore");
	if (m != MAP_FAILED) {
		rt_fill(m, 16 * MiB, 2);
		rt_check(rt_differs(m, 16 * MiB, 2) < 0, "new area");
	}
	return rt_verdict();
}
