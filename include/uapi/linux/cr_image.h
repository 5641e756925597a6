/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * cr: checkpoint/restore of processes, the image format: what
 * CR_IOC_CHECKPOINT writes and CR_IOC_RESTORE reads (<linux/cr.h> is the
 * ioctl ABI).
 *
 * This header is the single definition of the image's records; the kernel
 * module and crctl mirror it in Rust (src/uapi.rs) with compile-time layout
 * checks, and `make check` compares every size and offset against them.
 * Rules: fixed-width little-endian fields only, explicit padding, reserved
 * fields zero.
 *
 * Documentation/image-format.rst gives every byte.
 */
#ifndef _UAPI_LINUX_CR_IMAGE_H
#define _UAPI_LINUX_CR_IMAGE_H

#include <linux/types.h>

/*
 * The image: a stream, written and read strictly in order with no seeks.
 *
 *   magic (8 bytes, CR_IMAGE_MAGIC)
 *   record*                     each: struct cr_record, then .size payload bytes
 *
 * Record order: HEADER, PROCESS, MM, VMA x mm.nr_vmas, SIGHAND, SIGPENDING
 * (shared), FS, ITIMERS, FD*, PIPE*, THREAD x process.nr_threads, PAGES*,
 * TRAILER. Every record's
 * check is the low 32 bits of XXH64 (seed 0) over its 16-byte header with
 * check = 0, then its payload. The trailer counts the records and bytes before
 * it and chains their checks, so truncation, a lost or repeated record, and
 * corrupted bytes are detected.
 * Documentation/image-format.rst gives every byte.
 */
#define CR_IMAGE_MAGIC		0x31474d4952435243ULL	/* "CRCRIMG1" little-endian */
#define CR_IMAGE_VERSION	3	/* 2 is read too: it has no CR_REC_CLOCKS */

/* Limits the reader enforces (the writer never exceeds them). */
#define CR_IMAGE_MAX_RECORD	(64ULL << 20)	/* payload bytes of one record */
#define CR_IMAGE_MAX_PATH	4096
#define CR_IMAGE_MAX_THREADS	65536
#define CR_IMAGE_MAX_VMAS	1048576
#define CR_IMAGE_MAX_XSTATE	65536
#define CR_IMAGE_MAX_PIPE	(16U << 20)	/* bytes of data in one pipe */

/* cr_record.type */
enum cr_record_type {
	CR_REC_HEADER		= 1,
	CR_REC_PROCESS		= 2,
	CR_REC_MM		= 3,
	CR_REC_VMA		= 4,
	CR_REC_SIGHAND		= 5,
	CR_REC_SIGPENDING	= 6,
	CR_REC_FD		= 7,
	CR_REC_THREAD		= 8,
	CR_REC_PAGES		= 9,
	CR_REC_TRAILER		= 10,
	CR_REC_FS		= 11,
	CR_REC_ITIMERS		= 12,
	CR_REC_PIPE		= 13,
	CR_REC_CLOCKS		= 14,
};

/**
 * struct cr_record - the header of every record
 * @type:  CR_REC_*.
 * @check: low 32 bits of XXH64 (seed 0) over this header (check = 0) and the
 *         payload.
 * @size:  payload bytes that follow the header.
 */
struct cr_record {
	__u32 type;
	__u32 check;
	__u64 size;
};

/**
 * struct cr_image_header - CR_REC_HEADER, the first record
 * @version:     CR_IMAGE_VERSION.
 * @arch:        CR_ARCH_* (<linux/cr.h>).
 * @page_size:   page size of the kernel that wrote the image.
 * @xstate_size: bytes of user xsave state of that CPU (in every THREAD).
 * @created_ns:  CLOCK_REALTIME when the target was frozen.
 * @release:     utsname release of that kernel, NUL-padded.
 * @hostname:    utsname nodename of that host, NUL-padded.
 */
struct cr_image_header {
	__u32 version;
	__u32 arch;
	__u32 page_size;
	__u32 xstate_size;
	__u64 created_ns;
	char release[65];
	char hostname[65];
	__u8 __pad[6];
};

/**
 * struct cr_rlimit - one resource limit
 * @cur: soft limit. @max: hard limit. (RLIM_INFINITY is ~0.)
 */
struct cr_rlimit {
	__u64 cur;
	__u64 max;
};

#define CR_RLIMITS 16

