// SPDX-License-Identifier: GPL-2.0
/* A thread blocked in read() on a pipe the process holds both ends of: the
 * pipe is rebuilt and the read gets what is written after the restore. */
#include "rt.h"

static int p[2];
static char got[16];
static volatile ssize_t n = -2;

static void *reader(void *arg)
{
	n = read(p[0], got, sizeof(got));
	return NULL;
}

int main(void)
{
	pthread_t t;

	if (pipe(p))
		rt_die("pipe");
	if (pthread_create(&t, NULL, reader, NULL))
		rt_die("pthread_create");
	usleep(100 * 1000);
	rt_ready_wait();
	rt_check(n == -2, "the read returned early");
	rt_check(write(p[1], "hello", 5) == 5, "write to the pipe");
	pthread_join(t, NULL);
	rt_check(n == 5 && !memcmp(got, "hello", 5), "read %zd bytes", n);
	return rt_verdict();
}
