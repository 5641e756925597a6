// SPDX-License-Identifier: GPL-2.0
/*
 * Checkpoint targets for the selftests: small programs with a clean address
 * space (a process forked from a test would share the harness's memory).
 *
 *   cr_target MODE
 *
 * fd 1 is the report pipe (uint64 values; ~0 is an error), fd 0 the command
 * pipe (where the mode reads commands): what a checkpoint leaves to the
 * restore's caller, so a target holds nothing a restore refuses. Modes:
 *
 *   sleeper   sleeps 20 ms at a time, reports a count; EINTR is an error
 *   busy      computes, checks its own arithmetic, reports a count
 *   threads8  8 threads count with their TLS id; reports the sum
 *   reserve   reserves 8 GiB, touches 4 MiB, reports 1; answers each command
 *             with a checksum of the 4 MiB
 *   idle      reports 1, answers each command with 1
 *   syscalls  threads blocked in nanosleep(1.5 s), read(fd 0), a futex and
 *             poll(fd 5); reports 1 once they block, then, when all returned:
 *             nanosleep's elapsed ms (or ~0), read's count, 1 for the futex,
 *             poll's count
 *   vfork     a thread in vfork() whose child sleeps 3 s; reports 1
 *   touch N   touches N MiB of anonymous memory, reports 1, then as idle
 *   sparse G N  reserves G GiB, touches N MiB of it, reports 1, then as idle
 *   threads N   N threads sleeping in pause(), reports 1, then as idle
 *   leaderless  the main thread calls pthread_exit; a second thread runs
 *             on as idle (reports 1, answers commands)
 *   hold N    touches N MiB, prints "ready" on stdout (it uses no other fd,
 *             so crctl can restore it), then sleeps in pause()
 *   counter   touches 1 MiB with a pattern, then every 20 ms checks the
 *             pattern, a TLS value and that CLOCK_MONOTONIC and
 *             CLOCK_BOOTTIME did not go back, and prints "count N" on stdout
 *             (fd 1, which a restore keeps); prints "BROKEN ..." (what) and
 *             exits if one is wrong
 *   ttycounter  as counter, and prints "BROKEN ..." and exits if stdout is
 *             not a terminal
 *   sigecho   prints "ready", then "got N" on stdout for the Nth SIGUSR1
 *   echo      copies each line of stdin to stdout behind the host's name
 *             ("cr2 LINE"), reading 16 bytes at a time and sleeping 10 ms
 *             after each line (so the pipe holds what it has not read yet);
 *             prints "eof" and exits 0 at the end of stdin, "BROKEN ..."
 *             and exits 5 if a read fails (no signal comes: an EINTR is one)
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define REP 1
#define CTL 0
#define POLL_FD 5
#define ERROR (~0ULL)
#define MiB (1UL << 20)
#define GiB (1UL << 30)

static void touch(unsigned char *m, unsigned long mib);
static uint64_t pattern_sum(const unsigned char *p, size_t len);

static void report(uint64_t v)
{
	if (write(REP, &v, sizeof(v)) != sizeof(v))
		_exit(3);
}

static void sleeper(void)
{
	for (uint64_t i = 1;; i++) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		if (nanosleep(&ts, NULL))
			report(ERROR);
		report(i);
	}
}

static void busy(void)
{
	uint64_t x = 88172645463325252ULL, y = x;

	for (uint64_t i = 1;; i++) {
		for (int k = 0; k < 200000; k++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			y ^= y << 13, y ^= y >> 7, y ^= y << 17;
		}
		report(x == y ? i : ERROR);
	}
}

static __thread uint64_t tls_id;
static volatile uint64_t thread_count[8];
static volatile int thread_bad;

static void *spinner(void *arg)
{
	tls_id = (uintptr_t)arg;
	for (;;) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };

		thread_count[tls_id]++;
		if (tls_id != (uintptr_t)arg)
			thread_bad = 1;
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void threads8(void)
{
	pthread_t t;

	for (uintptr_t i = 0; i < 8; i++)
		if (pthread_create(&t, NULL, spinner, (void *)i))
			report(ERROR);
	for (;;) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		uint64_t sum = 0;

		nanosleep(&ts, NULL);
		for (int i = 0; i < 8; i++)
			sum += thread_count[i];
		report(thread_bad ? ERROR : sum);
	}
}

static uint64_t pattern_sum(const unsigned char *p, size_t len)
{
	uint64_t s = 0;

	for (size_t i = 0; i < len; i += 64)
		s = s * 31 + p[i];
	return s;
}

static void reserve(void)
{
	unsigned char *m = mmap(NULL, 8 * GiB, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	unsigned char *hot;
	char c;

	if (m == MAP_FAILED)
		report(ERROR);
	hot = m + 3 * GiB;
	for (size_t i = 0; i < 4 * MiB; i++)
		hot[i] = (unsigned char)(i * 7 + (i >> 12));
	report(1);
	while (read(CTL, &c, 1) == 1)
		report(pattern_sum(hot, 4 * MiB));
}

static void idle(void)
{
	char c;

	report(1);
	while (read(CTL, &c, 1) == 1)
		report(1);
}

static void *idle_thread(void *arg)
{
	idle();
	exit(0);
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int flag, blocked;
static uint64_t result[4];
static pid_t blocker[4];

/* Whether thread @tid sleeps (state S in /proc/self/task/<tid>/stat). */
static int sleeping(pid_t tid)
{
	char path[64], buf[256], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'S';
}

