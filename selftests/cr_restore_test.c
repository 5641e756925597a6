// SPDX-License-Identifier: GPL-2.0
/*
 * CR_IOC_RESTORE through `crctl restore`: a process checkpointed with --kill
 * comes back and continues where it was; bad images are refused before
 * anything is changed (or, past the point of no return, the half-restored
 * process is ended and the failure reported); nothing is left behind.
 *
 * The target is `cr_target counter`, which prints "count N" on stdout (a
 * restore keeps the caller's stdio) and checks its memory and TLS each time.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/cr.h>

#include "kselftest_harness.h"

static const char *target_exe(void)
{
	static char path[4096];
	ssize_t n;

	if (!path[0]) {
		n = readlink("/proc/self/exe", path, sizeof(path) - 32);
		if (n < 0)
			return "cr_target";
		path[n] = 0;
		strcpy(strrchr(path, '/') + 1, "cr_target");
	}
	return path;
}

/* Runs @argv with stdout into a pipe (and stdin from @in, or /dev/null);
 * returns the pid and the read end in *out. */
static pid_t run(char *const argv[], int in, int *out)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		dup2(in >= 0 ? in : null, 0);
		dup2(p[1], 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	*out = p[0];
	return pid;
}

/* Reads one line from @fd within @ms; returns its length or -1. */
static int read_line(int fd, char *buf, int size, int ms)
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

/* The next "count N" line's N (skipping others), or -1. */
static long next_count(int fd, int ms)
{
	char line[128];

	while (read_line(fd, line, sizeof(line), ms) >= 0) {
		if (!strncmp(line, "BROKEN", 6))
			return -2;
		if (!strncmp(line, "count ", 6))
			return atol(line + 6);
	}
	return -1;
}

static long ckpt_kill(pid_t pid, const char *path)
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

static int sh(const char *fmt, ...)
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

FIXTURE(restore) {
	char img[64];
	pid_t restored;
	int out;
	long last;
	long first;	/* the restored process's first count, if read early */
};

/* Runs a counter, checkpoints it with --kill after a few counts. */
FIXTURE_SETUP(restore)
{
	char *argv[] = { (char *)target_exe(), "counter", NULL };
	int out, status;
	pid_t pid;

	self->restored = -1;
	self->out = -1;
	self->first = -1;
	snprintf(self->img, sizeof(self->img), "/tmp/cr-restore-%d.img", getpid());
	pid = run(argv, -1, &out);
	ASSERT_LT(0, pid);
	for (int i = 0; i < 5; i++)
		self->last = next_count(out, 5000);
	ASSERT_LE(4, self->last);
	ASSERT_EQ(0, ckpt_kill(pid, self->img));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status));
	/* The counts it printed before it was ended. */
	for (long n; (n = next_count(out, 200)) >= 0;)
		self->last = n;
	close(out);
}

FIXTURE_TEARDOWN(restore)
{
	if (self->restored > 0)
		kill(self->restored, SIGKILL);
	if (self->out >= 0)
		close(self->out);
	unlink(self->img);
}

/* Restores the image with crctl (reading it from @from, or its path); the
 * restored process's stdout goes to self->out. Returns crctl's status. */
