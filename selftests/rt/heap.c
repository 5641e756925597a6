// SPDX-License-Identifier: GPL-2.0
/* Heap: 64 malloc'd blocks of many sizes, each with its own pattern. */
#include "rt.h"

#define N 64
static unsigned char *block[N];
static size_t size[N];

int main(void)
{
	for (int i = 0; i < N; i++) {
		size[i] = 16 + (size_t)i * i * 977;
		block[i] = malloc(size[i]);
		if (!block[i])
			rt_die("malloc");
		rt_fill(block[i], size[i], i);
	}
	for (int i = 0; i < N; i += 3)	/* holes in the heap */
		free(block[i]), block[i] = NULL;
	rt_ready_wait();
	for (int i = 0; i < N; i++)
		if (block[i])
			rt_check(rt_differs(block[i], size[i], i) < 0, "block %d differs at %ld", i,
				 rt_differs(block[i], size[i], i));
	/* The allocator still works on the restored heap. */
	for (int i = 0; i < N; i += 3) {
		block[i] = malloc(size[i]);
		rt_check(block[i] != NULL, "malloc after restore");
		if (block[i])
			rt_fill(block[i], size[i], i), free(block[i]);
	}
	return rt_verdict();
}
