// SPDX-License-Identifier: GPL-2.0
/* 256 MiB of anonymous memory, every page touched. */
#include "rt.h"

int main(void)
{
	size_t len = 256 * MiB;
	uint64_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		rt_die("mmap");
	for (size_t i = 0; i < len / 8; i++)
		m[i] = i * 0x9e3779b97f4a7c15ULL;
	rt_ready_wait();
	for (size_t i = 0; i < len / 8; i++)
		if (m[i] != i * 0x9e3779b97f4a7c15ULL) {
			rt_check(0, "word %zu differs", i);
			break;
		}
	return rt_verdict();
}
