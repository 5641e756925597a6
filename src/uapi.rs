// SPDX-License-Identifier: GPL-2.0

//! Rust mirror of `include/uapi/linux/cr.h`, the /dev/cr ABI, and of
//! `include/uapi/linux/cr_image.h`, the image format.
//!
//! This file is shared, byte for byte, by the kernel module and by crctl (which
//! includes it with `#[path]`), so it may use `core` only. The layout assertions
//! below fail the build when the mirror drifts from the C header, and crctl's
//! `abi` test compares every size, offset and ioctl number against the header
//! compiled by a C compiler.

use core::mem::size_of;

/// `CR_CPID(host, pid)`: a cluster-wide process id.
pub const fn cpid(host: u32, pid: u32) -> u64 {
    ((host as u64) << 32) | pid as u64
}
/// `CR_CPID_HOST`: the host part (0 = this host).
pub const fn cpid_host(cpid: u64) -> u32 {
    (cpid >> 32) as u32
}
/// `CR_CPID_PID`: the pid part.
pub const fn cpid_pid(cpid: u64) -> u32 {
    cpid as u32
}

/// Plain ABI data: `#[repr(C)]`, made only of integers and arrays of
/// integers, with every padding byte an explicit field.
///
/// # Safety
///
/// Implementors must have no implicit padding and no field for which some bit
/// pattern is invalid, so that any bytes are a valid value and every byte of a
/// value is initialized.
pub unsafe trait Pod: Copy + 'static {}

/// The all-zero value of `T`.
pub fn zeroed<T: Pod>() -> T {
    // SAFETY: `T: Pod`, so the all-zero bit pattern is a valid `T`.
    unsafe { core::mem::zeroed() }
}

/// The bytes of `value`.
pub fn as_bytes<T: Pod>(value: &T) -> &[u8] {
    // SAFETY: `T: Pod` has no padding, so all `size_of::<T>()` bytes behind the
    // reference are initialized; the slice borrows `value`.
    unsafe { core::slice::from_raw_parts(core::ptr::from_ref(value).cast::<u8>(), size_of::<T>()) }
}

/// The bytes of `value`, writable.
pub fn as_bytes_mut<T: Pod>(value: &mut T) -> &mut [u8] {
    // SAFETY: As for `as_bytes`; and any bytes written are a valid `T`.
    unsafe {
        core::slice::from_raw_parts_mut(core::ptr::from_mut(value).cast::<u8>(), size_of::<T>())
    }
}

