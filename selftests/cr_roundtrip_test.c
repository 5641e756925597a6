// SPDX-License-Identifier: GPL-2.0
/*
 * The round-trip suite (zdtm-style): each rt_* program builds one kind of
 * state and says "ready"; it is checkpointed with --kill and restored with
 * crctl (its stdio on new pipes), /proc/PID/maps and the main fields of
 * /proc/PID/status are compared before and after, and then the restored
 * program checks its own state and says PASS or FAIL.
 *
 * The test process is a child subreaper, so a restored process (crctl's
 * child, orphaned when crctl exits) becomes its child and is reaped here.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/cr.h>

#include "cr_harness.h"
#include "cr_util.h"

/* Runs @argv with stdin from a new pipe (*in: its write end) and stdout to
 * another (*out: its read end). */
static pid_t spawn(char *const argv[], int *in, int *out)
{
	int i[2], o[2];
	pid_t pid;

	if (pipe2(i, O_CLOEXEC) || pipe2(o, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(i[0], 0);
		dup2(o[1], 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(i[0]);
	close(o[1]);
	*in = i[1];
	*out = o[0];
	return pid;
}

static int slurp(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n, got = 0;

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf + got, size - 1 - got)) > 0)
		got += n;
	close(fd);
	buf[got] = 0;
	return got;
}

/* The /proc/PID/status fields a restore must give back. */
static const char *const fields[] = {
	"Name:", "Umask:", "Tgid:", "Pid:", "PPid:", "Uid:", "Gid:", "Threads:",
	"SigPnd:", "ShdPnd:", "SigBlk:", "SigIgn:", "SigCgt:", "VmSize:", "VmData:",
	"VmStk:", "VmExe:", "VmLck:", "NoNewPrivs:",
};

struct snapshot {
	char maps[65536 * 4];
	char status[4096];
	char vmflags[65536 * 4];	/* "start VmFlags" of each area */
};

/* Each area's VmFlags line of /proc/PID/smaps, after its start address. */
static int snap_vmflags(pid_t pid, char *out, size_t size)
{
	char path[64], line[1024], perms[8];
	unsigned long start = 0, end;
	size_t used = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	out[0] = 0;
	while (fgets(line, sizeof(line), f)) {
		int n;

		if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) == 3 ||
		    strncmp(line, "VmFlags:", 8))
			continue;
		/* " ac" and " nr" (commit charge): a restore flips VM_NORESERVE
		 * on an area the original kept apart from an identical neighbour
		 * only by history (Documentation/design.rst, limits). */
		for (char *t; (t = strstr(line + 8, " ac")) || (t = strstr(line + 8, " nr"));)
			memcpy(t, " --", 3);
		n = snprintf(out + used, size - used, "%lx%s", start, line + 8);
		if (n < 0 || (size_t)n >= size - used)
			break;	/* full: compare what fits */
		used += n;
	}
	fclose(f);
	return 0;
}

/* With @timer_signals, pending signals and the blocked mask are not
 * compared: a program whose periodic timer keeps firing has one pending at
 * any instant or none, and is inside its handler (SIGALRM blocked) or not. */
static int snap(pid_t pid, struct snapshot *s, int timer_signals)
{
	char path[64], all[8192];

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	if (slurp(path, s->maps, sizeof(s->maps)) < 0)
		return -1;
	if (snap_vmflags(pid, s->vmflags, sizeof(s->vmflags)))
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (slurp(path, all, sizeof(all)) < 0)
		return -1;
	s->status[0] = 0;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		char *at = strstr(all, fields[i]), *end;

		if (!at || (timer_signals && (strstr(fields[i], "Pnd:") || !strcmp(fields[i], "SigBlk:"))))
			continue;
		end = strchr(at, '\n');
		strncat(s->status, at, end ? (size_t)(end - at + 1) : strlen(at));
	}
	return 0;
}

/* The first line where @a and @b differ, for the log. */
static void first_difference(const char *a, const char *b, char *out, size_t size)
{
	while (*a && *b) {
		const char *ea = strchrnul(a, '\n'), *eb = strchrnul(b, '\n');

		if (ea - a != eb - b || memcmp(a, b, ea - a)) {
			snprintf(out, size, "before: %.*s | after: %.*s", (int)(ea - a), a, (int)(eb - b), b);
			return;
		}
		a = *ea ? ea + 1 : ea;
		b = *eb ? eb + 1 : eb;
	}
	snprintf(out, size, "before: %.80s | after: %.80s", a, b);
}

