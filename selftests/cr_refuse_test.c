// SPDX-License-Identifier: GPL-2.0
/*
 * Nothing is lost: a process that holds what no restore brings back is
 * refused by `crctl checkpoint --kill` (Documentation/design.rst, "What is
 * refused"), and it runs on unharmed. Each case builds one kind of state in a
 * holder process and checks both sides:
 *
 * - the ioctl fails with EOPNOTSUPP and the reason (CR_FAIL_HOLDS, or
 *   CR_FAIL_SHMEM for memory with no name), with a message naming the object;
 * - `crctl checkpoint --kill` fails, prints that same message, and leaves no
 *   image file;
 * - the holder was never frozen (its thread slept through: no context switch)
 *   unless the case can only be seen frozen, and it still answers.
 *
 * And the control: a holder with none of it is checkpointed. The holder talks
 * on fds 0 and 1, which a restore takes from its caller, so only the state a
 * case builds can be refused. The holder is selftests/cr_holder.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/cr.h>

#include "cr_harness.h"
#include "cr_util.h"

#define IMG "/tmp/cr-refuse.img"
#define LOG "/tmp/cr-refuse.log"
#define FILE_PATH "/tmp/cr-refuse.file"

/* Fds the test hands the holder as its fds 3 and 4 (-1: none). */
static int give[2] = { -1, -1 };

struct holder {
	pid_t pid;
	int ctl;	/* its fd 0 */
	int rep;	/* its fd 1 */
};

/* Starts cr_holder @kind with fds 0 and 1 on pipes from this test, the
 * fds in give[] as its 3 and 4, and no other; waits for its "r". */
static struct holder start(const char *kind)
{
	struct holder h = { -1, -1, -1 };
	int ctl[2], rep[2];
	char c;

	if (pipe2(ctl, O_CLOEXEC) || pipe2(rep, O_CLOEXEC))
		return h;
	h.pid = fork();
	if (h.pid == 0) {
		int keep = give[1] >= 0 ? 5 : give[0] >= 0 ? 4 : 3;

		if (dup2(ctl[0], 0) != 0 || dup2(rep[1], 1) != 1)
			_exit(9);
		if ((give[0] >= 0 && dup2(give[0], 3) != 3) || (give[1] >= 0 && dup2(give[1], 4) != 4))
			_exit(10);
		if (syscall(SYS_close_range, keep, ~0U, 0))
			_exit(11);
		execl(cr_sibling("cr_holder"), "cr_holder", kind, (char *)NULL);
		_exit(127);
	}
	close(ctl[0]);
	close(rep[1]);
	h.ctl = ctl[1];
	h.rep = rep[0];
	if (h.pid < 0 || read(h.rep, &c, 1) != 1 || c != 'r') {
		if (h.pid > 0)
			kill(h.pid, SIGKILL);
		h.pid = -1;
	}
	return h;
}

static void stop(struct holder *h)
{
	end_child(h->pid, h->ctl, h->rep);
}

/* Whether the holder answers. */
static int answers(struct holder *h)
{
	char c = 0;
	struct pollfd p = { .fd = h->rep, .events = POLLIN };

	return write(h->ctl, "p", 1) == 1 && poll(&p, 1, 10000) == 1 && read(h->rep, &c, 1) == 1 &&
	       c == 'a';
}

/* The holder's context switches: they change if it was woken (frozen). */
static long switches(pid_t pid)
{
	return status_field(pid, "voluntary_ctxt_switches") +
	       status_field(pid, "nonvoluntary_ctxt_switches");
}

enum when { BEFORE_FREEZE, FROZEN };

/*
 * The whole check for one kind of state: @reason and @what (a piece of the
 * message) from the ioctl, the same message from crctl, no image, and the
 * holder unharmed (and never frozen, for BEFORE_FREEZE).
 */
