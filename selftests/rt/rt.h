/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The round-trip programs' shared protocol (zdtm-style). Each program builds
 * one kind of state, prints "ready" on stdout, and blocks reading stdin. The
 * test checkpoints it with --kill and restores it (stdio wired to new pipes);
 * then it writes "go" to the restored process, which checks its whole state
 * and prints "PASS" or "FAIL <what>" and exits 0 or 1.
 *
 * A program may print "SKIP <why>" instead of "ready" when this machine lacks
 * what it needs (AVX, say).
 */
#ifndef CR_RT_H
#define CR_RT_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MiB (1UL << 20)
#define GiB (1UL << 30)

static int rt_failed;
static char rt_why[512];

static void __attribute__((format(printf, 1, 2), unused)) rt_say(const char *fmt, ...)
{
	char line[600];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		_exit(3);
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(1, line, n) != n)
		_exit(3);
}

/* Records a failed check (the first one is reported). */
#define rt_check(cond, ...)                                                   \
	do {                                                                  \
		if (!(cond) && !rt_failed++)                                  \
			snprintf(rt_why, sizeof(rt_why), __VA_ARGS__);        \
	} while (0)

/* Stops now: this machine cannot run the program. */
static inline void rt_skip(const char *why)
{
	rt_say("SKIP %s", why);
	exit(4);
}

/* Gives up before "ready": the state could not be built. */
static inline void rt_die(const char *what)
{
	rt_say("ERROR %s: %s", what, strerror(errno));
	exit(2);
}

/*
 * Says "ready" and waits for "go" on stdin (a read that spans the restore).
 * A regular file as stdin (the cluster tests': a file on /shared, which a
 * migrated process opens again on its new host) is read again every 20 ms
 * until "go" is appended to it.
 */
static inline void rt_ready_wait(void)
{
	struct stat st;
	int file = !fstat(0, &st) && S_ISREG(st.st_mode);
	char buf[8];
	ssize_t n;

	rt_say("ready");
	for (;;) {
		n = read(0, buf, sizeof(buf));
		if (n > 0)
			return;
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 && file) {
			struct timespec ts = { 0, 20 * 1000 * 1000 };

			nanosleep(&ts, NULL);
			continue;
		}
		exit(5);
	}
}

/* Reports the verdict and exits with it. */
static inline int rt_verdict(void)
{
	if (rt_failed)
		rt_say("FAIL %s", rt_why);
	else
		rt_say("PASS");
	return rt_failed ? 1 : 0;
}

/* Milliseconds of CLOCK_MONOTONIC since @a. */
static inline long rt_ms_since(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

/* Sleeps until *@leave is set (a thread that stays, so the test sees the
 * same threads before and after the restore). */
static inline void rt_stay(volatile int *leave)
{
	while (!*leave)
		usleep(1000);
}

/* The pattern byte at offset @i of a region seeded with @seed. */
static inline unsigned char rt_byte(uint64_t seed, uint64_t i)
{
	uint64_t x = (i + seed) * 0x9e3779b97f4a7c15ULL;

	return (unsigned char)(x >> 56);
}

static inline void rt_fill(void *p, size_t len, uint64_t seed)
{
	unsigned char *c = p;

	for (size_t i = 0; i < len; i++)
		c[i] = rt_byte(seed, i);
}

/* The first offset where @p differs from its pattern, or -1. */
static inline long rt_differs(const void *p, size_t len, uint64_t seed)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < len; i++)
		if (c[i] != rt_byte(seed, i))
			return (long)i;
	return -1;
}

/* Whether @len bytes at @p are all zero. */
static inline int rt_zero(const void *p, size_t len)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < len; i++)
		if (c[i])
			return 0;
	return 1;
}

/* Waits up to @ms for *@counter to reach @target; whether it did. */
static inline int rt_wait_for(volatile uint64_t *counter, uint64_t target, int ms)
{
	for (int i = 0; i < ms && *counter < target; i++)
		usleep(1000);
	return *counter >= target;
}

/*
 * Runs @spin in a thread that counts its turns in *@turns until *@stop is
 * set: waits until it runs, says "ready" and waits for "go" (the checkpoint
 * and restore happen meanwhile), checks that it went on, then stops and
 * joins it.
 */
static inline void rt_spin_across(void *(*spin)(void *), volatile uint64_t *turns,
				  volatile int *stop)
{
	pthread_t t;

	if (pthread_create(&t, NULL, spin, NULL))
		rt_die("pthread_create");
	if (!rt_wait_for(turns, 1000, 10000))
		rt_die("the spinning thread did not start");
	rt_ready_wait();
	rt_check(rt_wait_for(turns, *turns + 1000, 10000), "the spinning thread stopped");
	*stop = 1;
	pthread_join(t, NULL);
}

static inline pid_t rt_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* A scratch file path for this program: /tmp/cr-rt-<name>-<pid>. */
static inline const char *rt_path(const char *name)
{
	static char path[128];

	snprintf(path, sizeof(path), "/tmp/cr-rt-%s-%d", name, (int)getpid());
	return path;
}

/*
 * A private anonymous area of @len bytes starting on a 2 MiB boundary, an
 * area of its own (the parts mapped around it to align it are made
 * read-only, so they never merge with it).
 */
static inline char *rt_aligned_area(unsigned long len)
{
	const unsigned long huge = 2UL << 20;
	char *m = mmap(NULL, len + 2 * huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	char *a;

	if (m == MAP_FAILED)
		rt_die("mmap");
	a = (char *)(((unsigned long)m + huge - 1) & ~(huge - 1));
	if (mprotect(m, a - m, PROT_READ) ||
	    mprotect(a + len, m + len + 2 * huge - (a + len), PROT_READ))
		rt_die("mprotect");
	return a;
}

/* The smaps Rss and AnonHugePages (kB) of the area at @addr (-1: not found). */
static inline void rt_area_usage(unsigned long addr, long *rss, long *huge)
{
	char line[512];
	unsigned long start, end;
	int in = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	*rss = *huge = -1;
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = start == addr;
		else if (in && !strncmp(line, "Rss:", 4))
			*rss = atol(line + 4);
		else if (in && !strncmp(line, "AnonHugePages:", 14))
			*huge = atol(line + 14);
	}
	if (f)
		fclose(f);
}

#endif