FIXTURE(rt) {
	pid_t pid;
	int in, out;
	char img[64];
	struct snapshot before, after;
};

FIXTURE_VARIANT(rt) {
	const char *prog;
	int generations;
	int timer_signals;	/* a periodic timer: pending signals vary */
};

FIXTURE_VARIANT_ADD(rt, big_256) { .prog = "rt_big_256", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, big_map_holes) { .prog = "rt_big_map_holes", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, brk) { .prog = "rt_brk", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, busy_loop) { .prog = "rt_busy_loop", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, comm) { .prog = "rt_comm", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, cwd) { .prog = "rt_cwd", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, dontneed) { .prog = "rt_dontneed", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, fd_flags) { .prog = "rt_fd_flags", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, file_cow) { .prog = "rt_file_cow", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, file_private) { .prog = "rt_file_private", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, file_shared) { .prog = "rt_file_shared", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, file_shared_ro) { .prog = "rt_file_shared_ro", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, files_offsets) { .prog = "rt_files_offsets", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, fork_after) { .prog = "rt_fork_after", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, futex_timed) { .prog = "rt_futex_timed", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, futex_wait) { .prog = "rt_futex_wait", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, generations) { .prog = "rt_generations", .generations = 3 };
FIXTURE_VARIANT_ADD(rt, globals) { .prog = "rt_globals", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, gs_base) { .prog = "rt_gs_base", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, heap) { .prog = "rt_heap", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, high_map) { .prog = "rt_high_map", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, in_handler) { .prog = "rt_in_handler", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, itimers) { .prog = "rt_itimers", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, itimer_periodic) {
	.prog = "rt_itimer_periodic", .generations = 1, .timer_signals = 1,
};
FIXTURE_VARIANT_ADD(rt, madvise_flags) { .prog = "rt_madvise_flags", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, many_vmas) { .prog = "rt_many_vmas", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, many_vmas_40k) { .prog = "rt_many_vmas_40k", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, mlock) { .prog = "rt_mlock", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, mmap_after) { .prog = "rt_mmap_after", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, mprotect) { .prog = "rt_mprotect", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, mremap) { .prog = "rt_mremap", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, o_path) { .prog = "rt_o_path", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, nanosleep_abs) { .prog = "rt_nanosleep_abs", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, nanosleep_rel) { .prog = "rt_nanosleep_rel", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, pids) { .prog = "rt_pids", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, pipe_data) { .prog = "rt_pipe_data", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, poll_pipe) { .prog = "rt_poll_pipe", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, poll_timeout) { .prog = "rt_poll_timeout", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, proc_settings) { .prog = "rt_proc_settings", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, read_pipe) { .prog = "rt_read_pipe", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, regs_avx) { .prog = "rt_regs_avx", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, regs_gp) { .prog = "rt_regs_gp", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, regs_sse) { .prog = "rt_regs_sse", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, regs_x87) { .prog = "rt_regs_x87", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, rlimits) { .prog = "rt_rlimits", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, robust_mutex) { .prog = "rt_robust_mutex", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, rseq_cpu) { .prog = "rt_rseq_cpu", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, segv_handler) { .prog = "rt_segv_handler", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, sig_altstack) { .prog = "rt_sig_altstack", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, sig_blocked) { .prog = "rt_sig_blocked", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, sig_handlers) { .prog = "rt_sig_handlers", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, sig_pending) { .prog = "rt_sig_pending", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, stack) { .prog = "rt_stack", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, stack_grow) { .prog = "rt_stack_grow", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, thp_small) { .prog = "rt_thp_small", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, thp_whole) { .prog = "rt_thp_whole", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, thread_exit_join) { .prog = "rt_thread_exit_join", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, thread_masks) { .prog = "rt_thread_masks", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, threads_tls) { .prog = "rt_threads_tls", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, umask) { .prog = "rt_umask", .generations = 1 };
FIXTURE_VARIANT_ADD(rt, vdso_clock) { .prog = "rt_vdso_clock", .generations = 1 };

