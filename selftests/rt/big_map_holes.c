// SPDX-License-Identifier: GPL-2.0
/* A 4 GiB reservation with 64 KiB touched every 256 MiB (no huge pages, so
 * a touch makes only its own pages resident): after the restore exactly the
 * touched pages are resident (mincore), they hold what was written, and the
 * untouched holes read as zero. The image carries 1 MiB of pages. */
#include "rt.h"

#define LEN (4 * GiB)
#define STEP (256 * MiB)
#define TOUCHED (64 * 1024)

/* The resident pages of @m (LEN bytes), or -1. */
static long resident(unsigned char *m, unsigned char *vec)
{
	long page = sysconf(_SC_PAGESIZE), n = 0;

	if (mincore(m, LEN, vec))
		return -1;
	for (size_t i = 0; i < LEN / page; i++)
		n += vec[i] & 1;
	return n;
}

int main(void)
{
	long want = (LEN / STEP) * (TOUCHED / sysconf(_SC_PAGESIZE));
	unsigned char *m = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	unsigned char *vec = malloc(LEN / sysconf(_SC_PAGESIZE));
	long before, after;

	if (m == MAP_FAILED || !vec)
		rt_die("mmap");
	if (madvise(m, LEN, MADV_NOHUGEPAGE))
		rt_die("madvise");
	for (size_t off = 0; off < LEN; off += STEP)
		rt_fill(m + off, TOUCHED, off >> 20);
	before = resident(m, vec);
	if (before != want) {
		rt_say("ERROR %ld pages resident before the checkpoint, %ld touched", before, want);
		return 2;
	}
	rt_ready_wait();
	after = resident(m, vec);
	rt_check(after == want, "%ld pages resident after the restore, %ld were touched", after, want);
	for (size_t off = 0; off < LEN; off += STEP) {
		rt_check(rt_differs(m + off, TOUCHED, off >> 20) < 0, "touched KiB at %zu MiB differ", off >> 20);
		rt_check(rt_zero(m + off + TOUCHED, 64 * 1024), "hole after %zu MiB not zero", off >> 20);
		rt_check(rt_zero(m + off + STEP / 2, 4096), "hole at %zu MiB not zero", (off + STEP / 2) >> 20);
	}
	return rt_verdict();
}
