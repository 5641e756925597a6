// SPDX-License-Identifier: GPL-2.0
/*
 * CR_IOC_CHECKPOINT: live processes (sleeping, busy, 8 threads, 8 GiB
 * reserved) streamed to a file, a pipe and a socketpair; the process carries on
 * unharmed and unaware; untouched memory costs nothing; crctl inspect agrees
 * with /proc; every error case leaves the target running; 200 checkpoints in a
 * row change nothing.
 *
 * Targets are children of the test. They report over a pipe: a counter that
 * must keep growing, or an error code. Images go through `crctl inspect`,
 * which verifies every crc, count and range.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/cr.h>

#include "cr_harness.h"
#include "cr_util.h"

#define MiB (1UL << 20)
#define GiB (1UL << 30)

/* --- talking to the module ------------------------------------------------ */

static long ckpt_args(struct cr_checkpoint_args *a)
{
	int dev = open("/dev/cr", O_RDWR | O_CLOEXEC);
	long r;

	if (dev < 0)
		return -errno;
	r = ioctl(dev, CR_IOC_CHECKPOINT, a) ? -errno : 0;
	close(dev);
	return r;
}

/* Checkpoints @pid to @out_fd (as root: no proof needed); -errno on failure. */
static long ckpt(pid_t pid, int out_fd, unsigned int flags, struct cr_checkpoint_args *res)
{
	struct cr_checkpoint_args a = {
		.target = CR_CPID(0, pid),
		.out_fd = out_fd,
		.proof_fd = -1,
		.flags = flags,
	};
	long r = ckpt_args(&a);

	if (res)
		*res = a;
	return r;
}

/* --- targets ---------------------------------------------------------------- */

/*
 * Targets run cr_target (next to this program): a process forked from a test
 * would share the harness's MAP_SHARED memory, which cr refuses to checkpoint.
 */
struct target {
	pid_t pid;
	int rep;	/* reports from the target: uint64 values; ~0 = error */
	int ctl;	/* commands to the target (its fd 4) */
};

#define REPORT_ERROR (~0ULL)

/* Starts cr_target @mode; @extra becomes its fd 5 (if not -1). */
static struct target spawn_mode(const char *mode, int extra)
{
	struct target t = { -1, -1, -1 };
	int rep[2], ctl[2];
	const char *exe = cr_sibling("cr_target");

	if (pipe2(rep, O_CLOEXEC) || pipe2(ctl, O_CLOEXEC))
		return t;
	t.pid = fork();
	if (t.pid == 0) {
		/* Out of the way of 0..5 first, then into place (dup2 clears
		 * CLOEXEC): reports on fd 1, commands on fd 0. */
		int r = fcntl(rep[1], F_DUPFD_CLOEXEC, 10);
		int c = fcntl(ctl[0], F_DUPFD_CLOEXEC, 10);
		int e = extra >= 0 ? fcntl(extra, F_DUPFD_CLOEXEC, 10) : -1;

		if (dup2(r, 1) != 1 || dup2(c, 0) != 0 || (e >= 0 && dup2(e, 5) != 5))
			_exit(126);
		execl(exe, "cr_target", mode, (char *)NULL);
		_exit(127);
	}
	close(rep[1]);
	close(ctl[0]);
	t.rep = rep[0];
	t.ctl = ctl[1];
	return t;
}

enum target_kind { SLEEPER, BUSY, THREADS8, RESERVE, IDLE };

static struct target spawn(enum target_kind kind)
{
	static const char *const modes[] = { "sleeper", "busy", "threads8", "reserve", "idle" };

	return spawn_mode(modes[kind], -1);
}

/* The next report, or REPORT_ERROR after @ms without one. */
static uint64_t next_report(struct target *t, int ms)
{
	struct pollfd p = { .fd = t->rep, .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, ms) != 1 || read(t->rep, &v, sizeof(v)) != sizeof(v))
		return REPORT_ERROR;
	return v;
}

/* Reads reports for @ms: they must be valid and keep growing. Returns the
 * last, or REPORT_ERROR. */
static uint64_t progress(struct target *t, int ms)
{
	struct timespec a, b;
	uint64_t last = 0, v;

	clock_gettime(CLOCK_MONOTONIC, &a);
	do {
		v = next_report(t, 5000);
		if (v == REPORT_ERROR || v < last)
			return REPORT_ERROR;
		last = v;
		clock_gettime(CLOCK_MONOTONIC, &b);
	} while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < ms);
	return last;
}

/* Throws away the reports queued so far. */
static void drain(struct target *t)
{
	struct pollfd p = { .fd = t->rep, .events = POLLIN };
	char buf[4096];

	while (poll(&p, 1, 0) == 1 && read(t->rep, buf, sizeof(buf)) > 0)
		;
}

static int alive(pid_t pid)
{
	int status;

	return waitpid(pid, &status, WNOHANG) == 0;
}

static void end(struct target *t)
{
	end_child(t->pid, t->rep, t->ctl);
}

/* --- images --------------------------------------------------------------- */

static char img_path[64];

