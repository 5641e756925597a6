// SPDX-License-Identifier: GPL-2.0
/*
 * Runs a command as another user, for tests in the busybox guest (which has
 * no user database, so no su):
 *
 *   cr_runas UID GID COMMAND [ARG...]
 *
 * Drops the supplementary groups, sets the gid and then the uid (real,
 * effective and saved), and execs COMMAND (looked up in PATH). Exits 127 if
 * any step fails.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char *end;
	unsigned long uid, gid;

	if (argc < 4) {
		fprintf(stderr, "usage: cr_runas UID GID COMMAND [ARG...]\n");
		return 127;
	}
	uid = strtoul(argv[1], &end, 10);
	if (*argv[1] == '\0' || *end != '\0')
		return fprintf(stderr, "cr_runas: %s is not a uid\n", argv[1]), 127;
	gid = strtoul(argv[2], &end, 10);
	if (*argv[2] == '\0' || *end != '\0')
		return fprintf(stderr, "cr_runas: %s is not a gid\n", argv[2]), 127;
	if (setgroups(0, NULL) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid)) {
		fprintf(stderr, "cr_runas: cannot become %lu:%lu: %s\n", uid, gid, strerror(errno));
		return 127;
	}
	execvp(argv[3], argv + 3);
	fprintf(stderr, "cr_runas: %s: %s\n", argv[3], strerror(errno));
	return 127;
}
