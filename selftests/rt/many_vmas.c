// SPDX-License-Identifier: GPL-2.0
/* N small areas (2000 unless a program including this file says otherwise)
 * with guard gaps and alternating protections (no merging). */
#include "rt.h"

#ifndef N
#define N 2000
#endif
static unsigned char *m[N];

int main(void)
{
	unsigned char *base = mmap(NULL, 2 * N * 4096UL, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (base == MAP_FAILED)
		rt_die("mmap");
	for (int i = 0; i < N; i++) {
		m[i] = base + 2 * i * 4096UL;
		if (mprotect(m[i], 4096, PROT_READ | PROT_WRITE))
			rt_die("mprotect");
		m[i][0] = (unsigned char)i;
		m[i][4095] = (unsigned char)(i >> 8);
		if (i % 2)
			mprotect(m[i], 4096, PROT_READ);
	}
	rt_ready_wait();
	for (int i = 0; i < N; i++)
		rt_check(m[i][0] == (unsigned char)i && m[i][4095] == (unsigned char)(i >> 8), "area %d", i);
	return rt_verdict();
}
