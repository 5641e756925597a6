// SPDX-License-Identifier: GPL-2.0
/*
 * cr against a hostile user (Documentation/security.rst): each case is a hole
 * that was found open, and fails if it opens again.
 *
 * - ptrace's rules hold inside a user namespace: a user who is root in a
 *   namespace of their own cannot checkpoint (and so read) a process the
 *   kernel's ptrace check keeps from them: an unreadable binary started in
 *   their namespace, a non-dumpable root process that joined it.
 * - A SIGKILL during a restore ends the process (it once made it unkillable).
 * - An image's auxv must end with AT_NULL (else /proc/PID/auxv read kernel
 *   memory), and every user pointer of a thread is checked before the point
 *   of no return.
 * - What a restore copies in is bounded (64 MiB, E2BIG past it) and charged
 *   to the caller's memory cgroup, not to everybody's memory.
 * - --kill of a process SIGKILL cannot end is refused before anything.
 * - crctl never writes into, truncates or deletes a file it did not create.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/cr.h>
#include <linux/cr_image.h>

#include "cr_harness.h"
#include "cr_util.h"

#define USER 1000

/* Every case here gets a timeout sized for a loaded 2-core machine under TCG
 * (the harness's default is 30 s): plain TEST() has none of its own. */
FIXTURE(sec) {};
FIXTURE_SETUP(sec) {}
FIXTURE_TEARDOWN(sec) {}

/* Writes @s to @path; 0 or -1. */
static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t n = fd < 0 ? -1 : write(fd, s, strlen(s));

	if (fd >= 0)
		close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* Reads a number from @path (the first one in it), or -1. */
static long long read_num(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	return n > 0 ? atoll(buf) : -1;
}

/* Becomes uid/gid USER, then root of a new user namespace mapped to it. */
static int become_user_in_userns(void)
{
	char map[64];

	if (setresgid(USER, USER, USER) || setresuid(USER, USER, USER))
		return -1;
	/* Changing uid cleared it (and made /proc/self root's); a user's own
	 * processes are dumpable. */
	prctl(PR_SET_DUMPABLE, 1);
	if (unshare(CLONE_NEWUSER))
		return -1;
	snprintf(map, sizeof(map), "0 %d 1", USER);
	if (write_file("/proc/self/setgroups", "deny") || write_file("/proc/self/uid_map", map))
		return -1;
	return write_file("/proc/self/gid_map", map);
}

/* Starts @path with @mode and @arg ("hold 1": prints "ready", sleeps). */
static pid_t start_hold(const char *path, const char *mb)
{
	int p[2];
	char line[64];
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		/* Nothing of the harness's: a restore takes only fds 0-2 over. */
		syscall(SYS_close_range, 3, ~0U, 0);
		execl(path, path, "hold", mb, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	if (read_line(p[0], line, sizeof(line), 60000) < 0 || strcmp(line, "ready")) {
		kill(pid, SIGKILL);
		pid = -1;
	}
	close(p[0]);
	return pid;
}

/* A checkpoint of @pid to /dev/null with no proof; 0 or -errno, *reason. */
static long ckpt_noproof(pid_t pid, unsigned int flags, unsigned int *reason)
{
	int dev = open("/dev/cr", O_RDWR), out = open("/dev/null", O_WRONLY);
	struct cr_checkpoint_args a = {
		.target = CR_CPID(0, pid), .out_fd = out, .proof_fd = -1, .flags = flags,
	};
	long r = ioctl(dev, CR_IOC_CHECKPOINT, &a) ? -errno : 0;

	*reason = a.fail_reason;
	close(dev);
	close(out);
	return r;
}

/* Whether this process may open /proc/@pid/mem (the kernel's ptrace check). */
static int may_open_mem(pid_t pid)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY);
	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

