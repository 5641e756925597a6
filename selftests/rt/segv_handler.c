// SPDX-License-Identifier: GPL-2.0
/* Handlers still work for faults after the restore: touching a PROT_NONE
 * page runs the SIGSEGV handler, which opens the page. */
#include "rt.h"

static unsigned char *page;
static volatile int faults;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	faults++;
	mprotect(page, 4096, PROT_READ | PROT_WRITE);
}

int main(void)
{
	struct sigaction a = { .sa_sigaction = on_segv, .sa_flags = SA_SIGINFO };

	page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		rt_die("mmap");
	sigemptyset(&a.sa_mask);
	sigaction(SIGSEGV, &a, NULL);
	rt_ready_wait();
	*(volatile unsigned char *)&page[10] = 5;
	rt_check(faults == 1, "%d faults, want 1", faults);
	rt_check(*(volatile unsigned char *)&page[10] == 5, "the write after the fault was lost");
	return rt_verdict();
}