/**
 * struct cr_process - CR_REC_PROCESS: the process as a whole
 * @pid, @ppid, @pgid, @sid: ids in the pid namespace of the caller.
 * @nr_threads:  THREAD records that follow.
 * @uid, @euid, @suid, @fsuid, @gid, @egid, @sgid, @fsgid: the credentials at
 *               checkpoint, in the caller's user namespace (for information:
 *               restore never takes credentials from an image).
 * @umask:       file mode creation mask.
 * @personality: personality(2) flags.
 * @exit_signal: signal sent to the parent on exit.
 * @flags:       CR_PROCESS_* flags.
 * @oom_score_adj: /proc/<pid>/oom_score_adj (-1000..1000).
 * @comm:        task name, NUL-padded.
 * @rlim:        resource limits, indexed by RLIMIT_*.
 */
struct cr_process {
	__u32 pid;
	__u32 ppid;
	__u32 pgid;
	__u32 sid;
	__u32 nr_threads;
	__u32 uid;
	__u32 euid;
	__u32 suid;
	__u32 fsuid;
	__u32 gid;
	__u32 egid;
	__u32 sgid;
	__u32 fsgid;
	__u32 umask;
	__u32 personality;
	__u32 exit_signal;
	__u32 flags;
	__s32 oom_score_adj;
	char comm[16];
	struct cr_rlimit rlim[CR_RLIMITS];
};

/* cr_process.flags: process-wide settings a restore gives back */
#define CR_PROCESS_SUBREAPER		(1U << 0)	/* PR_SET_CHILD_SUBREAPER */
#define CR_PROCESS_THP_DISABLE		(1U << 1)	/* PR_SET_THP_DISABLE */
#define CR_PROCESS_THP_EXCEPT_ADVISED	(1U << 2)	/* ... with PR_THP_DISABLE_EXCEPT_ADVISED */
#define CR_PROCESS_KSM_ANY		(1U << 3)	/* PR_SET_MEMORY_MERGE */
#define CR_PROCESS_MDWE			(1U << 4)	/* PR_SET_MDWE: MDWE_REFUSE_EXEC_GAIN */
#define CR_PROCESS_MDWE_NO_INHERIT	(1U << 5)	/* ... with PR_MDWE_NO_INHERIT */
#define CR_PROCESS_MLOCK_FUTURE		(1U << 6)	/* mlockall(MCL_FUTURE) */
#define CR_PROCESS_MLOCK_ONFAULT	(1U << 7)	/* ... with MCL_ONFAULT */
#define CR_PROCESS_MEMBARRIER_PRIVATE	(1U << 8)	/* MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED */
#define CR_PROCESS_MEMBARRIER_GLOBAL	(1U << 9)	/* ..._REGISTER_GLOBAL_EXPEDITED */
#define CR_PROCESS_MEMBARRIER_SYNC_CORE	(1U << 10)	/* ..._REGISTER_PRIVATE_EXPEDITED_SYNC_CORE */
#define CR_PROCESS_MEMBARRIER_RSEQ	(1U << 11)	/* ..._REGISTER_PRIVATE_EXPEDITED_RSEQ */
#define CR_PROCESS_ALL			0x0fffU

/**
 * struct cr_mm - CR_REC_MM: the address space; followed by @auxv_words u64
 * words of the saved auxiliary vector, then @exe_path_len bytes of the
 * executable's path (no NUL).
 */
struct cr_mm {
	__u64 start_code;
	__u64 end_code;
	__u64 start_data;
	__u64 end_data;
	__u64 start_brk;
	__u64 brk;
	__u64 start_stack;
	__u64 arg_start;
	__u64 arg_end;
	__u64 env_start;
	__u64 env_end;
	__u64 vdso_base;
	__u32 nr_vmas;
	__u32 auxv_words;
	__u32 exe_path_len;
	__u32 __pad;
};

/* cr_vma.kind */
#define CR_VMA_ANON	1	/* private anonymous memory */
#define CR_VMA_FILE	2	/* a mapped file (private or shared) */
#define CR_VMA_SHMEM	3	/* shared anonymous / tmpfs-backed shared memory */
#define CR_VMA_VDSO	4	/* [vdso]: recreated by the restoring kernel */
#define CR_VMA_VVAR	5	/* [vvar] and friends: recreated, never dumped */
#define CR_VMA_VSYSCALL	6	/* [vsyscall] */
#define CR_VMA_DEVICE	7	/* a device mapping (VM_IO/VM_PFNMAP): contents not saved */