static int exit_code(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/*
 * A root-owned binary the user may run but not read, started by the user
 * inside their own user namespace: ptrace refuses them (its mm belongs to
 * the initial namespace and it is not dumpable), and so must cr, where the
 * user holds every capability of their namespace.
 */
TEST_F_TIMEOUT(sec, userns_unreadable_binary, 300)
{
	const char *secret = "/tmp/cr-sec-secret";
	int status;
	pid_t pid;

	ASSERT_EQ(0, sh("cp %s %s && chown 0:0 %s && chmod 0711 %s", cr_sibling("cr_target"),
			secret, secret, secret));
	pid = fork();
	if (pid == 0) {
		unsigned int reason = 0;
		pid_t target;
		long r;

		if (become_user_in_userns())
			_exit(20);
		target = start_hold(secret, "1");
		if (target < 0)
			_exit(21);
		if (may_open_mem(target))
			_exit(22);	/* the kernel's own check would let us: no test */
		r = ckpt_noproof(target, 0, &reason);
		kill(target, SIGKILL);
		if (r != -EPERM || reason != CR_FAIL_PERM)
			_exit(23);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, exit_code(status)) TH_LOG("20-21: setup failed, 22: /proc/PID/mem opened, "
					       "23: the checkpoint was allowed");
	unlink(secret);
}

/*
 * A root process that made itself non-dumpable and joined the user's user
 * namespace (as container runtime helpers do): its credentials live in the
 * user's namespace, its mm in the initial one. The user may not checkpoint
 * it. The user's own process in that namespace (a readable binary, run
 * there) may be checkpointed with no proof: the capability is theirs.
 */
TEST_F_TIMEOUT(sec, userns_nondumpable_root_and_own_child, 300)
{
	int ready[2], go[2], status;
	pid_t user, root;
	char path[64];

	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(go));
	user = fork();
	if (user == 0) {
		unsigned int reason = 0;
		pid_t victim, own;
		long r;

		close(ready[0]);
		close(go[1]);
		if (become_user_in_userns())
			_exit(20);
		if (write(ready[1], "u", 1) != 1 || read(go[0], &victim, sizeof(victim)) != sizeof(victim))
			_exit(21);
		if (may_open_mem(victim))
			_exit(22);
		r = ckpt_noproof(victim, 0, &reason);
		if (r != -EPERM || reason != CR_FAIL_PERM)
			_exit(23);
		/* The control: a dumpable process of the user's own namespace. */
		own = start_hold(cr_sibling("cr_target"), "1");
		if (own < 0)
			_exit(24);
		r = ckpt_noproof(own, 0, &reason);
		kill(own, SIGKILL);
		_exit(r == 0 ? 0 : 25);
	}
	close(ready[1]);
	close(go[0]);
	ASSERT_EQ(1, read(ready[0], path, 1));
	root = fork();
	if (root == 0) {
		int ns;

		snprintf(path, sizeof(path), "/proc/%d/ns/user", user);
		ns = open(path, O_RDONLY);
		if (prctl(PR_SET_DUMPABLE, 0) || ns < 0 || setns(ns, CLONE_NEWUSER))
			_exit(30);
		pause();
		_exit(0);
	}
	usleep(100 * 1000);
	ASSERT_EQ((ssize_t)sizeof(root), write(go[1], &root, sizeof(root)));
	ASSERT_EQ(user, waitpid(user, &status, 0));
	EXPECT_EQ(0, exit_code(status)) TH_LOG("20-21: setup failed, 22: /proc/PID/mem opened, "
					       "23: the checkpoint was allowed, 24-25: the user's "
					       "own process could not be checkpointed");
	/* The root process is still running, unharmed. */
	EXPECT_EQ(0, waitpid(root, &status, WNOHANG));
	kill(root, SIGKILL);
	waitpid(root, &status, 0);
	close(ready[0]);
	close(go[1]);
}

/* Whether /proc/@pid/maps names @what (0 also when it cannot be read). */
static int maps_name(pid_t pid, const char *what)
{
	char path[64], line[512];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, what))
			found = 1;
	fclose(f);
	return found;
}

/* @pid's resident memory in KiB, or -1. */
static long rss_kib(pid_t pid)
{
	char path[64], line[128];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kib = atol(line + 6);
	if (f)
		fclose(f);
	return kib;
}

/* Waits up to @ms for @pid to end: reaped here (a child, by the subreaper
 * rule: *@status is set) or by its parent (-1: it is gone, status unknown). */
static int wait_end(pid_t pid, int ms, int *status)
{
	for (int i = 0; i < ms; i += 10) {
		if (waitpid(pid, status, WNOHANG) == pid)
			return 1;
		if (kill(pid, 0) && errno == ESRCH)
			return -1;
		usleep(10 * 1000);
	}
	return 0;
}

/*
 * SIGKILL past the restore's point of no return ends the process: the
 * restore must not drop it (the process once became immune to every signal).
 * The kill lands while the pages of a 64 MiB writable area stream in from a
 * tmpfs file: neither the reads nor the copies into fresh pages notice it,
 * so the restore runs on to the point where it drops its caller's signals.
 */
