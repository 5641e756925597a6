// SPDX-License-Identifier: GPL-2.0
/* A thread blocked in FUTEX_WAIT across the checkpoint wakes when told. */
#include "rt.h"
#include <linux/futex.h>

static volatile uint32_t word;
static volatile int result = -1;

static void *waiter(void *arg)
{
	while (word == 0)
		syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	result = word;
	return NULL;
}

int main(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, waiter, NULL))
		rt_die("pthread_create");
	usleep(100 * 1000);
	rt_ready_wait();
	rt_check(result == -1, "the waiter woke early");
	word = 7;
	syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	pthread_join(t, NULL);
	rt_check(result == 7, "the waiter saw %d", result);
	return rt_verdict();
}
