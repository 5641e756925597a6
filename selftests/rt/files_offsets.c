// SPDX-License-Identifier: GPL-2.0
/* Open files at offsets, with their flags: read-only, read-write and
 * O_APPEND; each reads and writes on from where it was. */
#include "rt.h"

int main(void)
{
	const char *path = rt_path("files");
	char apath[160];
	unsigned char buf[100000], b[16];
	int rd, rw, ap;

	snprintf(apath, sizeof(apath), "%s-append", path);
	rw = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ap = open(apath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	rt_fill(buf, sizeof(buf), 8);
	if (rw < 0 || ap < 0 || write(rw, buf, sizeof(buf)) != sizeof(buf) || write(ap, "abc", 3) != 3)
		rt_die("create");
	rd = open(path, O_RDONLY);
	lseek(rd, 12345, SEEK_SET);
	lseek(rw, 777, SEEK_SET);
	rt_ready_wait();
	rt_check(lseek(rd, 0, SEEK_CUR) == 12345, "read-only fd at %ld", (long)lseek(rd, 0, SEEK_CUR));
	rt_check(lseek(rw, 0, SEEK_CUR) == 777, "read-write fd at %ld", (long)lseek(rw, 0, SEEK_CUR));
	rt_check((fcntl(rd, F_GETFL) & O_ACCMODE) == O_RDONLY, "read-only fd flags");
	rt_check((fcntl(rw, F_GETFL) & O_ACCMODE) == O_RDWR, "read-write fd flags");
	rt_check(fcntl(ap, F_GETFL) & O_APPEND, "O_APPEND lost");
	rt_check(read(rd, b, 16) == 16 && !memcmp(b, buf + 12345, 16), "read from the offset");
	rt_check(write(rw, "XY", 2) == 2 && pread(rd, b, 2, 777) == 2 && !memcmp(b, "XY", 2),
		 "write at the offset");
	rt_check(write(ap, "d", 1) == 1 && pread(open(apath, O_RDONLY), b, 4, 0) == 4 &&
		 !memcmp(b, "abcd", 4), "append");
	unlink(path);
	unlink(apath);
	return rt_verdict();
}