TEST_F_TIMEOUT(sec, sigkill_during_restore, 600)
{
	const char *img = "/tmp/cr-sec-kill.img";
	int status, sent = 0, ended;

	prctl(PR_SET_CHILD_SUBREAPER, 1);
	for (int attempt = 0; attempt < 4 && !sent; attempt++) {
		pid_t pid = start_hold(cr_sibling("cr_target"), "64"), crctl;
		int seen = 0, crctl_status = 0;

		ASSERT_LT(0, pid);
		ASSERT_EQ(0, checkpoint_kill(pid, img));
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		crctl = fork();
		if (crctl == 0) {
			int null = open("/dev/null", O_RDWR);

			dup2(null, 0);
			dup2(null, 1);
			execlp("crctl", "crctl", "restore", "--stdio", "inherit", img, (char *)NULL);
			_exit(127);
		}
		/* The restored process gets the original pid: watch its memory
		 * change from crctl's to the image's and fill up, then kill it.
		 * Bounded by crctl ending (a slow guest only widens the window). */
		for (;;) {
			int crctl_mapped = maps_name(pid, "crctl");

			if (crctl_mapped == 1)
				seen = 1;
			if (seen && crctl_mapped == 0 && maps_name(pid, "cr_target") == 1 &&
			    rss_kib(pid) > 16 * 1024) {
				kill(pid, SIGKILL);
				sent = 1;
				break;
			}
			if (waitpid(crctl, &crctl_status, WNOHANG) == crctl) {
				crctl = -1;
				break;
			}
		}
		if (crctl > 0)
			ASSERT_EQ(crctl, waitpid(crctl, &crctl_status, 0));
		if (!sent) {
			/* The restore was over before the window: again. */
			kill(pid, SIGKILL);
			wait_end(pid, 60000, &status);
			continue;
		}
		/* The restore reports the kill, and the process ends. */
		EXPECT_TRUE(WIFEXITED(crctl_status) && WEXITSTATUS(crctl_status) != 0)
			TH_LOG("crctl says the restore worked: the SIGKILL was dropped");
		ended = wait_end(pid, 60000, &status);
		EXPECT_NE(0, ended) TH_LOG("the process %d survived SIGKILL sent during its restore", pid);
		if (ended == 1)
			EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		if (ended == 0) {
			/* Root's SIGKILL cannot end it either: that was the bug. */
			kill(pid, SIGKILL);
			EXPECT_NE(0, wait_end(pid, 10000, &status)) TH_LOG("unkillable");
		}
	}
	EXPECT_TRUE(sent) TH_LOG("no restore lasted long enough to be killed in 4 attempts");
	unlink(img);
}

/* A checkpoint of `cr_target hold 1` (ended), read into @img. */
static int hold_image(struct cr_img *img, const char *path)
{
	int status;
	pid_t pid = start_hold(cr_sibling("cr_target"), "1");

	if (pid < 0 || checkpoint_kill(pid, path) || waitpid(pid, &status, 0) != pid)
		return -1;
	return cr_img_load(img, path);
}

FIXTURE(image) {
	char path[64];
	struct cr_img img;
	unsigned char *m;
};

FIXTURE_SETUP(image)
{
	snprintf(self->path, sizeof(self->path), "/tmp/cr-sec-%d.img", getpid());
	ASSERT_EQ(0, hold_image(&self->img, self->path));
	self->m = malloc(self->img.meta);
	ASSERT_NE(NULL, self->m);
	memcpy(self->m, self->img.buf, self->img.meta);
}

FIXTURE_TEARDOWN(image)
{
	free(self->m);
	free(self->img.buf);
	unlink(self->path);
}

/* Expects the edited metadata to be refused before the point of no return
 * as an invalid image, naming the record at @at. */
static void expect_refused(struct __test_metadata *_metadata, FIXTURE_DATA(image) *self, size_t at)
{
	struct cr_raw_result res;
	int status;

	ASSERT_EQ(0, cr_raw_restore(&self->img, self->path, self->m, self->img.meta, &res));
	ASSERT_EQ(res.pid, waitpid(res.pid, &status, 0));
	EXPECT_TRUE(res.refused) TH_LOG("not refused before the point of no return (late %d, "
					"error %d, exit %d)", res.late, res.status.error,
					exit_code(status));
	EXPECT_EQ(EINVAL, res.err);
	EXPECT_EQ(CR_FAIL_IMAGE, res.args.fail_reason);
	EXPECT_EQ(at, res.args.fail_offset);
}

