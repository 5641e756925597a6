// SPDX-License-Identifier: GPL-2.0
/*
 * cr_bench: checkpoint speed, measured in the guest, each figure beside its
 * reference measured the same way in the same run.
 *
 *  1. Throughput: checkpoint a process with N MiB of touched anonymous memory
 *     to a pipe and to a tmpfs file, against the physical limit: writing the
 *     same N MiB from memory to the same kind of fd (one copy). Ratio =
 *     limit time / checkpoint time (1.0: as fast as a plain copy).
 *  2. Untouched memory: a process that reserved 64 GiB and touched 1 MiB,
 *     against a process of 1 MiB. Ratio = its time / the small one's.
 *  3. Downtime: freeze to thaw of the target, 1 thread and 64 threads.
 *
 * Every figure is the median of RUNS runs. Targets are cr_target processes.
 *
 *   cr_bench [RUNS]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/cr.h>

#include "bench.h"

#define MiB (1UL << 20)

static int runs = 5;

static void die(const char *what)
{
	fprintf(stderr, "cr_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

struct target {
	pid_t pid;
	int rep, ctl;
};

/* Starts `cr_target ARGS...` (found on PATH) and waits until it is ready. */
static struct target start(const char *a1, const char *a2, const char *a3)
{
	struct target t;
	int rep[2], ctl[2];
	uint64_t v;

	if (pipe2(rep, O_CLOEXEC) || pipe2(ctl, O_CLOEXEC))
		die("pipe");
	t.pid = fork();
	if (t.pid == 0) {
		int r = fcntl(rep[1], F_DUPFD_CLOEXEC, 10), c = fcntl(ctl[0], F_DUPFD_CLOEXEC, 10);

		/* Reports on fd 1, commands on fd 0 (selftests/cr_target.c);
		 * no other fd survives the exec. */
		dup2(r, 1);
		dup2(c, 0);
		execlp("cr_target", "cr_target", a1, a2, a3, (char *)NULL);
		_exit(127);
	}
	close(rep[1]);
	close(ctl[0]);
	t.rep = rep[0];
	t.ctl = ctl[1];
	if (read(t.rep, &v, sizeof(v)) != sizeof(v) || v != 1)
		die("cr_target did not start");
	return t;
}

static void stop(struct target *t)
{
	kill(t->pid, SIGKILL);
	waitpid(t->pid, NULL, 0);
	close(t->rep);
	close(t->ctl);
}

/* One checkpoint of @pid to @fd; its time in seconds (and downtime). */
static double checkpoint(pid_t pid, int fd, double *frozen)
{
	struct cr_checkpoint_args a = {
		.target = CR_CPID(0, pid), .out_fd = fd, .proof_fd = -1,
	};
	int dev = open("/dev/cr", O_RDWR);
	double t0 = now(), t;

	if (dev < 0 || ioctl(dev, CR_IOC_CHECKPOINT, &a))
		die("checkpoint");
	t = now() - t0;
	close(dev);
	if (frozen)
		*frozen = a.frozen_ns / 1e9;
	return t;
}

/* Drains a pipe, as the consumer of an image would. */
static void *drain(void *arg)
{
	static char buf[1 << 20];
	int fd = *(int *)arg;

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	return NULL;
}

enum sink { PIPE, TMPFS };
static const char *sink_name[] = { "pipe", "tmpfs file" };

/* Writes @len bytes of @mem to @sink with @writer (checkpoint or copy). */
static double through(enum sink sink, double (*writer)(int fd, void *ctx), void *ctx)
{
	double t;

	if (sink == PIPE) {
		pthread_t th;
		int p[2];

		if (pipe(p))
			die("pipe");
		fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
		pthread_create(&th, NULL, drain, &p[0]);
		t = writer(p[1], ctx);
		close(p[1]);
		pthread_join(th, NULL);
		close(p[0]);
	} else {
		int fd = open("/tmp/cr-bench.out", O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd < 0)
			die("open /tmp/cr-bench.out");
		t = writer(fd, ctx);
		close(fd);
		unlink("/tmp/cr-bench.out");
	}
	return t;
}

struct copy { unsigned char *mem; size_t len; };

/* The limit: the same bytes, from memory, in 1 MiB writes. */
static double copy_writer(int fd, void *ctx)
{
	struct copy *c = ctx;
	double t0 = now();

	for (size_t off = 0; off < c->len;) {
		ssize_t n = write(fd, c->mem + off, c->len - off < MiB ? c->len - off : MiB);

		if (n <= 0)
			die("write");
		off += n;
	}
	return now() - t0;
}

static double ckpt_writer(int fd, void *ctx)
{
	return checkpoint(*(pid_t *)ctx, fd, NULL);
}