FIXTURE_SETUP(rt)
{
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	self->pid = -1;
	self->in = self->out = -1;
	snprintf(self->img, sizeof(self->img), "/tmp/cr-rt-%d.img", getpid());
}

FIXTURE_TEARDOWN(rt)
{
	if (self->pid > 0) {
		kill(self->pid, SIGKILL);
		waitpid(self->pid, NULL, 0);
	}
	unlink(self->img);
}

TEST_F_TIMEOUT(rt, round_trip, 600)
{
	char prog[4200], line[600], diff[1400];
	char *argv[] = { prog, NULL };
	int status;

	/* CR_RT_SKIP="rt_a rt_b": programs this run leaves to another (make
	 * check runs rt_many_vmas_40k in the fast guest only: under KASAN its
	 * 40,000 areas take minutes). */
	const char *skip = getenv("CR_RT_SKIP");

	for (const char *w = skip; w && (w = strstr(w, variant->prog)); w++) {
		size_t n = strlen(variant->prog);

		if ((w == skip || w[-1] == ' ') && (w[n] == 0 || w[n] == ' '))
			SKIP(return, "%s: in CR_RT_SKIP", variant->prog);
	}
	snprintf(prog, sizeof(prog), "%s", cr_sibling(variant->prog));
	self->pid = spawn(argv, &self->in, &self->out);
	ASSERT_LT(0, self->pid);
	ASSERT_LE(0, read_line(self->out, line, sizeof(line), 120000)) TH_LOG("no word from %s", prog);
	if (!strncmp(line, "SKIP", 4))
		SKIP(return, "%s", line);
	ASSERT_STREQ("ready", line);
	ASSERT_EQ(0, snap(self->pid, &self->before, variant->timer_signals));

	for (int gen = 1; gen <= variant->generations; gen++) {
		char *crctl[] = { "crctl", "restore", self->img, NULL };
		pid_t c, was = self->pid;
		int in, out;

		ASSERT_EQ(0, checkpoint_kill(self->pid, self->img));
		ASSERT_EQ(self->pid, waitpid(self->pid, &status, 0));
		ASSERT_TRUE(WIFSIGNALED(status));
		self->pid = -1;
		close(self->in);
		close(self->out);

		c = spawn(crctl, &in, &out);
		ASSERT_LT(0, c);
		ASSERT_EQ(c, waitpid(c, &status, 0));
		self->in = in;
		self->out = out;
		ASSERT_TRUE(WIFEXITED(status));
		ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("crctl restore failed (generation %d)", gen);
		ASSERT_LE(0, read_line(self->out, line, sizeof(line), 10000));
		self->pid = atoi(line);
		ASSERT_EQ(was, self->pid) TH_LOG("restored as pid %s, was %d", line, was);

		ASSERT_EQ(0, snap(self->pid, &self->after, variant->timer_signals));
		first_difference(self->before.maps, self->after.maps, diff, sizeof(diff));
		EXPECT_STREQ(self->before.maps, self->after.maps) TH_LOG("maps, generation %d: %s", gen, diff);
		first_difference(self->before.vmflags, self->after.vmflags, diff, sizeof(diff));
		EXPECT_STREQ(self->before.vmflags, self->after.vmflags) TH_LOG("VmFlags, generation %d: %s", gen, diff);
		first_difference(self->before.status, self->after.status, diff, sizeof(diff));
		EXPECT_STREQ(self->before.status, self->after.status) TH_LOG("status, generation %d: %s", gen, diff);
	}

	ASSERT_EQ(3, write(self->in, "go\n", 3));
	ASSERT_LE(0, read_line(self->out, line, sizeof(line), 120000)) TH_LOG("no verdict");
	EXPECT_STREQ("PASS", line);
	ASSERT_EQ(self->pid, waitpid(self->pid, &status, 0));
	self->pid = -1;
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/* Every rt_* program next to this one has a case above. */
TEST(every_program_has_a_case)
{
	DIR *d = opendir(cr_test_dir());
	struct dirent *e;
	int programs = 0;

	ASSERT_NE(NULL, d);
	while ((e = readdir(d)))
		programs += !strncmp(e->d_name, "rt_", 3);
	closedir(d);
	EXPECT_EQ(61, programs);
}

TEST_HARNESS_MAIN