/* The auxv of the MM record at @mm: (first word, number of words). */
static unsigned char *auxv_of(unsigned char *m, size_t mm, unsigned int *words)
{
	struct cr_mm v;

	memcpy(&v, m + mm + 16, sizeof(v));
	*words = v.auxv_words;
	return m + mm + 16 + sizeof(v);
}

/* An auxv with no AT_NULL: the kernel would read past saved_auxv. */
TEST_F_TIMEOUT(image, auxv_without_at_null, 300)
{
	size_t mm = cr_img_find(&self->img, CR_REC_MM, 0);
	unsigned int words;
	unsigned char *auxv = auxv_of(self->m, mm, &words);
	uint64_t key = 6;	/* AT_PAGESZ */

	ASSERT_LT(0, mm);
	ASSERT_LE(2, words);
	memcpy(auxv + (words - 2) * 8, &key, 8);
	reseal(self->m, self->img.meta, mm);
	expect_refused(_metadata, self, mm);
}

/* An AT_NULL in the middle of the auxv. */
TEST_F_TIMEOUT(image, auxv_early_at_null, 300)
{
	size_t mm = cr_img_find(&self->img, CR_REC_MM, 0);
	unsigned int words;
	unsigned char *auxv = auxv_of(self->m, mm, &words);
	uint64_t zero = 0;

	ASSERT_LT(0, mm);
	memcpy(auxv, &zero, 8);
	reseal(self->m, self->img.meta, mm);
	expect_refused(_metadata, self, mm);
}

/* Kernel addresses in a thread's signal stack, clear_child_tid, robust
 * list and rseq area are refused before anything changes, naming the
 * thread's record. */
TEST_F_TIMEOUT(image, thread_pointers_to_the_kernel, 300)
{
	size_t th = cr_img_find(&self->img, CR_REC_THREAD, 0);
	size_t fields[] = { offsetof(struct cr_thread, sas_sp), offsetof(struct cr_thread, clear_child_tid),
			    offsetof(struct cr_thread, robust_list), offsetof(struct cr_thread, rseq) };
	uint64_t kernel = 0xffff888000000000ULL;

	ASSERT_LT(0, th);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		memcpy(self->m, self->img.buf, self->img.meta);
		memcpy(self->m + th + 16 + fields[i], &kernel, 8);
		reseal(self->m, self->img.meta, th);
		expect_refused(_metadata, self, th);
	}
}

/* More metadata than a restore copies in: E2BIG, nothing read. */
TEST_F_TIMEOUT(sec, metadata_over_the_limit, 300)
{
	size_t len = (64UL << 20) + 1;
	void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int dev = open("/dev/cr", O_RDWR), in = open("/dev/null", O_RDONLY);
	struct cr_restore_args a = {
		.meta = (unsigned long)m, .meta_len = len, .in_fd = in, .status_fd = -1, .dev_fd = -1,
	};

	ASSERT_NE(MAP_FAILED, m);
	EXPECT_EQ(-1, ioctl(dev, CR_IOC_RESTORE, &a));
	EXPECT_EQ(E2BIG, errno);
	EXPECT_EQ(CR_FAIL_LIMIT, a.fail_reason);
	munmap(m, len);
	close(dev);
	close(in);
}

/* Runs a restore of @mb MiB of (zero) metadata in memory cgroup @cg; the
 * child's exit status, which is the restore's errno (0: it worked). */
static int restore_in_cgroup(const char *cg, size_t mb)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		char path[128], me[32];
		size_t len = mb << 20;
		/* Untouched: reading it maps the zero page, which costs nothing. */
		void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		int dev = open("/dev/cr", O_RDWR), in = open("/dev/null", O_RDONLY);
		struct cr_restore_args a = {
			.meta = (unsigned long)m, .meta_len = len, .in_fd = in,
			.status_fd = -1, .dev_fd = -1,
		};

		snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
		snprintf(me, sizeof(me), "%d", getpid());
		if (m == MAP_FAILED || write_file(path, me))
			_exit(255);
		_exit(ioctl(dev, CR_IOC_RESTORE, &a) ? errno : 0);
	}
	waitpid(pid, &status, 0);
	return status;
}