static void throughput(unsigned long mib)
{
	char arg[32];
	struct target t;
	struct copy c;
	double ck[16], cp[16];

	snprintf(arg, sizeof(arg), "%lu", mib);
	t = start("touch", arg, NULL);
	c.len = mib * MiB;
	c.mem = mmap(NULL, c.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c.mem == MAP_FAILED)
		die("mmap");
	for (size_t i = 0; i < c.len; i += 8)
		*(uint64_t *)(c.mem + i) = i * 0x9e3779b97f4a7c15ULL;
	for (int s = PIPE; s <= TMPFS; s++) {
		for (int i = 0; i < runs; i++) {
			/* Alternate, so drift in the guest hits both alike. */
			ck[i] = through(s, ckpt_writer, &t.pid);
			cp[i] = through(s, copy_writer, &c);
		}
		double tck = median(ck, runs), tcp = median(cp, runs);

		printf("%5lu MiB touched -> %-10s  checkpoint %8.1f ms %7.0f MiB/s   copy %8.1f ms %7.0f MiB/s   ratio %.2f\n",
		       mib, sink_name[s], tck * 1e3, mib / tck, tcp * 1e3, mib / tcp, tcp / tck);
	}
	munmap(c.mem, c.len);
	stop(&t);
}

static void untouched(void)
{
	struct target big = start("sparse", "64", "1"), small = start("touch", "1", NULL);
	int null = open("/dev/null", O_WRONLY);
	double b[16], s[16];

	for (int i = 0; i < runs; i++) {
		b[i] = checkpoint(big.pid, null, NULL);
		s[i] = checkpoint(small.pid, null, NULL);
	}
	double tb = median(b, runs), ts = median(s, runs);

	printf("64 GiB reserved, 1 MiB touched: %.2f ms;  1 MiB process: %.2f ms;  ratio %.2f\n",
	       tb * 1e3, ts * 1e3, tb / ts);
	close(null);
	stop(&big);
	stop(&small);
}

static void downtime(const char *threads, const char *label)
{
	struct target t = start("threads", threads, NULL);
	int null = open("/dev/null", O_WRONLY);
	double d[16], total[16];

	for (int i = 0; i < runs; i++)
		total[i] = checkpoint(t.pid, null, &d[i]);
	printf("downtime (freeze to thaw), %-10s: %.2f ms (whole ioctl %.2f ms)\n",
	       label, median(d, runs) * 1e3, median(total, runs) * 1e3);
	close(null);
	stop(&t);
}

/* Sets cr's benchmark knob (debugfs cr/bench_direct_calls) to @on. */
static void direct_calls(int on)
{
	const char *knob = "/sys/kernel/debug/cr/bench_direct_calls";
	int fd = open(knob, O_WRONLY);

	if (fd < 0 && errno == ENOENT && mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL) == 0)
		fd = open(knob, O_WRONLY);
	if (fd < 0 || write(fd, on ? "1" : "0", 1) != 1)
		die(knob);
	close(fd);
}

/*
 * The process-class layer's cost for a local process: checkpoints of a 1 MiB
 * process through the layer (one indirect call per operation) against the
 * same checkpoints with cr's debugfs knob bench_direct_calls set (a direct
 * call to the local class), alternated one by one in the same module load.
 */
static void class_layer(void)
{
	enum { EACH = 400 };
	struct target t = start("touch", "1", NULL);
	int null = open("/dev/null", O_WRONLY);
	double layer[EACH], direct[EACH];

	for (int i = 0; i < EACH; i++) {
		direct_calls(i % 2);
		if (i % 2)
			direct[i] = checkpoint(t.pid, null, NULL);
		else
			layer[i] = checkpoint(t.pid, null, NULL);
		direct_calls(!(i % 2));
		if (i % 2)
			layer[i] = checkpoint(t.pid, null, NULL);
		else
			direct[i] = checkpoint(t.pid, null, NULL);
	}
	direct_calls(0);
	double tl = median(layer, EACH), td = median(direct, EACH);

	printf("class layer, 1 MiB checkpoint (median of %d): through the layer %.3f ms, "
	       "direct call %.3f ms, cost %+.2f%%\n",
	       EACH, tl * 1e3, td * 1e3, (tl / td - 1) * 100);
	close(null);
	stop(&t);

	/*
	 * The same cost measured in the kernel, free of the checkpoint's own
	 * variation: lookup plus one operation, through the layer and by a
	 * direct call, thousands of times (debugfs cr/layer_cost). A checkpoint
	 * makes one such lookup and call; its share of a 1 MiB checkpoint is
	 * the extra time per operation over the checkpoint's median time.
	 */
	unsigned long long ops, lns, dns;
	FILE *f = fopen("/sys/kernel/debug/cr/layer_cost", "r");

	if (!f || fscanf(f, "%llu %llu %llu", &ops, &lns, &dns) != 3 || !ops)
		die("read debugfs cr/layer_cost");
	fclose(f);
	double per = ((double)lns - (double)dns) / ops;

	printf("class layer, in the kernel (%llu lookups + operations each way): through the layer "
	       "%.0f ns, direct %.0f ns: %+.0f ns per operation, %+.4f%% of a 1 MiB checkpoint\n",
	       ops, (double)lns / ops, (double)dns / ops, per, per / (td * 1e9) * 100);
}