/* cr_vma.flags */
#define CR_VMA_SHARED		(1U << 0)	/* MAP_SHARED */
#define CR_VMA_GROWSDOWN	(1U << 1)	/* a stack that grows down */
#define CR_VMA_HEAP		(1U << 2)	/* holds brk */
#define CR_VMA_STACK		(1U << 3)	/* holds the main thread's stack */
#define CR_VMA_LOCKED		(1U << 4)	/* mlock()ed */
#define CR_VMA_DONTDUMP		(1U << 5)	/* MADV_DONTDUMP (still saved) */
#define CR_VMA_MAYWRITE		(1U << 6)	/* shared: the file was opened for writing (mprotect may add PROT_WRITE) */
#define CR_VMA_HUGEPAGE		(1U << 7)	/* MADV_HUGEPAGE */
#define CR_VMA_NOHUGEPAGE	(1U << 8)	/* MADV_NOHUGEPAGE */
#define CR_VMA_DONTFORK		(1U << 9)	/* MADV_DONTFORK */
#define CR_VMA_WIPEONFORK	(1U << 10)	/* MADV_WIPEONFORK */
#define CR_VMA_SEQ_READ		(1U << 11)	/* MADV_SEQUENTIAL */
#define CR_VMA_RAND_READ	(1U << 12)	/* MADV_RANDOM */
#define CR_VMA_SOFTDIRTY	(1U << 13)	/* soft-dirty (not cleared since the area was made) */
#define CR_VMA_MERGEABLE	(1U << 14)	/* MADV_MERGEABLE or PR_SET_MEMORY_MERGE (KSM) */
#define CR_VMA_ACCOUNT		(1U << 15)	/* holds a commit charge (private, writable once) */
#define CR_VMA_NORESERVE	(1U << 16)	/* MAP_NORESERVE: no commit charge */
#define CR_VMA_GUARD		(1U << 17)	/* may hold guard pages (MADV_GUARD_INSTALL) */
#define CR_VMA_LOCKONFAULT	(1U << 18)	/* with CR_VMA_LOCKED: mlock2(MLOCK_ONFAULT) */
#define CR_VMA_FLAGS_ALL	0x7ffffU

/**
 * struct cr_vma - CR_REC_VMA: one memory area; followed by @path_len bytes
 * of the mapped file's path (no NUL), or for a special mapping without a file
 * its name ("[vdso]", "[vvar]", ...).
 * @start, @end: the range, page aligned, @start < @end.
 * @pgoff:       offset in the file, in pages.
 * @__reserved1: zero (the kernel's own VM_* flags are not ABI; @flags holds
 *               what an image carries of them).
 * @prot:        PROT_READ | PROT_WRITE | PROT_EXEC.
 * @kind:        CR_VMA_* kind.
 * @flags:       CR_VMA_* flags.
 * @__pad:       zero.
 * @dev, @ino:   identity of the mapped file (st_dev as new_encode_dev, st_ino).
 * @file_size:   the file's size at checkpoint.
 * @mtime_ns:    the file's modification time at checkpoint.
 * @__reserved:  zero. (The pages of an area are the PAGES records whose
 *               range lies in it; they follow all VMA records.)
 * @path_len:    bytes of path that follow.
 */
struct cr_vma {
	__u64 start;
	__u64 end;
	__u64 pgoff;
	__u64 __reserved1;
	__u32 prot;
	__u32 kind;
	__u32 flags;
	__u32 __pad;
	__u64 dev;
	__u64 ino;
	__u64 file_size;
	__u64 mtime_ns;
	__u64 __reserved;
	__u32 path_len;
	__u32 __pad2;
};

/**
 * struct cr_sigaction - one signal's disposition
 * @handler: SIG_DFL (0), SIG_IGN (1) or the handler's address.
 * @flags:   SA_* flags.
 * @restorer: sa_restorer.
 * @mask:    signals blocked while the handler runs (bit n-1 = signal n).
 */
struct cr_sigaction {
	__u64 handler;
	__u64 flags;
	__u64 restorer;
	__u64 mask;
};

#define CR_NSIG 64

/** struct cr_sighand - CR_REC_SIGHAND: dispositions of signals 1..64 */
struct cr_sighand {
	struct cr_sigaction action[CR_NSIG];
};

/**
 * struct cr_siginfo - one queued signal: its number and the 128-byte siginfo
 * the kernel would deliver.
 */
struct cr_siginfo {
	__u32 signo;
	__u32 __pad;
	__u8 info[128];
};

/**
 * struct cr_sigpending - CR_REC_SIGPENDING: signals pending for the whole
 * process; followed by @count struct cr_siginfo.
 * @signal: pending set (bit n-1 = signal n).
 */
struct cr_sigpending {
	__u64 signal;
	__u32 count;
	__u32 __pad;
};

