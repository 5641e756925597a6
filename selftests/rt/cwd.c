// SPDX-License-Identifier: GPL-2.0
/* The working directory: a directory of its own, entered by relative
 * paths after the restore. */
#include "rt.h"

int main(void)
{
	char dir[160], sub[200], got[4096];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", rt_path("cwd"));
	snprintf(sub, sizeof(sub), "%s/deeper", dir);
	if (mkdir(dir, 0700) || mkdir(sub, 0700) || chdir(sub))
		rt_die("mkdir/chdir");
	rt_ready_wait();
	rt_check(getcwd(got, sizeof(got)) && !strcmp(got, sub), "cwd is %.200s, want %.200s", got, sub);
	rt_check(!stat("../deeper", &st) && S_ISDIR(st.st_mode), "a relative path does not resolve");
	chdir("/");
	rmdir(sub);
	rmdir(dir);
	return rt_verdict();
}
