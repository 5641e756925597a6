// SPDX-License-Identifier: GPL-2.0
/* A private writable file mapping with one page written (copied on write):
 * that page keeps the process's data, the others the file's, and the file
 * itself is unchanged. */
#include "rt.h"

int main(void)
{
	const char *path = rt_path("cow");
	size_t len = 8 * 4096;
	unsigned char *buf = malloc(len), *m, page[4096];
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || !buf)
		rt_die("create");
	rt_fill(buf, len, 3);
	if (write(fd, buf, len) != (ssize_t)len)
		rt_die("write");
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		rt_die("mmap");
	rt_fill(m + 2 * 4096, 4096, 44);	/* the copied page */
	rt_ready_wait();
	rt_check(rt_differs(m, 2 * 4096, 3) < 0, "file pages before differ");
	rt_check(rt_differs(m + 2 * 4096, 4096, 44) < 0, "the copied page lost its data");
	rt_check(rt_differs(m + 3 * 4096, 5 * 4096, 3 + 3 * 4096) < 0, "file pages after differ");
	rt_check(pread(fd, page, 4096, 2 * 4096) == 4096 && rt_differs(page, 4096, 3 + 2 * 4096) < 0,
		 "the file changed");
	unlink(path);
	return rt_verdict();
}