/* cr_fd.type */
#define CR_FD_REG	1	/* regular file */
#define CR_FD_DIR	2	/* directory */
#define CR_FD_PIPE	3	/* pipe or FIFO */
#define CR_FD_TTY	4	/* terminal */
#define CR_FD_SOCKET	5	/* socket */
#define CR_FD_CHR	6	/* other character device */
#define CR_FD_BLK	7	/* block device */
#define CR_FD_ANON	8	/* anon inode: eventfd, epoll, signalfd, ... */
#define CR_FD_OTHER	9	/* anything else */

/* cr_fd.flags */
#define CR_FD_F_SHARED	(1U << 0)	/* the open file is also held by another process */

/**
 * struct cr_fd - CR_REC_FD: one open file descriptor; followed by @path_len
 * bytes of its path as /proc/<pid>/fd shows it (no NUL).
 * @fd:       descriptor number.
 * @type:     CR_FD_*.
 * @f_flags:  open flags (O_*), as fcntl(F_GETFL) plus O_CLOEXEC if set.
 * @mode:     the inode's mode (type and permission bits).
 * @pos:      file offset.
 * @dev, @ino: identity of the inode (a pipe's ino names the pipe).
 * @size:     the inode's size.
 * @path_len: bytes of path that follow.
 * @flags:    CR_FD_F_* flags.
 */
struct cr_fd {
	__s32 fd;
	__u32 type;
	__u32 f_flags;
	__u32 mode;
	__u64 pos;
	__u64 dev;
	__u64 ino;
	__u64 size;
	__u32 path_len;
	__u32 flags;
};

/**
 * struct cr_fs - CR_REC_FS: the working and root directories; followed by
 * @cwd_len bytes of the working directory's path, then @root_len bytes of
 * the root's (as /proc/<pid>/cwd and root show them, no NUL).
 * @cwd_len, @root_len: bytes of each path (at least 1).
 * @cwd_dev, @cwd_ino:  identity of the working directory.
 */
struct cr_fs {
	__u32 cwd_len;
	__u32 root_len;
	__u64 cwd_dev;
	__u64 cwd_ino;
};

/**
 * struct cr_itimer - one setitimer(2) timer: time left (0: disarmed) and
 * reload interval, in nanoseconds.
 */
struct cr_itimer {
	__u64 value_ns;
	__u64 interval_ns;
};

/**
 * struct cr_itimers - CR_REC_ITIMERS: the process's ITIMER_REAL,
 * ITIMER_VIRTUAL and ITIMER_PROF (it[0..2], the setitimer(2) numbers).
 */
struct cr_itimers {
	struct cr_itimer it[3];
};

/**
 * struct cr_clocks - CR_REC_CLOCKS: the process's clocks as it saw them
 * once it was frozen: CLOCK_MONOTONIC and CLOCK_BOOTTIME with the offsets
 * of its time namespace, and CLOCK_REALTIME, each in ns (0 to 2^62).
 */
struct cr_clocks {
	__s64 monotonic_ns;
	__s64 boottime_ns;
	__s64 realtime_ns;
};

/**
 * struct cr_pipe - CR_REC_PIPE: the data waiting in one pipe the process
 * has an fd of (named by the @dev and @ino of its CR_REC_FD records);
 * followed by @bytes bytes, oldest first. One record per pipe, in order of
 * (@dev, @ino).
 * @dev, @ino: the pipe.
 * @bytes:     bytes of data that follow (at most CR_IMAGE_MAX_PIPE).
 * @capacity:  the pipe's size in bytes (F_GETPIPE_SZ).
 */
struct cr_pipe {
	__u64 dev;
	__u64 ino;
	__u32 bytes;
	__u32 capacity;
};

/**
 * struct cr_regs - general registers, struct user_regs_struct of x86_64
 */
struct cr_regs {
	__u64 r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	__u64 ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
	__u64 fs_base, gs_base, ds, es, fs, gs;
};

/* cr_thread.restart: what the interrupted system call needs on resume */
#define CR_RESTART_NONE		0	/* not in a system call, or it completed */
#define CR_RESTART_SYSCALL	1	/* re-execute: ax = orig_ax, ip -= 2 */
#define CR_RESTART_BLOCK	2	/* restart_syscall(2) with kernel-held state */

