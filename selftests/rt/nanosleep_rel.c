// SPDX-License-Identifier: GPL-2.0
/* A thread in a relative nanosleep(2 s) across the checkpoint returns, as
 * it would after a handled signal: 0, or EINTR (then it sleeps again). */
#include "rt.h"

static volatile int rc = -2, err, done, leave;

static void *sleeper(void *arg)
{
	struct timespec ts = { 2, 0 };

	rc = nanosleep(&ts, NULL);
	err = errno;
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
	for (int i = 0; i < 300 && !done; i++)
		usleep(10 * 1000);
	rt_check(done, "nanosleep did not return within 3 s");
	rt_check(rc == 0 || (rc == -1 && err == EINTR), "nanosleep returned %d (errno %d)", rc, err);
	leave = 1;
	pthread_join(t, NULL);
	return rt_verdict();
}
