// SPDX-License-Identifier: GPL-2.0
/* A 4 GiB reservation with 1 MiB touched every 256 MiB: the untouched
 * holes are still zero after the restore, and were never faulted in. */
#include "rt.h"

int main(void)
{
	size_t len = 4 * GiB;
	unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (m == MAP_FAILED)
		rt_die("mmap");
	for (size_t off = 0; off < len; off += 256 * MiB)
		rt_fill(m + off, MiB, off >> 20);
	rt_ready_wait();
	for (size_t off = 0; off < len; off += 256 * MiB) {
		rt_check(rt_differs(m + off, MiB, off >> 20) < 0, "touched MiB at %zu MiB differs", off >> 20);
		rt_check(rt_zero(m + off + MiB, 64 * 1024), "hole after %zu MiB not zero", off >> 20);
		rt_check(rt_zero(m + off + 128 * MiB, 4096), "hole at %zu MiB not zero", (off >> 20) + 128);
	}
	return rt_verdict();
}
