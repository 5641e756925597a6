// SPDX-License-Identifier: GPL-2.0
/*
 * criu_bench: cr against CRIU, side by side in one guest (make bench-criu).
 *
 * For processes of 1, 64 and 256 MiB of touched anonymous memory (one
 * thread) and a 64-thread process of 1 MiB, each run, for cr and then for
 * CRIU:
 *
 *   1. starts a fresh target (this program, "target MIB THREADS") under
 *      setsid, stdin /dev/null, stdout and stderr a log file on tmpfs;
 *   2. dump: `crctl checkpoint PID -o IMG` / `criu dump -t PID -D DIR
 *      --leave-running`, the whole command's wall time; both leave the
 *      target running, images on tmpfs (/tmp);
 *   3. downtime, freeze to thaw: cr's frozen time (the kernel's frozen_ns,
 *      which crctl prints as "stopped for"; 0.1 ms resolution), CRIU's
 *      "Freezing time" + "Frozen time" from --display-stats (from the start of
 *      the seize to the end of the thaw);
 *   4. kills the original and reaps it (not timed);
 *   5. restore: `crctl restore IMG` / `criu restore -D DIR -d`, the whole
 *      command's wall time; both return once the restored process runs on
 *      its own (as our child: we are a subreaper), with its original pid;
 *   6. checks the restored process: its pid, its thread count, and its
 *      answer to SIGUSR1 (it reads back every touched byte and writes "ok"
 *      or "BROKEN" to its log), so a restore that failed cannot look fast;
 *      then kills it.
 *
 * Every figure is the median of RUNS runs; the ratio is CRIU time / cr time
 * (above 1: cr is faster). A case that fails prints the error instead of a
 * number. CRIU runs with LD_PRELOAD=criu_shim.so (next to this program;
 * bench/criu_shim.c says why). Every wait is bounded.
 *
 *   criu_bench [RUNS]              (in the guest, as root)
 *   criu_bench target MIB THREADS  (the target; started by the bench)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MiB (1UL << 20)
#define WORK "/tmp/criu-bench"
#define LOG WORK "/target.log"
#define IMG WORK "/cr.img"
#define CRIU_IMG WORK "/criu"
#define OUT WORK "/out"
#define PIDFILE WORK "/criu.pid"
#define MAX_RUNS 16

static char shim[PATH_MAX];

/* ---- the target -------------------------------------------------------- */

static unsigned char *mem;
static size_t mem_len;

static uint64_t pattern(size_t off)
{
	return off * 0x9e3779b97f4a7c15ULL;
}

/*
 * SIGUSR1: reads back every touched byte and says "ok" or where it differs.
 * The main thread does nothing but pause(), so snprintf is safe here.
 */
static void check_memory(int sig)
{
	char line[64];
	int n = 3;

	memcpy(line, "ok\n", 3);
	for (size_t off = 0; off < mem_len; off += 8)
		if (*(uint64_t *)(mem + off) != pattern(off)) {
			n = snprintf(line, sizeof(line), "BROKEN at offset %zu\n", off);
			break;
		}
	if (write(1, line, n) != n)
		_exit(3);
}

static void *pauser(void *arg)
{
	for (;;)
		pause();
	return NULL;
}

/* Touches MIB MiB, starts THREADS - 1 more threads, says "ready", waits. */
static int target(unsigned long mib, unsigned long threads)
{
	struct sigaction sa = { .sa_handler = check_memory, .sa_flags = SA_RESTART };
	sigset_t all, none;
	pthread_t t;

	mem_len = mib * MiB;
	mem = mmap(NULL, mem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return 2;
	/* An ordinary process: no madvise, the guest's THP setting (always)
	 * applies as it would to any program. */
	for (size_t off = 0; off < mem_len; off += 8)
		*(uint64_t *)(mem + off) = pattern(off);
	/* The other threads block every signal (they inherit the mask), so
	 * SIGUSR1 goes to the main one. */
	sigfillset(&all);
	sigemptyset(&none);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	for (unsigned long i = 1; i < threads; i++)
		if (pthread_create(&t, NULL, pauser, NULL))
			return 2;
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	if (write(1, "ready\n", 6) != 6)
		return 3;
	for (;;)
		pause();
}

/* ---- the bench --------------------------------------------------------- */

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* What failed, for the table: set once per case and system. */
struct result {
	double dump[MAX_RUNS], restore[MAX_RUNS], down[MAX_RUNS];
	char err[256];
};

static int fail(struct result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	return -1;
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : st.st_size;
}

/* The text of @path from @from on (at most @len - 1 bytes), "" if none. */
static char *read_from(const char *path, off_t from, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? 0 : pread(fd, buf, len - 1, from);

	buf[n > 0 ? n : 0] = 0;
	if (fd >= 0)
		close(fd);
	return buf;
}

/* Empties and removes the directory @path (CRIU's images: files only). */
static void remove_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
	rmdir(path);
}

