/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers the cr selftests share: where the programs next to the test are,
 * reading a line with a timeout, running a shell command, a checkpoint with
 * --kill through the ioctl, and for restores through the ioctl itself: an
 * image's records, its check value (XXH64) to reseal an edited record, and
 * the vdso moved where the image has it (as crctl does).
 */
#ifndef CR_UTIL_H
#define CR_UTIL_H

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/cr.h>
#include <linux/cr_image.h>

/* The directory this test program lives in (the other programs are there). */
static inline const char *cr_test_dir(void)
{
	static char dir[4096];

	if (!dir[0]) {
		ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);

		if (n < 0)
			return ".";
		dir[n] = 0;
		*strrchr(dir, '/') = 0;
	}
	return dir;
}

/* The path of program @name next to this one. */
static inline const char *cr_sibling(const char *name)
{
	static char path[4200];

	snprintf(path, sizeof(path), "%s/%s", cr_test_dir(), name);
	return path;
}

/* One line from @fd within @ms, without its newline; its length, or -1 on
 * timeout or end of file. */
static inline int read_line(int fd, char *buf, int size, int ms)
{
	int n = 0;

	while (n < size - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, ms) != 1 || read(fd, buf + n, 1) != 1)
			return -1;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = 0;
	return n;
}

/* Runs a shell command; its exit status, or -1 if it did not exit. */
static inline int __attribute__((format(printf, 1, 2))) sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The number in field @name of /proc/@pid/status, or -1. */
static inline long status_field(pid_t pid, const char *name)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, strlen(name)) && line[strlen(name)] == ':')
			v = strtol(line + strlen(name) + 1, NULL, 10);
	fclose(f);
	return v;
}

/*
 * Waits until @pid is blocked in system call @nr (as /proc/@pid/syscall
 * shows it: the call's number while it sleeps in it, "running" otherwise),
 * bounded by the number of looks, not by a time guess. Returns 0, or -1 if it
 * never was.
 */
static inline int wait_blocked_in(pid_t pid, long nr)
{
	char path[64], buf[64];

	snprintf(path, sizeof(path), "/proc/%d/syscall", pid);
	for (int i = 0; i < 100000; i++) {
		int fd = open(path, O_RDONLY);
		ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
		char *end;

		if (fd >= 0)
			close(fd);
		if (n <= 0)
			return -1;
		buf[n] = 0;
		if (strtol(buf, &end, 10) == nr && end != buf && *end == ' ')
			return 0;
		usleep(1000);
	}
	return -1;
}

/* Ends child @pid (if > 0), reaps it, and closes the two pipe ends @a and @b
 * the test talked to it through. */
static inline void end_child(pid_t pid, int a, int b)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	close(a);
	close(b);
}

/* Checkpoints @pid to a new file @path and ends it; 0 or -errno. */
static inline long checkpoint_kill(pid_t pid, const char *path)
{
	int dev = open("/dev/cr", O_RDWR), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	struct cr_checkpoint_args a = {
		.target = CR_CPID(0, pid), .out_fd = fd, .proof_fd = -1, .flags = CR_CHECKPOINT_KILL,
	};
	long r = dev < 0 || fd < 0 ? -EBADF : ioctl(dev, CR_IOC_CHECKPOINT, &a) ? -errno : 0;

	close(dev);
	close(fd);
	return r;
}

/* XXH64 (seed 0), as the image format uses it. */
static const uint64_t __attribute__((unused)) P1 = 11400714785074694791ULL, P2 = 14029467366897019727ULL,
		      P3 = 1609587929392839161ULL, P4 = 9650029242287828579ULL,
		      P5 = 2870177450012600261ULL;

static inline uint64_t rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t rd64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static inline uint32_t rd32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static inline uint64_t round1(uint64_t acc, uint64_t in)
{
	return rotl(acc + in * P2, 31) * P1;
}

static inline uint64_t merge(uint64_t acc, uint64_t v)
{
	return (acc ^ round1(0, v)) * P1 + P4;
}

