// SPDX-License-Identifier: GPL-2.0
/* Globals: initialized data, bss, and read-only data. */
#include "rt.h"

static unsigned char data[100000] = { 1, 2, 3 };
static unsigned char bss[300000];
static const char rodata[] = "the read-only data of a restored program";
static volatile uint64_t counter = 0x0123456789abcdefULL;

int main(void)
{
	rt_fill(data, sizeof(data), 1);
	rt_fill(bss + 4096, sizeof(bss) - 8192, 2);
	counter += 1;
	rt_ready_wait();
	rt_check(rt_differs(data, sizeof(data), 1) < 0, "data differs");
	rt_check(rt_zero(bss, 4096) && rt_zero(bss + sizeof(bss) - 4096, 4096), "bss not zero");
	rt_check(rt_differs(bss + 4096, sizeof(bss) - 8192, 2) < 0, "bss differs");
	rt_check(!strcmp(rodata, "the read-only data of a restored program"), "rodata");
	rt_check(counter == 0x0123456789abcdf0ULL, "counter %llx", (unsigned long long)counter);
	return rt_verdict();
}