static int image_file(void)
{
	snprintf(img_path, sizeof(img_path), "/tmp/cr-test-%d.img", getpid());
	return open(img_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
}

/* Runs a shell command; returns its exit status (-1 if it did not exit). */
/* Whether thread @tid (of the caller's children) sleeps: state S. */
static int thread_sleeps(pid_t tid)
{
	char path[64], buf[256], *p;
	int fd, n;

	snprintf(path, sizeof(path), "/proc/%d/stat", tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'S';
}

/* Collects everything readable from @fd into a file while a checkpoint writes
 * the other end: a pipe or a socket. */
struct collector {
	pthread_t thread;
	int in, out;
	size_t bytes;
	int slow_ms;		/* pause after the first 64 KiB */
	pid_t kill_after_pause;	/* SIGKILL this after the pause */
};

static void *collect(void *arg)
{
	struct collector *c = arg;
	char buf[65536];
	ssize_t n;
	int paused = 0;

	while ((n = read(c->in, buf, sizeof(buf))) > 0) {
		if (write(c->out, buf, n) != n)
			break;
		c->bytes += n;
		if (c->slow_ms && !paused && c->bytes >= 65536) {
			paused = 1;
			usleep(c->slow_ms * 1000);
			if (c->kill_after_pause)
				kill(c->kill_after_pause, SIGKILL);
		}
	}
	return NULL;
}

/* Checkpoints @t through a pipe or socketpair (@sock) into the image file. */
static long ckpt_via(struct target *t, int sock, struct cr_checkpoint_args *res)
{
	struct collector c = { 0 };
	int fds[2];
	long r;

	if (sock ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) : pipe2(fds, O_CLOEXEC))
		return -errno;
	c.in = fds[0];
	c.out = image_file();
	pthread_create(&c.thread, NULL, collect, &c);
	r = ckpt(t->pid, fds[1], 0, res);
	close(fds[1]);
	pthread_join(c.thread, NULL);
	close(fds[0]);
	close(c.out);
	if (r == 0 && res && c.bytes != res->bytes)
		return -EIO;
	return r;
}


static long minflt(pid_t pid)
{
	char path[64], buf[1024], *p;
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		/* after "pid (comm)": state ppid pgrp session tty tpgid flags minflt */
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %lu", &v);
	fclose(f);
	return v;
}

/* --- the tests ---------------------------------------------------------------- */

FIXTURE(ckpt) {
	struct target t;
};

FIXTURE_SETUP(ckpt)
{
	self->t.pid = -1;
	self->t.rep = self->t.ctl = -1;
	if (access("/dev/cr", R_OK | W_OK))
		SKIP(return, "/dev/cr is not available");
}

FIXTURE_TEARDOWN(ckpt)
{
	if (self->t.pid > 0)
		end(&self->t);
	if (img_path[0])
		unlink(img_path);
}

TEST_F(ckpt, sleeper_to_file)
{
	struct cr_checkpoint_args a;
	int fd;

	self->t = spawn(SLEEPER);
	ASSERT_NE(REPORT_ERROR, progress(&self->t, 200));
	fd = image_file();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ckpt(self->t.pid, fd, 0, &a));
	EXPECT_EQ(1, a.threads);
	EXPECT_EQ(CR_FAIL_NONE, a.fail_reason);
	EXPECT_LT(0, a.pages);
	EXPECT_EQ(a.bytes, lseek(fd, 0, SEEK_CUR));
	EXPECT_LE(a.frozen_ns, a.total_ns);
	close(fd);
	EXPECT_EQ(0, sh("crctl inspect %s > /dev/null", img_path));
	/* It goes on, without a failed or short sleep. */
	EXPECT_NE(REPORT_ERROR, progress(&self->t, 300));
	/* Again, and again: the image does not depend on earlier ones. */
	for (int i = 0; i < 3; i++) {
		fd = image_file();
		ASSERT_EQ(0, ckpt(self->t.pid, fd, 0, NULL));
		close(fd);
		EXPECT_EQ(0, sh("crctl inspect %s > /dev/null", img_path));
		EXPECT_NE(REPORT_ERROR, progress(&self->t, 100));
	}
}

TEST_F(ckpt, busy_to_pipe)
{
	struct cr_checkpoint_args a;

	self->t = spawn(BUSY);
	ASSERT_NE(REPORT_ERROR, progress(&self->t, 300));
	ASSERT_EQ(0, ckpt_via(&self->t, 0, &a));
	EXPECT_EQ(1, a.threads);
	EXPECT_EQ(0, sh("crctl inspect %s > /dev/null", img_path));
	EXPECT_NE(REPORT_ERROR, progress(&self->t, 500));
}

TEST_F_TIMEOUT(ckpt, eight_threads_to_socketpair, 180)
{
	struct cr_checkpoint_args a;

	self->t = spawn(THREADS8);
	ASSERT_NE(REPORT_ERROR, progress(&self->t, 300));
	for (int i = 0; i < 5; i++) {
		ASSERT_EQ(0, ckpt_via(&self->t, 1, &a));
		EXPECT_EQ(9, a.threads);
		EXPECT_EQ(0, sh("crctl inspect %s | grep -q '^threads: 9$'", img_path));
		/* Every thread still counts, with its own TLS. */
		EXPECT_NE(REPORT_ERROR, progress(&self->t, 200));
	}
}

TEST_F_TIMEOUT(ckpt, untouched_memory_costs_nothing, 180)
{
	struct cr_checkpoint_args a;
	long rss, pte, flt;
	uint64_t sum;
	int fd;

	self->t = spawn(RESERVE);
	ASSERT_EQ(1, next_report(&self->t, 20000));
	ASSERT_EQ(1, write(self->t.ctl, "p", 1));
	sum = next_report(&self->t, 20000);
	ASSERT_NE(REPORT_ERROR, sum);
	rss = status_field(self->t.pid, "VmRSS");
	pte = status_field(self->t.pid, "VmPTE");
	flt = minflt(self->t.pid);
	ASSERT_LT(0, rss);

	fd = image_file();
	ASSERT_EQ(0, ckpt(self->t.pid, fd, 0, &a));
	close(fd);
	TH_LOG("8 GiB reserved, 4 MiB touched: %llu pages, %llu bytes, RSS %ld kB, PTE %ld kB",
	       (unsigned long long)a.pages, (unsigned long long)a.bytes, rss, pte);
	/* The 1024 touched pages, plus the few of the stack, data and heap. */
	EXPECT_LE(1024, a.pages);
	EXPECT_GE(1024 + 256, a.pages);
	EXPECT_GE(4 * MiB + 2 * MiB, a.bytes);
	EXPECT_EQ(0, sh("crctl inspect %s | grep -q ' 1024 pages $'", img_path));
	/* Nothing was faulted in or mapped: the process cannot tell. */
	EXPECT_EQ(rss, status_field(self->t.pid, "VmRSS"));
	EXPECT_EQ(pte, status_field(self->t.pid, "VmPTE"));
	EXPECT_EQ(flt, minflt(self->t.pid));
	/* And its memory is intact. */
	ASSERT_EQ(1, write(self->t.ctl, "p", 1));
	EXPECT_EQ(sum, next_report(&self->t, 20000));
}

TEST_F(ckpt, inspect_matches_proc)
{
	int fd;

	self->t = spawn(THREADS8);
	ASSERT_NE(REPORT_ERROR, progress(&self->t, 300));
	fd = image_file();
	ASSERT_EQ(0, ckpt(self->t.pid, fd, 0, NULL));
	close(fd);
	/* /proc/<pid>/maps, field by field ([vsyscall] is not a VMA of the mm). */
	EXPECT_EQ(0, sh("crctl inspect --maps %s | tr -s ' ' > %s.maps && "
			"grep -v '\\[vsyscall\\]' /proc/%d/maps | tr -s ' ' | diff -u %s.maps -",
			img_path, img_path, self->t.pid, img_path));
	/* /proc/<pid>/status, the fields an image holds. */
#define STATUS_FIELDS "'^(Name|Umask|Pid|PPid|Uid|Gid|Threads|ShdPnd|SigBlk|SigIgn|SigCgt):'"
	EXPECT_EQ(0, sh("crctl inspect --status %s | grep -E " STATUS_FIELDS " > %s.st && "
			"grep -E " STATUS_FIELDS " /proc/%d/status | diff -u %s.st -",
			img_path, img_path, self->t.pid, img_path));
	sh("rm -f %s.maps %s.st", img_path, img_path);
}

