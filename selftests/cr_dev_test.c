// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/cr: the device node and its ioctl ABI.
 *
 * Opens and closes, CR_IOC_INFO, unknown commands (ENOTTY), arguments of the
 * wrong size (EINVAL), bad user pointers (EFAULT), many concurrent users, and
 * thousands of random requests from root and from a user.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/cr.h>

#include "cr_harness.h"

#define CR_DEV "/dev/cr"

/* CR_IOC_INFO with another argument size encoded in the command. */
#define CR_IOC_INFO_SIZED(n) _IOC(_IOC_READ, CR_IOC_MAGIC, 0x00, (n))

static int cr_open(void)
{
	return open(CR_DEV, O_RDWR | O_CLOEXEC);
}

/* ioctl() that returns -errno, so ASSERT_EQ(-EFOO, ...) reads naturally. */
static long cr_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

TEST(node_is_a_char_device)
{
	struct stat st;

	ASSERT_EQ(0, stat(CR_DEV, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	/* misc devices have major 10 */
	EXPECT_EQ(10, major(st.st_rdev));
}

TEST(open_close)
{
	for (int i = 0; i < 100; i++) {
		int fd = cr_open();

		ASSERT_LE(0, fd);
		ASSERT_EQ(0, close(fd));
	}
	/* Read-only and write-only opens work too: every ioctl checks its own rights. */
	int ro = open(CR_DEV, O_RDONLY), wo = open(CR_DEV, O_WRONLY);

	ASSERT_LE(0, ro);
	ASSERT_LE(0, wo);
	close(ro);
	close(wo);
}

TEST(info)
{
	struct cr_info info;
	int fd = cr_open();

	ASSERT_LE(0, fd);
	memset(&info, 0xa5, sizeof(info));
	ASSERT_EQ(0, cr_ioctl(fd, CR_IOC_INFO, &info));
	EXPECT_EQ(CR_ABI_VERSION, info.abi_version);
	EXPECT_EQ(CR_ARCH_X86_64, info.arch);
	EXPECT_EQ(sysconf(_SC_PAGESIZE), info.page_size);
	/* A module built from this tree has every feature this header defines. */
	EXPECT_EQ(CR_FEATURES_ALL, info.features);
	/* Padding and reserved words are zeroed, not left as they were. */
	EXPECT_EQ(0, info.__pad);
	for (int i = 0; i < 4; i++)
		EXPECT_EQ(0, info.__reserved[i]);
	close(fd);
}

TEST(info_does_not_write_past_the_struct)
{
	struct {
		struct cr_info info;
		unsigned char guard[64];
	} buf;
	int fd = cr_open();

	ASSERT_LE(0, fd);
	memset(&buf, 0x5a, sizeof(buf));
	ASSERT_EQ(0, cr_ioctl(fd, CR_IOC_INFO, &buf.info));
	for (size_t i = 0; i < sizeof(buf.guard); i++)
		ASSERT_EQ(0x5a, buf.guard[i]);
	close(fd);
}

TEST(unknown_commands_are_enotty)
{
	unsigned long cmds[] = {
		_IO(CR_IOC_MAGIC, 0x00),			/* known nr, no direction */
		_IOW(CR_IOC_MAGIC, 0x00, struct cr_info),	/* known nr, wrong direction */
		_IOWR(CR_IOC_MAGIC, 0x00, struct cr_info),	/* known nr, both directions */
		_IOR(CR_IOC_MAGIC, 0x3f, struct cr_info),	/* unused nr */
		_IOR(CR_IOC_MAGIC, 0xff, struct cr_info),
		_IOR(CR_IOC_MAGIC + 1, 0x00, struct cr_info),	/* another type */
		TCGETS,						/* a tty ioctl */
		0,
		~0UL,
	};
	struct cr_info info;
	int fd = cr_open();

	ASSERT_LE(0, fd);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		TH_LOG("command %#lx", cmds[i]);
		EXPECT_EQ(-ENOTTY, cr_ioctl(fd, cmds[i], &info));
	}
	close(fd);
}

TEST(wrong_argument_size_is_einval)
{
	unsigned char buf[4096];
	size_t sizes[] = { 0, 1, 8, sizeof(struct cr_info) - 1, sizeof(struct cr_info) + 1,
			   sizeof(struct cr_info) + 8, 4096 };
	int fd = cr_open();

	ASSERT_LE(0, fd);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		TH_LOG("size %zu", sizes[i]);
		memset(buf, 0x77, sizeof(buf));
		EXPECT_EQ(-EINVAL, cr_ioctl(fd, CR_IOC_INFO_SIZED(sizes[i]), buf));
		/* A refused request writes nothing. */
		EXPECT_EQ(0x77, buf[0]);
	}
	close(fd);
}

