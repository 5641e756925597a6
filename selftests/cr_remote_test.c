// SPDX-License-Identifier: GPL-2.0
/*
 * The remote class's channel (CR_IOC_SERVE), with this program as the
 * cluster daemon: a checkpoint of a process of another host (CR_CPID(2, ..))
 * is queued on the channel, the daemon gets it with the caller's out_fd
 * installed as an fd of its own, writes the "image" and answers; the caller
 * gets the answer. Also: no channel (EREMOTE), one channel per host (EBUSY),
 * root only (EPERM), the arguments checked (EINVAL), a daemon that closes
 * (ECONNRESET), a caller that is interrupted (EINTR, and the daemon never
 * sees its request), what a remote checkpoint refuses before it queues.
 *
 * Runs in a guest without crd (which would hold the channel).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/cr.h>

#include "cr_harness.h"

#define REMOTE CR_CPID(2, 51)
#define IMAGE "not an image, but bytes through the channel"

static int cr_open(void)
{
	return open("/dev/cr", O_RDWR | O_CLOEXEC);
}

static long cr_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

/* Makes `fd` this host's channel without waiting for a request. */
static long serve_register(int fd)
{
	struct cr_serve_args a = { .flags = CR_SERVE_ANSWER_ONLY };

	return cr_ioctl(fd, CR_IOC_SERVE, &a);
}

static long checkpoint_remote(int dev, int out, uint32_t flags, char *msg, size_t msg_len,
			      struct cr_checkpoint_args *a)
{
	memset(a, 0, sizeof(*a));
	a->target = REMOTE;
	a->out_fd = out;
	a->proof_fd = -1;
	a->flags = flags;
	if (msg) {
		a->msg = (uintptr_t)msg;
		a->msg_len = msg_len;
		msg[0] = 0;
	}
	return cr_ioctl(dev, CR_IOC_CHECKPOINT, a);
}

/* The daemon's side of one request: what it got, and what it answers. */
struct daemon {
	int fd;				/* the channel */
	struct cr_serve_args got;	/* the request */
	int fd_flags;			/* F_GETFD of the installed fd */
	long took;			/* CR_IOC_SERVE's result */
	long answered;
	int close_instead;		/* close the channel, do not answer */
	int32_t error;			/* the answer */
	uint32_t reason;
	const char *msg;
};

static void *daemon_one(void *p)
{
	struct daemon *d = p;
	struct cr_serve_args a = { 0 };

	d->took = cr_ioctl(d->fd, CR_IOC_SERVE, &a);
	d->got = a;
	if (d->took)
		return NULL;
	d->fd_flags = fcntl(a.fd, F_GETFD);
	if (!d->error && write(a.fd, IMAGE, strlen(IMAGE)) != (ssize_t)strlen(IMAGE))
		d->error = -EIO;
	close(a.fd);
	if (d->close_instead) {
		close(d->fd);
		d->fd = -1;
		return NULL;
	}
	memset(&a, 0, sizeof(a));
	a.done = d->got.id;
	a.flags = CR_SERVE_ANSWER_ONLY;
	a.error = d->error;
	if (d->error) {
		a.fail_reason = d->reason;
		a.fail_addr = 0x1000;
		if (d->msg) {
			a.msg = (uintptr_t)d->msg;
			a.msg_len = strlen(d->msg) + 1;
		}
	} else {
		a.bytes = strlen(IMAGE);
		a.pages = 3;
		a.frozen_ns = 5000;
		a.threads = 2;
		a.vmas = 7;
	}
	d->answered = cr_ioctl(d->fd, CR_IOC_SERVE, &a);
	return NULL;
}

TEST(without_a_daemon_eremote)
{
	struct cr_checkpoint_args a;
	char msg[512];
	int dev = cr_open(), out = open("/dev/null", O_WRONLY);

	ASSERT_LE(0, dev);
	EXPECT_EQ(-EREMOTE, checkpoint_remote(dev, out, 0, msg, sizeof(msg), &a));
	EXPECT_EQ(CR_FAIL_REMOTE, a.fail_reason);
	EXPECT_TRUE(strstr(msg, "no cluster daemon") != NULL);
	close(out);
	close(dev);
}

TEST(feature_bit)
{
	struct cr_info info;
	int dev = cr_open();

	ASSERT_EQ(0, cr_ioctl(dev, CR_IOC_INFO, &info));
	EXPECT_TRUE(info.features & CR_FEATURE_REMOTE);
	close(dev);
}