static void refused(struct __test_metadata *_metadata, const char *kind, unsigned int reason,
		    const char *what, enum when when)
{
	char msg[CR_MSG_MAX] = "", log[8192] = "";
	struct cr_checkpoint_args a;
	struct holder h = start(kind);
	long before, r;
	int dev, out, fd, n;

	ASSERT_LT(0, h.pid) TH_LOG("the holder could not build its state");
	/* Asleep in read(0), which nothing but a freeze would wake. */
	ASSERT_EQ(0, wait_blocked_in(h.pid, SYS_read));
	before = switches(h.pid);

	dev = open("/dev/cr", O_RDWR | O_CLOEXEC);
	out = open("/dev/null", O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, dev);
	a = (struct cr_checkpoint_args){ .target = CR_CPID(0, h.pid), .out_fd = out, .proof_fd = -1,
					 .flags = CR_CHECKPOINT_KILL, .msg = (__u64)(unsigned long)msg,
					 .msg_len = sizeof(msg) };
	r = ioctl(dev, CR_IOC_CHECKPOINT, &a) ? -errno : 0;
	close(dev);
	close(out);
	EXPECT_EQ(-EOPNOTSUPP, r);
	EXPECT_EQ(reason, a.fail_reason);
	EXPECT_NE(NULL, strstr(msg, what)) TH_LOG("message: %s", msg);

	unlink(IMG);
	EXPECT_NE(0, sh("crctl checkpoint %d --kill -o %s > %s 2>&1", h.pid, IMG, LOG));
	EXPECT_NE(0, access(IMG, F_OK)) TH_LOG("an image was left behind");
	fd = open(LOG, O_RDONLY);
	n = fd < 0 ? -1 : read(fd, log, sizeof(log) - 1);
	close(fd);
	log[n > 0 ? n : 0] = 0;
	EXPECT_NE(NULL, strstr(log, msg)) TH_LOG("crctl said: %s", log);
	EXPECT_NE(NULL, strstr(log, "left running")) TH_LOG("crctl said: %s", log);

	EXPECT_EQ(0, waitpid(h.pid, NULL, WNOHANG));
	if (when == BEFORE_FREEZE)
		EXPECT_EQ(before, switches(h.pid)) TH_LOG("the holder was woken (frozen)");
	EXPECT_TRUE(answers(&h));
	stop(&h);
	unlink(LOG);
}

/* --- the cases ------------------------------------------------------------- */

FIXTURE(refuse) {
	int pipe[2];
};

FIXTURE_SETUP(refuse)
{
	self->pipe[0] = self->pipe[1] = -1;
	give[0] = give[1] = -1;
}

FIXTURE_TEARDOWN(refuse)
{
	close(self->pipe[0]);
	close(self->pipe[1]);
	unlink(FILE_PATH);
}

/* The control: fds 0-2 to other processes are the restore caller's. */
TEST_F_TIMEOUT(refuse, plain_holder_is_checkpointed, 300)
{
	struct holder h = start("none");

	ASSERT_LT(0, h.pid);
	EXPECT_EQ(0, sh("crctl checkpoint %d -o %s > %s 2>&1", h.pid, IMG, LOG));
	EXPECT_EQ(0, sh("crctl inspect %s > /dev/null", IMG));
	EXPECT_TRUE(answers(&h));
	stop(&h);
	unlink(IMG);
	unlink(LOG);
}

TEST_F_TIMEOUT(refuse, socket, 300)
{
	refused(_metadata, "socket", CR_FAIL_HOLDS, ") is a socket: cr cannot restore sockets yet",
		BEFORE_FREEZE);
}

TEST_F_TIMEOUT(refuse, eventfd, 300)
{
	refused(_metadata, "eventfd", CR_FAIL_HOLDS,
		"fd 3 (anon_inode:[eventfd]) is an eventfd: cr cannot restore that yet", BEFORE_FREEZE);
}

TEST_F_TIMEOUT(refuse, epoll, 300)
{
	refused(_metadata, "epoll", CR_FAIL_HOLDS, "is an epoll instance", BEFORE_FREEZE);
}

/* The holder has the read end; this test the write end. */
TEST_F_TIMEOUT(refuse, pipe_to_another_process, 300)
{
	ASSERT_EQ(0, pipe(self->pipe));
	give[0] = self->pipe[0];
	refused(_metadata, "none", CR_FAIL_HOLDS,
		"is one end of a pipe to another process: cr cannot restore that yet", BEFORE_FREEZE);
}

/* Both ends in the holder, and in this test too: seen only while frozen
 * (a reference count), still before anything is written or ended. */
TEST_F_TIMEOUT(refuse, pipe_shared_with_another_process, 300)
{
	ASSERT_EQ(0, pipe(self->pipe));
	give[0] = self->pipe[0];
	give[1] = self->pipe[1];
	refused(_metadata, "none", CR_FAIL_HOLDS,
		"is one end of a pipe to another process: cr cannot restore that yet", FROZEN);
}

TEST_F_TIMEOUT(refuse, child, 300)
{
	refused(_metadata, "child", CR_FAIL_HOLDS,
		"it has a child process (pid ", BEFORE_FREEZE);
}

TEST_F_TIMEOUT(refuse, zombie_child, 300)
{
	refused(_metadata, "zombie", CR_FAIL_HOLDS, "it has a child that exited and was not waited for",
		BEFORE_FREEZE);
}

TEST_F_TIMEOUT(refuse, posix_timer, 300)
{
	refused(_metadata, "posix_timer", CR_FAIL_HOLDS, "it has POSIX timers", BEFORE_FREEZE);
}

