// SPDX-License-Identifier: GPL-2.0
/* The umask, and files created with it after the restore. */
#include "rt.h"

int main(void)
{
	struct stat st;
	mode_t old;
	int fd;

	umask(027);
	rt_ready_wait();
	old = umask(022);
	rt_check(old == 027, "umask %03o, want 027", old);
	umask(027);
	fd = open(rt_path("umask"), O_CREAT | O_RDWR | O_TRUNC, 0777);
	rt_check(fd >= 0 && !fstat(fd, &st) && (st.st_mode & 0777) == 0750, "created with mode %03o",
		 st.st_mode & 0777);
	unlink(rt_path("umask"));
	return rt_verdict();
}