TEST(serve_is_root_only)
{
	int status;
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (pid == 0) {
		int dev = cr_open();

		if (dev < 0 || setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000))
			_exit(2);
		_exit(serve_register(dev) == -EPERM ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST(serve_arguments_are_checked)
{
	struct cr_serve_args bad[6] = {
		{ .flags = 2 },
		{ .flags = CR_SERVE_ANSWER_ONLY, .__pad = 1 },
		{ .flags = CR_SERVE_ANSWER_ONLY, .__reserved = { 0, 1 } },
		{ .flags = CR_SERVE_ANSWER_ONLY, .done = 1, .error = 1 },
		{ .flags = CR_SERVE_ANSWER_ONLY, .error = -EIO },	/* an answer to no request */
		{ .flags = CR_SERVE_ANSWER_ONLY, .done = 1, .error = -EIO, .msg = 1,
		  .msg_len = CR_MSG_MAX + 1 },
	};
	int dev = cr_open();

	ASSERT_LE(0, dev);
	for (int i = 0; i < 6; i++) {
		TH_LOG("case %d", i);
		EXPECT_EQ(-EINVAL, cr_ioctl(dev, CR_IOC_SERVE, &bad[i]));
	}
	/* None of them made it the channel. */
	struct cr_checkpoint_args a;
	int out = open("/dev/null", O_WRONLY);

	EXPECT_EQ(-EREMOTE, checkpoint_remote(dev, out, 0, NULL, 0, &a));
	close(out);
	close(dev);
}

TEST(one_channel_per_host)
{
	int one = cr_open(), two = cr_open();

	ASSERT_EQ(0, serve_register(one));
	EXPECT_EQ(0, serve_register(one));
	EXPECT_EQ(-EBUSY, serve_register(two));
	/* An answer to a request nobody waits for is dropped. */
	struct cr_serve_args a = { .flags = CR_SERVE_ANSWER_ONLY, .done = 12345 };

	EXPECT_EQ(0, cr_ioctl(one, CR_IOC_SERVE, &a));
	/* Its file closed, the channel is free. */
	close(one);
	EXPECT_EQ(0, serve_register(two));
	close(two);
}

/* Not a result checkpoint_remote() gives: the daemon could not be set up. */
#define NOT_SERVED (-100000L)

/*
 * Makes a new file of /dev/cr the channel @d serves (one request, on a
 * thread: daemon_one) and checkpoints through it from @dev into @out: the
 * checkpoint's result, once the daemon is done.
 */
static long checkpoint_served(struct daemon *d, int dev, int out, char *msg, size_t msg_len,
			      struct cr_checkpoint_args *a)
{
	pthread_t t;
	long r;

	d->fd = cr_open();
	if (serve_register(d->fd) || pthread_create(&t, NULL, daemon_one, d))
		return NOT_SERVED;
	r = checkpoint_remote(dev, out, 0, msg, msg_len, a);
	if (pthread_join(t, NULL))
		return NOT_SERVED;
	return r;
}

TEST(checkpoint_through_the_channel)
{
	struct daemon d = { 0 };
	struct cr_checkpoint_args a;
	pthread_t t;
	char buf[256], msg[256];
	int p[2], dev = cr_open();

	d.fd = cr_open();
	ASSERT_EQ(0, serve_register(d.fd));
	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(0, pthread_create(&t, NULL, daemon_one, &d));
	ASSERT_EQ(0, checkpoint_remote(dev, p[1], CR_CHECKPOINT_KILL, msg, sizeof(msg), &a));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(0, d.took);
	EXPECT_EQ(0, d.answered);
	/* The request as the daemon got it. */
	EXPECT_NE(0, d.got.id);
	EXPECT_EQ(CR_SERVE_OP_CHECKPOINT, d.got.op);
	EXPECT_EQ(REMOTE, d.got.target);
	EXPECT_EQ(CR_CHECKPOINT_KILL, d.got.req_flags);
	EXPECT_EQ(0, d.got.uid);
	EXPECT_EQ(0, d.got.gid);
	EXPECT_EQ(1, d.got.capable);
	EXPECT_EQ(FD_CLOEXEC, d.fd_flags);
	/* The answer as the caller got it, and the bytes. */
	EXPECT_EQ(strlen(IMAGE), a.bytes);
	EXPECT_EQ(3, a.pages);
	EXPECT_EQ(5000, a.frozen_ns);
	EXPECT_EQ(2, a.threads);
	EXPECT_EQ(7, a.vmas);
	EXPECT_EQ(CR_FAIL_NONE, a.fail_reason);
	close(p[1]);
	ssize_t n = read(p[0], buf, sizeof(buf));

	ASSERT_EQ((ssize_t)strlen(IMAGE), n);
	EXPECT_EQ(0, memcmp(buf, IMAGE, n));
	close(p[0]);
	close(d.fd);
	close(dev);
}

TEST(a_failure_comes_back_as_the_daemon_said_it)
{
	struct daemon d = { .error = -ESRCH, .reason = CR_FAIL_NO_PROCESS,
			    .msg = "no process 51 on cr2" };
	struct cr_checkpoint_args a;
	char msg[256];
	int dev = cr_open(), out = open("/dev/null", O_WRONLY);

	EXPECT_EQ(-ESRCH, checkpoint_served(&d, dev, out, msg, sizeof(msg), &a));
	EXPECT_EQ(CR_FAIL_NO_PROCESS, a.fail_reason);
	EXPECT_EQ(0x1000, a.fail_addr);
	EXPECT_STREQ("no process 51 on cr2", msg);
	close(out);
	close(d.fd);
	close(dev);
}

TEST(a_user_is_named_to_the_daemon)
{
	struct daemon d = { 0 };
	pthread_t t;
	int status;

	d.fd = cr_open();
	ASSERT_EQ(0, serve_register(d.fd));
	ASSERT_EQ(0, pthread_create(&t, NULL, daemon_one, &d));
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct cr_checkpoint_args a;
		int dev = cr_open(), out = open("/dev/null", O_WRONLY);

		if (dev < 0 || setresgid(1001, 1001, 1001) || setresuid(1000, 1000, 1000))
			_exit(2);
		_exit(checkpoint_remote(dev, out, 0, NULL, 0, &a) == 0 ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(1000, d.got.uid);
	EXPECT_EQ(1001, d.got.gid);
	EXPECT_EQ(0, d.got.capable);
	close(d.fd);
}

TEST(a_daemon_that_closes_fails_its_requests)
{
	struct daemon d = { .close_instead = 1 };
	struct cr_checkpoint_args a;
	char msg[256];
	int dev = cr_open(), out = open("/dev/null", O_WRONLY);

	EXPECT_EQ(-ECONNRESET, checkpoint_served(&d, dev, out, msg, sizeof(msg), &a));
	EXPECT_EQ(CR_FAIL_REMOTE, a.fail_reason);
	EXPECT_TRUE(strstr(msg, "closed its channel") != NULL);
	/* And the host has no channel now. */
	EXPECT_EQ(-EREMOTE, checkpoint_remote(dev, out, 0, NULL, 0, &a));
	close(out);
	close(dev);
}

static void on_alarm(int sig)
{
}

TEST(an_interrupted_caller_leaves_nothing_queued)
{
	struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART */
	struct itimerval soon = { .it_value = { 0, 200 * 1000 } };
	struct cr_checkpoint_args a;
	struct cr_serve_args s = { 0 };
	int dev = cr_open(), chan = cr_open(), out = open("/dev/null", O_WRONLY);

	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));
	ASSERT_EQ(0, serve_register(chan));
	/* Nobody takes it: the caller's signal ends its wait. */
	ASSERT_EQ(0, setitimer(ITIMER_REAL, &soon, NULL));
	EXPECT_EQ(-EINTR, checkpoint_remote(dev, out, 0, NULL, 0, &a));
	EXPECT_EQ(CR_FAIL_INTERRUPTED, a.fail_reason);
	/* The daemon finds no request: its own wait is interrupted too. */
	ASSERT_EQ(0, setitimer(ITIMER_REAL, &soon, NULL));
	EXPECT_EQ(-EINTR, cr_ioctl(chan, CR_IOC_SERVE, &s));
	EXPECT_EQ(0, s.id);
	signal(SIGALRM, SIG_DFL);
	close(out);
	close(chan);
	close(dev);
}

TEST(what_a_remote_checkpoint_refuses_before_it_queues)
{
	struct cr_checkpoint_args a;
	int dev = cr_open(), chan = cr_open(), other = cr_open();
	int out = open("/dev/null", O_WRONLY);

	ASSERT_EQ(0, serve_register(chan));
	/* A file of /dev/cr as out_fd (the channel's own would keep it open). */
	EXPECT_EQ(-EINVAL, checkpoint_remote(dev, chan, 0, NULL, 0, &a));
	EXPECT_EQ(CR_FAIL_OUTPUT, a.fail_reason);
	EXPECT_EQ(-EINVAL, checkpoint_remote(dev, other, 0, NULL, 0, &a));
	/* No out_fd. */
	EXPECT_EQ(-EBADF, checkpoint_remote(dev, 1000, 0, NULL, 0, &a));
	EXPECT_EQ(CR_FAIL_OUTPUT, a.fail_reason);
	/* A proof of ptrace access is of a local process. */
	memset(&a, 0, sizeof(a));
	a.target = REMOTE;
	a.out_fd = out;
	a.proof_fd = out;
	EXPECT_EQ(-EINVAL, cr_ioctl(dev, CR_IOC_CHECKPOINT, &a));
	EXPECT_EQ(CR_FAIL_ARGS, a.fail_reason);
	/* A hold is the process's own host's. */
	memset(&a, 0, sizeof(a));
	a.target = REMOTE;
	a.out_fd = out;
	a.proof_fd = -1;
	a.flags = CR_CHECKPOINT_HOLD;
	a.hold_fd = out;
	EXPECT_EQ(-EINVAL, cr_ioctl(dev, CR_IOC_CHECKPOINT, &a));
	EXPECT_EQ(CR_FAIL_ARGS, a.fail_reason);
	/* Nothing was queued. */
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval soon = { .it_value = { 0, 200 * 1000 } };
	struct cr_serve_args s = { 0 };

	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));
	ASSERT_EQ(0, setitimer(ITIMER_REAL, &soon, NULL));
	EXPECT_EQ(-EINTR, cr_ioctl(chan, CR_IOC_SERVE, &s));
	signal(SIGALRM, SIG_DFL);
	close(out);
	close(other);
	close(chan);
	close(dev);
}

TEST_HARNESS_MAIN
