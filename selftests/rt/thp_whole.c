// SPDX-License-Identifier: GPL-2.0
/*
 * A range the image holds whole comes back as the huge page it can be: an
 * 8 MiB area (2 MiB aligned, THP-eligible; the guest's THP mode is
 * "always") with every page written. After the restore every byte is back,
 * the area holds its 8 MiB (no more) and at least one of its four 2 MiB
 * ranges is a huge page again (the restore allowed THP where the image has
 * all 512 pages of a range; rt/thp_small checks the opposite: a sparse area
 * stays small).
 */
#include "rt.h"

int main(void)
{
	const unsigned long len = 8 * MiB;
	char *a;
	long rss, huge, at;

	a = rt_aligned_area(len);
	rt_fill(a, len, 7);
	rt_ready_wait();

	rt_area_usage((unsigned long)a, &rss, &huge);
	rt_check(rss == (long)(len / 1024), "the area holds %ld kB, the original %lu kB", rss,
		 len / 1024);
	rt_check(huge >= 2048, "no 2 MiB range of the area is a huge page (%ld kB huge)", huge);
	at = rt_differs(a, len, 7);
	rt_check(at < 0, "the area differs from what was written at byte %ld", at);
	return rt_verdict();
}