/**
 * struct cr_thread - CR_REC_THREAD: one thread; followed by @xstate_size
 * bytes of xsave state (the user ABI layout of PTRACE_GETREGSET
 * NT_X86_XSTATE), then @pending_count struct cr_siginfo.
 * @tid:            thread id in the caller's pid namespace.
 * @flags:          CR_THREAD_* flags.
 * @regs:           registers as the thread stopped, before any restart fix-up.
 * @restart:        CR_RESTART_* for the system call it was in.
 * @restart_errno:  the -ERESTART* value regs.ax held (0 if none).
 * @blocked:        blocked signals (bit n-1 = signal n).
 * @pending:        signals pending for this thread only.
 * @sas_sp, @sas_size, @sas_flags: sigaltstack.
 * @xstate_size:    bytes of xsave state that follow.
 * @pending_count:  queued siginfos that follow.
 * @clear_child_tid: set_tid_address(2) value.
 * @robust_list, @robust_list_len: set_robust_list(2) values.
 * @comm:           thread name.
 * @rseq:           rseq(2) area registered by the thread (0: none).
 * @rseq_len:       its registered length.
 * @rseq_sig:       its registered signature.
 * @restart_ns:     for a call stopped with CR_RESTART_BLOCK that waits with a
 *                  relative timeout (nanosleep(2), clock_nanosleep(2),
 *                  FUTEX_WAIT, poll(2)): the time it had left (0 otherwise).
 * @nice:           its nice value (-20..19).
 * @policy:         its scheduling policy (SCHED_OTHER, SCHED_FIFO, SCHED_RR,
 *                  SCHED_BATCH, SCHED_IDLE), with SCHED_RESET_ON_FORK if set.
 * @rt_priority:    its real-time priority (1..99 for SCHED_FIFO and
 *                  SCHED_RR, else 0).
 */
struct cr_thread {
	__u32 tid;
	__u32 flags;
	struct cr_regs regs;
	__u32 restart;
	__s32 restart_errno;
	__u64 blocked;
	__u64 pending;
	__u64 sas_sp;
	__u64 sas_size;
	__u32 sas_flags;
	__u32 xstate_size;
	__u32 pending_count;
	__s32 nice;
	__u64 clear_child_tid;
	__u64 robust_list;
	__u64 robust_list_len;
	char comm[16];
	__u64 rseq;
	__u32 rseq_len;
	__u32 rseq_sig;
	__u64 restart_ns;
	__u32 policy;
	__u32 rt_priority;
};

#define CR_THREAD_LEADER	(1U << 0)	/* the thread group leader */

/**
 * struct cr_pages - CR_REC_PAGES: @count pages from @addr follow, page_size
 * bytes each. Pages not in any PAGES record were never touched (anonymous
 * memory: zero) or are still the file's (private file mappings).
 */
struct cr_pages {
	__u64 addr;
	__u64 count;
};

/**
 * struct cr_trailer - CR_REC_TRAILER, the last record
 * @records: records before the trailer.
 * @bytes:   stream bytes before the trailer's header (magic included).
 * @chain:   low 32 bits of XXH64 (seed 0) over the check fields of every
 *           record before the trailer, in order, each as 4 little-endian
 *           bytes.
 * @pages:   pages in all PAGES records.
 */
struct cr_trailer {
	__u64 records;
	__u64 bytes;
	__u32 chain;
	__u32 __pad;
	__u64 pages;
};

#ifndef __KERNEL__
_Static_assert(sizeof(struct cr_fs) == 24, "struct cr_fs layout");
_Static_assert(sizeof(struct cr_itimers) == 48, "struct cr_itimers layout");
_Static_assert(sizeof(struct cr_pipe) == 24, "struct cr_pipe layout");
_Static_assert(sizeof(struct cr_clocks) == 24, "struct cr_clocks layout");
_Static_assert(sizeof(struct cr_record) == 16, "struct cr_record layout");
_Static_assert(sizeof(struct cr_image_header) == 160, "struct cr_image_header layout");
_Static_assert(sizeof(struct cr_process) == 344, "struct cr_process layout");
_Static_assert(sizeof(struct cr_mm) == 112, "struct cr_mm layout");
_Static_assert(sizeof(struct cr_vma) == 96, "struct cr_vma layout");
_Static_assert(sizeof(struct cr_sighand) == 2048, "struct cr_sighand layout");
_Static_assert(sizeof(struct cr_siginfo) == 136, "struct cr_siginfo layout");
_Static_assert(sizeof(struct cr_sigpending) == 16, "struct cr_sigpending layout");
_Static_assert(sizeof(struct cr_fd) == 56, "struct cr_fd layout");
_Static_assert(sizeof(struct cr_regs) == 216, "struct cr_regs layout");
_Static_assert(sizeof(struct cr_thread) == 352, "struct cr_thread layout");
_Static_assert(sizeof(struct cr_pages) == 16, "struct cr_pages layout");
_Static_assert(sizeof(struct cr_trailer) == 32, "struct cr_trailer layout");
#endif

#endif /* _UAPI_LINUX_CR_IMAGE_H */