static volatile sig_atomic_t got_sigchld;

static void on_sigchld(int sig)
{
	got_sigchld = 1;
}

/*
 * Threads blocked in nanosleep, read, futex and poll go on as if nothing had
 * happened: no EINTR, no lost time or data; the parent sees no stop.
 */
TEST_F(ckpt, blocked_syscalls_resume)
{
	struct sigaction sa = { .sa_handler = on_sigchld };
	uint64_t slept;
	int fd, status, pp[2];

	ASSERT_EQ(0, pipe(pp));
	sigaction(SIGCHLD, &sa, NULL);
	got_sigchld = 0;
	self->t = spawn_mode("syscalls", pp[0]);
	close(pp[0]);
	ASSERT_EQ(1, next_report(&self->t, 20000));	/* every thread is blocked */
	/* ...and the main thread, which reported, is asleep in pthread_join. */
	for (int i = 0; i < 5000 && !thread_sleeps(self->t.pid); i++)
		usleep(1000);
	fd = image_file();
	/* fd 5 is a pipe from this test: a restore refuses it, so the image is
	 * a partial one. */
	ASSERT_EQ(0, ckpt(self->t.pid, fd, CR_CHECKPOINT_PARTIAL, NULL));
	close(fd);
	/* The parent saw nothing: no stop, no SIGCHLD. (Checked before sh(),
	 * whose own child sends one.) */
	EXPECT_EQ(0, waitpid(self->t.pid, &status, WNOHANG | WUNTRACED | WCONTINUED));
	EXPECT_EQ(0, got_sigchld);
	signal(SIGCHLD, SIG_DFL);
	/* Five threads, all inside a system call the freezer interrupted. */
	EXPECT_EQ(0, sh("test $(crctl inspect %s | grep -c 'in syscall') = 5", img_path));

	/* Wake the read and poll waiters (the reader then wakes the futex
	 * waiter); nanosleep ends by itself. */
	ASSERT_EQ(5, write(self->t.ctl, "hello", 5));
	ASSERT_EQ(1, write(pp[1], "x", 1));
	slept = next_report(&self->t, 20000);
	TH_LOG("nanosleep(1.5 s) took %llu ms across the checkpoint", (unsigned long long)slept);
	EXPECT_LE(1500, slept);
	EXPECT_GE(1500 + 3000, slept);
	EXPECT_EQ(5, next_report(&self->t, 20000));	/* read got all its data */
	EXPECT_EQ(1, next_report(&self->t, 20000));	/* the futex wait woke */
	EXPECT_EQ(1, next_report(&self->t, 20000));	/* poll saw its fd */
	ASSERT_EQ(self->t.pid, waitpid(self->t.pid, &status, 0));
	self->t.pid = -1;
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	close(pp[1]);
}

/* Writes @len bytes of @buf to @path. */
static int put_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int ok = fd >= 0 && write(fd, buf, len) == (ssize_t)len;

	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

/*
 * The format's promise: a truncated or corrupted image is detected. Every cut
 * and every flipped bit below must make `crctl inspect` refuse the image.
 */
TEST_F_TIMEOUT(ckpt, damaged_images_are_refused, 300)
{
	char bad[80];
	unsigned char *img;
	struct stat st;
	int fd, refused = 0, tried = 0;

	self->t = spawn(THREADS8);
	ASSERT_NE(REPORT_ERROR, progress(&self->t, 100));
	fd = image_file();
	ASSERT_EQ(0, ckpt(self->t.pid, fd, 0, NULL));
	ASSERT_EQ(0, fstat(fd, &st));
	img = malloc(st.st_size + 1);
	ASSERT_NE(NULL, img);
	ASSERT_EQ(st.st_size, pread(fd, img, st.st_size, 0));
	close(fd);
	ASSERT_EQ(0, sh("crctl inspect %s > /dev/null", img_path));
	snprintf(bad, sizeof(bad), "%s.bad", img_path);

	/* Cut short: inside the magic, the first header, records, pages, trailer. */
	long cuts[] = { 0, 4, 8, 16, 24, 100, 500, 2000, st.st_size / 3, st.st_size / 2,
			st.st_size - 4096, st.st_size - 33, st.st_size - 32, st.st_size - 1 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		if (cuts[i] < 0 || cuts[i] >= st.st_size)
			continue;
		ASSERT_EQ(0, put_file(bad, img, cuts[i]));
		tried++;
		if (sh("crctl inspect %s > /dev/null 2>&1", bad) != 0)
			refused++;
		else
			TH_LOG("an image cut at byte %ld of %ld was accepted", cuts[i], (long)st.st_size);
	}
	/* One bit flipped, at 60 offsets spread over the whole image. */
	for (int i = 0; i < 60; i++) {
		long off = (long)((st.st_size - 1) * (uint64_t)i / 59);

		img[off] ^= 0x10;
		ASSERT_EQ(0, put_file(bad, img, st.st_size));
		img[off] ^= 0x10;
		tried++;
		if (sh("crctl inspect %s > /dev/null 2>&1", bad) != 0)
			refused++;
		else
			TH_LOG("an image with a bit flipped at byte %ld was accepted", off);
	}
	/* A byte too many. */
	img[st.st_size] = 0;
	ASSERT_EQ(0, put_file(bad, img, st.st_size + 1));
	tried++;
	if (sh("crctl inspect %s > /dev/null 2>&1", bad) != 0)
		refused++;
	TH_LOG("%d of %d damaged images refused", refused, tried);
	EXPECT_EQ(tried, refused);
	unlink(bad);
	free(img);
}

TEST_F(ckpt, kill_after_image)
{
	struct cr_checkpoint_args a;
	int fd, status;

	self->t = spawn(SLEEPER);
	ASSERT_NE(REPORT_ERROR, progress(&self->t, 200));
	fd = image_file();
	ASSERT_EQ(0, ckpt(self->t.pid, fd, CR_CHECKPOINT_KILL, &a));
	close(fd);
	ASSERT_EQ(self->t.pid, waitpid(self->t.pid, &status, 0));
	self->t.pid = -1;
	EXPECT_TRUE(WIFSIGNALED(status));
	EXPECT_EQ(SIGKILL, WTERMSIG(status));
	/* The image was complete before the end. */
	EXPECT_EQ(0, sh("crctl inspect %s > /dev/null", img_path));
}