static long ms_since(struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

static void *in_nanosleep(void *arg)
{
	struct timespec a, ts = { 1, 500 * 1000 * 1000 };

	clock_gettime(CLOCK_MONOTONIC, &a);
	blocker[0] = gettid();
	__atomic_add_fetch(&blocked, 1, __ATOMIC_SEQ_CST);
	result[0] = nanosleep(&ts, NULL) ? ERROR : (uint64_t)ms_since(&a);
	return NULL;
}

static void *in_read(void *arg)
{
	char buf[8];
	ssize_t n;

	blocker[1] = gettid();
	__atomic_add_fetch(&blocked, 1, __ATOMIC_SEQ_CST);
	n = read(CTL, buf, sizeof(buf));
	result[1] = n < 0 ? ERROR : (uint64_t)n;
	/* Then wake the futex waiter. */
	pthread_mutex_lock(&lock);
	flag = 1;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
	return NULL;
}

static void *in_futex(void *arg)
{
	pthread_mutex_lock(&lock);
	blocker[2] = gettid();
	__atomic_add_fetch(&blocked, 1, __ATOMIC_SEQ_CST);
	while (!flag)
		if (pthread_cond_wait(&cond, &lock))
			result[2] = ERROR;
	pthread_mutex_unlock(&lock);
	if (!result[2])
		result[2] = 1;
	return NULL;
}

static void *in_poll(void *arg)
{
	struct pollfd p = { .fd = POLL_FD, .events = POLLIN };
	int n;

	blocker[3] = gettid();
	__atomic_add_fetch(&blocked, 1, __ATOMIC_SEQ_CST);
	n = poll(&p, 1, 20000);
	result[3] = n < 0 ? ERROR : (uint64_t)n;
	return NULL;
}

static void syscalls(void)
{
	void *(*fn[4])(void *) = { in_nanosleep, in_read, in_futex, in_poll };
	pthread_t t[4];

	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, fn[i], NULL);
	while (__atomic_load_n(&blocked, __ATOMIC_SEQ_CST) < 4)
		usleep(1000);
	/* Each is asleep in its system call (under TCG a fixed grace was not
	 * always enough), and then a little longer. */
	for (int i = 0; i < 4; i++)
		while (!sleeping(blocker[i]))
			usleep(1000);
	usleep(20 * 1000);
	report(1);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 4; i++)
		report(result[i]);
}

static void in_vfork(void)
{
	report(1);
	if (vfork() == 0) {
		sleep(3);
		_exit(0);
	}
	for (;;)
		pause();
}

/* Touches @mib MiB at @m with a pattern, so no page is the zero page. */
static void touch(unsigned char *m, unsigned long mib)
{
	for (size_t i = 0; i < mib * MiB; i += 8)
		*(uint64_t *)(m + i) = i * 0x9e3779b97f4a7c15ULL;
}

static void *pauser(void *arg)
{
	for (;;)
		pause();
	return NULL;
}

static unsigned long arg_ul(int argc, char **argv, int i)
{
	return argc > i ? strtoul(argv[i], NULL, 0) : 0;
}

static __thread uint64_t counter_tls = 0x1234567890abcdefULL;

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static void counter(int want_tty)
{
	unsigned char *m = malloc(MiB);
	uint64_t sum;
	char line[64];

	if (!m)
		_exit(2);
	touch(m, 1);
	sum = pattern_sum(m, MiB);
	struct timespec mono0, boot0, mono, boot;

	clock_gettime(CLOCK_MONOTONIC, &mono0);
	clock_gettime(CLOCK_BOOTTIME, &boot0);
	for (uint64_t i = 0;; i++) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		int n;

		clock_gettime(CLOCK_MONOTONIC, &mono);
		clock_gettime(CLOCK_BOOTTIME, &boot);
		if (pattern_sum(m, MiB) != sum || counter_tls != 0x1234567890abcdefULL)
			n = snprintf(line, sizeof(line), "BROKEN at %llu\n", (unsigned long long)i);
		else if (want_tty && !isatty(1))
			n = snprintf(line, sizeof(line), "BROKEN at %llu: stdout is not a terminal\n",
				     (unsigned long long)i);
		else if (ts_ns(&mono) < ts_ns(&mono0) || ts_ns(&boot) < ts_ns(&boot0))
			n = snprintf(line, sizeof(line), "BROKEN at %llu: a clock went back\n",
				     (unsigned long long)i);
		else
			n = snprintf(line, sizeof(line), "count %llu\n", (unsigned long long)i);
		mono0 = mono;
		boot0 = boot;
		if (write(1, line, n) != n)
			_exit(3);
		if (line[0] == 'B')
			_exit(4);
		nanosleep(&ts, NULL);
	}
}

