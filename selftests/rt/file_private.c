// SPDX-License-Identifier: GPL-2.0
/* A private read-only file mapping (like a shared library's text). */
#include "rt.h"

int main(void)
{
	const char *path = rt_path("private");
	size_t len = 64 * 4096;
	unsigned char *buf = malloc(len), *m;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || !buf)
		rt_die("create");
	rt_fill(buf, len, 5);
	if (write(fd, buf, len) != (ssize_t)len)
		rt_die("write");
	m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		rt_die("mmap");
	close(fd);
	rt_ready_wait();
	rt_check(rt_differs(m, len, 5) < 0, "mapping differs at %ld", rt_differs(m, len, 5));
	unlink(path);
	return rt_verdict();
}
