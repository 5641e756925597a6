// SPDX-License-Identifier: GPL-2.0
/* Resource limits the process set itself (soft and hard) are its own again
 * after the restore, not those of the shell that ran crctl. */
#include <sys/resource.h>

#include "rt.h"

static const struct {
	int res;
	const char *name;
	struct rlimit lim;
} want[] = {
	{ RLIMIT_NOFILE, "NOFILE", { 64, 512 } },
	{ RLIMIT_CORE, "CORE", { 0, 1 << 20 } },
	{ RLIMIT_FSIZE, "FSIZE", { 1 << 30, 2UL << 30 } },
	{ RLIMIT_MSGQUEUE, "MSGQUEUE", { 4096, 8192 } },
	{ RLIMIT_NICE, "NICE", { 3, 5 } },
	{ RLIMIT_STACK, "STACK", { 6 << 20, RLIM_INFINITY } },
};

int main(void)
{
	const int n = sizeof(want) / sizeof(want[0]);
	struct rlimit got;

	for (int i = 0; i < n; i++)
		if (setrlimit(want[i].res, &want[i].lim))
			rt_die("setrlimit");
	rt_ready_wait();
	for (int i = 0; i < n; i++) {
		rt_check(!getrlimit(want[i].res, &got) && got.rlim_cur == want[i].lim.rlim_cur &&
				 got.rlim_max == want[i].lim.rlim_max,
			 "RLIMIT_%s is %llu/%llu, want %llu/%llu", want[i].name,
			 (unsigned long long)got.rlim_cur, (unsigned long long)got.rlim_max,
			 (unsigned long long)want[i].lim.rlim_cur, (unsigned long long)want[i].lim.rlim_max);
	}
	return rt_verdict();
}