/* The state letter of process @pid in /proc/<pid>/stat ('?' if unreadable). */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	int fd, n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

/*
 * With CR_CHECKPOINT_KILL the ioctl returns once every thread has exited:
 * the process is a zombie (its parent, this test, has not reaped it), not a
 * process still on its way out.
 */
TEST_F(ckpt, kill_returns_once_the_process_has_exited)
{
	struct cr_checkpoint_args a;
	int fd, status;

	self->t = spawn(THREADS8);
	ASSERT_NE(REPORT_ERROR, progress(&self->t, 200));
	fd = image_file();
	ASSERT_EQ(0, ckpt(self->t.pid, fd, CR_CHECKPOINT_KILL, &a));
	close(fd);
	EXPECT_EQ('Z', proc_state(self->t.pid));
	ASSERT_EQ(self->t.pid, waitpid(self->t.pid, &status, 0));
	self->t.pid = -1;
	EXPECT_TRUE(WIFSIGNALED(status));
}

/* The target is left running and responsive after a failed checkpoint. */
static int unharmed(struct target *t)
{
	drain(t);
	return alive(t->pid) && progress(t, 150) != REPORT_ERROR;
}

TEST_F(ckpt, bad_output_fds)
{
	struct cr_checkpoint_args a;
	int ro, p[2];

	self->t = spawn(SLEEPER);
	ASSERT_NE(REPORT_ERROR, progress(&self->t, 100));
	/* Not open. */
	EXPECT_EQ(-EBADF, ckpt(self->t.pid, 1000, 0, &a));
	EXPECT_EQ(CR_FAIL_OUTPUT, a.fail_reason);
	/* Open read-only. */
	ro = open("/proc/self/status", O_RDONLY);
	EXPECT_EQ(-EBADF, ckpt(self->t.pid, ro, 0, &a));
	EXPECT_EQ(CR_FAIL_OUTPUT, a.fail_reason);
	close(ro);
	/* Non-blocking. */
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
	EXPECT_EQ(-EAGAIN, ckpt(self->t.pid, p[1], 0, &a));
	EXPECT_EQ(CR_FAIL_OUTPUT, a.fail_reason);
	close(p[0]);
	close(p[1]);
	/* No reader: EPIPE (and no SIGPIPE death: it is ignored here). */
	signal(SIGPIPE, SIG_IGN);
	ASSERT_EQ(0, pipe(p));
	close(p[0]);
	EXPECT_EQ(-EPIPE, ckpt(self->t.pid, p[1], 0, &a));
	EXPECT_EQ(CR_FAIL_OUTPUT, a.fail_reason);
	close(p[1]);
	EXPECT_TRUE(unharmed(&self->t));
}

TEST_F_TIMEOUT(ckpt, disk_full, 120)
{
	struct cr_checkpoint_args a;
	char dir[64];
	int fd;

	self->t = spawn(RESERVE);
	ASSERT_EQ(1, next_report(&self->t, 20000));
	snprintf(dir, sizeof(dir), "/tmp/cr-full-%d", getpid());
	mkdir(dir, 0700);
	if (mount("tmpfs", dir, "tmpfs", 0, "size=256k"))
		SKIP(return, "cannot mount a small tmpfs: %s", strerror(errno));
	strcat(dir, "/img");
	fd = open(dir, O_WRONLY | O_CREAT, 0600);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-ENOSPC, ckpt(self->t.pid, fd, 0, &a));
	EXPECT_EQ(CR_FAIL_OUTPUT, a.fail_reason);
	close(fd);
	*strrchr(dir, '/') = 0;
	umount(dir);
	rmdir(dir);
	ASSERT_EQ(1, write(self->t.ctl, "p", 1));
	EXPECT_NE(REPORT_ERROR, next_report(&self->t, 5000));
	EXPECT_TRUE(alive(self->t.pid));
}

TEST_F(ckpt, bad_targets)
{
	struct cr_checkpoint_args a;
	int fd = image_file();
	pid_t zombie;

	ASSERT_LE(0, fd);
	/* No such process. */
	EXPECT_EQ(-ESRCH, ckpt(4000000, fd, 0, &a));
	EXPECT_EQ(CR_FAIL_NO_PROCESS, a.fail_reason);
	EXPECT_EQ(-ESRCH, ckpt(0, fd, 0, &a));
	/* A kernel thread (kthreadd). */
	EXPECT_EQ(-EINVAL, ckpt(2, fd, 0, &a));
	EXPECT_EQ(CR_FAIL_KTHREAD, a.fail_reason);
	/* Itself. */
	EXPECT_EQ(-EDEADLK, ckpt(getpid(), fd, 0, &a));
	EXPECT_EQ(CR_FAIL_SELF, a.fail_reason);
	/* A zombie. */
	zombie = fork();
	if (zombie == 0)
		_exit(0);
	usleep(100 * 1000);
	EXPECT_EQ(-ESRCH, ckpt(zombie, fd, 0, &a));
	EXPECT_EQ(CR_FAIL_NO_PROCESS, a.fail_reason);
	waitpid(zombie, NULL, 0);
	/* A process whose main thread called pthread_exit while another
	 * thread runs: refused for that (it exists), and it runs on. */
	{
		struct target t = spawn_mode("leaderless", -1);

		ASSERT_EQ(1, next_report(&t, 10000));
		usleep(100 * 1000);
		EXPECT_EQ(-EOPNOTSUPP, ckpt(t.pid, fd, 0, &a));
		EXPECT_EQ(CR_FAIL_LEADERLESS, a.fail_reason);
		ASSERT_EQ(1, write(t.ctl, "p", 1));
		EXPECT_EQ(1, next_report(&t, 5000));
		kill(t.pid, SIGKILL);
		waitpid(t.pid, NULL, 0);
		close(t.rep);
		close(t.ctl);
	}
	/* Another host: the remote class is not built. */
	a = (struct cr_checkpoint_args){ .target = CR_CPID(7, getpid()), .out_fd = fd, .proof_fd = -1 };
	EXPECT_EQ(-EREMOTE, ckpt_args(&a));
	EXPECT_EQ(CR_FAIL_REMOTE, a.fail_reason);
	/* Nothing was written by any of them. */
	EXPECT_EQ(0, lseek(fd, 0, SEEK_END));
	close(fd);
}