/* Starts `cr_target hold MIB` with stdout on a pipe; waits for "ready". */
static pid_t start_holder(unsigned long mib)
{
	char arg[32], buf[8];
	int p[2];
	pid_t pid;

	snprintf(arg, sizeof(arg), "%lu", mib);
	if (pipe(p))
		die("pipe");
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execlp("cr_target", "cr_target", "hold", arg, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	if (read(p[0], buf, 6) != 6 || memcmp(buf, "ready\n", 6))
		die("cr_target hold did not start");
	close(p[0]);
	return pid;
}

/* `crctl restore FILE`; its wall time, and the restored pid in *pid. */
static double crctl_restore(const char *file, pid_t *pid)
{
	char line[32] = "";
	int p[2];
	double t0 = now(), t;
	pid_t c;
	int st;

	if (pipe(p))
		die("pipe");
	c = fork();
	if (c == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execlp("crctl", "crctl", "restore", file, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
		die("crctl restore");
	t = now() - t0;
	if (read(p[0], line, sizeof(line) - 1) <= 0)
		die("crctl restore printed no pid");
	close(p[0]);
	*pid = atoi(line);
	return t;
}

/* How long starting crctl takes (`crctl info`): the floor under any
 * crctl command in this guest. */
static double crctl_floor(void)
{
	double t[16];

	for (int i = 0; i < runs; i++) {
		double t0 = now();
		pid_t c = fork();
		int st;

		if (c == 0) {
			int null = open("/dev/null", O_WRONLY);

			dup2(null, 1);
			execlp("crctl", "crctl", "info", (char *)NULL);
			_exit(127);
		}
		if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
			die("crctl info");
		t[i] = now() - t0;
	}
	return median(t, runs);
}

/*
 * Restore and round trip: a process holding @mib MiB is checkpointed with
 * --kill to a tmpfs file and restored by crctl (fork, metadata, the kernel's
 * restore; crctl's exec included), side by side with the limit: reading the
 * image file into fresh memory once.
 */
static void restore_bench(unsigned long mib)
{
	const char *img = "/tmp/cr-bench-restore.img";
	double ck[16], rs[16], lim[16];
	pid_t pid = start_holder(mib);

	for (int i = 0; i < runs; i++) {
		struct cr_checkpoint_args a = {
			.target = CR_CPID(0, pid), .proof_fd = -1, .flags = CR_CHECKPOINT_KILL,
		};
		int dev = open("/dev/cr", O_RDWR), fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0600);
		double t0 = now();
		struct stat st;
		char *mem;

		a.out_fd = fd;
		if (dev < 0 || fd < 0 || ioctl(dev, CR_IOC_CHECKPOINT, &a))
			die("checkpoint --kill");
		ck[i] = now() - t0;
		close(dev);
		waitpid(pid, NULL, 0);

		/* The limit: the image read once into memory that is touched for
		 * the first time, as a restore does. */
		fstat(fd, &st);
		mem = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		t0 = now();
		if (mem == MAP_FAILED || pread(fd, mem, st.st_size, 0) != st.st_size)
			die("read the image");
		lim[i] = now() - t0;
		munmap(mem, st.st_size);
		close(fd);

		rs[i] = crctl_restore(img, &pid);
	}
	double tck = median(ck, runs), trs = median(rs, runs), tl = median(lim, runs);

	printf("%5lu MiB process: checkpoint --kill %8.1f ms   restore %8.1f ms   round trip %8.1f ms   "
	       "image read limit %8.1f ms   restore/limit %.2f\n",
	       mib, tck * 1e3, trs * 1e3, (tck + trs) * 1e3, tl * 1e3, trs / tl);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	unlink(img);
}

/* Refuses to measure with a clock that ticks in jiffies. */
static void check_clock(const char *when)
{
	char cs[64] = "";
	FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");

	if (f && fgets(cs, sizeof(cs), f))
		cs[strcspn(cs, "\n")] = 0;
	if (f)
		fclose(f);
	if (strstr(cs, "jiffies")) {
		fprintf(stderr, "cr_bench: the guest clock is '%s' (%s): times would be in 4 ms steps; "
			"boot with tsc=reliable (scripts/vm does)\n", cs, when);
		exit(1);
	}
	if (!strcmp(when, "before"))
		printf("clocksource: %s\n", cs);
}

int main(int argc, char **argv)
{
	check_clock("before");
	if (argc > 1)
		runs = atoi(argv[1]);
	if (runs < 1 || runs > 16)
		runs = 5;
	/* Restored processes are crctl's children; crctl leaves them to us. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	printf("cr bench: each figure is the median of %d runs, measured in one guest\n", runs);
	throughput(16);
	throughput(64);
	throughput(256);
	untouched();
	downtime("0", "1 thread");
	downtime("63", "64 threads");
	class_layer();
	printf("crctl start-up (crctl info): %.1f ms\n", crctl_floor() * 1e3);
	restore_bench(1);
	restore_bench(256);
	check_clock("after");
	return 0;
}