static int crctl_restore(struct __test_metadata *_metadata, FIXTURE_DATA(restore) *self, int from)
{
	char *file_argv[] = { "crctl", "restore", self->img, NULL };
	char *pipe_argv[] = { "crctl", "restore", "-", NULL };
	char line[64];
	int status;
	pid_t crctl = run(from >= 0 ? pipe_argv : file_argv, from, &self->out);

	if (crctl < 0)
		return -1;
	waitpid(crctl, &status, 0);
	/* crctl prints the restored pid first... unless the process's own output
	 * wins the race to the shared pipe: find the line that is a number. */
	for (int i = 0; i < 20 && self->restored <= 0; i++) {
		if (read_line(self->out, line, sizeof(line), 3000) < 0)
			break;
		if (line[0] >= '1' && line[0] <= '9' && !strchr(line, ' '))
			self->restored = atoi(line);
		else if (!strncmp(line, "count ", 6) && self->first < 0)
			self->first = atol(line + 6);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(restore, counter_continues)
{
	long n;

	ASSERT_EQ(0, crctl_restore(_metadata, self, -1));
	ASSERT_LT(0, self->restored);
	/* It goes on from where it stopped: the next count, then more, with its
	 * memory pattern and TLS intact (else it prints BROKEN). */
	n = self->first >= 0 ? self->first : next_count(self->out, 5000);
	TH_LOG("stopped at count %ld, restored process %d went on at %ld", self->last,
	       self->restored, n);
	EXPECT_EQ(self->last + 1, n);
	for (int i = 0; i < 10; i++) {
		long m = next_count(self->out, 5000);

		ASSERT_EQ(n + 1, m);
		n = m;
	}
	EXPECT_EQ(0, kill(self->restored, 0));
}

TEST_F(restore, from_a_pipe)
{
	int img = open(self->img, O_RDONLY), p[2];
	char buf[65536];
	ssize_t k;
	pid_t feeder;

	ASSERT_LE(0, img);
	ASSERT_EQ(0, pipe(p));
	feeder = fork();
	if (feeder == 0) {
		close(p[0]);
		while ((k = read(img, buf, sizeof(buf))) > 0)
			if (write(p[1], buf, k) != k)
				_exit(1);
		_exit(0);
	}
	close(p[1]);
	close(img);
	ASSERT_EQ(0, crctl_restore(_metadata, self, p[0]));
	close(p[0]);
	waitpid(feeder, NULL, 0);
	ASSERT_LT(0, self->restored);
	EXPECT_EQ(self->last + 1, self->first >= 0 ? self->first : next_count(self->out, 5000));
}

/* Damaged metadata is refused before the point of no return: crctl fails,
 * says why, and no process is left. */
TEST_F(restore, damaged_image_refused)
{
	struct stat st;
	int fd = open(self->img, O_RDWR);
	unsigned char b;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fstat(fd, &st));
	/* A bit in the first record's payload (the header). */
	ASSERT_EQ(1, pread(fd, &b, 1, 8 + 16 + 4));
	b ^= 1;
	ASSERT_EQ(1, pwrite(fd, &b, 1, 8 + 16 + 4));
	close(fd);
	EXPECT_NE(0, sh("crctl restore %s > /tmp/cr-restore.out 2>&1", self->img));
	EXPECT_EQ(0, sh("grep -q 'image is damaged' /tmp/cr-restore.out"));
	/* No restored counter anywhere. */
	EXPECT_NE(0, sh("pidof cr_target > /dev/null"));
}

/*
 * The kernel checks images itself (crctl's checks are a convenience): a
 * process that calls CR_IOC_RESTORE with damaged, truncated or oversized
 * metadata gets an errno and goes on unchanged.
 */
TEST_F(restore, kernel_refuses_bad_metadata_before_changing_anything)
{
	unsigned char *meta;
	struct stat st;
	size_t len = 0;
	int fd = open(self->img, O_RDONLY);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fstat(fd, &st));
	meta = malloc(st.st_size);
	ASSERT_EQ(st.st_size, read(fd, meta, st.st_size));
	/* The metadata: up to and including the first PAGES record's header. */
	for (size_t pos = 8; pos + 16 <= (size_t)st.st_size;) {
		struct cr_record r;

		memcpy(&r, meta + pos, sizeof(r));
		if (r.type == CR_REC_PAGES) {
			len = pos + 16;
			break;
		}
		pos += 16 + r.size;
	}
	ASSERT_LT(0, len);

	struct { const char *what; size_t off; unsigned char flip; size_t len; int err; } cases[] = {
		{ "a flipped bit in the header record", 8 + 16 + 4, 1, len, EBADMSG },
		{ "a record 64 bytes longer", 8 + 8, 0x40, len, EBADMSG },
		{ "a record 256 MiB longer", 8 + 8 + 3, 0x10, len, EINVAL },
		{ "bad magic", 0, 0xff, len, ENOEXEC },
		{ "metadata cut short", 0, 0, len - 100, EINVAL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pid_t pid = fork();
		int status;

		if (pid == 0) {
			unsigned char *m = malloc(len);
			int dev = open("/dev/cr", O_RDWR), in = open(self->img, O_RDONLY);
			struct cr_restore_args a = {
				.meta = (unsigned long)m, .meta_len = cases[i].len,
				.in_fd = in, .status_fd = -1,
			};

			memcpy(m, meta, len);
			m[cases[i].off] ^= cases[i].flip;
			lseek(in, len, SEEK_SET);
			if (ioctl(dev, CR_IOC_RESTORE, &a) == 0)
				_exit(10);
			/* Still here, with our own memory: nothing was changed. */
			if (errno != cases[i].err)
				_exit(11);
			if (a.fail_reason != CR_FAIL_IMAGE)
				_exit(12);
			_exit(m[0] == meta[0] || cases[i].flip ? 0 : 13);
		}
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		TH_LOG("%s: %s", cases[i].what,
		       WIFEXITED(status) ? (WEXITSTATUS(status) ? "wrong answer" : "refused") : "killed");
		EXPECT_TRUE(WIFEXITED(status));
		EXPECT_EQ(0, WEXITSTATUS(status));
	}
	free(meta);
	close(fd);
}

/* Cut inside the pages: past the point of no return, so the process is ended
 * and crctl reports the failure. */
TEST_F(restore, truncated_image_ends_the_process)
{
	struct stat st;

	ASSERT_EQ(0, stat(self->img, &st));
	ASSERT_EQ(0, truncate(self->img, st.st_size - 5000));
	EXPECT_NE(0, sh("crctl restore %s > /tmp/cr-restore.out 2>&1", self->img));
	EXPECT_EQ(0, sh("grep -q 'was ended' /tmp/cr-restore.out"));
	EXPECT_NE(0, sh("pidof cr_target > /dev/null"));
}

/* An image of root's process, restored by another user: refused. */
TEST_F(restore, other_users_image_needs_capability)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		char cmd[256];

		chmod(self->img, 0644);
		if (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000))
			_exit(99);
		snprintf(cmd, sizeof(cmd), "crctl restore %s > /tmp/cr-user.out 2>&1", self->img);
		_exit(WEXITSTATUS(system(cmd)) == 0 ? 1 : 0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(0, sh("grep -q CAP_CHECKPOINT_RESTORE /tmp/cr-user.out"));
}

TEST_HARNESS_MAIN
