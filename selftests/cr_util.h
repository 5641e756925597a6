/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers the cr selftests share: where the programs next to the test are,
 * reading a line with a timeout, running a shell command, and a checkpoint
 * with --kill through the ioctl.
 */
#ifndef CR_UTIL_H
#define CR_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/cr.h>

/* The directory this test program lives in (the other programs are there). */
static inline const char *cr_test_dir(void)
{
	static char dir[4096];

	if (!dir[0]) {
		ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);

		if (n < 0)
			return ".";
		dir[n] = 0;
		*strrchr(dir, '/') = 0;
	}
	return dir;
}

/* The path of program @name next to this one. */
static inline const char *cr_sibling(const char *name)
{
	static char path[4200];

	snprintf(path, sizeof(path), "%s/%s", cr_test_dir(), name);
	return path;
}

/* One line from @fd within @ms, without its newline; its length, or -1 on
 * timeout or end of file. */
static inline int read_line(int fd, char *buf, int size, int ms)
{
	int n = 0;

	while (n < size - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, ms) != 1 || read(fd, buf + n, 1) != 1)
			return -1;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = 0;
	return n;
}

/* Runs a shell command; its exit status, or -1 if it did not exit. */
static inline int __attribute__((format(printf, 1, 2))) sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Checkpoints @pid to a new file @path and ends it; 0 or -errno. */
static inline long checkpoint_kill(pid_t pid, const char *path)
{
	int dev = open("/dev/cr", O_RDWR), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	struct cr_checkpoint_args a = {
		.target = CR_CPID(0, pid), .out_fd = fd, .proof_fd = -1, .flags = CR_CHECKPOINT_KILL,
	};
	long r = dev < 0 || fd < 0 ? -EBADF : ioctl(dev, CR_IOC_CHECKPOINT, &a) ? -errno : 0;

	close(dev);
	close(fd);
	return r;
}

#endif
