// SPDX-License-Identifier: GPL-2.0
/*
 * Process-wide and per-thread settings come back, each read back with the
 * call that reads it:
 * - oom_score_adj 123; PR_SET_THP_DISABLE; PR_SET_CHILD_SUBREAPER;
 *   PR_SET_MEMORY_MERGE (KSM for every area); membarrier registered for
 *   MEMBARRIER_CMD_PRIVATE_EXPEDITED; PR_SET_MDWE (MDWE_REFUSE_EXEC_GAIN),
 *   which after the restore still refuses to make a writable page
 *   executable;
 * - per thread: main nice -3; one thread nice 7; one SCHED_BATCH nice 3; one
 *   SCHED_IDLE; one SCHED_FIFO priority 5 with SCHED_RESET_ON_FORK.
 */
#include "rt.h"
#include <linux/membarrier.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#define PR_GET_MEMORY_MERGE 68
#endif
#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#define PR_GET_MDWE 66
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif

struct want {
	int policy, prio, nice;
};

static const struct want wants[] = {
	{ SCHED_OTHER, 0, 7 },
	{ SCHED_BATCH, 0, 3 },
	{ SCHED_IDLE, 0, 0 },
	{ SCHED_FIFO | SCHED_RESET_ON_FORK, 5, 0 },
};
#define N (sizeof(wants) / sizeof(wants[0]))

static volatile pid_t tids[N];
static volatile int set[N], leave;

static void *thread(void *arg)
{
	int i = (int)(long)arg;
	struct sched_param p = { .sched_priority = wants[i].prio };

	tids[i] = gettid();
	if (sched_setscheduler(0, wants[i].policy, &p) ||
	    setpriority(PRIO_PROCESS, 0, wants[i].nice))
		set[i] = -errno;
	else
		set[i] = 1;
	rt_stay(&leave);
	return NULL;
}

static void check_thread(const char *who, pid_t tid, const struct want *w)
{
	struct sched_param p = { 0 };
	int policy = sched_getscheduler(tid), nice;

	sched_getparam(tid, &p);
	errno = 0;
	nice = getpriority(PRIO_PROCESS, tid);
	rt_check(policy == w->policy && p.sched_priority == w->prio && nice == w->nice,
		 "%s: policy %#x priority %d nice %d, want %#x %d %d", who, policy,
		 p.sched_priority, nice, w->policy, w->prio, w->nice);
}

static int oom_score_adj(void)
{
	char buf[16] = "";
	int fd = open("/proc/self/oom_score_adj", O_RDONLY);

	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) < 0)
		return -9999;
	close(fd);
	return atoi(buf);
}

int main(void)
{
	const struct want main_want = { SCHED_OTHER, 0, -3 };
	pthread_t t[N];
	char *page;
	int fd;

	fd = open("/proc/self/oom_score_adj", O_WRONLY);
	if (fd < 0 || write(fd, "123", 3) != 3)
		rt_die("oom_score_adj");
	close(fd);
	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
		rt_die("PR_SET_THP_DISABLE");
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
		rt_die("PR_SET_CHILD_SUBREAPER");
	if (prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0))
		rt_die("PR_SET_MEMORY_MERGE");
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0))
		rt_die("membarrier");
	if (setpriority(PRIO_PROCESS, 0, main_want.nice))
		rt_die("setpriority");
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		rt_die("mmap");
	page[0] = 1;
	if (prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0))
		rt_die("PR_SET_MDWE");
	for (long i = 0; i < (long)N; i++)
		if (pthread_create(&t[i], NULL, thread, (void *)i))
			rt_die("pthread_create");
	for (int k = 0; k < 1000; k++) {
		int all = 1;

		for (unsigned int i = 0; i < N; i++)
			all &= set[i] != 0;
		if (all)
			break;
		usleep(1000);
	}
	for (unsigned int i = 0; i < N; i++)
		if (set[i] != 1) {
			errno = -set[i];
			rt_die("a thread's scheduling");
		}
	rt_ready_wait();

	rt_check(oom_score_adj() == 123, "oom_score_adj is %d", oom_score_adj());
	rt_check(prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1, "PR_GET_THP_DISABLE says %d",
		 prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0));
	{
		int r = -1;

		prctl(PR_GET_CHILD_SUBREAPER, &r, 0, 0, 0);
		rt_check(r == 1, "PR_GET_CHILD_SUBREAPER says %d", r);
	}
	rt_check(prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0) == 1, "PR_GET_MEMORY_MERGE says %d",
		 prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0));
	rt_check(syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0,
		 "MEMBARRIER_CMD_PRIVATE_EXPEDITED: %s (not registered)", strerror(errno));
	rt_check(prctl(PR_GET_MDWE, 0, 0, 0, 0) == PR_MDWE_REFUSE_EXEC_GAIN, "PR_GET_MDWE says %d",
		 prctl(PR_GET_MDWE, 0, 0, 0, 0));
	rt_check(mprotect(page, 4096, PROT_READ | PROT_WRITE | PROT_EXEC) != 0,
		 "MDWE let a writable page become executable");
	check_thread("main", 0, &main_want);
	for (unsigned int i = 0; i < N; i++) {
		char who[16];

		snprintf(who, sizeof(who), "thread %u", i);
		check_thread(who, tids[i], &wants[i]);
	}
	leave = 1;
	for (unsigned int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	return rt_verdict();
}
