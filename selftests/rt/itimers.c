// SPDX-License-Identifier: GPL-2.0
/* Interval timers: ITIMER_REAL armed for 3 s, ITIMER_VIRTUAL for 100 s
 * every 1 s. After the restore each has its time left and interval, and
 * SIGALRM comes when ITIMER_REAL runs out. */
#include "rt.h"
#include <sys/time.h>

static volatile int alarms;

static void on_alarm(int sig)
{
	alarms++;
}

int main(void)
{
	struct itimerval real = { .it_value = { 3, 0 } };
	struct itimerval virt = { .it_value = { 100, 0 }, .it_interval = { 1, 0 } };
	struct itimerval r, v;

	signal(SIGALRM, on_alarm);
	if (setitimer(ITIMER_REAL, &real, NULL) || setitimer(ITIMER_VIRTUAL, &virt, NULL))
		rt_die("setitimer");
	rt_ready_wait();
	getitimer(ITIMER_REAL, &r);
	getitimer(ITIMER_VIRTUAL, &v);
	rt_check(alarms == 0, "SIGALRM came %d times before its time", alarms);
	rt_check(r.it_value.tv_sec < 3 && (r.it_value.tv_sec || r.it_value.tv_usec),
		 "ITIMER_REAL has %ld.%06ld s left", (long)r.it_value.tv_sec, (long)r.it_value.tv_usec);
	/* (The kernel's own getitimer can read up to a tick more than was set:
	 * process CPU time is sampled at tick granularity.) */
	rt_check(v.it_value.tv_sec >= 90 && v.it_value.tv_sec * 1000000L + v.it_value.tv_usec <= 100100000L,
		 "ITIMER_VIRTUAL has %ld.%06ld s left", (long)v.it_value.tv_sec, (long)v.it_value.tv_usec);
	rt_check(v.it_interval.tv_sec == 1 && v.it_interval.tv_usec == 0, "ITIMER_VIRTUAL interval");
	for (int i = 0; i < 400 && !alarms; i++)
		usleep(10 * 1000);
	rt_check(alarms == 1, "SIGALRM came %d times", alarms);
	return rt_verdict();
}