static volatile sig_atomic_t usr1s;

static void on_usr1(int sig)
{
	(void)sig;
	usr1s++;
}

/* Answers each SIGUSR1 on stdout ("got N"): the far end of a signal's round
 * trip (bench/cluster_bench). */
static void sigecho(void)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigset_t usr1, old;
	sig_atomic_t seen = 0;
	char line[32];
	int n;

	sigemptyset(&sa.sa_mask);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	if (sigaction(SIGUSR1, &sa, NULL) || sigprocmask(SIG_BLOCK, &usr1, &old))
		_exit(2);
	if (write(1, "ready\n", 6) != 6)
		_exit(3);
	for (;;) {
		while (usr1s == seen)
			sigsuspend(&old);
		seen = usr1s;
		n = snprintf(line, sizeof(line), "got %d\n", (int)seen);
		if (write(1, line, n) != n)
			_exit(3);
	}
}

static void echo(void)
{
	char buf[4096], out[4096 + 80], host[65];
	size_t have = 0;

	for (;;) {
		size_t want = sizeof(buf) - have < 16 ? sizeof(buf) - have : 16;
		ssize_t n = read(0, buf + have, want);
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		char *nl;
		int len;

		if (n < 0) {
			len = snprintf(out, sizeof(out), "BROKEN read: %s\n", strerror(errno));
			if (write(1, out, len) != len)
				_exit(3);
			_exit(5);
		}
		if (n == 0) {
			if (write(1, "eof\n", 4) != 4)
				_exit(3);
			_exit(0);
		}
		have += n;
		while ((nl = memchr(buf, '\n', have))) {
			size_t line = nl - buf + 1;

			if (gethostname(host, sizeof(host) - 1))
				strcpy(host, "?");
			host[sizeof(host) - 1] = 0;
			len = snprintf(out, sizeof(out), "%s %.*s", host, (int)line, buf);
			if (write(1, out, len) != len)
				_exit(3);
			memmove(buf, buf + line, have - line);
			have -= line;
			nanosleep(&ts, NULL);
		}
		if (have == sizeof(buf))
			_exit(6);
	}
}

int main(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[1] : "";

	if (!strcmp(m, "counter") || !strcmp(m, "ttycounter")) {
		counter(!strcmp(m, "ttycounter"));
		return 0;
	}
	if (!strcmp(m, "sigecho")) {
		sigecho();
		return 0;
	}
	if (!strcmp(m, "echo")) {
		echo();
		return 0;
	}
	if (!strcmp(m, "touch") || !strcmp(m, "sparse")) {
		int sparse = !strcmp(m, "sparse");
		unsigned long gib = sparse ? arg_ul(argc, argv, 2) : 0;
		unsigned long mib = arg_ul(argc, argv, sparse ? 3 : 2);
		size_t len = sparse ? gib * GiB : mib * MiB;
		unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (p == MAP_FAILED || mib * MiB > len)
			return 2;
		/* Exactly the touched pages exist: no transparent huge page
		 * rounds a touch up to 2 MiB. */
		madvise(p, len, MADV_NOHUGEPAGE);
		touch(p + (sparse ? len / 2 : 0), mib);
		idle();
		return 0;
	}
	if (!strcmp(m, "hold")) {
		unsigned long n = arg_ul(argc, argv, 2);
		unsigned char *mem = mmap(NULL, n * MiB, PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (mem == MAP_FAILED)
			return 2;
		touch(mem, n);
		if (write(1, "ready\n", 6) != 6)
			return 3;
		for (;;)
			pause();
	}
	if (!strcmp(m, "leaderless")) {
		pthread_t t;

		/* The main thread leaves; its thread runs on (as idle). */
		if (pthread_create(&t, NULL, idle_thread, NULL))
			return 2;
		pthread_exit(NULL);
	}
	if (!strcmp(m, "threads")) {
		unsigned long n = arg_ul(argc, argv, 2);
		pthread_t t;

		for (unsigned long i = 0; i < n; i++)
			if (pthread_create(&t, NULL, pauser, NULL))
				return 2;
		idle();
		return 0;
	}

	if (!strcmp(m, "sleeper"))
		sleeper();
	else if (!strcmp(m, "busy"))
		busy();
	else if (!strcmp(m, "threads8"))
		threads8();
	else if (!strcmp(m, "reserve"))
		reserve();
	else if (!strcmp(m, "idle"))
		idle();
	else if (!strcmp(m, "syscalls"))
		syscalls();
	else if (!strcmp(m, "vfork"))
		in_vfork();
	else
		return 2;
	return 0;
}
