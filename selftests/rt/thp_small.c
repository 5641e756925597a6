// SPDX-License-Identifier: GPL-2.0
/*
 * A restore takes no more memory than the original had: 64 pages scattered
 * over a 16 MiB area (2 MiB aligned, THP-eligible: no MADV_NOHUGEPAGE) that
 * were touched while THP was off for the process (PR_SET_THP_DISABLE, then
 * cleared), so they are 64 small pages. The guest's THP mode is "always":
 * a restore that wrote them with THP allowed would make 8 huge pages (16
 * MiB). After the restore the area holds 64 pages and no huge page, and THP
 * is allowed again (PR_GET_THP_DISABLE is 0), as it was.
 */
#include "rt.h"
#include <sys/prctl.h>

int main(void)
{
	const unsigned long len = 16 * MiB;
	char *a;
	long rss, huge;

	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
		rt_die("PR_SET_THP_DISABLE");
	/* Mapped with THP off, so khugepaged is never told of it. */
	a = rt_aligned_area(len);
	for (unsigned long i = 0; i < 64; i++)
		a[i * (len / 64)] = (char)(i + 1);
	if (prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0))
		rt_die("PR_SET_THP_DISABLE 0");
	rt_area_usage((unsigned long)a, &rss, &huge);
	if (rss != 64 * 4 || huge != 0) {
		rt_say("ERROR the area holds %ld kB (%ld kB huge) before the checkpoint, want 256 kB",
		       rss, huge);
		return 2;
	}
	rt_ready_wait();

	rt_area_usage((unsigned long)a, &rss, &huge);
	rt_check(rss == 64 * 4 && huge == 0,
		 "the area holds %ld kB, %ld kB of it huge pages; the original held 256 kB, none huge",
		 rss, huge);
	for (unsigned long i = 0; i < 64; i++)
		rt_check(a[i * (len / 64)] == (char)(i + 1), "page %lu lost its byte", i);
	rt_check(prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 0, "THP is still disabled");
	return rt_verdict();
}