TEST_F(ckpt, bad_arguments)
{
	struct cr_checkpoint_args a;
	int fd = image_file();

	self->t = spawn(IDLE);
	ASSERT_EQ(1, next_report(&self->t, 5000));
	a = (struct cr_checkpoint_args){ .target = self->t.pid, .out_fd = fd, .proof_fd = -1, .flags = 0x80 };
	EXPECT_EQ(-EINVAL, ckpt_args(&a));
	EXPECT_EQ(CR_FAIL_ARGS, a.fail_reason);
	a = (struct cr_checkpoint_args){ .target = self->t.pid, .out_fd = fd, .proof_fd = -1 };
	a.__pad2 = 1;
	EXPECT_EQ(-EINVAL, ckpt_args(&a));
	/* A message buffer needs both its address and its size, at most 4 KiB. */
	a = (struct cr_checkpoint_args){ .target = self->t.pid, .out_fd = fd, .proof_fd = -1, .msg_len = 64 };
	EXPECT_EQ(-EINVAL, ckpt_args(&a));
	a = (struct cr_checkpoint_args){ .target = self->t.pid, .out_fd = fd, .proof_fd = -1, .msg = 4096 };
	EXPECT_EQ(-EINVAL, ckpt_args(&a));
	a = (struct cr_checkpoint_args){ .target = self->t.pid, .out_fd = fd, .proof_fd = -1,
					 .msg = (unsigned long)&a, .msg_len = 4097 };
	EXPECT_EQ(-EINVAL, ckpt_args(&a));
	a = (struct cr_checkpoint_args){ .target = self->t.pid, .out_fd = -5, .proof_fd = -1 };
	EXPECT_EQ(-EINVAL, ckpt_args(&a));
	a = (struct cr_checkpoint_args){ .target = self->t.pid, .out_fd = fd, .proof_fd = -2 };
	EXPECT_EQ(-EINVAL, ckpt_args(&a));
	EXPECT_EQ(0, lseek(fd, 0, SEEK_END));
	close(fd);
	ASSERT_EQ(1, write(self->t.ctl, "p", 1));
	EXPECT_EQ(1, next_report(&self->t, 5000));
}

TEST_F(ckpt, stopped_target)
{
	struct cr_checkpoint_args a;
	int fd = image_file(), status;

	self->t = spawn(SLEEPER);
	ASSERT_NE(REPORT_ERROR, progress(&self->t, 100));
	kill(self->t.pid, SIGSTOP);
	ASSERT_EQ(self->t.pid, waitpid(self->t.pid, &status, WUNTRACED));
	EXPECT_EQ(-EBUSY, ckpt(self->t.pid, fd, 0, &a));
	EXPECT_EQ(CR_FAIL_STOPPED, a.fail_reason);
	kill(self->t.pid, SIGCONT);
	EXPECT_TRUE(unharmed(&self->t));
	EXPECT_EQ(0, ckpt(self->t.pid, fd, 0, &a));
	close(fd);
}

/* Runs @fn as uid/gid 1000 in a child; returns its exit status. */
static int as_user(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		if (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000))
			_exit(99);
		/* Changing uid cleared it; a user's own processes are dumpable. */
		prctl(PR_SET_DUMPABLE, 1);
		_exit(fn(arg));
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 98;
}

/* Exits 0 when checkpointing *pid to /dev/null gives the errno in arg[1]. */
static int try_ckpt(void *arg)
{
	int *v = arg;
	int out = open("/dev/null", O_WRONLY);
	char path[64];
	struct cr_checkpoint_args a = { .target = v[0], .out_fd = out, .proof_fd = -1 };

	snprintf(path, sizeof(path), "/proc/%d/mem", v[0]);
	a.proof_fd = open(path, O_RDONLY);
	if (a.proof_fd < 0)
		a.proof_fd = -1;
	if (ckpt_args(&a) != -v[1])
		return 1;
	return v[1] && a.fail_reason != (unsigned int)v[2] ? 2 : 0;
}

/* A user's own process, checkpointed by that user with its mem file. */
static int own_child(void *arg)
{
	struct target t = spawn(IDLE);
	int v[3], r;

	if (next_report(&t, 5000) != 1)
		return 3;
	v[0] = t.pid;
	v[1] = 0;
	r = try_ckpt(v);
	end(&t);
	return r;
}

/* Proof of another process, or a file that is no proof at all. */
static int wrong_proof(void *arg)
{
	pid_t target = *(pid_t *)arg;
	pid_t mine = fork();
	int out = open("/dev/null", O_WRONLY), r = 0;
	char path[64];
	struct cr_checkpoint_args a = { .target = target, .out_fd = out };

	if (mine == 0) {
		pause();
		_exit(0);
	}
	usleep(100 * 1000);
	snprintf(path, sizeof(path), "/proc/%d/mem", mine);
	a.proof_fd = open(path, O_RDONLY);
	if (ckpt_args(&a) != -EPERM || a.fail_reason != CR_FAIL_PROOF)
		r = 1;
	close(a.proof_fd);
	a.proof_fd = open("/proc/self/status", O_RDONLY);
	a.fail_reason = 0;
	if (ckpt_args(&a) != -EINVAL || a.fail_reason != CR_FAIL_PROOF)
		r |= 2;
	kill(mine, SIGKILL);
	waitpid(mine, NULL, 0);
	return r;
}

TEST_F(ckpt, permissions)
{
	int v[3];

	if (chmod("/dev/cr", 0666))
		SKIP(return, "cannot open /dev/cr to other users");
	self->t = spawn(IDLE);
	ASSERT_EQ(1, next_report(&self->t, 5000));
	/* A user may not checkpoint root's process. */
	v[0] = self->t.pid;
	v[1] = EPERM;
	v[2] = CR_FAIL_PERM;
	EXPECT_EQ(0, as_user(try_ckpt, v));
	/* Nor use the mem file of its own process as proof for root's. */
	EXPECT_EQ(0, as_user(wrong_proof, &self->t.pid));
	/* But it may checkpoint its own process. */
	EXPECT_EQ(0, as_user(own_child, NULL));
	/* Root's target noticed nothing. */
	ASSERT_EQ(1, write(self->t.ctl, "p", 1));
	EXPECT_EQ(1, next_report(&self->t, 5000));
}

static void on_alarm(int sig)
{
}

TEST_F_TIMEOUT(ckpt, caller_interrupted, 120)
{
	struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART */
	struct cr_checkpoint_args a;
	int p[2];

	self->t = spawn(RESERVE);
	ASSERT_EQ(1, next_report(&self->t, 20000));
	ASSERT_EQ(0, pipe(p));	/* nobody reads: the write blocks */
	sigaction(SIGALRM, &sa, NULL);
	alarm(1);
	EXPECT_EQ(-EINTR, ckpt(self->t.pid, p[1], 0, &a));
	EXPECT_EQ(CR_FAIL_INTERRUPTED, a.fail_reason);
	alarm(0);
	signal(SIGALRM, SIG_DFL);
	close(p[0]);
	close(p[1]);
	ASSERT_EQ(1, write(self->t.ctl, "p", 1));
	EXPECT_NE(REPORT_ERROR, next_report(&self->t, 5000));
}