/*
 * What a restore copies in is charged to the caller's memory cgroup: its
 * peak shows it, and a cgroup too small for it fails the restore (or has
 * its own task killed), never the rest of the machine.
 */
TEST_F_TIMEOUT(sec, metadata_is_charged_to_the_caller, 300)
{
	char cg[64], path[128];
	int status;

	snprintf(cg, sizeof(cg), "/sys/fs/cgroup/cr-sec-%d", getpid());
	ASSERT_EQ(0, write_file("/sys/fs/cgroup/cgroup.subtree_control", "+memory"));
	ASSERT_EQ(0, mkdir(cg, 0755));
	snprintf(path, sizeof(path), "%s/memory.max", cg);
	ASSERT_EQ(0, write_file(path, "128M"));

	/* 48 MiB of zeros: not an image, but copied in (and charged) first. */
	status = restore_in_cgroup(cg, 48);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == ENOEXEC)
		TH_LOG("exit %d", exit_code(status));
	snprintf(path, sizeof(path), "%s/memory.peak", cg);
	EXPECT_LE(48LL << 20, read_num(path)) TH_LOG("the copy was not charged to the cgroup");

	/* In 32 MiB it cannot be: ENOMEM, and no OOM kill, not even in the
	 * cgroup; and nothing stays charged. */
	snprintf(path, sizeof(path), "%s/memory.max", cg);
	ASSERT_EQ(0, write_file(path, "32M"));
	status = restore_in_cgroup(cg, 48);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == ENOMEM)
		TH_LOG("exit %d", exit_code(status));
	/* The failed copy is given back (vfree defers part of it). */
	snprintf(path, sizeof(path), "%s/memory.current", cg);
	for (int i = 0; i < 300 && read_num(path) > (4LL << 20); i++)
		usleep(100 * 1000);
	EXPECT_GT(4LL << 20, read_num(path)) TH_LOG("still charged: %lld", read_num(path));
	snprintf(path, sizeof(path), "%s/memory.events", cg);
	EXPECT_EQ(0, sh("grep -qx 'oom_kill 0' %s", path));
	EXPECT_EQ(0, rmdir(cg));
}

/* --kill of a process SIGKILL cannot end (the system's init) is refused
 * before anything is written, and nothing is left behind. */
/*
 * Locked memory is locked again only within what the restoring caller may
 * lock, as mlock() judges it. A user's process with an mlock'ed page and
 * RLIMIT_MEMLOCK 0 (lowered after the lock): checkpoint --kill refuses it
 * before the freeze (no restore by that user could bring it back) and leaves
 * it running; a partial image of it, restored by the user, is refused before
 * the point of no return, in crctl's words.
 */
TEST_F_TIMEOUT(sec, locked_memory_within_the_callers_limit, 300)
{
	const char *img = "/tmp/cr-sec-mlock.img", *log = "/tmp/cr-sec-mlock.log";
	int ctl[2], rep[2], status;
	pid_t pid, r;
	char c = 0;

	ASSERT_EQ(0, pipe(ctl));
	ASSERT_EQ(0, pipe(rep));
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		/* Its stderr one the user can open again (not the test's tty). */
		if (dup2(ctl[0], 0) != 0 || dup2(rep[1], 1) != 1 || dup2(null, 2) != 2)
			_exit(9);
		syscall(SYS_close_range, 3, ~0U, 0);
		if (setresgid(USER, USER, USER) || setresuid(USER, USER, USER))
			_exit(8);
		execl(cr_sibling("cr_holder"), "cr_holder", "mlock_no_limit", (char *)NULL);
		_exit(127);
	}
	close(ctl[0]);
	close(rep[1]);
	ASSERT_EQ(1, read(rep[0], &c, 1));
	ASSERT_EQ('r', c);
	unlink(img);
	EXPECT_NE(0, sh("crctl checkpoint %d --kill -o %s > %s 2>&1", pid, img, log));
	EXPECT_EQ(0, sh("grep -q 'more than its RLIMIT_MEMLOCK allows, without CAP_IPC_LOCK' %s", log));
	EXPECT_EQ(0, waitpid(pid, NULL, WNOHANG)) TH_LOG("the refused checkpoint ended it");
	ASSERT_EQ(0, sh("crctl checkpoint %d --allow-partial -o %s > %s 2>&1 && chown %d %s", pid,
			img, log, USER, img));
	kill(pid, SIGKILL);
	ASSERT_EQ(pid, waitpid(pid, NULL, 0));
	close(ctl[1]);
	close(rep[0]);

	r = fork();
	if (r == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0666);

		if (fd < 0 || dup2(fd, 1) != 1 || dup2(fd, 2) != 2)
			_exit(9);
		if (setresgid(USER, USER, USER) || setresuid(USER, USER, USER))
			_exit(8);
		execlp("crctl", "crctl", "restore", "--pid", "any", img, (char *)NULL);
		_exit(127);
	}
	ASSERT_EQ(r, waitpid(r, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0 && WEXITSTATUS(status) < 8);
	EXPECT_EQ(0, sh("grep -q 'more than RLIMIT_MEMLOCK allows here' %s", log))
		sh("cat %s >&2", log);
	EXPECT_NE(0, sh("grep -q 'was ended' %s", log)) TH_LOG("it failed past the point of no return");
	unlink(img);
	unlink(log);
}

