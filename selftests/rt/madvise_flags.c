// SPDX-License-Identifier: GPL-2.0
/* Per-area madvise state comes back, as /proc/self/smaps shows it (VmFlags):
 * MADV_NOHUGEPAGE (nh), MADV_HUGEPAGE (hg), MADV_DONTFORK (dc),
 * MADV_WIPEONFORK (wf), MADV_DONTDUMP (dd), MADV_SEQUENTIAL (sr) and
 * MADV_RANDOM (rr) and MADV_MERGEABLE (mg, KSM), each on an area of its own between guard areas (so none
 * merges with another). A 64 MiB MADV_NOHUGEPAGE area with 64 scattered
 * pages touched is still 64 pages after the restore, not 64 huge pages. */
#include "rt.h"

static const struct {
	int advice;
	const char *flag;
} advice[] = {
	{ MADV_NOHUGEPAGE, "nh" }, { MADV_HUGEPAGE, "hg" },   { MADV_DONTFORK, "dc" },
	{ MADV_WIPEONFORK, "wf" }, { MADV_DONTDUMP, "dd" },   { MADV_SEQUENTIAL, "sr" },
	{ MADV_RANDOM, "rr" },      { MADV_MERGEABLE, "mg" },
};
#define N (sizeof(advice) / sizeof(advice[0]))
#define AREA (4 * 4096UL)

/* Whether the smaps entry of the area at @addr has VmFlags @flag; its Rss
 * (kB) into *@rss. */
static int has_flag(unsigned long addr, const char *flag, long *rss)
{
	char line[512], perms[8];
	unsigned long start, end;
	int in = 0, found = -1;
	FILE *f = fopen("/proc/self/smaps", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) == 3)
			in = start == addr;
		else if (in && rss && !strncmp(line, "Rss:", 4))
			*rss = atol(line + 4);
		else if (in && !strncmp(line, "VmFlags:", 8)) {
			char pat[8];

			snprintf(pat, sizeof(pat), " %s", flag);
			found = !!strstr(line + 8, pat);
			break;
		}
	}
	if (f)
		fclose(f);
	return found;
}

int main(void)
{
	char *m = mmap(NULL, (2 * N + 1) * AREA, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	const unsigned long big_len = 64 * MiB;
	char *big = mmap(NULL, big_len + 2 * MiB, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	long rss = -1;

	if (m == MAP_FAILED || big == MAP_FAILED)
		rt_die("mmap");
	for (unsigned long i = 0; i < N; i++) {
		char *a = m + (2 * i + 1) * AREA;

		/* A guard area on each side keeps it from merging. */
		if (mprotect(a - AREA, AREA, PROT_NONE) || madvise(a, AREA, advice[i].advice))
			rt_die("madvise");
		memset(a, (int)i + 1, AREA);
	}
	mprotect(m + 2 * N * AREA, AREA, PROT_NONE);
	/* 2 MiB aligned, so a fault could take a huge page were it allowed. */
	big = (char *)(((unsigned long)big + 2 * MiB - 1) & ~(2 * MiB - 1));
	if (madvise(big, big_len, MADV_NOHUGEPAGE))
		rt_die("madvise big");
	for (unsigned long i = 0; i < 64; i++)
		big[i * MiB + 4096] = 1;
	for (unsigned long i = 0; i < N; i++)
		if (has_flag((unsigned long)(m + (2 * i + 1) * AREA), advice[i].flag, NULL) != 1) {
			errno = 0;
			rt_die(advice[i].flag);
		}
	rt_ready_wait();
	for (unsigned long i = 0; i < N; i++) {
		char *a = m + (2 * i + 1) * AREA;
		int got = has_flag((unsigned long)a, advice[i].flag, NULL);

		rt_check(got == 1, "VmFlags of the %s area lost %s (%d)", advice[i].flag, advice[i].flag,
			 got);
		for (unsigned long j = 0; j < AREA && advice[i].advice != MADV_WIPEONFORK; j++)
			if (a[j] != (char)(i + 1)) {
				rt_check(0, "the %s area's bytes changed", advice[i].flag);
				break;
			}
	}
	rt_check(has_flag((unsigned long)big, "nh", &rss) == 1, "the big area lost nh");
	rt_check(rss >= 0 && rss <= 64 * 4 + 64, "the big area has %ld kB resident, want 64 pages",
		 rss);
	for (unsigned long i = 0; i < 64; i++)
		rt_check(big[i * MiB + 4096] == 1, "a page of the big area was lost");
	return rt_verdict();
}
