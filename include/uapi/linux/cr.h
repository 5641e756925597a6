/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * cr: checkpoint/restore of processes, the /dev/cr ioctl ABI.
 *
 * This header is the single definition of the ioctl ABI; <linux/cr_image.h>
 * defines the image those ioctls write and read. The kernel module
 * (src/uapi.rs) and crctl mirror both in Rust with compile-time layout checks,
 * and `make check` compares every size and offset against those mirrors.
 *
 * Rules: fixed-width fields only, explicit padding, pointers passed as __u64,
 * reserved fields must be zero on input and are zero on output.
 *
 * Documentation/userspace-api.rst describes each ioctl.
 */
#ifndef _UAPI_LINUX_CR_H
#define _UAPI_LINUX_CR_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Version of this ABI: bumped on any incompatible change. */
#define CR_ABI_VERSION 1

/* Values of cr_info.arch. */
#define CR_ARCH_X86_64 1

/*
 * Bits of cr_info.features: what this build of the module can do. A bit is
 * defined here only once its feature is implemented.
 */
#define CR_FEATURE_CHECKPOINT	(1ULL << 0)	/* CR_IOC_CHECKPOINT */
#define CR_FEATURE_RESTORE	(1ULL << 1)	/* CR_IOC_RESTORE */
#define CR_FEATURE_HOLD		(1ULL << 2)	/* CR_CHECKPOINT_HOLD, CR_RESTORE_HOLD */
#define CR_FEATURE_DEPUTY	(1ULL << 3)	/* CR_HOLD_DEPUTY */
#define CR_FEATURE_REMOTE	(1ULL << 4)	/* CR_IOC_SERVE: the remote class */
#define CR_FEATURES_ALL		(CR_FEATURE_CHECKPOINT | CR_FEATURE_RESTORE | CR_FEATURE_HOLD | \
				 CR_FEATURE_DEPUTY | CR_FEATURE_REMOTE)

/* A cluster-wide process id: the host in the high 32 bits (0 = this host). */
#define CR_CPID(host, pid)	(((__u64)(host) << 32) | (__u32)(pid))
#define CR_CPID_HOST(cpid)	((__u32)((cpid) >> 32))
#define CR_CPID_PID(cpid)	((__u32)(cpid))

/**
 * struct cr_info - what the module is and what it can do
 * @abi_version: CR_ABI_VERSION of the module.
 * @arch:        architecture the module runs on (CR_ARCH_*).
 * @features:    CR_FEATURE_* bits the module supports.
 * @page_size:   page size of this kernel, in bytes.
 * @__pad:       zero.
 * @__reserved:  zero; room for later fields.
 *
 * Filled by CR_IOC_INFO.
 */
struct cr_info {
	__u32 abi_version;
	__u32 arch;
	__u64 features;
	__u32 page_size;
	__u32 __pad;
	__u64 __reserved[4];
};

/* cr_checkpoint_args.flags */
#define CR_CHECKPOINT_KILL	(1U << 0)	/* end the target once the image is complete */
/*
 * Write the image even when the process holds what no restore brings back
 * (CR_FAIL_HOLDS: sockets, children, locks, ...), for inspection or a restore
 * that refuses it later. Not with CR_CHECKPOINT_KILL (EINVAL).
 */
#define CR_CHECKPOINT_PARTIAL	(1U << 1)
/*
 * Once the image is complete, keep the target frozen and read one byte from
 * hold_fd: CR_HOLD_COMMIT ends the target (as CR_CHECKPOINT_KILL would);
 * anything else (another byte, end of file, a read error, a signal to the
 * caller) thaws it and it runs on, and the ioctl fails with ECANCELED
 * (CR_FAIL_NOT_COMMITTED). out_fd is closed in the caller as the hold
 * begins, so that the reader of a pipe sees the image end. For migration:
 * the original ends only once the target host has restored the copy. Not
 * with KILL or PARTIAL (EINVAL).
 */
#define CR_CHECKPOINT_HOLD	(1U << 2)
#define CR_CHECKPOINT_FLAGS_ALL	(CR_CHECKPOINT_KILL | CR_CHECKPOINT_PARTIAL | CR_CHECKPOINT_HOLD)

