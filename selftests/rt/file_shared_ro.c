// SPDX-License-Identifier: GPL-2.0
/*
 * Read-only shared file mappings keep what they are: one of a file opened
 * read-only stays shared (r--s, not r--p) and may never become writable
 * (mprotect(PROT_WRITE) fails with EACCES, as before the checkpoint); one of
 * a file opened for writing may still become writable, and writes then reach
 * the file.
 */
#include "rt.h"

static unsigned char *map_file(const char *path, int flags, uint64_t seed)
{
	size_t len = 4 * 4096;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	unsigned char *m;

	if (fd < 0 || ftruncate(fd, len))
		rt_die("create");
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		rt_die("mmap to fill");
	rt_fill(m, len, seed);
	munmap(m, len);
	close(fd);
	fd = open(path, flags);
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (fd < 0 || m == MAP_FAILED)
		rt_die("mmap");
	close(fd);
	return m;
}

int main(void)
{
	char ro_path[128], rw_path[128];
	unsigned char *ro, *rw, page[4096];
	int fd;

	snprintf(ro_path, sizeof(ro_path), "%s", rt_path("ro"));
	snprintf(rw_path, sizeof(rw_path), "%s", rt_path("rw"));
	ro = map_file(ro_path, O_RDONLY, 3);
	rw = map_file(rw_path, O_RDWR, 4);
	rt_check(mprotect(ro, 4096, PROT_READ | PROT_WRITE) && errno == EACCES,
		 "before: a read-only file's shared mapping became writable");
	rt_ready_wait();
	rt_check(rt_differs(ro, 4 * 4096, 3) < 0, "read-only mapping differs");
	rt_check(rt_differs(rw, 4 * 4096, 4) < 0, "read-write file's mapping differs");
	rt_check(mprotect(ro, 4096, PROT_READ | PROT_WRITE) && errno == EACCES,
		 "a read-only file's shared mapping became writable after the restore");
	if (mprotect(rw, 4096, PROT_READ | PROT_WRITE)) {
		rt_check(0, "a writable file's shared mapping cannot become writable: %s", strerror(errno));
	} else {
		rw[7] = 0xa5;
		msync(rw, 4096, MS_SYNC);
		fd = open(rw_path, O_RDONLY);
		rt_check(pread(fd, page, 4096, 0) == 4096 && page[7] == 0xa5,
			 "a write through the mapping did not reach the file");
		close(fd);
	}
	unlink(ro_path);
	unlink(rw_path);
	return rt_verdict();
}
