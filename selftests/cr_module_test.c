// SPDX-License-Identifier: GPL-2.0
/*
 * Loading and unloading cr.ko: refused while /dev/cr is open (by this process, a
 * child, or a thread racing with the unload), clean when it is not, and the
 * module works again after every reload. Every test leaves the module loaded.
 *
 * CR_MODULE names the module file (default /lib/modules/cr.ko).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/cr.h>

#include "cr_harness.h"

#define CR_DEV "/dev/cr"

static const char *module_path(void)
{
	const char *p = getenv("CR_MODULE");

	return p ? p : "/lib/modules/cr.ko";
}

static int unload(void)
{
	return syscall(SYS_delete_module, "cr", O_NONBLOCK) ? -errno : 0;
}

static int load(void)
{
	int fd = open(module_path(), O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, "", 0) ? -errno : 0;
	close(fd);
	return ret;
}

static int loaded(void)
{
	return access("/sys/module/cr", F_OK) == 0;
}

static int info_ok(int fd)
{
	struct cr_info info;

	return ioctl(fd, CR_IOC_INFO, &info) == 0 && info.abi_version == CR_ABI_VERSION;
}

static int open_and_check(void)
{
	int fd = open(CR_DEV, O_RDWR | O_CLOEXEC);
	int ok;

	if (fd < 0)
		return 0;
	ok = info_ok(fd);
	close(fd);
	return ok;
}

/* The module refuses to go while it is in use: EBUSY or EWOULDBLOCK. */
static int busy(int err)
{
	return err == -EBUSY || err == -EWOULDBLOCK;
}

FIXTURE(module) {};

FIXTURE_SETUP(module)
{
	if (access(module_path(), R_OK))
		SKIP(return, "%s not readable (set CR_MODULE)", module_path());
	if (!loaded())
		ASSERT_EQ(0, load());
}

FIXTURE_TEARDOWN(module)
{
	if (!loaded())
		EXPECT_EQ(0, load());
}

TEST_F(module, unload_and_reload_when_idle)
{
	struct stat st;

	ASSERT_EQ(0, unload());
	EXPECT_FALSE(loaded());
	EXPECT_EQ(-1, stat(CR_DEV, &st));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_GT(0, open(CR_DEV, O_RDWR));
	ASSERT_EQ(0, load());
	EXPECT_TRUE(loaded());
	EXPECT_TRUE(open_and_check());
	/* Loading twice is refused and does not disturb the loaded one. */
	EXPECT_EQ(-EEXIST, load());
	EXPECT_TRUE(open_and_check());
}

TEST_F(module, unload_refused_while_open)
{
	int fd = open(CR_DEV, O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, fd);
	EXPECT_TRUE(busy(unload()));
	EXPECT_TRUE(loaded());
	/* The open fd and new opens still work. */
	EXPECT_TRUE(info_ok(fd));
	EXPECT_TRUE(open_and_check());
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(0, unload());
	ASSERT_EQ(0, load());
	EXPECT_TRUE(open_and_check());
}

TEST_F(module, unload_refused_while_a_child_holds_it)
{
	int ready[2];
	pid_t pid;
	char c;

	ASSERT_EQ(0, pipe(ready));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd = open(CR_DEV, O_RDWR);

		if (write(ready[1], fd >= 0 ? "y" : "n", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	ASSERT_EQ(1, read(ready[0], &c, 1));
	ASSERT_EQ('y', c);
	EXPECT_TRUE(busy(unload()));
	EXPECT_TRUE(open_and_check());
	kill(pid, SIGKILL);
	ASSERT_EQ(pid, waitpid(pid, NULL, 0));
	/* The child's exit closed its fd: the module can go now. */
	ASSERT_EQ(0, unload());
	ASSERT_EQ(0, load());
	EXPECT_TRUE(open_and_check());
	close(ready[0]);
	close(ready[1]);
}

TEST_F(module, reload_cycles)
{
	for (int i = 0; i < 25; i++) {
		ASSERT_EQ(0, unload());
		ASSERT_EQ(0, load());
		ASSERT_TRUE(open_and_check());
	}
}

static atomic_int stop_opening;
static atomic_long opens_ok, opens_gone;

static void *opener(void *arg)
{
	while (!atomic_load(&stop_opening)) {
		int fd = open(CR_DEV, O_RDWR | O_CLOEXEC);

		if (fd >= 0) {
			if (!info_ok(fd))
				return (void *)1L;
			atomic_fetch_add(&opens_ok, 1);
			close(fd);
		} else if (errno == ENOENT || errno == ENODEV || errno == ENXIO) {
			atomic_fetch_add(&opens_gone, 1);
		} else {
			return (void *)2L;
		}
	}
	return NULL;
}

/*
 * Threads open, query and close /dev/cr as fast as they can while the module is
 * unloaded and loaded under them. Every open either works fully or finds the
 * device gone; the kernel log stays clean (scripts/vm checks that).
 */
TEST_F(module, unload_races_with_opens)
{
	enum { THREADS = 4, ROUNDS = 20 };
	pthread_t t[THREADS];
	int unloaded = 0;

	atomic_store(&stop_opening, 0);
	for (int i = 0; i < THREADS; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, opener, NULL));
	for (int round = 0; round < ROUNDS; round++) {
		int err;

		/* Retry while an opener happens to hold the device. */
		for (int tries = 0; tries < 100000; tries++) {
			err = unload();
			if (!busy(err))
				break;
			sched_yield();
		}
		if (err == 0) {
			unloaded++;
			usleep(1000);
			ASSERT_EQ(0, load());
		} else {
			ASSERT_TRUE(busy(err));
		}
		usleep(1000);
	}
	atomic_store(&stop_opening, 1);
	for (int i = 0; i < THREADS; i++) {
		void *ret;

		ASSERT_EQ(0, pthread_join(t[i], &ret));
		EXPECT_EQ(NULL, ret);
	}
	TH_LOG("%d unloads, %ld good opens, %ld opens found it gone", unloaded,
	       atomic_load(&opens_ok), atomic_load(&opens_gone));
	EXPECT_LT(0, unloaded);
	EXPECT_LT(0, atomic_load(&opens_ok));
	if (!loaded())
		ASSERT_EQ(0, load());
	EXPECT_TRUE(open_and_check());
}

TEST_HARNESS_MAIN
