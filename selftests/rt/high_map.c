// SPDX-License-Identifier: GPL-2.0
/*
 * Memory above 2^47, which only 5-level paging maps: an area at 2^50 comes
 * back with its contents (a machine without LA57 cannot hold it: SKIP).
 */
#include "rt.h"

int main(void)
{
	size_t len = 16 * 4096;
	unsigned char *want = (unsigned char *)(1UL << 50), *m;
	char line[4096];
	int la57 = 0;
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "flags", 5) && strstr(line, " la57"))
			la57 = 1;
	if (f)
		fclose(f);
	if (!la57)
		rt_skip("the CPU has no 5-level paging (la57)");
	m = mmap(want, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (m == MAP_FAILED)
		rt_skip("this kernel maps nothing at 2^50 (5-level paging off)");
	if (m != want)
		rt_die("mmap at 2^50 landed elsewhere");
	rt_fill(m, len, 50);
	rt_ready_wait();
	rt_check(rt_differs(m, len, 50) < 0, "the area at 2^50 differs");
	return rt_verdict();
}