/* The byte that commits a hold (CR_CHECKPOINT_HOLD, CR_RESTORE_HOLD). */
#define CR_HOLD_COMMIT		0x43	/* 'C' */
/*
 * The byte that commits a checkpoint's hold and leaves a deputy: instead of
 * ending, the process stays in the process table with its pid, parent and
 * fds, one thread and no memory, standing for its copy that now runs on
 * another host (Documentation/userspace-api.rst, "Deputies"). hold_fd must
 * then be a socket (read and written): the module writes a struct
 * cr_deputy_msg CR_DEPUTY_SIGNAL for each signal sent to the deputy and reads
 * a CR_DEPUTY_EXIT, on which the deputy exits with the copy's wait status.
 */
#define CR_HOLD_DEPUTY		0x44	/* 'D' */

/**
 * struct cr_deputy_msg - one message on a deputy's hold_fd
 * @kind:  CR_DEPUTY_*.
 * @value: CR_DEPUTY_SIGNAL: the signal number; CR_DEPUTY_KILLED: 9;
 *         CR_DEPUTY_EXIT: a wait status (an exit code << 8, or a signal
 *         number, 0x80 for a core dump).
 */
struct cr_deputy_msg {
	__u32 kind;
	__u32 value;
};

#define CR_DEPUTY_SIGNAL	1	/* module to holder: a signal for the process */
#define CR_DEPUTY_KILLED	2	/* module to holder: SIGKILL ended the deputy */
#define CR_DEPUTY_EXIT		3	/* holder to module: the process ended so */

/* Freeze timeout when cr_checkpoint_args.freeze_timeout_ms is 0. */
#define CR_FREEZE_TIMEOUT_MS_DEFAULT 10000

/**
 * struct cr_checkpoint_args - argument of CR_IOC_CHECKPOINT
 * @target:            in: cluster pid of the process (CR_CPID); the pid is in
 *                     the caller's pid namespace. Host 0 is this host.
 * @out_fd:            in: writable fd the image is streamed to (file, pipe,
 *                     socket); written sequentially, never seeked.
 * @proof_fd:          in: an fd of /proc/<pid>/mem opened by the caller, which
 *                     proves the caller may ptrace the target (the open ran
 *                     the kernel's full ptrace check, LSMs included); or -1, and
 *                     then the caller needs CAP_CHECKPOINT_RESTORE or
 *                     CAP_SYS_ADMIN over the target's user namespace.
 * @flags:             in: CR_CHECKPOINT_* flags.
 * @freeze_timeout_ms: in: how long to wait for every thread to stop (0: the
 *                     default, CR_FREEZE_TIMEOUT_MS_DEFAULT).
 * @bytes:             out: image bytes written.
 * @pages:             out: memory pages written.
 * @frozen_ns:         out: how long the target was stopped (its downtime).
 * @total_ns:          out: time spent in the ioctl.
 * @threads:           out: threads checkpointed.
 * @vmas:              out: memory areas described.
 * @fail_reason:       out, also on failure: CR_FAIL_* saying why the
 *                     checkpoint failed (CR_FAIL_NONE on success).
 * @hold_fd:           in: with CR_CHECKPOINT_HOLD, a readable fd (a pipe)
 *                     the decision is read from; else 0.
 * @fail_addr:         out, on failure: the address of the memory area that
 *                     caused it (CR_FAIL_SHMEM, CR_FAIL_DEVICE), else 0.
 * @msg:               in: user address of a buffer of @msg_len bytes (or 0):
 *                     on a failure that has one, the module writes there a
 *                     NUL-terminated one-line explanation (for
 *                     CR_FAIL_UNRESTORABLE, the rule of the image format a
 *                     restore would have refused the image by, worded as a
 *                     restore and ``crctl inspect`` word it).
 * @msg_len:           in: its size (at most CR_MSG_MAX; 0 with @msg 0).
 * @__pad2:            zero.
 */
struct cr_checkpoint_args {
	__u64 target;
	__s32 out_fd;
	__s32 proof_fd;
	__u32 flags;
	__u32 freeze_timeout_ms;
	__u64 bytes;
	__u64 pages;
	__u64 frozen_ns;
	__u64 total_ns;
	__u32 threads;
	__u32 vmas;
	__u32 fail_reason;
	__s32 hold_fd;
	__u64 fail_addr;
	__u64 msg;
	__u32 msg_len;
	__u32 __pad2;
};

/* The longest message (with its NUL) a failed checkpoint writes to @msg. */
#define CR_MSG_MAX		4096