TEST(bad_pointers_are_efault)
{
	long page = sysconf(_SC_PAGESIZE);
	int fd = cr_open();
	char *map;

	ASSERT_LE(0, fd);
	EXPECT_EQ(-EFAULT, cr_ioctl(fd, CR_IOC_INFO, NULL));
	EXPECT_EQ(-EFAULT, cr_ioctl(fd, CR_IOC_INFO, (void *)1));
	EXPECT_EQ(-EFAULT, cr_ioctl(fd, CR_IOC_INFO, (void *)0xffff888000000000UL));
	EXPECT_EQ(-EFAULT, cr_ioctl(fd, CR_IOC_INFO, (void *)-4096L));
	/* non-canonical */
	EXPECT_EQ(-EFAULT, cr_ioctl(fd, CR_IOC_INFO, (void *)0x0000800000000000UL));

	/* Two pages: the first writable, the second not mapped for access. */
	map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, mprotect(map + page, page, PROT_NONE));
	EXPECT_EQ(-EFAULT, cr_ioctl(fd, CR_IOC_INFO, map + page));
	/* Straddling the boundary: the tail lands in the PROT_NONE page. */
	EXPECT_EQ(-EFAULT, cr_ioctl(fd, CR_IOC_INFO, map + page - 8));
	/* Read-only memory cannot take the result. */
	ASSERT_EQ(0, mprotect(map, page, PROT_READ));
	EXPECT_EQ(-EFAULT, cr_ioctl(fd, CR_IOC_INFO, map));
	/* The last bytes of a writable page are fine. */
	ASSERT_EQ(0, mprotect(map, page, PROT_READ | PROT_WRITE));
	EXPECT_EQ(0, cr_ioctl(fd, CR_IOC_INFO, map + page - sizeof(struct cr_info)));
	munmap(map, 2 * page);

	/* The device still answers after all that. */
	struct cr_info info;

	EXPECT_EQ(0, cr_ioctl(fd, CR_IOC_INFO, &info));
	EXPECT_EQ(CR_ABI_VERSION, info.abi_version);
	close(fd);
}