static inline uint64_t xxh64(const unsigned char *p, size_t len)
{
	const unsigned char *end = p + len;
	uint64_t h;

	if (len >= 32) {
		uint64_t v1 = P1 + P2, v2 = P2, v3 = 0, v4 = -P1;

		for (; p + 32 <= end; p += 32) {
			v1 = round1(v1, rd64(p));
			v2 = round1(v2, rd64(p + 8));
			v3 = round1(v3, rd64(p + 16));
			v4 = round1(v4, rd64(p + 24));
		}
		h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
		h = merge(h, v1);
		h = merge(h, v2);
		h = merge(h, v3);
		h = merge(h, v4);
	} else {
		h = P5;
	}
	h += len;
	for (; p + 8 <= end; p += 8)
		h = rotl(h ^ round1(0, rd64(p)), 27) * P1 + P4;
	if (p + 4 <= end) {
		h = rotl(h ^ (uint64_t)rd32(p) * P1, 23) * P2 + P3;
		p += 4;
	}
	for (; p < end; p++)
		h = rotl(h ^ *p * P5, 11) * P1;
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	h ^= h >> 32;
	return h;
}

/* Recomputes the check of the record at @at (header, then payload). */
static inline void reseal(unsigned char *m, size_t len, size_t at)
{
	struct cr_record r;
	unsigned char *buf;

	memcpy(&r, m + at, sizeof(r));
	if (at + 16 + r.size > len)
		return;
	buf = malloc(16 + r.size);
	r.check = 0;
	memcpy(buf, &r, 16);
	memcpy(buf + 16, m + at + 16, r.size);
	r.check = (uint32_t)xxh64(buf, 16 + r.size);
	memcpy(m + at, &r, 16);
	free(buf);
}

/* The image's special mappings ([vdso], [vvar], ...) and their names. */
struct special {
	unsigned long start, end;
	char name[32];
};

/* Moves this process's special mappings to where @want has them (as crctl
 * does), first all to a parking area, then each to its place. 0 or -1. */
static inline int move_specials(const struct special *want, int n)
{
	struct special mine[8];
	int k = 0;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long total = 0, at;
	void *park;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f) && k < 8) {
		char *name = strchr(line, '[');
		unsigned long a, b;

		if (!name || sscanf(line, "%lx-%lx", &a, &b) != 2)
			continue;
		name[strcspn(name, "\n")] = 0;
		mine[k].start = a;
		mine[k].end = b;
		snprintf(mine[k].name, sizeof(mine[k].name), "%s", name);
		if (!strncmp(name, "[vdso]", 6) || !strncmp(name, "[vvar", 5))
			total += b - a, k++;
	}
	fclose(f);
	if (k != n)
		return -1;
	park = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (park == MAP_FAILED)
		return -1;
	at = (unsigned long)park;
	for (int i = 0; i < k; i++) {
		unsigned long len = mine[i].end - mine[i].start;

		if (mremap((void *)mine[i].start, len, len, MREMAP_MAYMOVE | MREMAP_FIXED,
			   (void *)at) == MAP_FAILED)
			return -1;
		mine[i].start = at;
		mine[i].end = at + len;
		at += len;
	}
	for (int i = 0; i < k; i++)
		for (int j = 0; j < n; j++)
			if (!strcmp(mine[i].name, want[j].name) &&
			    mremap((void *)mine[i].start, want[j].end - want[j].start,
				   want[j].end - want[j].start, MREMAP_MAYMOVE | MREMAP_FIXED,
				   (void *)want[j].start) == MAP_FAILED)
				return -1;
	return 0;
}


/* An image read into memory, with what a raw restore of it needs. */
struct cr_img {
	unsigned char *buf;
	size_t len;
	size_t meta;		/* bytes up to and including the first PAGES header */
	size_t recs[256];	/* offsets of the records before it */
	int nrec;
	struct special special[8];
	int nspecial;
};