/* cr_checkpoint_args.fail_reason: the errno says what, this says why. */
#define CR_FAIL_NONE		0
#define CR_FAIL_ARGS		1	/* EINVAL: unknown flags, nonzero reserved fields */
#define CR_FAIL_REMOTE		2	/* EREMOTE: the target lives on another host and no cluster daemon serves this one (ECONNRESET: it went away) */
#define CR_FAIL_NO_PROCESS	3	/* ESRCH: no such process (or it exited) */
#define CR_FAIL_KTHREAD		4	/* EINVAL: a kernel thread */
#define CR_FAIL_SELF		5	/* EDEADLK: the caller's own process */
#define CR_FAIL_STOPPED		6	/* EBUSY: stopped (SIGSTOP) or traced */
#define CR_FAIL_PERM		7	/* EPERM: no proof and no capability */
#define CR_FAIL_PROOF		8	/* EINVAL/EPERM: proof_fd is not the target's /proc/<pid>/mem */
#define CR_FAIL_OUTPUT		9	/* out_fd is bad (EBADF, EAGAIN: O_NONBLOCK) or a write failed */
#define CR_FAIL_BUSY		10	/* EBUSY: another checkpoint of this process is running */
#define CR_FAIL_TIMEOUT		11	/* ETIMEDOUT: a thread did not stop (uninterruptible sleep) */
#define CR_FAIL_INTERRUPTED	12	/* EINTR: the caller got a signal */
#define CR_FAIL_EXEC		13	/* EAGAIN: the target exec'd during the checkpoint */
#define CR_FAIL_SHMEM		14	/* EOPNOTSUPP: shared anonymous/SysV memory at fail_addr */
#define CR_FAIL_DEVICE		15	/* EOPNOTSUPP: a device mapping at fail_addr */
#define CR_FAIL_LIMIT		16	/* E2BIG: more threads, areas or signals than an image holds */
#define CR_FAIL_IMAGE		17	/* restore: the image is not valid (EINVAL, EBADMSG, ENODATA, ...) */
#define CR_FAIL_CPU		18	/* restore: ENOEXEC: other xsave layout, or state this CPU cannot hold */
#define CR_FAIL_VDSO		19	/* restore: EINVAL: [vdso]/[vvar] not where the image has them */
#define CR_FAIL_FILE		20	/* restore: a mapped or open file is missing (ENOENT) or changed (ESTALE) */
#define CR_FAIL_UNSUPPORTED	21	/* restore: EOPNOTSUPP: something this version cannot restore yet */
#define CR_FAIL_CALLER		22	/* restore: EBUSY/ETIMEDOUT: the caller's threads do not match the image's */
#define CR_FAIL_CANCELED	23	/* restore thread: ECANCELED: the leader's restore failed first */
#define CR_FAIL_UNKILLABLE	24	/* EINVAL: CR_CHECKPOINT_KILL of a process SIGKILL cannot end (a pid namespace's init) */
#define CR_FAIL_UNRESTORABLE	25	/* EINVAL: a restore would refuse the image (msg says why); nothing was ended */
#define CR_FAIL_LEADERLESS	26	/* EOPNOTSUPP: the main thread exited (pthread_exit) while others run */
#define CR_FAIL_HOLDS		27	/* EOPNOTSUPP: it holds what no restore brings back yet (msg names it); nothing was frozen or ended */
#define CR_FAIL_NOT_COMMITTED	28	/* ECANCELED: a hold ended without CR_HOLD_COMMIT: the image is complete, the target was thawed (checkpoint) or never ran (restore) */
#define CR_FAIL_ELSEWHERE	29	/* the operation failed on the process's host (msg: that host's words) */

/*
 * ioctl numbers: type 0xC7, numbers 0x00-0x3f (see
 * Documentation/userspace-api/ioctl/ioctl-number.rst in the kernel tree).
 * A command whose number is known but whose size differs from the structure
 * here fails with EINVAL; an unknown command fails with ENOTTY.
 */
#define CR_IOC_MAGIC 0xC7