TEST(read_write_are_refused)
{
	char buf[16] = { 0 };
	int fd = cr_open();

	ASSERT_LE(0, fd);
	EXPECT_GT(0, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_GT(0, write(fd, buf, sizeof(buf)));
	EXPECT_EQ(EINVAL, errno);
	close(fd);
}

TEST(many_open_fds)
{
	enum { N = 512 };
	static int fds[N];
	struct rlimit rl = { N + 64, N + 64 };

	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
	for (int i = 0; i < N; i++) {
		fds[i] = cr_open();
		ASSERT_LE(0, fds[i]);
	}
	for (int i = 0; i < N; i++) {
		struct cr_info info;

		ASSERT_EQ(0, cr_ioctl(fds[i], CR_IOC_INFO, &info));
	}
	for (int i = 0; i < N; i++)
		ASSERT_EQ(0, close(fds[i]));
}

struct worker {
	pthread_t thread;
	int shared_fd;
	int errors;
};

/* Each worker opens its own fds and also shares one fd with every other worker. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < 300; i++) {
		struct cr_info info;
		int fd = cr_open();

		if (fd < 0) {
			w->errors++;
			continue;
		}
		if (cr_ioctl(fd, CR_IOC_INFO, &info) || info.abi_version != CR_ABI_VERSION)
			w->errors++;
		if (cr_ioctl(w->shared_fd, CR_IOC_INFO, &info) || info.abi_version != CR_ABI_VERSION)
			w->errors++;
		if (cr_ioctl(fd, _IO(CR_IOC_MAGIC, 0x3f), NULL) != -ENOTTY)
			w->errors++;
		if (close(fd))
			w->errors++;
	}
	return NULL;
}

TEST(concurrent_opens_and_ioctls)
{
	enum { THREADS = 8 };
	struct worker w[THREADS] = { 0 };
	int shared = cr_open();

	ASSERT_LE(0, shared);
	for (int i = 0; i < THREADS; i++) {
		w[i].shared_fd = shared;
		ASSERT_EQ(0, pthread_create(&w[i].thread, NULL, worker_main, &w[i]));
	}
	for (int i = 0; i < THREADS; i++) {
		ASSERT_EQ(0, pthread_join(w[i].thread, NULL));
		EXPECT_EQ(0, w[i].errors);
	}
	close(shared);
}

TEST(fd_inherited_across_fork)
{
	struct cr_info info;
	int fd = cr_open();
	pid_t pid;
	int status;

	ASSERT_LE(0, fd);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(cr_ioctl(fd, CR_IOC_INFO, &info) == 0 && info.abi_version == CR_ABI_VERSION ? 0 : 1);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	/* The parent's fd still works after the child's copy was closed. */
	EXPECT_EQ(0, cr_ioctl(fd, CR_IOC_INFO, &info));
	close(fd);
}

/* A value a hostile caller would try for a field of @size bytes. */
static uint64_t edge(unsigned int *seed, int size)
{
	static const uint64_t v[] = {
		0, 1, 2, 3, 4095, 4096, 4097, 0x7fffffff, 0x80000000, 0xffffffff,
		1ULL << 32, 1ULL << 47, (1ULL << 47) - 4096, 1ULL << 50, (1ULL << 56) - 4096,
		0xffff888000000000ULL, 0xffffffffff600000ULL, ~0ULL, 64ULL << 20, (64ULL << 20) + 1,
	};
	uint64_t x = rand_r(seed) % 3 ? v[rand_r(seed) % (sizeof(v) / sizeof(v[0]))]
				       : ((uint64_t)rand_r(seed) << 33) ^ rand_r(seed);

	return size == 4 ? (uint32_t)x : x;
}

/*
 * Random requests: known and unknown commands, argument sizes and
 * directions, each field an edge value, a random number or left alone, with
 * message buffers and metadata that point anywhere. The only processes they
 * may name are a sacrificial child, this process and ones that do not exist
 * (or pid 1, which a --kill must never reach). A restore that succeeded
 * would replace the caller: each batch runs in a child of its own. Nothing
 * may oops, WARN or leak (the VM run checks the kernel log).
 */
static void on_alarm(int sig)
{
}