/* Reads the image at @path; 0, or -1 if it is not one this code can use. */
static inline int cr_img_load(struct cr_img *img, const char *path)
{
	int fd = open(path, O_RDONLY);
	off_t len = fd < 0 ? -1 : lseek(fd, 0, SEEK_END);

	memset(img, 0, sizeof(*img));
	if (len < 8 || !(img->buf = malloc(len)) || pread(fd, img->buf, len, 0) != len) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	img->len = len;
	for (size_t pos = 8; pos + 16 <= img->len && img->nrec < 256;) {
		struct cr_record r;

		memcpy(&r, img->buf + pos, sizeof(r));
		if (r.type == CR_REC_PAGES || r.type == CR_REC_TRAILER) {
			img->meta = pos + 16;
			break;
		}
		img->recs[img->nrec++] = pos;
		if (r.type == CR_REC_VMA && img->nspecial < 8) {
			struct cr_vma v;
			struct special *s = &img->special[img->nspecial];

			memcpy(&v, img->buf + pos + 16, sizeof(v));
			if (v.kind == CR_VMA_VDSO || v.kind == CR_VMA_VVAR) {
				s->start = v.start;
				s->end = v.end;
				snprintf(s->name, sizeof(s->name), "%.*s", (int)v.path_len,
					 (char *)img->buf + pos + 16 + sizeof(v));
				img->nspecial++;
			}
		}
		pos += 16 + r.size;
	}
	return img->meta && img->nspecial ? 0 : -1;
}

/* The offset of the @n-th record of type @type before the pages, or 0. */
static inline size_t cr_img_find(const struct cr_img *img, uint32_t type, int n)
{
	for (int i = 0; i < img->nrec; i++) {
		struct cr_record r;

		memcpy(&r, img->buf + img->recs[i], sizeof(r));
		if (r.type == type && n-- == 0)
			return img->recs[i];
	}
	return 0;
}

/* What a raw restore gave. */
struct cr_raw_result {
	pid_t pid;			/* the restoring child (running on if restored) */
	int refused;			/* refused before the point of no return: */
	int err;			/* ...its errno */
	struct cr_restore_args args;	/* ...and the kernel's answer */
	int late;			/* a status record came: restored or failed late */
	struct cr_restore_status status;
};

/*
 * Restores @len bytes of metadata @m (an edited copy of @img's) with the
 * rest of the image at @path, in a child, through CR_IOC_RESTORE itself.
 * The child reports a refusal on a pipe and exits 10 + fail_reason; past
 * the point of no return the kernel reports on that same pipe (status_fd)
 * and closes it as the restored process starts. 0, or -1 if the child
 * could not be set up.
 */
static inline int cr_raw_restore(const struct cr_img *img, const char *path,
				 const unsigned char *m, size_t len, struct cr_raw_result *res)
{
	unsigned char buf[sizeof(struct cr_restore_args) + sizeof(struct cr_restore_status)];
	ssize_t n;
	int p[2];

	memset(res, 0, sizeof(*res));
	if (pipe(p))
		return -1;
	res->pid = fork();
	if (res->pid == 0) {
		int dev = open("/dev/cr", O_RDWR), in = open(path, O_RDONLY);
		int null = open("/dev/null", O_RDWR);
		struct cr_restore_args a = {
			.meta = (unsigned long)m, .meta_len = len,
			.in_fd = in, .status_fd = p[1], .dev_fd = -1,
		};
		int e;

		close(p[0]);
		dup2(null, 1);
		dup2(null, 2);
		lseek(in, img->meta, SEEK_SET);
		if (move_specials(img->special, img->nspecial))
			_exit(4);
		if (ioctl(dev, CR_IOC_RESTORE, &a)) {
			e = errno;
			if (write(p[1], &e, sizeof(e)) != sizeof(e) ||
			    write(p[1], &a, sizeof(a)) != sizeof(a))
				_exit(5);
			_exit(10 + (a.fail_reason < 40 ? a.fail_reason : 40));
		}
		_exit(2);	/* unreachable: success returns into the image */
	}
	close(p[1]);
	if (res->pid < 0) {
		close(p[0]);
		return -1;
	}
	n = read(p[0], buf, sizeof(buf));
	if (n == (ssize_t)sizeof(struct cr_restore_status)) {
		res->late = 1;
		memcpy(&res->status, buf, sizeof(res->status));
	} else if (n > 0) {
		/* A refusal: the errno, then the arguments (a pipe keeps it whole). */
		ssize_t more = read(p[0], buf + n, sizeof(buf) - n);

		if (more > 0)
			n += more;
		if (n == (ssize_t)(sizeof(int) + sizeof(res->args))) {
			res->refused = 1;
			memcpy(&res->err, buf, sizeof(int));
			memcpy(&res->args, buf + sizeof(int), sizeof(res->args));
		}
	}
	close(p[0]);
	return 0;
}

#endif