/**
 * struct cr_restore_args - argument of CR_IOC_RESTORE
 * @meta:        in: user address of the image's first bytes: from the magic
 *               through the 16-byte header of its first PAGES (or TRAILER)
 *               record. The caller reads that far to prepare the restore.
 * @meta_len:    in: their length (at most 64 MiB: E2BIG past it).
 * @in_fd:       in: the rest of the image, read sequentially from its
 *               current position (the payload of that first record).
 * @status_fd:   in: a pipe (or -1): once the restore succeeds, or fails past
 *               the point of no return, a struct cr_restore_status is
 *               written here, and the fd is closed in the restored process.
 * @flags:       in: CR_RESTORE_* flags.
 * @fail_reason: out, on failure: CR_FAIL_* (also in the status record).
 * @fail_offset: out, on failure: byte offset in the image of the record at
 *               fault, when there is one.
 * @dev_fd:      in: the /dev/cr fd this ioctl is called on, or -1. It is
 *               closed as the restored process starts (together with @in_fd
 *               and @status_fd), so the restored fd table holds only what
 *               the caller set up.
 * @hold_fd:     in: with CR_RESTORE_HOLD, a readable fd (a pipe) the
 *               decision is read from (closed as the process starts); else 0.
 * @__reserved:  zero.
 *
 * The calling process is replaced by the image's: on success the ioctl
 * returns into the restored program, with its registers; the caller's own
 * program is gone. The caller has as many threads as the image: the one
 * calling CR_IOC_RESTORE becomes the image's first thread (the leader), and
 * each other one waits in CR_IOC_RESTORE_THREAD with its index in the image.
 * The image's [vdso] and [vvar] mappings must already be at the image's
 * addresses (crctl moves them). Until
 * the point of no return (the caller's memory is unmapped), a failure returns
 * an errno and changes nothing that matters; after it, the failure is written
 * to @status_fd and the process is killed: it is never left half-restored.
 */
struct cr_restore_args {
	__u64 meta;
	__u64 meta_len;
	__s32 in_fd;
	__s32 status_fd;
	__u32 flags;
	__u32 fail_reason;
	__u64 fail_offset;
	__s32 dev_fd;
	__s32 hold_fd;
	__u64 __reserved[2];
};

/*
 * cr_restore_args.flags: once the process is rebuilt and its success is
 * written to status_fd (which is then closed at once, so its reader sees the
 * outcome), read one byte from hold_fd before it runs:
 * CR_HOLD_COMMIT starts it; anything else (another byte, end of file, a read
 * error, SIGKILL) kills it before it ran a single instruction. For migration:
 * the copy starts only once the original has ended.
 */
#define CR_RESTORE_HOLD		(1U << 0)
#define CR_RESTORE_FLAGS_ALL	CR_RESTORE_HOLD

/**
 * struct cr_restore_thread_args - argument of CR_IOC_RESTORE_THREAD
 * @index:       in: the thread's place among the image's threads (1 to
 *               threads - 1; 0 is the leader, which calls CR_IOC_RESTORE).
 * @flags:       in: zero.
 * @fail_reason: out, on failure: CR_FAIL_*.
 * @__pad:       zero.
 * @__reserved:  zero.
 *
 * Called by every thread of the caller but the one that calls
 * CR_IOC_RESTORE, in any order. It waits until that restore has rebuilt the
 * process, then returns into the image's thread @index, with its registers,
 * xsave state, signal mask, alternate stack and pending signals. If the
 * restore fails before the point of no return, it returns ECANCELED (the
 * thread should then exit); after it, the whole process is killed.
 */
struct cr_restore_thread_args {
	__u32 index;
	__u32 flags;
	__u32 fail_reason;
	__u32 __pad;
	__u64 __reserved[2];
};

/**
 * struct cr_restore_status - written to cr_restore_args.status_fd
 * @error:  0 on success, else a negative errno.
 * @reason: CR_FAIL_* (CR_FAIL_NONE on success).
 * @offset: byte offset in the image of the record at fault.
 * @pid:    the restored process's pid, in the caller's pid namespace.
 * @__pad:  zero.
 */
struct cr_restore_status {
	__s32 error;
	__u32 reason;
	__u64 offset;
	__u32 pid;
	__u32 __pad;
};

