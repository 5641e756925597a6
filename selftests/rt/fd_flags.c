// SPDX-License-Identifier: GPL-2.0
/* Fd flags: FD_CLOEXEC on one fd and not on another, O_NONBLOCK on a pipe,
 * /dev/null, and a directory fd that still lists its directory. */
#include "rt.h"
#include <dirent.h>

int main(void)
{
	int ce = open("/dev/null", O_RDWR | O_CLOEXEC), nce = open("/dev/zero", O_RDONLY);
	int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
	int p[2];
	struct stat a, b;
	char c = 1;

	if (ce < 0 || nce < 0 || dir < 0 || pipe2(p, O_NONBLOCK))
		rt_die("open");
	fstat(dir, &a);
	rt_ready_wait();
	rt_check(fcntl(ce, F_GETFD) & FD_CLOEXEC, "FD_CLOEXEC lost");
	rt_check(!(fcntl(nce, F_GETFD) & FD_CLOEXEC), "FD_CLOEXEC gained");
	rt_check(fcntl(p[0], F_GETFL) & O_NONBLOCK, "O_NONBLOCK lost");
	rt_check(read(p[0], &c, 1) == -1 && errno == EAGAIN, "an empty nonblocking pipe blocks");
	rt_check(read(nce, &c, 1) == 1 && c == 0, "/dev/zero");
	rt_check(write(ce, "x", 1) == 1, "/dev/null");
	rt_check(fstat(dir, &b) == 0 && a.st_ino == b.st_ino, "the directory fd");
	rt_check(fdopendir(dir) != NULL, "fdopendir");
	return rt_verdict();
}
