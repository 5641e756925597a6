// SPDX-License-Identifier: GPL-2.0
/* A thread in a relative nanosleep(2 s) across the checkpoint: it returns
 * EINTR with the time it had left in rem, as after a handled signal, so a
 * loop that sleeps out rem sleeps 2 s in all. */
#include "rt.h"

static volatile int done, leave, eintr, rc = -2;
static volatile long elapsed_ms;
static struct timespec left_seen;

static void *sleeper(void *arg)
{
	struct timespec req = { 2, 0 }, rem = { 0, 0 }, a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	while ((rc = nanosleep(&req, &rem)) && errno == EINTR) {
		if (!eintr++)
			left_seen = rem;
		req = rem;
		rem = (struct timespec){ 0, 0 };
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	elapsed_ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	done = 1;
	while (!leave)	/* stays, so the test sees the same threads */
		usleep(1000);
	return NULL;
}

int main(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, sleeper, NULL))
		rt_die("pthread_create");
	usleep(100 * 1000);
	rt_ready_wait();
	for (int i = 0; i < 400 && !done; i++)
		usleep(10 * 1000);
	rt_check(done, "the sleep did not end within 4 s");
	rt_check(rc == 0, "nanosleep ended with %d", rc);
	rt_check(eintr == 1, "%d EINTRs, want 1 (the restore)", eintr);
	rt_check(left_seen.tv_sec < 2 && (left_seen.tv_sec || left_seen.tv_nsec),
		 "rem after the restore was %ld.%09ld", (long)left_seen.tv_sec, left_seen.tv_nsec);
	rt_check(elapsed_ms >= 1995, "slept %ld ms in all, want 2000", elapsed_ms);
	leave = 1;
	pthread_join(t, NULL);
	return rt_verdict();
}
