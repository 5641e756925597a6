// SPDX-License-Identifier: GPL-2.0
/* A pipe with unread data (100 KiB in a 256 KiB pipe): after the restore
 * the data is there, in order, and nothing more. */
#include "rt.h"

int main(void)
{
	static unsigned char buf[100 * 1024], got[100 * 1024 + 1];
	int p[2];
	ssize_t n = 0, k;

	if (pipe2(p, O_NONBLOCK) || fcntl(p[1], F_SETPIPE_SZ, 256 * 1024) < 256 * 1024)
		rt_die("pipe");
	rt_fill(buf, sizeof(buf), 51);
	if (write(p[1], buf, sizeof(buf)) != sizeof(buf))
		rt_die("write");
	rt_ready_wait();
	while ((k = read(p[0], got + n, sizeof(got) - n)) > 0)
		n += k;
	rt_check(n == sizeof(buf), "read %zd bytes back, want %zu", n, sizeof(buf));
	rt_check(!memcmp(got, buf, sizeof(buf)), "the data differs");
	rt_check(k < 0 && errno == EAGAIN, "the pipe should be empty now");
	rt_check(fcntl(p[0], F_GETPIPE_SZ) >= 256 * 1024, "pipe size %d", fcntl(p[0], F_GETPIPE_SZ));
	return rt_verdict();
}
