// SPDX-License-Identifier: GPL-2.0
/* An area grown and moved by mremap. */
#include "rt.h"

int main(void)
{
	unsigned char *m = mmap(NULL, MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		rt_die("mmap");
	rt_fill(m, MiB, 4);
	m = mremap(m, MiB, 8 * MiB, MREMAP_MAYMOVE);
	if (m == MAP_FAILED)
		rt_die("mremap");
	rt_fill(m + 5 * MiB, MiB, 5);
	rt_ready_wait();
	rt_check(rt_differs(m, MiB, 4) < 0, "the moved part differs");
	rt_check(rt_zero(m + MiB, 4 * MiB), "the grown part is not zero");
	rt_check(rt_differs(m + 5 * MiB, MiB, 5) < 0, "the grown part's data differs");
	return rt_verdict();
}
