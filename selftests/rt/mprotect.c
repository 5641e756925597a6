// SPDX-License-Identifier: GPL-2.0
/* Areas with each protection: none, read, read-write, read-exec, and one
 * split in three by mprotect. /proc/self/maps shows them as they were. */
#include "rt.h"

static char maps_before[16384];

static void read_maps(char *buf, size_t size)
{
	int fd = open("/proc/self/maps", O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);

	buf[n > 0 ? n : 0] = 0;
	close(fd);
}

int main(void)
{
	int prots[] = { PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE, PROT_READ | PROT_EXEC };
	unsigned char *m[4], *split, maps_after[16384];

	for (int i = 0; i < 4; i++) {
		m[i] = mmap(NULL, 8 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m[i] == MAP_FAILED)
			rt_die("mmap");
		rt_fill(m[i], 8 * 4096, i);
		mprotect(m[i], 8 * 4096, prots[i]);
	}
	split = mmap(NULL, 12 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	rt_fill(split, 12 * 4096, 9);
	mprotect(split + 4 * 4096, 4 * 4096, PROT_READ);
	read_maps(maps_before, sizeof(maps_before));
	rt_ready_wait();
	read_maps((char *)maps_after, sizeof(maps_after));
	rt_check(!strcmp(maps_before, (char *)maps_after), "/proc/self/maps changed");
	for (int i = 1; i < 4; i++)
		rt_check(rt_differs(m[i], 8 * 4096, i) < 0, "area %d differs", i);
	mprotect(m[0], 8 * 4096, PROT_READ);
	rt_check(rt_differs(m[0], 8 * 4096, 0) < 0, "the PROT_NONE area lost its data");
	rt_check(rt_differs(split, 12 * 4096, 9) < 0, "the split area differs");
	return rt_verdict();
}
