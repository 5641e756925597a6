// SPDX-License-Identifier: GPL-2.0
/* The vdso works after the restore: clock_gettime and gettimeofday, and
 * monotonic time does not go back. */
#include "rt.h"
#include <sys/time.h>

int main(void)
{
	struct timespec a, b, r;
	struct timeval tv;

	clock_gettime(CLOCK_MONOTONIC, &a);
	rt_ready_wait();
	clock_gettime(CLOCK_MONOTONIC, &b);
	clock_gettime(CLOCK_REALTIME, &r);
	gettimeofday(&tv, NULL);
	rt_check(b.tv_sec > a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec >= a.tv_nsec),
		 "monotonic time went back");
	rt_check(r.tv_sec > 1600000000 && tv.tv_sec > 1600000000, "wall clock %ld", (long)r.tv_sec);
	return rt_verdict();
}