struct first {
	pid_t pid;
	int fd;
	long rc;
};

static void *first_ckpt(void *arg)
{
	struct first *f = arg;

	f->rc = ckpt(f->pid, f->fd, 0, NULL);
	return NULL;
}

TEST_F_TIMEOUT(ckpt, two_at_once, 120)
{
	struct collector c = { 0 };
	struct cr_checkpoint_args a;
	struct first f;
	pthread_t t;
	int p[2], null = open("/dev/null", O_WRONLY);

	self->t = spawn(RESERVE);
	ASSERT_EQ(1, next_report(&self->t, 20000));
	ASSERT_EQ(0, pipe(p));
	/* The first checkpoint stalls on a slow reader... */
	c.in = p[0];
	c.out = image_file();
	c.slow_ms = 1500;
	pthread_create(&c.thread, NULL, collect, &c);
	f.pid = self->t.pid;
	f.fd = p[1];
	pthread_create(&t, NULL, first_ckpt, &f);
	usleep(500 * 1000);
	/* ...and a second one of the same process fails at once. */
	EXPECT_EQ(-EBUSY, ckpt(self->t.pid, null, 0, &a));
	EXPECT_EQ(CR_FAIL_BUSY, a.fail_reason);
	pthread_join(t, NULL);
	EXPECT_EQ(0, f.rc);
	close(p[1]);
	pthread_join(c.thread, NULL);
	close(p[0]);
	close(c.out);
	EXPECT_EQ(0, sh("crctl inspect %s > /dev/null", img_path));
	/* Once the first is done, the next one works. */
	EXPECT_EQ(0, ckpt(self->t.pid, null, 0, NULL));
	close(null);
	ASSERT_EQ(1, write(self->t.ctl, "p", 1));
	EXPECT_NE(REPORT_ERROR, next_report(&self->t, 5000));
}

struct held {
	pid_t pid;
	int fd, hold;
	long rc;
	struct cr_checkpoint_args a;
};

static void *held_ckpt(void *arg)
{
	struct held *h = arg;

	h->a = (struct cr_checkpoint_args){ .target = CR_CPID(0, h->pid), .out_fd = h->fd,
					    .proof_fd = -1, .flags = CR_CHECKPOINT_HOLD,
					    .hold_fd = h->hold };
	h->rc = ckpt_args(&h->a);
	return NULL;
}

/* Copies what comes from @from until its end into a new image file: the
 * byte count, or -1. */
static long pipe_to_image(int from)
{
	char buf[65536];
	long total = 0;
	ssize_t n;
	int to = image_file();

	if (to < 0)
		return -1;
	while ((n = read(from, buf, sizeof(buf))) > 0) {
		if (write(to, buf, n) != n) {
			total = -1;
			break;
		}
		total += n;
	}
	close(to);
	return n < 0 ? -1 : total;
}

/*
 * CR_CHECKPOINT_HOLD: once the image is complete the target stays frozen
 * until the decision. A byte other than CR_HOLD_COMMIT, or end of file,
 * thaws it (ECANCELED, CR_FAIL_NOT_COMMITTED) and the image is complete;
 * the commit ends it.
 */
TEST_F_TIMEOUT(ckpt, hold_until_decided, 120)
{
	struct cr_checkpoint_args a;
	struct held h;
	pthread_t t;
	int hp[2], op[2], fd, status;

	self->t = spawn(SLEEPER);
	ASSERT_NE(REPORT_ERROR, progress(&self->t, 200));

	/* Held: frozen once the image is written, until a wrong byte. The
	 * image's reader sees its end while the process is held: the module
	 * has closed out_fd (shared by this thread and the ioctl's). */
	ASSERT_EQ(0, pipe(hp));
	ASSERT_EQ(0, pipe(op));
	h = (struct held){ .pid = self->t.pid, .fd = op[1], .hold = hp[0] };
	pthread_create(&t, NULL, held_ckpt, &h);
	ASSERT_LT(0, pipe_to_image(op[0]));
	close(op[0]);
	drain(&self->t);
	EXPECT_EQ(REPORT_ERROR, next_report(&self->t, 700));
	EXPECT_TRUE(alive(self->t.pid));
	ASSERT_EQ(1, write(hp[1], "x", 1));
	pthread_join(t, NULL);
	EXPECT_EQ(-ECANCELED, h.rc);
	EXPECT_EQ(CR_FAIL_NOT_COMMITTED, h.a.fail_reason);
	EXPECT_TRUE(unharmed(&self->t));
	EXPECT_EQ(0, sh("crctl inspect %s > /dev/null", img_path));
	close(hp[0]);
	close(hp[1]);

	/* End of file: thawed too; out_fd is closed all the same. */
	ASSERT_EQ(0, pipe(hp));
	close(hp[1]);
	fd = image_file();
	a = (struct cr_checkpoint_args){ .target = CR_CPID(0, self->t.pid), .out_fd = fd, .proof_fd = -1,
					 .flags = CR_CHECKPOINT_HOLD, .hold_fd = hp[0] };
	EXPECT_EQ(-ECANCELED, ckpt_args(&a));
	EXPECT_EQ(CR_FAIL_NOT_COMMITTED, a.fail_reason);
	EXPECT_EQ(-1, fcntl(fd, F_GETFD));
	EXPECT_TRUE(unharmed(&self->t));
	EXPECT_EQ(0, sh("crctl inspect %s > /dev/null", img_path));
	close(hp[0]);

	/* Bad combinations change nothing. */
	a = (struct cr_checkpoint_args){ .target = CR_CPID(0, self->t.pid), .out_fd = 1, .proof_fd = -1,
					 .flags = CR_CHECKPOINT_HOLD | CR_CHECKPOINT_KILL, .hold_fd = 0 };
	EXPECT_EQ(-EINVAL, ckpt_args(&a));
	a.flags = CR_CHECKPOINT_HOLD | CR_CHECKPOINT_PARTIAL;
	EXPECT_EQ(-EINVAL, ckpt_args(&a));
	a.flags = CR_CHECKPOINT_HOLD;
	a.hold_fd = -1;
	EXPECT_EQ(-EINVAL, ckpt_args(&a));
	a.flags = 0;
	a.hold_fd = 3;
	EXPECT_EQ(-EINVAL, ckpt_args(&a));
	EXPECT_TRUE(unharmed(&self->t));

	/* The commit: the image is complete and the process ends. */
	ASSERT_EQ(0, pipe(hp));
	ASSERT_EQ(1, write(hp[1], "C", 1));
	fd = image_file();
	a = (struct cr_checkpoint_args){ .target = CR_CPID(0, self->t.pid), .out_fd = fd, .proof_fd = -1,
					 .flags = CR_CHECKPOINT_HOLD, .hold_fd = hp[0] };
	EXPECT_EQ(0, ckpt_args(&a));
	EXPECT_EQ(-1, fcntl(fd, F_GETFD));
	close(hp[0]);
	close(hp[1]);
	ASSERT_EQ(self->t.pid, waitpid(self->t.pid, &status, 0));
	self->t.pid = -1;
	EXPECT_TRUE(WIFSIGNALED(status));
	EXPECT_EQ(0, sh("crctl inspect %s > /dev/null", img_path));
}

