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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/cr.h>
#include <linux/cr_image.h>

#include "cr_harness.h"
#include "cr_util.h"

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
	char *argv[] = { (char *)cr_sibling("cr_target"), "counter", NULL };
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
	ASSERT_EQ(0, checkpoint_kill(pid, self->img));
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

/* Lines in the file at @path. */
static long count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	long n = 0;
	int c;

	while (f && (c = getc(f)) != EOF)
		n += c == '\n';
	if (f)
		fclose(f);
	return n;
}

/*
 * A process whose stdout is a file is restored writing to that file, not to
 * crctl's stdout: `pid=$(crctl restore IMG)` returns (it once waited for the
 * restored process, which held the command substitution's pipe).
 */
TEST(restored_stdout_is_the_images_file)
{
	const char *log = "/tmp/cr-stdio.log", *img = "/tmp/cr-stdio.img", *pidf = "/tmp/cr-stdio.pid";
	long pid, before, after = 0;
	FILE *f;

	ASSERT_EQ(0, sh("%s counter > %s 2>/dev/null < /dev/null & echo $! > %s", cr_sibling("cr_target"),
			log, pidf));
	usleep(300 * 1000);
	f = fopen(pidf, "r");
	ASSERT_NE(NULL, f);
	ASSERT_EQ(1, fscanf(f, "%ld", &pid));
	fclose(f);
	ASSERT_EQ(0, checkpoint_kill(pid, img));
	usleep(100 * 1000);
	/* Bounded: a restore that hangs on to the pipe fails here. */
	ASSERT_EQ(0, sh("pid=$(timeout 120 crctl restore %s) && test -n \"$pid\" && echo $pid > %s",
			img, pidf));
	f = fopen(pidf, "r");
	ASSERT_NE(NULL, f);
	ASSERT_EQ(1, fscanf(f, "%ld", &pid));
	fclose(f);
	/* It counts on in the file it had. */
	before = count_lines(log);
	for (int i = 0; i < 100 && (after = count_lines(log)) <= before + 5; i++)
		usleep(100 * 1000);
	EXPECT_LT(before + 5, after) TH_LOG("no new counts in %s after the restore", log);
	EXPECT_EQ(0, sh("! grep -q BROKEN %s", log));
	EXPECT_EQ(0, kill(pid, 0));
	kill(pid, SIGKILL);
	unlink(log);
	unlink(img);
	unlink(pidf);
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

/* `crctl restore --hold-fd N IMG` with N the read end of a new pipe whose
 * write end (crctl's and the restored process's never) is *hold; crctl's
 * status. */
static int crctl_restore_held(struct __test_metadata *_metadata, FIXTURE_DATA(restore) *self, int *hold)
{
	char fdarg[16];
	char *argv[] = { "crctl", "restore", "--hold-fd", fdarg, self->img, NULL };
	int hp[2], status;
	pid_t crctl;

	if (pipe2(hp, O_CLOEXEC) || fcntl(hp[0], F_SETFD, 0))
		return -1;
	snprintf(fdarg, sizeof(fdarg), "%d", hp[0]);
	crctl = run(argv, -1, &self->out);
	close(hp[0]);
	*hold = hp[1];
	if (crctl < 0 || waitpid(crctl, &status, 0) != crctl)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * CR_RESTORE_HOLD: crctl prints the pid of the rebuilt process and leaves,
 * but the process runs only once it reads the commit: until then no count.
 */
TEST_F(restore, held_until_committed)
{
	char line[64];
	int hold;

	ASSERT_EQ(0, crctl_restore_held(_metadata, self, &hold));
	ASSERT_LT(0, read_line(self->out, line, sizeof(line), 5000));
	self->restored = atoi(line);
	ASSERT_LT(0, self->restored);
	/* Rebuilt, held: it prints nothing. */
	EXPECT_EQ(-1, next_count(self->out, 1000));
	EXPECT_EQ(0, kill(self->restored, 0));
	ASSERT_EQ(1, write(hold, "C", 1));
	close(hold);
	EXPECT_EQ(self->last + 1, next_count(self->out, 5000));
	EXPECT_EQ(self->last + 2, next_count(self->out, 5000));
}

/* A hold that ends without the commit ends the process before it ran: its
 * stdout closes with no count printed. */
TEST_F(restore, held_then_abandoned)
{
	struct pollfd p = { .fd = self->out, .events = POLLIN };
	char line[64];
	int hold;

	ASSERT_EQ(0, crctl_restore_held(_metadata, self, &hold));
	ASSERT_LT(0, read_line(self->out, line, sizeof(line), 5000));
	ASSERT_LT(0, atoi(line));
	p.fd = self->out;
	close(hold);
	/* The end of the pipe, with nothing in it: the process never wrote. */
	ASSERT_EQ(1, poll(&p, 1, 10000));
	EXPECT_EQ(0, read(self->out, line, sizeof(line)));
}

/* Runs `crctl restore ARGS... IMG` with stdout (crctl's and the restored
 * process's) to a new pipe, *out; crctl's exit status. */
static int crctl_restore_with(const char *img, const char *a1, const char *a2, int *out)
{
	char *argv[] = { "crctl", "restore", (char *)a1, (char *)a2, (char *)img, NULL };
	int status;
	pid_t c;

	if (!a2)
		argv[3] = (char *)img, argv[4] = NULL;
	c = run(argv, -1, out);
	if (c < 0 || waitpid(c, &status, 0) != c)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The first line of @fd that is a number (crctl's pid line), or -1. */
static long pid_line(int fd)
{
	char line[128];

	for (int i = 0; i < 50; i++) {
		if (read_line(fd, line, sizeof(line), 5000) < 0)
			return -1;
		if (line[0] >= '1' && line[0] <= '9' && !strchr(line, ' '))
			return atol(line);
	}
	return -1;
}

/*
 * PIDs: the first restore gets the image's pid; a second, while it runs,
 * fails with a message naming the way out; --pid any takes another pid;
 * --pid ns gets the image's pid inside a new pid namespace. Each of the
 * three restored processes counts on.
 */
TEST_F(restore, pid_choices)
{
	int out1 = -1, out2 = -1, out3 = -1, out4 = -1;
	long first, any, ns;
	char path[64], status[4096], *nspid;
	int fd, n;

	/* The image's pid (the checkpointed process was reaped). */
	ASSERT_EQ(0, crctl_restore_with(self->img, "--pid", "original", &out1));
	first = pid_line(out1);
	self->restored = first;
	ASSERT_LT(0, first);
	EXPECT_LE(0, next_count(out1, 5000));

	/* Again, while that one runs: the pid is taken. */
	EXPECT_NE(0, crctl_restore_with(self->img, "--pid", "original", &out2));
	EXPECT_EQ(0, sh("crctl restore --pid original %s 2>&1 | grep -q 'is in use: restore with --pid any, or --pid ns'", self->img));

	/* Any pid. */
	ASSERT_EQ(0, crctl_restore_with(self->img, "--pid", "any", &out3));
	any = pid_line(out3);
	ASSERT_LT(0, any);
	EXPECT_NE(first, any);
	EXPECT_LE(0, next_count(out3, 5000));

	/* A new pid namespace: outside it another pid, inside the image's. */
	ASSERT_EQ(0, crctl_restore_with(self->img, "--pid", "ns", &out4));
	ns = pid_line(out4);
	ASSERT_LT(0, ns);
	EXPECT_LE(0, next_count(out4, 5000));
	snprintf(path, sizeof(path), "/proc/%ld/status", ns);
	fd = open(path, O_RDONLY);
	ASSERT_LE(0, fd);
	n = read(fd, status, sizeof(status) - 1);
	close(fd);
	ASSERT_LT(0, n);
	status[n] = 0;
	nspid = strstr(status, "NSpid:");
	ASSERT_NE(NULL, nspid);
	TH_LOG("image pid %ld; restored as %ld, again as %ld (--pid any) and %s", first, first, any,
	       strtok(nspid, "\n"));
	EXPECT_EQ(ns, strtol(nspid + 6, &nspid, 10));
	EXPECT_EQ(first, strtol(nspid, NULL, 10));

	kill(any, SIGKILL);
	kill(ns, SIGKILL);
	close(out1);
	close(out2);
	close(out3);
	close(out4);
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
 * Flips a bit in the page data of the image's first (@last: last) PAGES
 * record, found by walking the records. Returns the record's offset.
 */
static long damage_pages(const char *img, int last)
{
	int fd = open(img, O_RDWR);
	long off = 8, found = -1;
	struct cr_record r;
	unsigned char b;

	if (fd < 0)
		return -1;
	while (pread(fd, &r, sizeof(r), off) == sizeof(r) && r.type != CR_REC_TRAILER) {
		if (r.type == CR_REC_PAGES && (found < 0 || last))
			found = off;
		off += sizeof(r) + r.size;
	}
	/* Past the record's header and its head (address, count). */
	off = found + sizeof(r) + 16 + 100;
	if (found < 0 || pread(fd, &b, 1, off) != 1) {
		close(fd);
		return -1;
	}
	b ^= 0x10;
	if (pwrite(fd, &b, 1, off) != 1)
		found = -1;
	close(fd);
	return found;
}

/*
 * A damaged page is found whether records follow it or not (the restore
 * checks a record's pages on another CPU while it reads the next one), and
 * the restore ends the same way: the damaged record named (by the kernel's
 * check: crctl does not read page data), no process left.
 */
TEST_F(restore, damaged_pages_refused)
{
	ASSERT_EQ(0, sh("cp %s %s.orig", self->img, self->img));
	for (int last = 0; last <= 1; last++) {
		long at;

		ASSERT_EQ(0, sh("cp %s.orig %s", self->img, self->img));
		at = damage_pages(self->img, last);
		ASSERT_LT(0, at);
		EXPECT_NE(0, sh("crctl restore %s > /tmp/cr-restore.out 2>&1", self->img));
		/* The damaged record is the one named (the kernel's check). */
		EXPECT_EQ(0, sh("grep -q 'image is not valid at byte %ld: Bad message' /tmp/cr-restore.out",
				at));
		EXPECT_EQ(0, sh("grep -q 'half-restored process was ended' /tmp/cr-restore.out"));
		/* No restored counter anywhere. */
		EXPECT_NE(0, sh("pidof cr_target > /dev/null"));
	}
	/* The undamaged image restores. */
	ASSERT_EQ(0, sh("cp %s.orig %s && rm %s.orig", self->img, self->img, self->img));
	EXPECT_EQ(0, crctl_restore(_metadata, self, -1));
	EXPECT_LT(0, self->restored);
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
				.in_fd = in, .status_fd = -1, .dev_fd = -1,
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
		snprintf(cmd, sizeof(cmd), "crctl restore --pid any %s > /tmp/cr-user.out 2>&1", self->img);
		_exit(WEXITSTATUS(system(cmd)) == 0 ? 1 : 0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(0, sh("grep -q CAP_CHECKPOINT_RESTORE /tmp/cr-user.out"));
}

/*
 * A few thousand mutated images go through the kernel's restore. Most
 * mutations are resealed (each damaged record's check recomputed), so they
 * reach the field rules rather than stop at a check. Each runs in a child:
 * refused (the usual result), killed past the point of no return, or
 * restored into something that then crashes or is killed here after a
 * moment. Whatever happens, the guest kernel must log nothing (the VM run
 * fails on any oops, WARN, KASAN, lockdep or kmemleak report).
 */
TEST_F_TIMEOUT(restore, mutated_images_never_hurt_the_kernel, 900)
{
	/* 2500 by default; make check asks the slower debug guest for fewer. */
	const int TRIALS = getenv("CR_MUTATIONS") ? atoi(getenv("CR_MUTATIONS")) : 2500;
	int outcome[5] = { 0 }, reasons[41] = { 0 };
	struct cr_img img;
	unsigned char *m;
	char line[512] = "";
	unsigned int seed = 12345;
	int ran = 0;

	ASSERT_EQ(0, cr_img_load(&img, self->img));
	m = malloc(img.meta);
	ASSERT_NE(NULL, m);

	for (int t = 0; t < TRIALS; t++) {
		size_t len = img.meta, at = img.recs[rand_r(&seed) % img.nrec];
		struct cr_raw_result res;
		struct cr_record r;
		int kind = rand_r(&seed) % 10, status, must_refuse = 0;

		memcpy(m, img.buf, img.meta);
		memcpy(&r, m + at, sizeof(r));
		if (kind < 5 && r.size) {
			/* 1-4 flipped bits in one record's payload, resealed. */
			for (int b = 1 + rand_r(&seed) % 4; b; b--) {
				size_t off = at + 16 + rand_r(&seed) % r.size;

				m[off] ^= 1 << (rand_r(&seed) % 8);
			}
			reseal(m, len, at);
		} else if (kind == 5 && r.size >= 8) {
			/* A field set to an edge value, resealed. */
			static const uint64_t edge[] = { 0, 1, ~0ULL, 0x7fffffff, 0x80000000,
							 1ULL << 47, (1ULL << 47) - 4096, 0xffff800000000000ULL,
							 1ULL << 50, (1ULL << 56) - 4096, 0xffff888000000000ULL,
							 1ULL << 20, 1ULL << 26 };
			size_t off = at + 16 + (rand_r(&seed) % (r.size / 4)) * 4;
			uint64_t v = edge[rand_r(&seed) % (sizeof(edge) / sizeof(edge[0]))];

			memcpy(m + off, &v, off + 8 <= at + 16 + r.size ? 8 : 4);
			reseal(m, len, at);
		} else if (kind == 6) {
			/* A record's size changed (not resealed). */
			r.size ^= 1u << (rand_r(&seed) % 20);
			memcpy(m + at, &r, sizeof(r));
		} else if (kind == 7) {
			/* A user pointer of a thread (sigaltstack, clear_child_tid,
			 * robust list, rseq) or an auxv key set to a kernel address or
			 * AT_NULL, resealed: what hostile images were made of. */
			static const size_t field[] = {
				offsetof(struct cr_thread, sas_sp), offsetof(struct cr_thread, sas_size),
				offsetof(struct cr_thread, clear_child_tid),
				offsetof(struct cr_thread, robust_list), offsetof(struct cr_thread, rseq),
			};
			size_t th = cr_img_find(&img, CR_REC_THREAD, 0), mm = cr_img_find(&img, CR_REC_MM, 0);
			uint64_t v = rand_r(&seed) % 2 ? 0xffff888000000000ULL : (1ULL << 56) - 8;
			struct cr_mm mv;

			memcpy(&mv, m + mm + 16, sizeof(mv));
			if (rand_r(&seed) % 3 == 0 && mv.auxv_words >= 2) {
				unsigned int last = mv.auxv_words / 2 - 1, k = rand_r(&seed) % (last + 1);

				at = mm;
				v = rand_r(&seed) % 2 ? 6 : 0;	/* AT_PAGESZ or AT_NULL */
				memcpy(m + mm + 16 + sizeof(mv) + 16 * k, &v, 8);
				/* Only an auxv left without its one final AT_NULL is bad. */
				must_refuse = (v == 0) != (k == last);
			} else {
				at = th;
				memcpy(m + th + 16 + field[rand_r(&seed) % 5], &v, 8);
				must_refuse = 1;
			}
			reseal(m, len, at);
		} else {
			/* Cut short. */
			len = 8 + rand_r(&seed) % (img.meta - 8);
		}

		ASSERT_EQ(0, cr_raw_restore(&img, self->img, m, len, &res));
		/* Give a restored process a moment, then end it. */
		for (int i = 0; i < 200; i++) {
			if (waitpid(res.pid, &status, WNOHANG) == res.pid)
				break;
			usleep(i < 20 ? 1000 : 10000);
			if (i == 199) {
				kill(res.pid, SIGKILL);
				waitpid(res.pid, &status, 0);
				ran++;
			}
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == 4)
			ASSERT_TRUE(0) TH_LOG("could not move the vdso where the image has it");
		if (WIFEXITED(status) && WEXITSTATUS(status) >= 10 && WEXITSTATUS(status) <= 50) {
			outcome[0]++;		/* refused */
			reasons[WEXITSTATUS(status) - 10]++;
			/* A thread's pointers are checked before anything changes. */
			if (must_refuse)
				EXPECT_EQ(CR_FAIL_IMAGE, res.args.fail_reason);
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			outcome[3]++;		/* the restored counter exited */
		else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
			outcome[1]++;		/* killed: past the point of no return, or by us */
		else if (WIFSIGNALED(status))
			outcome[2]++;		/* restored, then crashed */
		else if (WIFEXITED(status))
			outcome[3]++;		/* restored, then exited (or EFAULT: 3) */
		else
			outcome[4]++;
		/* (A resealed record that is valid fails the trailer's chain: late.) */
		if (must_refuse)
			EXPECT_TRUE(res.refused)
				TH_LOG("a bad pointer or auxv got past the point of no return: record at "
				       "%zu, error %d, reason %u, offset %llu", at, res.status.error,
				       res.status.reason, (unsigned long long)res.status.offset);
	}
	TH_LOG("%d mutated images: %d refused, %d killed (%d of them restored and still running "
	       "after 2 s), %d restored and crashed, %d exited",
	       TRIALS, outcome[0], outcome[1], ran, outcome[2], outcome[3]);
	for (int i = 0; i < 41; i++)
		if (reasons[i])
			snprintf(line + strlen(line), sizeof(line) - strlen(line), " %d:%d", i, reasons[i]);
	TH_LOG("refusals by fail_reason (reason:count):%s", line);
	EXPECT_EQ(TRIALS, outcome[0] + outcome[1] + outcome[2] + outcome[3]);
	/* Most are refused by the kernel's checks, resealed or not. */
	EXPECT_LT(TRIALS / 2, outcome[0]);
	EXPECT_LT(0, outcome[1]);	/* and some got past the point of no return */
	free(m);
	free(img.buf);
}

TEST_HARNESS_MAIN
