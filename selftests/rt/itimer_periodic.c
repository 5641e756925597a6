// SPDX-License-Identifier: GPL-2.0
/*
 * A periodic ITIMER_REAL (every 2 ms) keeps firing after the restore. The
 * kernel re-arms a periodic real timer only when its SIGALRM is taken: a
 * restore that dropped a SIGALRM firing during the restore once stopped the
 * timer for good.
 */
#include "rt.h"
#include <sys/time.h>

static volatile uint64_t alarms;

static void on_alarm(int sig)
{
	alarms++;
}

int main(void)
{
	struct itimerval every = { .it_value = { 0, 2000 }, .it_interval = { 0, 2000 } };
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	struct itimerval r;
	uint64_t seen;

	sigaction(SIGALRM, &sa, NULL);
	if (setitimer(ITIMER_REAL, &every, NULL))
		rt_die("setitimer");
	if (!rt_wait_for(&alarms, 10, 10000))
		rt_die("the timer does not fire");
	rt_ready_wait();
	getitimer(ITIMER_REAL, &r);
	rt_check(r.it_interval.tv_sec == 0 && r.it_interval.tv_usec == 2000, "interval %ld.%06ld",
		 (long)r.it_interval.tv_sec, (long)r.it_interval.tv_usec);
	seen = alarms;
	rt_check(rt_wait_for(&alarms, seen + 20, 20000), "the periodic timer stopped after the restore "
		 "(%llu alarms, then none)", (unsigned long long)seen);
	return rt_verdict();
}