/* A thread in vfork() waits killably for its child: it cannot stop. */
TEST_F(ckpt, freeze_timeout)
{
	struct cr_checkpoint_args a = { 0 };
	int fd = image_file();
	pid_t pid;

	self->t = spawn_mode("vfork", -1);
	pid = self->t.pid;
	ASSERT_EQ(1, next_report(&self->t, 20000));
	usleep(300 * 1000);
	/* The vfork child is a child, which a restore does not bring back:
	 * partial images, to reach the freezer. */
	a = (struct cr_checkpoint_args){
		.target = pid, .out_fd = fd, .proof_fd = -1, .freeze_timeout_ms = 300,
		.flags = CR_CHECKPOINT_PARTIAL,
	};
	EXPECT_EQ(-ETIMEDOUT, ckpt_args(&a));
	EXPECT_EQ(CR_FAIL_TIMEOUT, a.fail_reason);
	EXPECT_EQ(0, lseek(fd, 0, SEEK_END));
	/* Once vfork returns, the work queued for it runs, sees the freeze is
	 * over, and the process goes on: it can be checkpointed then. */
	sleep(4);
	EXPECT_TRUE(alive(pid));
	EXPECT_EQ(0, ckpt(pid, fd, CR_CHECKPOINT_PARTIAL, NULL));
	close(fd);
}

TEST_F_TIMEOUT(ckpt, target_killed_during_checkpoint, 120)
{
	struct collector c = { 0 };
	struct cr_checkpoint_args a;
	int p[2];
	long r;

	self->t = spawn(RESERVE);
	ASSERT_EQ(1, next_report(&self->t, 20000));
	ASSERT_EQ(0, pipe(p));
	c.in = p[0];
	c.out = image_file();
	c.slow_ms = 500;
	c.kill_after_pause = self->t.pid;
	pthread_create(&c.thread, NULL, collect, &c);
	r = ckpt(self->t.pid, p[1], 0, &a);
	close(p[1]);
	pthread_join(c.thread, NULL);
	close(p[0]);
	close(c.out);
	EXPECT_EQ(-ESRCH, r);
	EXPECT_EQ(CR_FAIL_NO_PROCESS, a.fail_reason);
	/* No complete image claims otherwise. */
	EXPECT_NE(0, sh("crctl inspect %s > /dev/null 2>&1", img_path));
}

/* A process that execs itself over and over: each checkpoint either works or
 * says the process exec'd; nothing breaks. */
TEST_F_TIMEOUT(ckpt, exec_storm, 300)
{
	const char *script = "/tmp/cr-exec-loop.sh";
	int ok = 0, exec = 0, other = 0;
	FILE *f = fopen(script, "w");
	pid_t pid;

	/* The same pid runs a new program over and over. */
	ASSERT_NE(NULL, f);
	fprintf(f, "exec /bin/sh %s\n", script);
	fclose(f);
	pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", script, NULL);
		_exit(1);
	}
	self->t.pid = pid;
	usleep(200 * 1000);
	for (int i = 0; i < 50; i++) {
		struct cr_checkpoint_args a;
		int fd = open("/dev/null", O_WRONLY);
		long r = ckpt(pid, fd, 0, &a);

		close(fd);
		if (r == 0)
			ok++;
		else if (r == -EAGAIN && a.fail_reason == CR_FAIL_EXEC)
			exec++;
		else
			other++;
	}
	TH_LOG("%d images, %d refused because of an exec, %d other", ok, exec, other);
	EXPECT_EQ(0, other);
	EXPECT_LT(0, ok);
	EXPECT_TRUE(alive(pid));
	unlink(script);
}

static long meminfo(const char *name)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, name, strlen(name)))
			v = strtol(line + strlen(name) + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

TEST_F_TIMEOUT(ckpt, two_hundred_in_a_row, 600)
{
	long slab_warm = 0, slab_end;
	uint64_t last = 0;
	int fd = open("/dev/null", O_WRONLY);

	self->t = spawn(SLEEPER);
	ASSERT_NE(REPORT_ERROR, progress(&self->t, 100));
	for (int i = 0; i < 200; i++) {
		uint64_t v;

		ASSERT_EQ(0, ckpt(self->t.pid, fd, 0, NULL));
		/* Its count goes on, one step at a time, never failing. */
		drain(&self->t);
		v = next_report(&self->t, 5000);
		ASSERT_NE(REPORT_ERROR, v);
		ASSERT_LT(last, v);
		last = v;
		if (i == 19)
			slab_warm = meminfo("Slab");
	}
	slab_end = meminfo("Slab");
	TH_LOG("slab after 20: %ld kB, after 200: %ld kB", slab_warm, slab_end);
	/* A leak of even one 64 KiB buffer per checkpoint would show (kmemleak
	 * also scans at the end of the run). */
	EXPECT_GT(8 * 1024, slab_end - slab_warm);
	EXPECT_NE(REPORT_ERROR, progress(&self->t, 300));
	close(fd);
}

/* --- deputies ------------------------------------------------------------- */

/* The next message on a deputy's link, bounded by 10 s; kind 0 if none. */
static struct cr_deputy_msg deputy_msg(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct cr_deputy_msg m = { 0, 0 };

	if (poll(&p, 1, 10000) != 1 || read(fd, &m, sizeof(m)) != sizeof(m))
		m.kind = 0;
	return m;
}

/* Lines of /proc/@pid/maps that are not the kernel's ([vdso], [vvar]...). */
static int user_maps(pid_t pid)
{
	char path[64], line[512];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strstr(line, " ["))
			n++;
	fclose(f);
	return n;
}

/* Checkpoints @pid held on socket pair @sp (the module's end sp[0]) and
 * decides CR_HOLD_DEPUTY. */