TEST_F_TIMEOUT(refuse, flock, 300)
{
	refused(_metadata, "flock", CR_FAIL_HOLDS, "it holds a lock on the file of fd 3", BEFORE_FREEZE);
}

TEST_F_TIMEOUT(refuse, fcntl_lock, 300)
{
	refused(_metadata, "fcntl_lock", CR_FAIL_HOLDS, "it holds a lock on the file of fd 3",
		BEFORE_FREEZE);
}

TEST_F_TIMEOUT(refuse, ofd_lock, 300)
{
	refused(_metadata, "ofd_lock", CR_FAIL_HOLDS, "it holds a lock on the file of fd 3",
		BEFORE_FREEZE);
}

TEST_F_TIMEOUT(refuse, sysv_semaphore_undo, 300)
{
	int id;

	/* Only each thread can look at its own: seen while frozen. */
	refused(_metadata, "sem_undo", CR_FAIL_HOLDS, "System V semaphore undo entries", FROZEN);
	id = semget(0x63726572, 0, 0);	/* cr_holder's set */
	EXPECT_EQ(0, semctl(id, 0, IPC_RMID));
}

/* Memory with no name: it was saved as a file mapping restore could not open. */
TEST_F_TIMEOUT(refuse, memfd_mapping, 300)
{
	refused(_metadata, "memfd_mapping", CR_FAIL_SHMEM, "maps /memfd:cr-refuse (deleted), a file with no name",
		BEFORE_FREEZE);
}

TEST_F_TIMEOUT(refuse, shared_anonymous_mapping, 300)
{
	refused(_metadata, "shared_anonymous", CR_FAIL_SHMEM, "maps /dev/zero (deleted)",
		BEFORE_FREEZE);
}

TEST_F_TIMEOUT(refuse, sysv_shm, 300)
{
	refused(_metadata, "sysv_shm", CR_FAIL_SHMEM, "maps /SYSV", BEFORE_FREEZE);
}

TEST_F_TIMEOUT(refuse, deleted_file_mapping, 300)
{
	refused(_metadata, "deleted_file_mapping", CR_FAIL_HOLDS,
		"maps " FILE_PATH " (deleted), a file with no name", BEFORE_FREEZE);
}

TEST_F_TIMEOUT(refuse, deleted_file, 300)
{
	refused(_metadata, "deleted_file", CR_FAIL_HOLDS,
		"fd 3 (" FILE_PATH " (deleted)) is a deleted file: cr cannot restore its contents",
		BEFORE_FREEZE);
}

TEST_F_TIMEOUT(refuse, memfd, 300)
{
	refused(_metadata, "memfd", CR_FAIL_HOLDS, "fd 3 (/memfd:cr-refuse (deleted)) is a deleted file",
		BEFORE_FREEZE);
}

TEST_F_TIMEOUT(refuse, guard_pages, 300)
{
	refused(_metadata, "guard_pages", CR_FAIL_HOLDS,
		"may hold guard pages (MADV_GUARD_INSTALL): cr cannot restore them yet", BEFORE_FREEZE);
}

TEST_F_TIMEOUT(refuse, sched_deadline, 300)
{
	refused(_metadata, "sched_deadline", CR_FAIL_HOLDS,
		"runs with SCHED_DEADLINE: cr cannot restore a deadline reservation yet", BEFORE_FREEZE);
}

/* --allow-partial writes what --kill refuses, with the refusal as a warning;
 * a restore of it then refuses the same thing in the same words. */
TEST_F_TIMEOUT(refuse, allow_partial_then_restore_says_the_same, 300)
{
	struct holder h = start("eventfd");
	const char *want = "fd 3 (anon_inode:[eventfd]) is an eventfd: cr cannot restore that yet";

	ASSERT_LT(0, h.pid);
	unlink(IMG);
	EXPECT_NE(0, sh("crctl checkpoint %d --kill --allow-partial -o %s > %s 2>&1", h.pid, IMG, LOG));
	EXPECT_EQ(0, sh("crctl checkpoint %d --allow-partial -o %s > %s 2>&1", h.pid, IMG, LOG));
	EXPECT_EQ(0, sh("grep -qF 'warning: a restore of this image will refuse it: %s' %s", want, LOG));
	EXPECT_TRUE(answers(&h));
	stop(&h);
	EXPECT_NE(0, sh("crctl restore %s > %s 2>&1", IMG, LOG));
	EXPECT_EQ(0, sh("grep -qF '%s' %s", want, LOG));
	unlink(IMG);
	unlink(LOG);
}

TEST_HARNESS_MAIN