/**
 * struct cr_serve_args - CR_IOC_SERVE: the cluster daemon serves the remote class
 *
 * A checkpoint of a process of another host (CR_CPID_HOST(target) != 0) goes
 * through the remote class: the module queues it on this host's channel and
 * the cluster daemon (crd, through ``crctl serve``) carries it out there and
 * answers. The first CR_IOC_SERVE makes the calling open file of /dev/cr the
 * channel (CAP_SYS_ADMIN; one per host, else EBUSY); closing that file ends
 * it, and every request still waiting on it fails (ECONNRESET,
 * CR_FAIL_REMOTE). Without a channel such a checkpoint fails with EREMOTE,
 * CR_FAIL_REMOTE.
 *
 * Each call first takes the answer to request @done (if not 0; an answer to
 * a request whose caller has gone is dropped), then, unless
 * CR_SERVE_ANSWER_ONLY, waits (interruptibly: EINTR) for the next request and
 * describes it; its out_fd is installed in the caller (close-on-exec) as @fd.
 *
 * @done:        in: the request answered, or 0.
 * @error:       in: 0 (it succeeded) or a negative errno.
 * @fail_reason: in: with @error, CR_FAIL_* (CR_FAIL_ELSEWHERE: see @msg).
 * @fail_addr:   in: with @error, as cr_checkpoint_args.fail_addr.
 * @bytes, @pages, @frozen_ns, @threads, @vmas: in: on success, as
 *               cr_checkpoint_args has them.
 * @msg:         in: with @error, a message for the requester, or 0.
 * @msg_len:     in: its buffer's size (at most CR_MSG_MAX; it ends at its
 *               first NUL or there).
 * @flags:       in: CR_SERVE_*.
 * @id:          out: the request (never 0).
 * @op:          out: CR_SERVE_OP_*.
 * @req_flags:   out: the request's CR_CHECKPOINT_* flags.
 * @target:      out: the cluster pid.
 * @fd:          out: the request's out_fd, now the daemon's.
 * @freeze_timeout_ms: out: as requested (0: the default).
 * @uid, @gid:   out: the requester's effective ids (initial user namespace):
 *               the daemon acts as that user.
 * @capable:     out: 1 if the requester has CAP_CHECKPOINT_RESTORE or
 *               CAP_SYS_ADMIN in the initial user namespace, else 0.
 * @__pad, @__reserved: zero.
 */
struct cr_serve_args {
	__u64 done;
	__s32 error;
	__u32 fail_reason;
	__u64 fail_addr;
	__u64 bytes;
	__u64 pages;
	__u64 frozen_ns;
	__u32 threads;
	__u32 vmas;
	__u64 msg;
	__u32 msg_len;
	__u32 flags;
	__u64 id;
	__u32 op;
	__u32 req_flags;
	__u64 target;
	__s32 fd;
	__u32 freeze_timeout_ms;
	__u32 uid;
	__u32 gid;
	__u32 capable;
	__u32 __pad;
	__u64 __reserved[2];
};

/* cr_serve_args.flags: answer @done and return, without waiting for a request. */
#define CR_SERVE_ANSWER_ONLY	(1U << 0)
/* cr_serve_args.op: stream the image of @target to @fd, as cr_checkpoint_args. */
#define CR_SERVE_OP_CHECKPOINT	1

#define CR_IOC_INFO		_IOR(CR_IOC_MAGIC, 0x00, struct cr_info)
#define CR_IOC_CHECKPOINT	_IOWR(CR_IOC_MAGIC, 0x01, struct cr_checkpoint_args)
#define CR_IOC_RESTORE		_IOWR(CR_IOC_MAGIC, 0x02, struct cr_restore_args)
#define CR_IOC_RESTORE_THREAD	_IOWR(CR_IOC_MAGIC, 0x03, struct cr_restore_thread_args)
#define CR_IOC_SERVE		_IOWR(CR_IOC_MAGIC, 0x04, struct cr_serve_args)

#ifndef __KERNEL__
_Static_assert(sizeof(struct cr_info) == 56, "struct cr_info layout");
_Static_assert(sizeof(struct cr_checkpoint_args) == 96, "struct cr_checkpoint_args layout");
_Static_assert(sizeof(struct cr_restore_args) == 64, "struct cr_restore_args layout");
_Static_assert(sizeof(struct cr_restore_status) == 24, "struct cr_restore_status layout");
_Static_assert(sizeof(struct cr_restore_thread_args) == 32, "struct cr_restore_thread_args layout");
_Static_assert(sizeof(struct cr_serve_args) == 136, "struct cr_serve_args layout");
#endif

#endif /* _UAPI_LINUX_CR_H */
