// SPDX-License-Identifier: GPL-2.0
/*
 * cr_pty PIDFILE OUT [-i] PROG [ARGS...]: the terminal a test gives a
 * program. Makes a pseudo-terminal (output processing off: the bytes as
 * written), starts PROG with stdout and stderr on it (stdin /dev/null, or
 * the terminal too with -i; not its controlling terminal), writes PROG's pid
 * to PIDFILE, and copies everything written to the terminal into OUT until
 * no one holds the terminal any more (PROG, and a deputy standing for it
 * when it migrated, have ended). Exits with PROG's exit code (128 + N for a
 * death by signal N).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int input = argc > 3 && !strcmp(argv[3], "-i");
	int first = input ? 4 : 3;
	char buf[4096];
	struct termios t;
	int m, s, out, st;
	FILE *pf;
	pid_t pid;

	if (argc <= first) {
		fprintf(stderr, "usage: cr_pty PIDFILE OUT [-i] PROG [ARGS...]\n");
		return 2;
	}
	m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0 || grantpt(m) || unlockpt(m))
		return perror("ptmx"), 2;
	s = open(ptsname(m), O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0 || tcgetattr(s, &t))
		return perror("pts"), 2;
	t.c_oflag &= ~OPOST;
	if (tcsetattr(s, TCSANOW, &t))
		return perror("tcsetattr"), 2;
	out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (out < 0)
		return perror(argv[2]), 2;
	pid = fork();
	if (pid < 0)
		return perror("fork"), 2;
	if (!pid) {
		int null = open("/dev/null", O_RDONLY);

		if (null < 0 || dup2(input ? s : null, 0) < 0 || dup2(s, 1) < 0 || dup2(s, 2) < 0)
			_exit(127);
		if (null > 2)
			close(null);
		execvp(argv[first], argv + first);
		_exit(127);
	}
	close(s);
	pf = fopen(argv[1], "w");
	if (!pf || fprintf(pf, "%d\n", (int)pid) < 0 || fclose(pf))
		return perror(argv[1]), 2;
	for (;;) {
		ssize_t n = read(m, buf, sizeof(buf));

		if (n > 0) {
			if (write(out, buf, n) != n)
				return perror("write"), 2;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		/* EIO: no one holds the terminal's other side any more. */
		break;
	}
	if (waitpid(pid, &st, 0) != pid)
		return perror("waitpid"), 2;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