/// A `T` from the first `size_of::<T>()` bytes of `bytes`, if there are enough.
pub fn from_bytes<T: Pod>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < size_of::<T>() {
        return None;
    }
    // SAFETY: the source has at least `size_of::<T>()` readable bytes, any
    // bytes are a valid `T` (`T: Pod`), and `read_unaligned` needs no alignment.
    Some(unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// Declares `#[repr(C)]` ABI structs, marks them `Pod`, and asserts their size.
macro_rules! abi_structs {
    ($($(#[$m:meta])* pub struct $name:ident ($size:expr) { $($(#[$fm:meta])* pub $f:ident : $t:ty,)* })*) => {$(
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name { $($(#[$fm])* pub $f: $t,)* }
        // SAFETY: every field is an integer or an array of integers, and the
        // size assertion below equals the sum of the field sizes (no padding).
        unsafe impl Pod for $name {}
        const _: () = assert!(size_of::<$name>() == $size);
        const _: () = assert!(0 $(+ size_of::<$t>())* == $size);
        impl Default for $name {
            fn default() -> Self {
                zeroed()
            }
        }
    )*

    /// Every ABI struct's layout, for crctl's `abi` test to compare with the C
    /// headers: the Rust name (`CrFoo` for `struct cr_foo`), its size, and each
    /// field's name and offset.
    pub const ABI_LAYOUTS: &[(&str, usize, &[(&str, usize)])] = &[$(
        (
            stringify!($name),
            size_of::<$name>(),
            &[$((stringify!($f), core::mem::offset_of!($name, $f))),*],
        ),
    )*];
    };
}

abi_structs! {
    /// One message on a deputy's hold fd (`struct cr_deputy_msg`).
    pub struct CrDeputyMsg (8) {
        /// `CR_DEPUTY_*`.
        pub kind: u32,
        /// The signal number, or a wait status.
        pub value: u32,
    }

    /// What the module is and what it can do (`struct cr_info`).
    pub struct CrInfo (56) {
        /// `CR_ABI_VERSION` of the module.
        pub abi_version: u32,
        /// Architecture (`CR_ARCH_*`).
        pub arch: u32,
        /// `CR_FEATURE_*` bits.
        pub features: u64,
        /// Page size in bytes.
        pub page_size: u32,
        /// Zero.
        pub __pad: u32,
        /// Zero; room for later fields.
        pub __reserved: [u64; 4],
    }

    /// The argument of `CR_IOC_CHECKPOINT` (`struct cr_checkpoint_args`).
    pub struct CrCheckpointArgs (96) {
        /// In: cluster pid of the target.
        pub target: u64,
        /// In: fd the image is written to.
        pub out_fd: i32,
        /// In: fd of /proc/<pid>/mem proving ptrace access, or -1.
        pub proof_fd: i32,
        /// In: `CR_CHECKPOINT_*`.
        pub flags: u32,
        /// In: freeze timeout (0: default).
        pub freeze_timeout_ms: u32,
        /// Out: image bytes written.
        pub bytes: u64,
        /// Out: memory pages written.
        pub pages: u64,
        /// Out: how long the target was stopped.
        pub frozen_ns: u64,
        /// Out: time spent in the ioctl.
        pub total_ns: u64,
        /// Out: threads checkpointed.
        pub threads: u32,
        /// Out: memory areas described.
        pub vmas: u32,
        /// Out, also on failure: `CR_FAIL_*`.
        pub fail_reason: u32,
        /// In: with `CR_CHECKPOINT_HOLD`, the fd the decision is read from;
        /// else 0.
        pub hold_fd: i32,
        /// Out, on failure: the memory area at fault.
        pub fail_addr: u64,
        /// In: user buffer for a one-line failure message (or 0).
        pub msg: u64,
        /// In: its size.
        pub msg_len: u32,
        /// Zero.
        pub __pad2: u32,
    }

    /// The argument of `CR_IOC_RESTORE` (`struct cr_restore_args`).
    pub struct CrRestoreArgs (64) {
        /// In: user address of the image's first bytes.
        pub meta: u64,
        /// In: their length.
        pub meta_len: u64,
        /// In: the rest of the image.
        pub in_fd: i32,
        /// In: where the outcome is written, or -1.
        pub status_fd: i32,
        /// In: zero.
        pub flags: u32,
        /// Out, on failure: `CR_FAIL_*`.
        pub fail_reason: u32,
        /// Out, on failure: byte offset of the record at fault.
        pub fail_offset: u64,
        /// In: the /dev/cr fd of this call (closed as the process starts), or -1.
        pub dev_fd: i32,
        /// In: with `CR_RESTORE_HOLD`, the fd the decision is read from
        /// (closed as the process starts); else 0.
        pub hold_fd: i32,
        /// Zero.
        pub __reserved: [u64; 2],
    }

    /// The argument of `CR_IOC_SERVE` (`struct cr_serve_args`): in, the
    /// answer to a request; out, the next request.
    pub struct CrServeArgs (136) {
        /// In: the request answered, or 0.
        pub done: u64,
        /// In: 0, or a negative errno.
        pub error: i32,
        /// In: with `error`, `CR_FAIL_*`.
        pub fail_reason: u32,
        /// In: with `error`, the memory area at fault.
        pub fail_addr: u64,
        /// In: on success, image bytes written.
        pub bytes: u64,
        /// In: on success, memory pages written.
        pub pages: u64,
        /// In: on success, how long the target was stopped.
        pub frozen_ns: u64,
        /// In: on success, threads checkpointed.
        pub threads: u32,
        /// In: on success, memory areas described.
        pub vmas: u32,
        /// In: with `error`, a message for the requester (or 0).
        pub msg: u64,
        /// In: its buffer's size.
        pub msg_len: u32,
        /// In: `CR_SERVE_*`.
        pub flags: u32,
        /// Out: the request.
        pub id: u64,
        /// Out: `CR_SERVE_OP_*`.
        pub op: u32,
        /// Out: the request's `CR_CHECKPOINT_*` flags.
        pub req_flags: u32,
        /// Out: the cluster pid.
        pub target: u64,
        /// Out: the request's out_fd, installed in the caller.
        pub fd: i32,
        /// Out: the freeze timeout asked for (0: default).
        pub freeze_timeout_ms: u32,
        /// Out: the requester's effective uid (initial user namespace).
        pub uid: u32,
        /// Out: the requester's effective gid (initial user namespace).
        pub gid: u32,
        /// Out: 1 if the requester may checkpoint others' processes.
        pub capable: u32,
        /// Zero.
        pub __pad: u32,
        /// Zero.
        pub __reserved: [u64; 2],
    }

    /// The argument of `CR_IOC_RESTORE_THREAD` (`struct cr_restore_thread_args`).
    pub struct CrRestoreThreadArgs (32) {
        /// In: the thread's place among the image's threads (1..threads).
        pub index: u32,
        /// In: zero.
        pub flags: u32,
        /// Out, on failure: `CR_FAIL_*`.
        pub fail_reason: u32,
        /// Zero.
        pub __pad: u32,
        /// Zero.
        pub __reserved: [u64; 2],
    }

    /// The outcome of a restore (`struct cr_restore_status`).
    pub struct CrRestoreStatus (24) {
        /// 0, or a negative errno.
        pub error: i32,
        /// `CR_FAIL_*`.
        pub reason: u32,
        /// Byte offset of the record at fault.
        pub offset: u64,
        /// The restored process's pid.
        pub pid: u32,
        /// Zero.
        pub __pad: u32,
    }

    /// The header of every record (`struct cr_record`).
    pub struct CrRecord (16) {
        /// `CR_REC_*`.
        pub r#type: u32,
        /// Low 32 bits of XXH64 over this header (check = 0) and the payload.
        pub check: u32,
        /// Payload bytes that follow.
        pub size: u64,
    }

    /// `CR_REC_HEADER` (`struct cr_image_header`).
    pub struct CrImageHeader (160) {
        /// `CR_IMAGE_VERSION`.
        pub version: u32,
        /// `CR_ARCH_*`.
        pub arch: u32,
        /// Page size of the writer.
        pub page_size: u32,
        /// Bytes of xsave state in every thread record.
        pub xstate_size: u32,
        /// CLOCK_REALTIME at freeze.
        pub created_ns: u64,
        /// utsname release, NUL-padded.
        pub release: [u8; 65],
        /// utsname nodename, NUL-padded.
        pub hostname: [u8; 65],
        /// Zero.
        pub __pad: [u8; 6],
    }

    /// One resource limit (`struct cr_rlimit`).
    pub struct CrRlimit (16) {
        /// Soft limit.
        pub cur: u64,
        /// Hard limit.
        pub max: u64,
    }

    /// `CR_REC_PROCESS` (`struct cr_process`).
    pub struct CrProcess (344) {
        /// Process id.
        pub pid: u32,
        /// Parent's process id.
        pub ppid: u32,
        /// Process group.
        pub pgid: u32,
        /// Session.
        pub sid: u32,
        /// THREAD records that follow.
        pub nr_threads: u32,
        /// Real uid.
        pub uid: u32,
        /// Effective uid.
        pub euid: u32,
        /// Saved uid.
        pub suid: u32,
        /// Filesystem uid.
        pub fsuid: u32,
        /// Real gid.
        pub gid: u32,
        /// Effective gid.
        pub egid: u32,
        /// Saved gid.
        pub sgid: u32,
        /// Filesystem gid.
        pub fsgid: u32,
        /// File mode creation mask.
        pub umask: u32,
        /// personality(2) flags.
        pub personality: u32,
        /// Signal sent to the parent on exit.
        pub exit_signal: u32,
        /// `CR_PROCESS_*`.
        pub flags: u32,
        /// /proc/<pid>/oom_score_adj.
        pub oom_score_adj: i32,
        /// Task name.
        pub comm: [u8; 16],
        /// Resource limits by `RLIMIT_*`.
        pub rlim: [CrRlimit; CR_RLIMITS],
    }

    /// `CR_REC_MM` (`struct cr_mm`).
    pub struct CrMm (112) {
        /// mm->start_code.
        pub start_code: u64,
        /// mm->end_code.
        pub end_code: u64,
        /// mm->start_data.
        pub start_data: u64,
        /// mm->end_data.
        pub end_data: u64,
        /// mm->start_brk.
        pub start_brk: u64,
        /// mm->brk.
        pub brk: u64,
        /// mm->start_stack.
        pub start_stack: u64,
        /// mm->arg_start.
        pub arg_start: u64,
        /// mm->arg_end.
        pub arg_end: u64,
        /// mm->env_start.
        pub env_start: u64,
        /// mm->env_end.
        pub env_end: u64,
        /// Base of [vdso].
        pub vdso_base: u64,
        /// VMA records that follow.
        pub nr_vmas: u32,
        /// u64 words of auxv that follow.
        pub auxv_words: u32,
        /// Bytes of the executable's path after the auxv.
        pub exe_path_len: u32,
        /// Zero.
        pub __pad: u32,
    }

    /// `CR_REC_VMA` (`struct cr_vma`).
    pub struct CrVma (96) {
        /// Start address.
        pub start: u64,
        /// End address (exclusive).
        pub end: u64,
        /// File offset in pages.
        pub pgoff: u64,
        /// Zero.
        pub __reserved1: u64,
        /// PROT_* bits.
        pub prot: u32,
        /// `CR_VMA_*` kind.
        pub kind: u32,
        /// `CR_VMA_*` flags.
        pub flags: u32,
        /// Zero.
        pub __pad: u32,
        /// Device of the mapped file.
        pub dev: u64,
        /// Inode of the mapped file.
        pub ino: u64,
        /// File size.
        pub file_size: u64,
        /// File mtime in ns.
        pub mtime_ns: u64,
        /// Zero.
        pub __reserved: u64,
        /// Bytes of path that follow.
        pub path_len: u32,
        /// Zero.
        pub __pad2: u32,
    }

    /// One signal's disposition (`struct cr_sigaction`).
    pub struct CrSigaction (32) {
        /// SIG_DFL, SIG_IGN or a handler address.
        pub handler: u64,
        /// SA_* flags.
        pub flags: u64,
        /// sa_restorer.
        pub restorer: u64,
        /// Blocked while the handler runs.
        pub mask: u64,
    }

    /// `CR_REC_SIGHAND` (`struct cr_sighand`).
    pub struct CrSighand (2048) {
        /// Signals 1..64.
        pub action: [CrSigaction; CR_NSIG],
    }

    /// One queued signal (`struct cr_siginfo`).
    pub struct CrSiginfo (136) {
        /// Signal number.
        pub signo: u32,
        /// Zero.
        pub __pad: u32,
        /// The kernel's siginfo as delivered.
        pub info: [u8; 128],
    }

    /// `CR_REC_SIGPENDING` (`struct cr_sigpending`).
    pub struct CrSigpending (16) {
        /// Pending set.
        pub signal: u64,
        /// siginfos that follow.
        pub count: u32,
        /// Zero.
        pub __pad: u32,
    }

    /// `CR_REC_FD` (`struct cr_fd`).
    pub struct CrFd (56) {
        /// Descriptor number.
        pub fd: i32,
        /// `CR_FD_*`.
        pub r#type: u32,
        /// O_* flags.
        pub f_flags: u32,
        /// Inode mode.
        pub mode: u32,
        /// File offset.
        pub pos: u64,
        /// Device.
        pub dev: u64,
        /// Inode number.
        pub ino: u64,
        /// Inode size.
        pub size: u64,
        /// Bytes of path that follow.
        pub path_len: u32,
        /// `CR_FD_F_*` flags.
        pub flags: u32,
    }

    /// `CR_REC_FS` (`struct cr_fs`).
    pub struct CrFs (24) {
        /// Bytes of the working directory's path that follow.
        pub cwd_len: u32,
        /// Bytes of the root's path that follow it.
        pub root_len: u32,
        /// The working directory's device.
        pub cwd_dev: u64,
        /// Its inode number.
        pub cwd_ino: u64,
    }

    /// `CR_REC_ITIMERS` (`struct cr_itimers`): `it[2n]` is timer n's time
    /// left, `it[2n + 1]` its interval, in ns (REAL, VIRTUAL, PROF).
    pub struct CrItimers (48) {
        /// Value and interval of each of the three timers.
        pub it: [u64; 6],
    }

    /// `CR_REC_CLOCKS` (`struct cr_clocks`): the frozen process's clocks.
    pub struct CrClocks (24) {
        /// CLOCK_MONOTONIC, with its time namespace's offset (ns).
        pub monotonic_ns: i64,
        /// CLOCK_BOOTTIME, with its time namespace's offset (ns).
        pub boottime_ns: i64,
        /// CLOCK_REALTIME (ns).
        pub realtime_ns: i64,
    }

    /// `CR_REC_PIPE` (`struct cr_pipe`).
    pub struct CrPipe (24) {
        /// The pipe's device (as in its FD records).
        pub dev: u64,
        /// Its inode number.
        pub ino: u64,
        /// Bytes of data that follow.
        pub bytes: u32,
        /// The pipe's size.
        pub capacity: u32,
    }

    /// General registers (`struct cr_regs`, x86_64 `user_regs_struct`).
    pub struct CrRegs (216) {
        /// r15.
        pub r15: u64,
        /// r14.
        pub r14: u64,
        /// r13.
        pub r13: u64,
        /// r12.
        pub r12: u64,
        /// rbp.
        pub bp: u64,
        /// rbx.
        pub bx: u64,
        /// r11.
        pub r11: u64,
        /// r10.
        pub r10: u64,
        /// r9.
        pub r9: u64,
        /// r8.
        pub r8: u64,
        /// rax.
        pub ax: u64,
        /// rcx.
        pub cx: u64,
        /// rdx.
        pub dx: u64,
        /// rsi.
        pub si: u64,
        /// rdi.
        pub di: u64,
        /// The system call number (or -1).
        pub orig_ax: u64,
        /// rip.
        pub ip: u64,
        /// cs.
        pub cs: u64,
        /// rflags.
        pub flags: u64,
        /// rsp.
        pub sp: u64,
        /// ss.
        pub ss: u64,
        /// fs base.
        pub fs_base: u64,
        /// gs base.
        pub gs_base: u64,
        /// ds.
        pub ds: u64,
        /// es.
        pub es: u64,
        /// fs.
        pub fs: u64,
        /// gs.
        pub gs: u64,
    }

    /// `CR_REC_THREAD` (`struct cr_thread`).
    pub struct CrThread (352) {
        /// Thread id.
        pub tid: u32,
        /// `CR_THREAD_*`.
        pub flags: u32,
        /// Registers as stopped.
        pub regs: CrRegs,
        /// `CR_RESTART_*`.
        pub restart: u32,
        /// The -ERESTART* value ax held.
        pub restart_errno: i32,
        /// Blocked signals.
        pub blocked: u64,
        /// Signals pending for this thread.
        pub pending: u64,
        /// sigaltstack base.
        pub sas_sp: u64,
        /// sigaltstack size.
        pub sas_size: u64,
        /// sigaltstack flags.
        pub sas_flags: u32,
        /// xsave bytes that follow.
        pub xstate_size: u32,
        /// siginfos that follow the xsave state.
        pub pending_count: u32,
        /// Nice value.
        pub nice: i32,
        /// set_tid_address value.
        pub clear_child_tid: u64,
        /// set_robust_list head.
        pub robust_list: u64,
        /// set_robust_list length.
        pub robust_list_len: u64,
        /// Thread name.
        pub comm: [u8; 16],
        /// rseq(2) area (0: none).
        pub rseq: u64,
        /// Its registered length.
        pub rseq_len: u32,
        /// Its registered signature.
        pub rseq_sig: u32,
        /// Time left of a relative wait stopped with `CR_RESTART_BLOCK`.
        pub restart_ns: u64,
        /// Scheduling policy (`SCHED_*`, with `SCHED_RESET_ON_FORK`).
        pub policy: u32,
        /// Real-time priority.
        pub rt_priority: u32,
    }

    /// `CR_REC_PAGES` (`struct cr_pages`).
    pub struct CrPages (16) {
        /// First page's address.
        pub addr: u64,
        /// Pages that follow.
        pub count: u64,
    }

    /// `CR_REC_TRAILER` (`struct cr_trailer`).
    pub struct CrTrailer (32) {
        /// Records before the trailer.
        pub records: u64,
        /// Stream bytes before the trailer's header.
        pub bytes: u64,
        /// Low 32 bits of XXH64 over every earlier record's check.
        pub chain: u32,
        /// Zero.
        pub __pad: u32,
        /// Pages in all PAGES records.
        pub pages: u64,
    }
}

// The ioctl number encoding of include/uapi/asm-generic/ioctl.h (x86).
const IOC_NRBITS: u32 = 8;
const IOC_TYPEBITS: u32 = 8;
const IOC_SIZEBITS: u32 = 14;
const IOC_NRSHIFT: u32 = 0;
const IOC_TYPESHIFT: u32 = IOC_NRSHIFT + IOC_NRBITS;
const IOC_SIZESHIFT: u32 = IOC_TYPESHIFT + IOC_TYPEBITS;
const IOC_DIRSHIFT: u32 = IOC_SIZESHIFT + IOC_SIZEBITS;

/// `_IOC_WRITE`: user space writes the argument, the kernel reads it.
pub const IOC_WRITE: u32 = 1;
/// `_IOC_READ`: the kernel writes the argument, user space reads it.
pub const IOC_READ: u32 = 2;

/// `_IOC(dir, type, nr, size)`.
pub const fn ioc(dir: u32, ty: u32, nr: u32, size: usize) -> u32 {
    assert!(size < (1 << IOC_SIZEBITS));
    (dir << IOC_DIRSHIFT)
        | (ty << IOC_TYPESHIFT)
        | (nr << IOC_NRSHIFT)
        | ((size as u32) << IOC_SIZESHIFT)
}

/// The size field of an ioctl number (`_IOC_SIZE`).
pub const fn ioc_size(cmd: u32) -> usize {
    ((cmd >> IOC_SIZESHIFT) & ((1 << IOC_SIZEBITS) - 1)) as usize
}

/// An ioctl number with its size field cleared: commands that differ only in
/// their argument size compare equal under this.
pub const fn ioc_sizeless(cmd: u32) -> u32 {
    cmd & !(((1 << IOC_SIZEBITS) - 1) << IOC_SIZESHIFT)
}

/// Declares the ABI's constants, and `ABI_CONSTS`, the list of them by name
/// (crctl's `abi` test compares each with the C headers' value, and checks
/// that every `CR_*` macro of the headers is here).
macro_rules! abi_consts {
    ($($(#[$m:meta])* $name:ident : $t:ty = $v:expr;)*) => {
        $($(#[$m])* pub const $name: $t = $v;)*

        /// Every ABI constant: its name and value.
        pub const ABI_CONSTS: &[(&str, u64)] = &[$((stringify!($name), $name as u64)),*];
    };
}

abi_consts! {
    /// Version of this ABI (`CR_ABI_VERSION`).
    CR_ABI_VERSION: u32 = 1;
    /// `cr_info.arch` for x86_64.
    CR_ARCH_X86_64: u32 = 1;
    /// `CR_IOC_CHECKPOINT` is implemented.
    CR_FEATURE_CHECKPOINT: u64 = 1 << 0;
    /// `CR_IOC_RESTORE` is implemented.
    CR_FEATURE_RESTORE: u64 = 1 << 1;
    /// `CR_CHECKPOINT_HOLD` and `CR_RESTORE_HOLD` are implemented.
    CR_FEATURE_HOLD: u64 = 1 << 2;
    /// `CR_HOLD_DEPUTY` is implemented.
    CR_FEATURE_DEPUTY: u64 = 1 << 3;
    /// `CR_IOC_SERVE` (the remote class) is implemented.
    CR_FEATURE_REMOTE: u64 = 1 << 4;
    /// Every `CR_FEATURE_*` bit this ABI version defines.
    CR_FEATURES_ALL: u64 = CR_FEATURE_CHECKPOINT
        | CR_FEATURE_RESTORE
        | CR_FEATURE_HOLD
        | CR_FEATURE_DEPUTY
        | CR_FEATURE_REMOTE;
    /// `CR_SERVE_ANSWER_ONLY`: answer `done` and return at once.
    CR_SERVE_ANSWER_ONLY: u32 = 1 << 0;
    /// `cr_serve_args.op`: a checkpoint of `target` into `fd`.
    CR_SERVE_OP_CHECKPOINT: u32 = 1;
    /// `CR_CHECKPOINT_KILL`: end the target once the image is complete.
    CR_CHECKPOINT_KILL: u32 = 1 << 0;
    /// `CR_CHECKPOINT_PARTIAL`: write the image even when the process holds what
    /// no restore brings back; not with `CR_CHECKPOINT_KILL`.
    CR_CHECKPOINT_PARTIAL: u32 = 1 << 1;
    /// `CR_CHECKPOINT_HOLD`: once the image is complete, keep the target
    /// frozen until a byte is read from `hold_fd`: `CR_HOLD_COMMIT` ends it,
    /// anything else thaws it (`ECANCELED`). Not with KILL or PARTIAL.
    CR_CHECKPOINT_HOLD: u32 = 1 << 2;
    /// Every `CR_CHECKPOINT_*` flag.
    CR_CHECKPOINT_FLAGS_ALL: u32 = CR_CHECKPOINT_KILL | CR_CHECKPOINT_PARTIAL | CR_CHECKPOINT_HOLD;
    /// The byte that commits a hold.
    CR_HOLD_COMMIT: u8 = 0x43;
    /// The byte that commits a checkpoint's hold and leaves a deputy.
    CR_HOLD_DEPUTY: u8 = 0x44;
    /// `cr_deputy_msg.kind`: module to holder, a signal for the process.
    CR_DEPUTY_SIGNAL: u32 = 1;
    /// `cr_deputy_msg.kind`: module to holder, SIGKILL ended the deputy.
    CR_DEPUTY_KILLED: u32 = 2;
    /// `cr_deputy_msg.kind`: holder to module, the process ended (a wait
    /// status).
    CR_DEPUTY_EXIT: u32 = 3;
    /// `CR_RESTORE_HOLD`: the rebuilt process starts only once
    /// `CR_HOLD_COMMIT` is read from `hold_fd`; anything else kills it.
    CR_RESTORE_HOLD: u32 = 1 << 0;
    /// Every `CR_RESTORE_*` flag.
    CR_RESTORE_FLAGS_ALL: u32 = CR_RESTORE_HOLD;
    /// Freeze timeout when the argument is 0.
    CR_FREEZE_TIMEOUT_MS_DEFAULT: u32 = 10000;
    /// The ioctl type byte of /dev/cr.
    CR_IOC_MAGIC: u32 = 0xC7;
    /// `CR_RLIMITS`: resource limits in a process record.
    CR_RLIMITS: usize = 16;
    /// `CR_NSIG`: signals in a sighand record.
    CR_NSIG: usize = 64;
    /// The first 8 bytes of every image.
    CR_IMAGE_MAGIC: u64 = 0x3147_4d49_5243_5243;
    /// Image format version.
    CR_IMAGE_VERSION: u32 = 3;
    /// Largest payload of one record.
    CR_IMAGE_MAX_RECORD: u64 = 64 << 20;
    /// Longest path in an image.
    CR_IMAGE_MAX_PATH: u32 = 4096;
    /// The longest message (with its NUL) a failed checkpoint writes (`CR_MSG_MAX`).
    CR_MSG_MAX: u32 = 4096;
    /// Most threads in an image.
    CR_IMAGE_MAX_THREADS: u32 = 65536;
    /// Most VMAs in an image.
    CR_IMAGE_MAX_VMAS: u32 = 1048576;
    /// Largest xsave state.
    CR_IMAGE_MAX_XSTATE: u32 = 65536;
    /// Most bytes of data in one pipe.
    CR_IMAGE_MAX_PIPE: u32 = 16 << 20;
    /// Record types (`enum cr_record_type`).
    CR_REC_HEADER: u32 = 1;
    /// See [`CR_REC_HEADER`].
    CR_REC_PROCESS: u32 = 2;
    /// See [`CR_REC_HEADER`].
    CR_REC_MM: u32 = 3;
    /// See [`CR_REC_HEADER`].
    CR_REC_VMA: u32 = 4;
    /// See [`CR_REC_HEADER`].
    CR_REC_SIGHAND: u32 = 5;
    /// See [`CR_REC_HEADER`].
    CR_REC_SIGPENDING: u32 = 6;
    /// See [`CR_REC_HEADER`].
    CR_REC_FD: u32 = 7;
    /// See [`CR_REC_HEADER`].
    CR_REC_THREAD: u32 = 8;
    /// See [`CR_REC_HEADER`].
    CR_REC_PAGES: u32 = 9;
    /// See [`CR_REC_HEADER`].
    CR_REC_TRAILER: u32 = 10;
    /// See [`CR_REC_HEADER`].
    CR_REC_FS: u32 = 11;
    /// See [`CR_REC_HEADER`].
    CR_REC_ITIMERS: u32 = 12;
    /// See [`CR_REC_HEADER`].
    CR_REC_PIPE: u32 = 13;
    /// See [`CR_REC_HEADER`].
    CR_REC_CLOCKS: u32 = 14;
    /// `cr_vma.kind` values.
    CR_VMA_ANON: u32 = 1;
    /// See [`CR_VMA_ANON`].
    CR_VMA_FILE: u32 = 2;
    /// See [`CR_VMA_ANON`].
    CR_VMA_SHMEM: u32 = 3;
    /// See [`CR_VMA_ANON`].
    CR_VMA_VDSO: u32 = 4;
    /// See [`CR_VMA_ANON`].
    CR_VMA_VVAR: u32 = 5;
    /// See [`CR_VMA_ANON`].
    CR_VMA_VSYSCALL: u32 = 6;
    /// See [`CR_VMA_ANON`].
    CR_VMA_DEVICE: u32 = 7;
    /// `cr_vma.flags` bits.
    CR_VMA_SHARED: u32 = 1 << 0;
    /// See [`CR_VMA_SHARED`].
    CR_VMA_GROWSDOWN: u32 = 1 << 1;
    /// See [`CR_VMA_SHARED`].
    CR_VMA_HEAP: u32 = 1 << 2;
    /// See [`CR_VMA_SHARED`].
    CR_VMA_STACK: u32 = 1 << 3;
    /// See `cr.h`: a shared mapping whose file was opened for writing.
    CR_VMA_MAYWRITE: u32 = 1 << 6;
    /// See [`CR_VMA_SHARED`].
    CR_VMA_LOCKED: u32 = 1 << 4;
    /// See [`CR_VMA_SHARED`].
    CR_VMA_DONTDUMP: u32 = 1 << 5;
    /// `cr_vma.flags`: MADV_HUGEPAGE.
    CR_VMA_HUGEPAGE: u32 = 1 << 7;
    /// `cr_vma.flags`: MADV_NOHUGEPAGE.
    CR_VMA_NOHUGEPAGE: u32 = 1 << 8;
    /// `cr_vma.flags`: MADV_DONTFORK.
    CR_VMA_DONTFORK: u32 = 1 << 9;
    /// `cr_vma.flags`: MADV_WIPEONFORK.
    CR_VMA_WIPEONFORK: u32 = 1 << 10;
    /// `cr_vma.flags`: MADV_SEQUENTIAL.
    CR_VMA_SEQ_READ: u32 = 1 << 11;
    /// `cr_vma.flags`: MADV_RANDOM.
    CR_VMA_RAND_READ: u32 = 1 << 12;
    /// `cr_vma.flags`: soft-dirty.
    CR_VMA_SOFTDIRTY: u32 = 1 << 13;
    /// `cr_vma.flags`: KSM may merge its pages.
    CR_VMA_MERGEABLE: u32 = 1 << 14;
    /// `cr_vma.flags`: holds a commit charge.
    CR_VMA_ACCOUNT: u32 = 1 << 15;
    /// `cr_vma.flags`: MAP_NORESERVE.
    CR_VMA_NORESERVE: u32 = 1 << 16;
    /// `cr_vma.flags`: may hold guard pages.
    CR_VMA_GUARD: u32 = 1 << 17;
    /// `cr_vma.flags`: locked on fault only (mlock2(MLOCK_ONFAULT)).
    CR_VMA_LOCKONFAULT: u32 = 1 << 18;
    /// Every `CR_VMA_*` flag.
    CR_VMA_FLAGS_ALL: u32 = 0x7ffff;
    /// `cr_fd.type` values.
    CR_FD_REG: u32 = 1;
    /// See [`CR_FD_REG`].
    CR_FD_DIR: u32 = 2;
    /// See [`CR_FD_REG`].
    CR_FD_PIPE: u32 = 3;
    /// See [`CR_FD_REG`].
    CR_FD_TTY: u32 = 4;
    /// See [`CR_FD_REG`].
    CR_FD_SOCKET: u32 = 5;
    /// See [`CR_FD_REG`].
    CR_FD_CHR: u32 = 6;
    /// See [`CR_FD_REG`].
    CR_FD_BLK: u32 = 7;
    /// See [`CR_FD_REG`].
    CR_FD_ANON: u32 = 8;
    /// See [`CR_FD_REG`].
    CR_FD_OTHER: u32 = 9;
    /// `cr_fd.flags`: the open file is also held outside the process (another
    /// process has it, inherited or passed), so a restore cannot make it anew.
    CR_FD_F_SHARED: u32 = 1 << 0;
    /// `cr_process.flags`: PR_SET_CHILD_SUBREAPER.
    CR_PROCESS_SUBREAPER: u32 = 1 << 0;
    /// `cr_process.flags`: PR_SET_THP_DISABLE.
    CR_PROCESS_THP_DISABLE: u32 = 1 << 1;
    /// `cr_process.flags`: PR_SET_THP_DISABLE with PR_THP_DISABLE_EXCEPT_ADVISED.
    CR_PROCESS_THP_EXCEPT_ADVISED: u32 = 1 << 2;
    /// `cr_process.flags`: PR_SET_MEMORY_MERGE (KSM for every area).
    CR_PROCESS_KSM_ANY: u32 = 1 << 3;
    /// `cr_process.flags`: PR_SET_MDWE with MDWE_REFUSE_EXEC_GAIN.
    CR_PROCESS_MDWE: u32 = 1 << 4;
    /// `cr_process.flags`: PR_SET_MDWE with PR_MDWE_NO_INHERIT too.
    CR_PROCESS_MDWE_NO_INHERIT: u32 = 1 << 5;
    /// `cr_process.flags`: mlockall(MCL_FUTURE).
    CR_PROCESS_MLOCK_FUTURE: u32 = 1 << 6;
    /// `cr_process.flags`: mlockall(MCL_FUTURE | MCL_ONFAULT).
    CR_PROCESS_MLOCK_ONFAULT: u32 = 1 << 7;
    /// `cr_process.flags`: registered for MEMBARRIER_CMD_PRIVATE_EXPEDITED.
    CR_PROCESS_MEMBARRIER_PRIVATE: u32 = 1 << 8;
    /// `cr_process.flags`: registered for MEMBARRIER_CMD_GLOBAL_EXPEDITED.
    CR_PROCESS_MEMBARRIER_GLOBAL: u32 = 1 << 9;
    /// `cr_process.flags`: registered for ..._PRIVATE_EXPEDITED_SYNC_CORE.
    CR_PROCESS_MEMBARRIER_SYNC_CORE: u32 = 1 << 10;
    /// `cr_process.flags`: registered for ..._PRIVATE_EXPEDITED_RSEQ.
    CR_PROCESS_MEMBARRIER_RSEQ: u32 = 1 << 11;
    /// Every `CR_PROCESS_*` bit.
    CR_PROCESS_ALL: u32 = 0x0fff;
    /// `cr_thread.restart` values.
    CR_RESTART_NONE: u32 = 0;
    /// See [`CR_RESTART_NONE`].
    CR_RESTART_SYSCALL: u32 = 1;
    /// See [`CR_RESTART_NONE`].
    CR_RESTART_BLOCK: u32 = 2;
    /// `cr_checkpoint_args.fail_reason` values (`CR_FAIL_*`).
    CR_FAIL_NONE: u32 = 0;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_ARGS: u32 = 1;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_REMOTE: u32 = 2;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_NO_PROCESS: u32 = 3;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_KTHREAD: u32 = 4;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_SELF: u32 = 5;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_STOPPED: u32 = 6;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_PERM: u32 = 7;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_PROOF: u32 = 8;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_OUTPUT: u32 = 9;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_BUSY: u32 = 10;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_TIMEOUT: u32 = 11;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_INTERRUPTED: u32 = 12;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_EXEC: u32 = 13;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_SHMEM: u32 = 14;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_DEVICE: u32 = 15;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_LIMIT: u32 = 16;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_IMAGE: u32 = 17;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_CPU: u32 = 18;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_VDSO: u32 = 19;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_FILE: u32 = 20;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_UNSUPPORTED: u32 = 21;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_CALLER: u32 = 22;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_CANCELED: u32 = 23;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_UNKILLABLE: u32 = 24;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_UNRESTORABLE: u32 = 25;
    /// See [`CR_FAIL_NONE`].
    CR_FAIL_LEADERLESS: u32 = 26;
    /// `EOPNOTSUPP`: the process holds something no restore can bring back yet (an
    /// fd, a child, a timer, a lock: the message names it); checked before the
    /// freeze, so nothing was frozen or ended.
    CR_FAIL_HOLDS: u32 = 27;
    /// ECANCELED: a hold ended without `CR_HOLD_COMMIT`: the image is
    /// complete; the target was thawed (checkpoint) or never ran (restore).
    CR_FAIL_NOT_COMMITTED: u32 = 28;
    /// The operation failed on the process's host (the message is that
    /// host's words).
    CR_FAIL_ELSEWHERE: u32 = 29;
    /// `cr_thread.flags`: the thread group leader.
    CR_THREAD_LEADER: u32 = 1 << 0;
    /// `CR_IOC_INFO`: `_IOR(CR_IOC_MAGIC, 0x00, struct cr_info)`.
    CR_IOC_INFO: u32 = ioc(IOC_READ, CR_IOC_MAGIC, 0x00, size_of::<CrInfo>());
    /// `CR_IOC_RESTORE`: `_IOWR(CR_IOC_MAGIC, 0x02, struct cr_restore_args)`.
    CR_IOC_RESTORE: u32 = ioc(
        IOC_READ | IOC_WRITE,
        CR_IOC_MAGIC,
        0x02,
        size_of::<CrRestoreArgs>(),
    );
    /// `CR_IOC_RESTORE_THREAD`: `_IOWR(CR_IOC_MAGIC, 0x03, struct cr_restore_thread_args)`.
    CR_IOC_RESTORE_THREAD: u32 = ioc(
        IOC_READ | IOC_WRITE,
        CR_IOC_MAGIC,
        0x03,
        size_of::<CrRestoreThreadArgs>(),
    );
    /// `CR_IOC_CHECKPOINT`: `_IOWR(CR_IOC_MAGIC, 0x01, struct cr_checkpoint_args)`.
    CR_IOC_CHECKPOINT: u32 = ioc(
        IOC_READ | IOC_WRITE,
        CR_IOC_MAGIC,
        0x01,
        size_of::<CrCheckpointArgs>(),
    );
    /// `CR_IOC_SERVE`: `_IOWR(CR_IOC_MAGIC, 0x04, struct cr_serve_args)`.
    CR_IOC_SERVE: u32 = ioc(
        IOC_READ | IOC_WRITE,
        CR_IOC_MAGIC,
        0x04,
        size_of::<CrServeArgs>(),
    );
}