/* The first line of OUT that is a number (crctl restore's pid); -1 if none. */
static pid_t out_pid(void)
{
	static char buf[4096];
	char *line = read_from(OUT, 0, buf, sizeof(buf));

	for (; *line; line += strcspn(line, "\n") + (line[strcspn(line, "\n")] != 0)) {
		size_t digits = strspn(line, "0123456789");

		if (digits && line[digits] == '\n')
			return atoi(line);
	}
	return -1;
}

static void on_alarm(int sig)
{
}

/*
 * Waits up to @ms for @pid to end and reaps it; 0 once it is gone. The wait
 * blocks (a timed command's end is seen at once), and a timer interrupts it.
 */
static int reap(pid_t pid, long ms, int *status)
{
	struct itimerval it = { .it_value = { ms / 1000, (ms % 1000) * 1000 } }, off = { 0 };
	pid_t w;

	setitimer(ITIMER_REAL, &it, NULL);
	w = waitpid(pid, status, 0);
	setitimer(ITIMER_REAL, &off, NULL);
	if (w == pid)
		return 0;
	/* Not our child (no subreaper): gone once kill(0) says so. */
	for (long i = 0; w < 0 && errno == ECHILD && i <= ms; i++) {
		if (kill(pid, 0) && errno == ESRCH)
			return 0;
		sleep_ms(1);
	}
	return -1;
}

static void kill_and_reap(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		reap(pid, 30000, NULL);
	}
}

/*
 * Runs @argv (PATH lookup) with stdout and stderr to OUT, @env added;
 * returns its wall time from fork to exit, or -1 if it failed (@r says why).
 */
static double run(struct result *r, char *const argv[], const char *env, long timeout_ms)
{
	double t0 = now(), t;
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		int out = open(OUT, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int null = open("/dev/null", O_RDONLY);

		if (out < 0 || null < 0)
			_exit(126);
		dup2(null, 0);
		dup2(out, 1);
		dup2(out, 2);
		if (env)
			putenv((char *)env);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid < 0)
		return fail(r, "fork: %s", strerror(errno));
	if (reap(pid, timeout_ms, &status)) {
		kill_and_reap(pid);
		return fail(r, "%s did not finish within %ld s", argv[0], timeout_ms / 1000);
	}
	t = now() - t0;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		char buf[200];

		read_from(OUT, 0, buf, sizeof(buf));
		buf[strcspn(buf, "\n")] = 0;
		return fail(r, "%s %s failed (status %#x): %s", argv[0], argv[1], status, buf);
	}
	return t;
}

