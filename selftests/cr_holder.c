// SPDX-License-Identifier: GPL-2.0
/*
 * A process that holds one kind of state no restore brings back, for
 * cr_refuse_test (a clean program: a process forked from a test would share
 * the harness's memory, itself refused).
 *
 *   cr_holder KIND
 *
 * Builds KIND (socket, eventfd, epoll, child, zombie, posix_timer, flock,
 * fcntl_lock, ofd_lock, sem_undo, memfd_mapping, shared_anonymous, sysv_shm,
 * deleted_file_mapping, deleted_file, memfd, mlock_no_limit, guard_pages,
 * sched_deadline, or none), writes "r" on fd 1,
 * then answers every byte read from fd 0 with "a" until end of file. It keeps
 * whatever other fds it was started with (the test gives it pipes as fds 3
 * and 4); a file it opens is /tmp/cr-refuse.file, its semaphore set has the
 * key 0x63726572.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#define FILE_PATH "/tmp/cr-refuse.file"
#define SEM_KEY 0x63726572	/* the semaphore set of sem_undo */

static void a_socket(void)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		_exit(20);
}

static void an_eventfd(void)
{
	if (eventfd(0, 0) < 0)
		_exit(20);
}

static void an_epoll(void)
{
	if (epoll_create1(0) < 0)
		_exit(20);
}

static void a_child(void)
{
	pid_t c = fork();

	if (c == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	if (c < 0)
		_exit(20);
}

static void a_zombie(void)
{
	siginfo_t si;
	pid_t c = fork();

	if (c == 0)
		_exit(0);
	/* Exited, not reaped. */
	if (c < 0 || waitid(P_PID, c, &si, WEXITED | WNOWAIT))
		_exit(20);
}

static void a_posix_timer(void)
{
	struct sigevent ev = { .sigev_notify = SIGEV_NONE };
	timer_t t;

	if (timer_create(CLOCK_MONOTONIC, &ev, &t))
		_exit(20);
}

static int a_file(void)
{
	int fd = open(FILE_PATH, O_RDWR | O_CREAT, 0600);

	if (fd < 0 || ftruncate(fd, 4096))
		_exit(20);
	return fd;
}

static void a_flock(void)
{
	if (flock(a_file(), LOCK_EX))
		_exit(21);
}

static void a_posix_lock(void)
{
	struct flock l = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 1 };

	if (fcntl(a_file(), F_SETLK, &l))
		_exit(21);
}

static void an_ofd_lock(void)
{
	struct flock l = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 1 };

	if (fcntl(a_file(), F_OFD_SETLK, &l))
		_exit(21);
}

static void a_sem_undo(void)
{
	struct sembuf op = { .sem_num = 0, .sem_op = 1, .sem_flg = SEM_UNDO };
	int id = semget(SEM_KEY, 1, IPC_CREAT | 0600);

	/* The set stays (removing it drops the undo entries): the test
	 * removes it by its key. */
	if (id < 0 || semop(id, &op, 1))
		_exit(20);
}

static void touch(char *m)
{
	if (m == MAP_FAILED)
		_exit(20);
	m[0] = 1;
}

static void a_memfd_mapping(void)
{
	int fd = memfd_create("cr-refuse", 0);

	if (fd < 0 || ftruncate(fd, 4096))
		_exit(21);
	touch(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
	close(fd);
}

static void a_shared_anonymous_mapping(void)
{
	touch(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
}

static void a_sysv_shm(void)
{
	int id = shmget(IPC_PRIVATE, 4096, 0600);
	char *m = id < 0 ? MAP_FAILED : shmat(id, NULL, 0);

	if (m == (char *)-1)
		_exit(21);
	shmctl(id, IPC_RMID, NULL);
	touch(m);
}

static void a_deleted_file_mapping(void)
{
	int fd = a_file();

	touch(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0));
	close(fd);
	unlink(FILE_PATH);
}

static void a_deleted_file(void)
{
	a_file();
	unlink(FILE_PATH);
}

/* A locked page, then an RLIMIT_MEMLOCK of 0: a restore by the same
 * unprivileged user may not lock it again. */
static void locked_memory_no_limit(void)
{
	char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct rlimit none = { 0, 0 };

	if (m == MAP_FAILED || mlock(m, 4096) || setrlimit(RLIMIT_MEMLOCK, &none))
		_exit(20);
}

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

static void guard_pages(void)
{
	char *m = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED || madvise(m + 4096, 4096, MADV_GUARD_INSTALL))
		_exit(20);
}

/* struct sched_attr of sched_setattr(2); glibc 2.36 has no wrapper. */
struct attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
};

static void a_deadline_thread(void)
{
	struct attr a = {
		.size = sizeof(a), .policy = 6 /* SCHED_DEADLINE */,
		.runtime = 1000000, .deadline = 100000000, .period = 100000000,
	};

	if (syscall(SYS_sched_setattr, 0, &a, 0))
		_exit(20);
}

static void a_memfd(void)
{
	if (memfd_create("cr-refuse", 0) < 0)
		_exit(20);
}

static const struct {
	const char *name;
	void (*build)(void);
} kinds[] = {
	{ "socket", a_socket },
	{ "eventfd", an_eventfd },
	{ "epoll", an_epoll },
	{ "child", a_child },
	{ "zombie", a_zombie },
	{ "posix_timer", a_posix_timer },
	{ "flock", a_flock },
	{ "fcntl_lock", a_posix_lock },
	{ "ofd_lock", an_ofd_lock },
	{ "sem_undo", a_sem_undo },
	{ "memfd_mapping", a_memfd_mapping },
	{ "shared_anonymous", a_shared_anonymous_mapping },
	{ "sysv_shm", a_sysv_shm },
	{ "deleted_file_mapping", a_deleted_file_mapping },
	{ "deleted_file", a_deleted_file },
	{ "memfd", a_memfd },
	{ "mlock_no_limit", locked_memory_no_limit },
	{ "guard_pages", guard_pages },
	{ "sched_deadline", a_deadline_thread },
	{ "none", NULL },
};

int main(int argc, char **argv)
{
	unsigned int i;
	char c;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (argc == 2 && !strcmp(argv[1], kinds[i].name))
			break;
	if (i == sizeof(kinds) / sizeof(kinds[0]))
		return 2;
	if (kinds[i].build)
		kinds[i].build();
	if (write(1, "r", 1) != 1)
		return 3;
	while (read(0, &c, 1) == 1)
		if (write(1, "a", 1) != 1)
			return 3;
	return 0;
}
