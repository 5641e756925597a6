// SPDX-License-Identifier: GPL-2.0
/* A shared writable file mapping: writes made before the checkpoint are in
 * the file; writes after the restore reach the file too. */
#include "rt.h"

int main(void)
{
	const char *path = rt_path("shared");
	size_t len = 16 * 4096;
	unsigned char *m, page[4096];
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || ftruncate(fd, len))
		rt_die("create");
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		rt_die("mmap");
	close(fd);
	rt_fill(m, len / 2, 9);
	rt_ready_wait();
	rt_check(rt_differs(m, len / 2, 9) < 0, "mapping differs");
	rt_check(rt_zero(m + len / 2, len / 2), "second half not zero");
	memset(m + len - 4096, 0x5a, 4096);
	msync(m, len, MS_SYNC);
	fd = open(path, O_RDONLY);
	rt_check(pread(fd, page, 4096, len - 4096) == 4096 && page[100] == 0x5a,
		 "a write after the restore did not reach the file");
	close(fd);
	unlink(path);
	return rt_verdict();
}