/* Starts a target of @mib MiB and @threads threads; its pid once ready. */
static pid_t start_target(struct result *r, unsigned long mib, unsigned long threads)
{
	char a1[32], a2[32], buf[64];
	pid_t pid;

	unlink(LOG);
	snprintf(a1, sizeof(a1), "%lu", mib);
	snprintf(a2, sizeof(a2), "%lu", threads);
	pid = fork();
	if (pid == 0) {
		int log = open(LOG, O_WRONLY | O_CREAT | O_APPEND, 0600);
		int null = open("/dev/null", O_RDONLY);

		if (log < 0 || null < 0 || setsid() < 0)
			_exit(126);
		dup2(null, 0);
		dup2(log, 1);
		dup2(log, 2);
		close(null);
		close(log);
		execl("/proc/self/exe", "criu_bench", "target", a1, a2, (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		return fail(r, "fork: %s", strerror(errno));
	for (int i = 0; i < 120000; i++) {
		if (!strcmp(read_from(LOG, 0, buf, sizeof(buf)), "ready\n"))
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return fail(r, "the target exited: %s", buf);
		sleep_ms(1);
	}
	kill_and_reap(pid);
	return fail(r, "the target was not ready within 120 s");
}

static int threads_of(pid_t pid)
{
	char path[64], line[128];
	int n = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	if (f)
		fclose(f);
	return n;
}

/* The restored process must be @pid, have @threads threads and answer "ok". */
static int check_restored(struct result *r, const char *who, pid_t pid, unsigned long threads)
{
	off_t from = file_size(LOG);
	char buf[128];
	int n = threads_of(pid);

	if (n != (int)threads)
		return fail(r, "%s: the restored process %d has %d threads, not %lu", who, pid, n, threads);
	if (from < 0 || kill(pid, SIGUSR1))
		return fail(r, "%s: cannot signal the restored process %d: %s", who, pid, strerror(errno));
	for (int i = 0; i < 120000; i++) {
		read_from(LOG, from, buf, sizeof(buf));
		if (strchr(buf, '\n')) {
			if (strcmp(buf, "ok\n"))
				return fail(r, "%s: the restored process's memory check says: %s", who, buf);
			return 0;
		}
		if (kill(pid, 0))
			return fail(r, "%s: the restored process %d died", who, pid);
		sleep_ms(1);
	}
	return fail(r, "%s: the restored process %d did not answer within 120 s", who, pid);
}

/* The value after @key in OUT (e.g. "stopped for " -> 0.4); -1 if absent. */
static double out_value(const char *key)
{
	static char buf[8192];
	char *p = strstr(read_from(OUT, 0, buf, sizeof(buf)), key);

	return p ? strtod(p + strlen(key), NULL) : -1;
}

/*
 * What a failed criu says: the first and the last error of its log, their
 * timestamps cut. Lines "util.c:...: exited, status=1" are left out: criu
 * logs so the exit of its iptables probes (there is no iptables in the
 * guest), then goes on.
 */
static const char *criu_error(const char *log)
{
	static char buf[1 << 20], msg[240];
	char *p = read_from(log, 0, buf, sizeof(buf)), *first = NULL, *last = NULL;

	while ((p = strstr(p, "Error ("))) {
		int len = strcspn(p, "\n");

		if (!memmem(p, len, "exited, status=", 15)) {
			if (!first)
				first = p;
			last = p;
		}
		p += len;
	}
	if (!first)
		return "(no error in its log)";
	if (first == last)
		snprintf(msg, sizeof(msg), "%.*s", (int)strcspn(first, "\n"), first);
	else
		snprintf(msg, sizeof(msg), "%.*s ... %.*s", (int)strcspn(first, "\n"), first,
			 (int)strcspn(last, "\n"), last);
	return msg;
}

/* One run with cr: dump, downtime, restore, check. */
static int run_cr(struct result *r, int i, unsigned long mib, unsigned long threads)
{
	char pidarg[16];
	pid_t pid = start_target(r, mib, threads), restored;
	double t;

	if (pid < 0)
		return -1;
	snprintf(pidarg, sizeof(pidarg), "%d", pid);
	unlink(IMG);
	t = run(r, (char *const[]){ "crctl", "checkpoint", pidarg, "-o", IMG, NULL }, NULL, 300000);
	if (t < 0)
		return kill_and_reap(pid), -1;
	r->dump[i] = t;
	r->down[i] = out_value("stopped for ") / 1e3;
	kill_and_reap(pid);
	if (r->down[i] < 0)
		return fail(r, "crctl printed no downtime");

	t = run(r, (char *const[]){ "crctl", "restore", IMG, NULL }, NULL, 300000);
	unlink(IMG);
	if (t < 0)
		return kill_and_reap(pid), -1;
	r->restore[i] = t;
	restored = out_pid();
	if (restored != pid)
		return kill_and_reap(restored), fail(r, "crctl restore: pid %d, not %d", restored, pid);
	if (check_restored(r, "cr", restored, threads))
		return kill_and_reap(restored), -1;
	kill_and_reap(restored);
	return 0;
}

/* One run with CRIU: dump, downtime, restore, check. */
static int run_criu(struct result *r, int i, unsigned long mib, unsigned long threads)
{
	char pidarg[16], buf[32], env[PATH_MAX + 16];
	pid_t pid = start_target(r, mib, threads), restored;
	double t, freezing, frozen;

	if (pid < 0)
		return -1;
	snprintf(pidarg, sizeof(pidarg), "%d", pid);
	snprintf(env, sizeof(env), "LD_PRELOAD=%s", shim);
	remove_dir(CRIU_IMG);
	if (mkdir(CRIU_IMG, 0700))
		return kill_and_reap(pid), fail(r, "cannot make " CRIU_IMG);
	t = run(r, (char *const[]){ "criu", "dump", "-t", pidarg, "-D", CRIU_IMG, "--leave-running",
				     "--display-stats", "-o", "dump.log", NULL }, env, 300000);
	if (t < 0) {
		kill_and_reap(pid);
		return fail(r, "criu dump failed: %s", criu_error(CRIU_IMG "/dump.log"));
	}
	r->dump[i] = t;
	freezing = out_value("Freezing time: ");
	frozen = out_value("Frozen time: ");
	kill_and_reap(pid);
	if (freezing < 0 || frozen < 0)
		return fail(r, "criu dump printed no Freezing/Frozen time");
	r->down[i] = (freezing + frozen) / 1e6;

	unlink(PIDFILE);
	t = run(r, (char *const[]){ "criu", "restore", "-D", CRIU_IMG, "-d", "--pidfile", PIDFILE,
				     "-o", "restore.log", NULL }, env, 300000);
	if (t < 0) {
		/* A failed restore may have left a task behind. */
		kill_and_reap(pid);
		return fail(r, "criu restore failed: %s", criu_error(CRIU_IMG "/restore.log"));
	}
	r->restore[i] = t;
	restored = atoi(read_from(PIDFILE, 0, buf, sizeof(buf)));
	remove_dir(CRIU_IMG);
	if (restored != pid)
		return kill_and_reap(restored), kill_and_reap(pid),
		       fail(r, "criu restore: pid %d, not %d", restored, pid);
	if (check_restored(r, "CRIU", restored, threads))
		return kill_and_reap(restored), -1;
	kill_and_reap(restored);
	return 0;
}

/* cr's and CRIU's medians (in ms) and their ratio; "-" for a side that failed. */
static void cell(const struct result *cr, double *a, const struct result *criu, double *b, int runs)
{
	double x = median(a, runs), y = median(b, runs);

	if (cr->err[0])
		printf("  %9s", "-");
	else
		printf("  %9.1f", x * 1e3);
	if (criu->err[0])
		printf(" %9s", "-");
	else
		printf(" %9.1f", y * 1e3);
	if (cr->err[0] || criu->err[0])
		printf(" %7s", "-");
	else
		printf(" %7.2f", y / x);
}

static void one_case(int runs, unsigned long mib, unsigned long threads)
{
	static struct result cr, criu;
	char label[48];

	memset(&cr, 0, sizeof(cr));
	memset(&criu, 0, sizeof(criu));
	snprintf(label, sizeof(label), "%lu MiB, %lu thread%s", mib, threads, threads == 1 ? "" : "s");
	/* Alternate, so drift in the guest hits both alike. */
	for (int i = 0; i < runs; i++) {
		if (!cr.err[0])
			run_cr(&cr, i, mib, threads);
		if (!criu.err[0])
			run_criu(&criu, i, mib, threads);
	}
	printf("%-19s", label);
	cell(&cr, cr.dump, &criu, criu.dump, runs);
	cell(&cr, cr.restore, &criu, criu.restore, runs);
	cell(&cr, cr.down, &criu, criu.down, runs);
	printf("\n");
	if (cr.err[0])
		printf("    cr failed: %s\n", cr.err);
	if (criu.err[0])
		printf("    CRIU failed: %s\n", criu.err);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int runs = 3;
	char *slash, buf[512];
	ssize_t n;

	if (argc == 4 && !strcmp(argv[1], "target"))
		return target(strtoul(argv[2], NULL, 0), strtoul(argv[3], NULL, 0));
	if (argc > 1)
		runs = atoi(argv[1]);
	if (runs < 1 || runs > MAX_RUNS)
		runs = 3;
	/* The shim lives next to this program. */
	n = readlink("/proc/self/exe", shim, sizeof(shim) - 32);
	if (n < 0)
		return perror("criu_bench: /proc/self/exe"), 1;
	shim[n] = 0;
	slash = strrchr(shim, '/');
	strcpy(slash ? slash + 1 : shim, "criu_shim.so");
	if (access(shim, R_OK))
		return fprintf(stderr, "criu_bench: %s: %s\n", shim, strerror(errno)), 1;
	mkdir(WORK, 0700);
	/* SIGALRM ends a wait that ran out (reap()): no SA_RESTART. */
	sigaction(SIGALRM, &(struct sigaction){ .sa_handler = on_alarm }, NULL);
	/* Restored processes end up as our children: crctl and criu -d leave them. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);

	printf("cr vs CRIU: each figure the median of %d runs in one guest; ratio = CRIU / cr "
	       "(above 1: cr is faster)\n", runs);
	{
		struct result warm = { 0 };
		char ver[128];

		/* One unmeasured round of each first, of the biggest case:
		 * CRIU probes the kernel on its first run (and caches what it
		 * found in /run/criu.kdat), and the first use of guest memory
		 * is slower (QEMU's host pages are faulted in on first touch:
		 * the first 64 and 256 MiB runs took 1.5-3 times longer). */
		run(&warm, (char *const[]){ "criu", "--version", NULL }, NULL, 60000);
		read_from(OUT, 0, ver, sizeof(ver));
		ver[strcspn(ver, "\n")] = 0;
		printf("%s (Debian), kernel command line: %s", ver,
		       read_from("/proc/cmdline", 0, buf, sizeof(buf)));
		if (run_cr(&warm, 0, 256, 1) || run_criu(&warm, 0, 256, 1))
			printf("warm-up failed: %s\n", warm.err);
	}
	printf("%-19s  %29s  %29s  %29s\n", "", "dump (ms)", "restore (ms)", "downtime (ms)");
	printf("%-19s", "");
	for (int i = 0; i < 3; i++)
		printf("  %9s %9s %7s", "cr", "CRIU", "ratio");
	printf("\n");
	one_case(runs, 1, 1);
	one_case(runs, 64, 1);
	one_case(runs, 256, 1);
	one_case(runs, 1, 64);
	return 0;
}