TEST_F_TIMEOUT(sec, kill_of_init_is_refused, 300)
{
	const char *out = "/tmp/cr-sec-init.img", *log = "/tmp/cr-sec-init.log";
	unsigned int reason = 0;

	EXPECT_EQ(-EINVAL, ckpt_noproof(1, CR_CHECKPOINT_KILL, &reason));
	EXPECT_EQ(CR_FAIL_UNKILLABLE, reason);
	EXPECT_NE(0, sh("crctl checkpoint 1 --kill -o %s > %s 2>&1", out, log));
	EXPECT_EQ(0, sh("grep -q 'init of a pid namespace' %s", log));
	EXPECT_NE(0, access(out, F_OK));
	/* Without --kill it may be checkpointed, as a partial image: it has
	 * children, which no restore brings back. */
	EXPECT_EQ(-EOPNOTSUPP, ckpt_noproof(1, 0, &reason));
	EXPECT_EQ(CR_FAIL_HOLDS, reason);
	EXPECT_EQ(0, ckpt_noproof(1, CR_CHECKPOINT_PARTIAL, &reason));
	/* Partial and --kill do not go together. */
	EXPECT_EQ(-EINVAL, ckpt_noproof(getppid(), CR_CHECKPOINT_PARTIAL | CR_CHECKPOINT_KILL, &reason));
	EXPECT_EQ(CR_FAIL_ARGS, reason);
	unlink(log);
}

/* A target that exits during a checkpoint is reported as gone (ESRCH),
 * never as having run execve. */
TEST_F_TIMEOUT(sec, target_exiting_is_not_an_exec, 300)
{
	for (int i = 0; i < 30; i++) {
		unsigned int reason = 0;
		int status;
		pid_t pid = fork();

		if (pid == 0) {
			usleep((i % 10) * 1000);
			_exit(0);
		}
		usleep((i % 7) * 700);
		ckpt_noproof(pid, 0, &reason);
		EXPECT_NE(CR_FAIL_EXEC, reason) TH_LOG("trial %d", i);
		waitpid(pid, &status, 0);
	}
}

/* What crctl does with an output path it did not create. */
FIXTURE(output) {
	pid_t target;
	char file[64];
	char log[64];
};

FIXTURE_SETUP(output)
{
	self->target = start_hold(cr_sibling("cr_target"), "1");
	ASSERT_LT(0, self->target);
	snprintf(self->file, sizeof(self->file), "/tmp/cr-sec-out-%d.img", getpid());
	snprintf(self->log, sizeof(self->log), "/tmp/cr-sec-out-%d.log", getpid());
}

FIXTURE_TEARDOWN(output)
{
	kill(self->target, SIGKILL);
	waitpid(self->target, NULL, 0);
	unlink(self->file);
	unlink(self->log);
}

/* The user's file: mode 0666, "precious" in it; an fd of it in *fd. */
static void users_file(struct __test_metadata *_metadata, const char *path, int *fd)
{
	ASSERT_EQ(0, sh("rm -f %s && echo precious > %s && chown %d:%d %s && chmod 0666 %s", path, path,
			USER, USER, path, path));
	*fd = open(path, O_RDONLY);
	ASSERT_LE(0, *fd);
}

static void still_users_file(struct __test_metadata *_metadata, const char *path)
{
	struct stat st;

	ASSERT_EQ(0, lstat(path, &st));
	EXPECT_EQ(USER, st.st_uid);
	EXPECT_EQ(0666, st.st_mode & 07777);
	EXPECT_EQ(0, sh("grep -qx precious %s", path));
}