static long leave_deputy(pid_t pid, int sp[2])
{
	struct cr_checkpoint_args a = { .target = CR_CPID(0, pid), .out_fd = image_file(),
					.proof_fd = -1, .flags = CR_CHECKPOINT_HOLD, .hold_fd = sp[0] };

	if (write(sp[1], "D", 1) != 1)
		return -EIO;
	return ckpt_args(&a);
}

/* A sleeper, left as a deputy on a new socket pair (*@t, @sp[1] the
 * holder's end): 0, or -1. */
static int sleeper_deputy(struct target *t, int sp[2])
{
	*t = spawn(SLEEPER);
	if (progress(t, 200) == REPORT_ERROR ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp))
		return -1;
	if (leave_deputy(t->pid, sp)) {
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	close(sp[0]);
	return 0;
}

/* The wait status of @t's process (a deputy's end); the target is gone. */
static int deputy_end(struct target *t)
{
	int status = -1;

	if (waitpid(t->pid, &status, 0) != t->pid)
		status = -1;
	t->pid = -1;
	close(t->rep);
	close(t->ctl);
	t->rep = t->ctl = -1;
	return status;
}

/* Waits (bounded by looks) until @pid has one thread left and no memory:
 * the deputy in place (the ioctl returns as its threads set out). */
static int deputy_in_place(pid_t pid)
{
	for (int i = 0; i < 1000; i++) {
		if (status_field(pid, "Threads") == 1 && user_maps(pid) == 0)
			return 1;
		usleep(10000);
	}
	return 0;
}

/*
 * CR_HOLD_DEPUTY: the process stays this test's child with its pid, one
 * thread and no memory; every signal sent to it (but SIGKILL) comes out of
 * the link instead of acting, and CR_DEPUTY_EXIT ends it with that wait
 * status, which waitpid() gets.
 */
TEST_F_TIMEOUT(ckpt, deputy_stands_in, 120)
{
	const int sigs[] = { SIGTERM, SIGUSR1, SIGCHLD, SIGINT, SIGSTOP, SIGCONT, SIGRTMIN + 2 };
	struct cr_deputy_msg m;
	int sp[2], status;

	self->t = spawn(THREADS8);
	ASSERT_NE(REPORT_ERROR, progress(&self->t, 200));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp));
	ASSERT_EQ(0, leave_deputy(self->t.pid, sp));
	close(sp[0]);
	ASSERT_TRUE(deputy_in_place(self->t.pid));
	drain(&self->t);
	EXPECT_EQ(REPORT_ERROR, next_report(&self->t, 300));
	for (unsigned int i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		ASSERT_EQ(0, kill(self->t.pid, sigs[i]));
		m = deputy_msg(sp[1]);
		EXPECT_EQ(CR_DEPUTY_SIGNAL, m.kind);
		EXPECT_EQ(sigs[i], (int)m.value);
		EXPECT_TRUE(alive(self->t.pid));
	}
	/* A checkpoint of it is refused: nothing is left to save. */
	EXPECT_EQ(-EBUSY, ckpt(self->t.pid, image_file(), 0, NULL));
	/* A message it does not know changes nothing. */
	m = (struct cr_deputy_msg){ 77, 1 };
	ASSERT_EQ(sizeof(m), write(sp[1], &m, sizeof(m)));
	m = (struct cr_deputy_msg){ CR_DEPUTY_EXIT, 0x7f };
	ASSERT_EQ(sizeof(m), write(sp[1], &m, sizeof(m)));
	usleep(100000);
	EXPECT_TRUE(alive(self->t.pid));
	/* The copy's end is the deputy's. */
	m = (struct cr_deputy_msg){ CR_DEPUTY_EXIT, 42 << 8 };
	ASSERT_EQ(sizeof(m), write(sp[1], &m, sizeof(m)));
	ASSERT_EQ(self->t.pid, waitpid(self->t.pid, &status, 0));
	self->t.pid = -1;
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(42, WEXITSTATUS(status));
	close(sp[1]);
}

/*
 * A deputy's other ends: a copy killed by a signal (the wait status says
 * so), SIGKILL sent to the deputy itself (the holder hears CR_DEPUTY_KILLED),
 * its holder closing the link (it ends as if killed); and a hold fd that
 * cannot carry messages (a pipe) leaves the process running.
 */
TEST_F_TIMEOUT(ckpt, deputy_ends, 120)
{
	struct cr_checkpoint_args a;
	struct cr_deputy_msg m;
	int sp[2], hp[2], status;

	self->t = spawn(SLEEPER);
	ASSERT_NE(REPORT_ERROR, progress(&self->t, 200));
	ASSERT_EQ(0, pipe(hp));
	ASSERT_EQ(1, write(hp[1], "D", 1));
	a = (struct cr_checkpoint_args){ .target = CR_CPID(0, self->t.pid), .out_fd = image_file(),
					 .proof_fd = -1, .flags = CR_CHECKPOINT_HOLD, .hold_fd = hp[0] };
	EXPECT_EQ(-EBADF, ckpt_args(&a));
	close(hp[0]);
	close(hp[1]);
	drain(&self->t);
	EXPECT_TRUE(unharmed(&self->t));

	end(&self->t);

	/* The copy killed by a signal: so is the deputy. */
	ASSERT_EQ(0, sleeper_deputy(&self->t, sp));
	m = (struct cr_deputy_msg){ CR_DEPUTY_EXIT, SIGTERM };
	ASSERT_EQ(sizeof(m), write(sp[1], &m, sizeof(m)));
	status = deputy_end(&self->t);
	EXPECT_TRUE(WIFSIGNALED(status));
	EXPECT_EQ(SIGTERM, WTERMSIG(status));
	close(sp[1]);

	/* SIGKILL to the deputy: its holder hears of it. */
	ASSERT_EQ(0, sleeper_deputy(&self->t, sp));
	ASSERT_EQ(0, kill(self->t.pid, SIGKILL));
	m = deputy_msg(sp[1]);
	EXPECT_EQ(CR_DEPUTY_KILLED, m.kind);
	status = deputy_end(&self->t);
	EXPECT_TRUE(WIFSIGNALED(status));
	EXPECT_EQ(SIGKILL, WTERMSIG(status));
	close(sp[1]);

	/* Its holder closes the link: it ends as if killed. */
	ASSERT_EQ(0, sleeper_deputy(&self->t, sp));
	close(sp[1]);
	status = deputy_end(&self->t);
	EXPECT_TRUE(WIFSIGNALED(status));
	EXPECT_EQ(SIGKILL, WTERMSIG(status));
}

TEST_HARNESS_MAIN