static void fuzz_batch(int n, unsigned int seed)
{
	struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART */
	struct itimerval soon = { .it_value = { 0, 50 * 1000 } };
	int null = open("/dev/null", O_RDWR);

	static const unsigned int cmds[] = {
		CR_IOC_INFO, CR_IOC_CHECKPOINT, CR_IOC_RESTORE, CR_IOC_RESTORE_THREAD,
		CR_IOC_SERVE,
	};
	uint64_t arg[64];
	char *msg = malloc(8192);
	int fd = cr_open(), out = open("/dev/null", O_WRONLY);
	pid_t victim;

	/* No image may land in the TAP output: stdio goes nowhere. */
	dup2(null, 0);
	dup2(null, 1);
	dup2(null, 2);
	/* A request that waits (a thread waiting for its restore's leader, a
	 * freeze) is interrupted as a caller's signal would. */
	sigaction(SIGALRM, &sa, NULL);
	victim = fork();
	if (victim == 0) {
		for (;;)
			pause();
	}
	for (int i = 0; i < n; i++) {
		unsigned int cmd = cmds[rand_r(&seed) % 5];
		int size = _IOC_SIZE(cmd);

		if (rand_r(&seed) % 8 == 0)
			cmd = _IOC(rand_r(&seed) % 4, CR_IOC_MAGIC, rand_r(&seed) % 0x40, rand_r(&seed) % 256);
		memset(arg, 0, sizeof(arg));
		for (int k = 0; k < size / 4; k++)
			if (rand_r(&seed) % 4 == 0)
				((uint32_t *)arg)[k] = (uint32_t)edge(&seed, 4);
		for (int k = 0; k < size / 8; k++)
			if (rand_r(&seed) % 6 == 0)
				arg[k] = edge(&seed, 8);
		if (cmd == CR_IOC_CHECKPOINT) {
			struct cr_checkpoint_args *a = (void *)arg;
			const uint64_t targets[] = { victim, getpid(), 1, 4194000, CR_CPID(3, victim) };

			a->target = targets[rand_r(&seed) % 5];
			if (a->target == 1)
				a->flags = CR_CHECKPOINT_KILL;
			if (rand_r(&seed) % 2)
				a->out_fd = out;
			if (rand_r(&seed) % 2)
				a->proof_fd = -1;
			if (rand_r(&seed) % 2) {
				a->msg = rand_r(&seed) % 4 ? (uintptr_t)msg : edge(&seed, 8);
				a->msg_len = rand_r(&seed) % 5000;
			}
			if (rand_r(&seed) % 2)
				a->freeze_timeout_ms = 1 + rand_r(&seed) % 200;
		} else if (cmd == CR_IOC_SERVE) {
			/* Root's may make this file the channel and wait for a
			 * request (the alarm ends the wait); its checkpoints of
			 * CR_CPID(3, victim) then queue on it. */
			struct cr_serve_args *a = (void *)arg;

			if (rand_r(&seed) % 2) {
				a->flags = CR_SERVE_ANSWER_ONLY;
				a->__pad = 0;
				a->__reserved[0] = a->__reserved[1] = 0;
			}
			if (rand_r(&seed) % 2) {
				a->msg = rand_r(&seed) % 4 ? (uintptr_t)msg : edge(&seed, 8);
				a->msg_len = rand_r(&seed) % 5000;
			}
		} else if (cmd == CR_IOC_RESTORE) {
			struct cr_restore_args *a = (void *)arg;

			if (rand_r(&seed) % 2) {
				a->meta = (uintptr_t)msg;
				a->meta_len = rand_r(&seed) % 8192;
			}
		}
		setitimer(ITIMER_REAL, &soon, NULL);
		ioctl(fd, cmd, rand_r(&seed) % 16 ? (void *)arg : (void *)edge(&seed, 8));
		if (waitpid(victim, NULL, WNOHANG) == victim) {
			victim = fork();
			if (victim == 0) {
				for (;;)
					pause();
			}
		}
	}
	kill(victim, SIGKILL);
	waitpid(victim, NULL, 0);
	close(fd);
	close(out);
	free(msg);
}

FIXTURE(fuzz) {};
FIXTURE_SETUP(fuzz) {}
FIXTURE_TEARDOWN(fuzz) {}

TEST_F_TIMEOUT(fuzz, random_requests, 900)
{
	const int n = getenv("CR_FUZZ_IOCTLS") ? atoi(getenv("CR_FUZZ_IOCTLS")) : 3000;

	for (int who = 0; who < 2; who++) {
		for (int batch = 0; batch < 10; batch++) {
			int status;
			pid_t pid = fork();

			if (pid == 0) {
				if (who && (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000)))
					_exit(99);
				fuzz_batch(n / 20, 1000 * who + batch);
				_exit(0);
			}
			ASSERT_EQ(pid, waitpid(pid, &status, 0));
			/* A batch ends normally, or by a restore that got past its
			 * point of no return and ended the half-restored process. */
			EXPECT_TRUE(WIFEXITED(status) ? WEXITSTATUS(status) == 0 :
				    WTERMSIG(status) == SIGKILL);
		}
	}
	/* Pid 1 is alive (this guest would have died) and the device answers. */
	struct cr_info info;
	int fd = cr_open();

	EXPECT_EQ(0, cr_ioctl(fd, CR_IOC_INFO, &info));
	close(fd);
}

TEST_HARNESS_MAIN