/* Root does not write its image into a file another user prepared; with
 * --force it replaces the name with a new 0600 file of its own, and the
 * user's file (held open) keeps its content. */
TEST_F_TIMEOUT(output, existing_file_of_another_user, 300)
{
	struct stat st;
	char buf[16] = "";
	int fd;

	users_file(_metadata, self->file, &fd);
	EXPECT_NE(0, sh("crctl checkpoint %d -o %s > %s 2>&1", self->target, self->file, self->log));
	EXPECT_EQ(0, sh("grep -q -- --force %s", self->log));
	still_users_file(_metadata, self->file);

	EXPECT_EQ(0, sh("crctl checkpoint %d -o %s --force > %s 2>&1", self->target, self->file, self->log));
	ASSERT_EQ(0, lstat(self->file, &st));
	EXPECT_EQ(0, st.st_uid);
	EXPECT_EQ(0600, st.st_mode & 07777);
	EXPECT_EQ(0, sh("crctl inspect %s > /dev/null", self->file));
	EXPECT_EQ(9, pread(fd, buf, sizeof(buf) - 1, 0));
	EXPECT_STREQ("precious\n", buf);
	close(fd);
	/* The target was never ended. */
	EXPECT_EQ(0, kill(self->target, 0));
}

/* A pid that does not exist: the file is not touched. */
TEST_F_TIMEOUT(output, no_such_process, 300)
{
	int fd;

	users_file(_metadata, self->file, &fd);
	close(fd);
	EXPECT_NE(0, sh("crctl checkpoint 4194000 -o %s --force > %s 2>&1", self->file, self->log));
	still_users_file(_metadata, self->file);
}

/* stdout closed: refused before the target is frozen or ended. */
TEST_F_TIMEOUT(output, stdout_closed, 300)
{
	EXPECT_NE(0, sh("crctl checkpoint %d --kill >&- 2> %s", self->target, self->log));
	EXPECT_EQ(0, sh("grep -q 'stdout is closed' %s", self->log));
	EXPECT_EQ(0, waitpid(self->target, NULL, WNOHANG));
	EXPECT_EQ(0, kill(self->target, 0));
}

/* The offset of @pid's fd @fd if it is a file in /tmp, else -1. */
static long long fd_pos_in_tmp(pid_t pid, int fd)
{
	char path[64], link[256] = "", line[128];
	long long pos = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	if (readlink(path, link, sizeof(link) - 1) <= 0 || strncmp(link, "/tmp/", 5))
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "pos:", 4))
			pos = atoll(line + 4);
	if (f)
		fclose(f);
	return pos;
}

/* crctl killed in the middle of writing: no file, partial or whole. */
TEST_F_TIMEOUT(output, killed_mid_checkpoint, 300)
{
	pid_t big = start_hold(cr_sibling("cr_target"), "128"), crctl;
	char dir_listing[256];
	int status, killed = 0;

	ASSERT_LT(0, big);
	crctl = fork();
	if (crctl == 0) {
		char pid[16];

		snprintf(pid, sizeof(pid), "%d", big);
		execlp("crctl", "crctl", "checkpoint", pid, "-o", self->file, (char *)NULL);
		_exit(127);
	}
	/* Kill it once its output has some bytes in it. */
	for (int i = 0; i < 100000 && !killed; i++) {
		for (int fd = 3; fd < 16 && !killed; fd++) {
			if (fd_pos_in_tmp(crctl, fd) > 0) {
				kill(crctl, SIGKILL);
				killed = 1;
			}
		}
		if (!killed && waitpid(crctl, &status, WNOHANG) == crctl)
			break;
	}
	if (killed)
		waitpid(crctl, &status, 0);
	EXPECT_TRUE(killed) TH_LOG("crctl finished before it could be killed");
	snprintf(dir_listing, sizeof(dir_listing), "ls -a /tmp | grep -q 'cr-sec-out-%d'", getpid());
	EXPECT_NE(0, sh("%s", dir_listing)) TH_LOG("a partial image was left in /tmp");
	/* The target was frozen and is running again. */
	EXPECT_EQ(0, waitpid(big, NULL, WNOHANG));
	kill(big, SIGKILL);
	waitpid(big, NULL, 0);
}

TEST_HARNESS_MAIN
