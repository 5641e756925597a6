// SPDX-License-Identifier: GPL-2.0
/* O_PATH fds on a file and on a directory stay O_PATH (no read access
 * appears), and still work where an O_PATH fd does (fstat, openat). */
#include "rt.h"

int main(void)
{
	int file, dir, fd, flags;
	struct stat st;
	char c;

	fd = open(rt_path("o_path"), O_CREAT | O_RDWR | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "x", 1) != 1 || close(fd))
		rt_die("create");
	file = open(rt_path("o_path"), O_PATH);
	dir = open("/tmp", O_PATH | O_DIRECTORY);
	if (file < 0 || dir < 0)
		rt_die("open O_PATH");
	rt_ready_wait();
	flags = fcntl(file, F_GETFL);
	rt_check(flags >= 0 && (flags & O_PATH), "the file's fd lost O_PATH (flags %#x)", flags);
	rt_check(read(file, &c, 1) < 0 && errno == EBADF, "an O_PATH fd could read");
	rt_check(!fstat(file, &st) && st.st_size == 1, "fstat on the O_PATH fd");
	flags = fcntl(dir, F_GETFL);
	rt_check(flags >= 0 && (flags & O_PATH), "the directory's fd lost O_PATH (flags %#x)", flags);
	fd = openat(dir, "cr-rt-o_path-new", O_CREAT | O_WRONLY, 0600);
	rt_check(fd >= 0, "openat on the directory's O_PATH fd");
	close(fd);
	unlinkat(dir, "cr-rt-o_path-new", 0);
	unlink(rt_path("o_path"));
	return rt_verdict();
}
