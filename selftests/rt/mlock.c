// SPDX-License-Identifier: GPL-2.0
/*
 * Locked memory comes back locked: a 64 KiB area locked with mlock (every
 * page present and locked, its bytes intact), a 64 KiB area locked with
 * mlock2(MLOCK_ONFAULT) with 2 pages touched (those 2 locked, the rest not
 * faulted in), and mlockall(MCL_FUTURE | MCL_ONFAULT), so an area mapped
 * after the restore is locked on fault too. VmLck and each area's VmFlags
 * ("lo") are compared by the harness as well.
 */
#include "rt.h"
#include <sys/mman.h>

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif

/* The smaps field @field (kB) and whether VmFlags has @flag, of the area at
 * @addr. */
static long smaps(unsigned long addr, const char *field, const char *flag, int *has)
{
	char line[512], pat[8];
	unsigned long start, end;
	int in = 0;
	long v = -1;
	FILE *f = fopen("/proc/self/smaps", "r");

	*has = 0;
	snprintf(pat, sizeof(pat), " %s", flag);
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = start == addr;
		else if (in && !strncmp(line, field, strlen(field)) && line[strlen(field)] == ':')
			v = atol(line + strlen(field) + 1);
		else if (in && !strncmp(line, "VmFlags:", 8))
			*has = !!strstr(line + 8, pat);
	}
	if (f)
		fclose(f);
	return v;
}

int main(void)
{
	const size_t len = 64 * 1024;
	char *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *b = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *c;
	int has;
	long kb;

	if (a == MAP_FAILED || b == MAP_FAILED)
		rt_die("mmap");
	rt_fill(a, len, 7);
	if (mlock(a, len))
		rt_die("mlock");
	if (syscall(SYS_mlock2, b, len, MLOCK_ONFAULT))
		rt_die("mlock2");
	b[0] = 1;
	b[len - 1] = 2;
	if (mlockall(MCL_FUTURE | MCL_ONFAULT))
		rt_die("mlockall");
	rt_ready_wait();

	kb = smaps((unsigned long)a, "Locked", "lo", &has);
	rt_check(has && kb == (long)len / 1024, "the mlock'ed area: Locked %ld kB, lo %d", kb, has);
	rt_check(rt_differs(a, len, 7) < 0, "the mlock'ed area's bytes changed");
	kb = smaps((unsigned long)b, "Locked", "lo", &has);
	rt_check(has && kb == 8, "the MLOCK_ONFAULT area: Locked %ld kB (want 8), lo %d", kb, has);
	rt_check(b[0] == 1 && b[len - 1] == 2, "the MLOCK_ONFAULT area's bytes changed");
	c = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c == MAP_FAILED)
		rt_die("mmap after");
	c[0] = 3;
	kb = smaps((unsigned long)c, "Locked", "lo", &has);
	rt_check(has && kb == 4, "an area mapped after: Locked %ld kB (want 4), lo %d: MCL_FUTURE lost",
		 kb, has);
	return rt_verdict();
}
