// SPDX-License-Identifier: GPL-2.0

//! The system calls crctl makes that rustix has no safe call for, each in
//! one small function with its `unsafe` and why it is sound: clone3 (with
//! set_tid, and a thread that only waits in the restore), signal
//! dispositions and masks, prctl settings rustix lacks, the scheduler and
//! interval timers, /dev/cr's ioctls, and the fd table by number (the
//! restoring child lays it out before the restore, which I/O-safe types
//! cannot say). Everything else in crctl is safe code over rustix and std.

use std::ffi::{c_int, CStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use rustix::ioctl::{ioctl, Updater};

use crate::uapi::{
    self, CrCheckpointArgs, CrInfo, CrRestoreArgs, CrRestoreThreadArgs, CrServeArgs,
};

/// A process or thread id.
pub type Pid = libc::pid_t;

fn cvt(rc: c_int) -> io::Result<c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// signal(SIGPIPE, SIG_IGN): a broken pipe comes back as EPIPE.
pub fn ignore_sigpipe() {
    // SAFETY: Setting SIGPIPE's disposition to SIG_IGN has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// fcntl(fd, F_GETFL) of any fd number, open or not (a closed one gives
/// EBADF): `fd` need not be an fd crctl owns or borrows.
pub fn fd_flags(fd: RawFd) -> io::Result<rustix::fs::OFlags> {
    // SAFETY: F_GETFL only reads the status flags of `fd`, open or not.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    Ok(rustix::fs::OFlags::from_bits_retain(flags as u32))
}

/// dup2(fd, target) onto a number no one holds (a closed fd 0-2 at start),
/// which then stays open for good.
pub fn dup_onto_closed(fd: BorrowedFd<'_>, target: RawFd) -> io::Result<()> {
    // SAFETY: `target` is closed, so no owner's fd is replaced.
    cvt(unsafe { libc::dup2(fd.as_raw_fd(), target) }).map(drop)
}

/// unlinkat(dir, name, 0) on a raw directory fd; async-signal-safe.
pub fn unlink_at_raw(dir: RawFd, name: &CStr) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated; a `dir` that is not an open
    // directory makes the call fail, nothing worse.
    cvt(unsafe { libc::unlinkat(dir, name.as_ptr(), 0) }).map(drop)
}

/// raise(sig): sends `sig` to the calling thread; async-signal-safe.
pub fn raise(sig: c_int) {
    // SAFETY: raise has no preconditions.
    unsafe { libc::raise(sig) };
}

/// Makes `handler` the action of `sig`, reset to the default once it runs
/// (SA_RESETHAND), unless `sig` is ignored (by nohup, say). The handler must
/// make only async-signal-safe calls.
pub fn catch_once_unless_ignored(sig: c_int, handler: extern "C" fn(c_int)) {
    // SAFETY: sigaction is plain data; all zeroes is a valid value.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: reads the action of `sig` into `old`.
    if unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) } != 0
        || old.sa_sigaction == libc::SIG_IGN
    {
        return;
    }
    // SAFETY: as above.
    let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
    new.sa_sigaction = handler as libc::sighandler_t;
    new.sa_flags = libc::SA_RESETHAND;
    // SAFETY: `new` is a valid action whose handler only makes
    // async-signal-safe calls (the caller's promise); its mask is empty.
    unsafe { libc::sigaction(sig, &new, std::ptr::null_mut()) };
}

/// A thread's signal mask, as saved by [`block_signals`].
pub struct SigMask(libc::sigset_t);

/// Blocks `sigs` in the calling thread; returns the mask before.
pub fn block_signals(sigs: &[c_int]) -> SigMask {
    // SAFETY: sigset_t is plain data; sigemptyset initialises `set`, and
    // pthread_sigmask writes the old mask into `old`.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &sig in sigs {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        SigMask(old)
    }
}

/// Sets the calling thread's signal mask to `mask`.
pub fn set_signal_mask(mask: &SigMask) {
    // SAFETY: `mask` is a mask pthread_sigmask filled in.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &mask.0, std::ptr::null_mut()) };
}

/// Blocks every signal in the calling thread.
pub fn block_all_signals() {
    // SAFETY: sigfillset fills the plain-data `all`, sigprocmask reads it.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
    }
}

/// _exit(code): leaves without running crctl's exit code (a child of
/// crctl's must not flush or free what its parent owns).
pub fn exit_now(code: c_int) -> ! {
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(code) }
}

/// prctl(op, a, b, 0, 0) with integer arguments, on the calling process
/// (for the settings rustix has no call for).
pub fn prctl(op: c_int, a: u64, b: u64) -> io::Result<c_int> {
    // SAFETY: prctl with integer arguments only, on ourselves.
    cvt(unsafe { libc::prctl(op, a, b, 0 as libc::c_ulong, 0 as libc::c_ulong) })
}

/// The scheduling policy (negative if it could not be read) and real-time
/// priority of thread `tid` (0: the calling thread).
pub fn sched_get(tid: Pid) -> (c_int, c_int) {
    // SAFETY: reads the policy of a thread of ours.
    let policy = unsafe { libc::sched_getscheduler(tid) };
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: reads the priority of a thread of ours into `param`.
    unsafe { libc::sched_getparam(tid, &mut param) };
    (policy, param.sched_priority)
}

/// sched_setscheduler(tid, policy, priority).
pub fn sched_set(tid: Pid, policy: c_int, priority: c_int) -> io::Result<()> {
    let want = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: sets the policy of a thread of ours from `want`.
    cvt(unsafe { libc::sched_setscheduler(tid, policy, &want) }).map(drop)
}

/// The interval timers, by `ITIMER_*` number, with their names.
pub const ITIMERS: [(c_int, &str); 3] = [
    (libc::ITIMER_REAL, "ITIMER_REAL"),
    (libc::ITIMER_VIRTUAL, "ITIMER_VIRTUAL"),
    (libc::ITIMER_PROF, "ITIMER_PROF"),
];

/// setitimer(which) to `value` then every `interval`, each as (seconds,
/// microseconds).
pub fn setitimer(which: c_int, value: (i64, i64), interval: (i64, i64)) -> io::Result<()> {
    let tv = |(s, us): (i64, i64)| libc::timeval {
        tv_sec: s as libc::time_t,
        tv_usec: us as libc::suseconds_t,
    };
    let it = libc::itimerval {
        it_interval: tv(interval),
        it_value: tv(value),
    };
    // SAFETY: `it` is a valid itimerval; the old value is not asked for.
    cvt(unsafe { libc::setitimer(which, &it, std::ptr::null_mut()) }).map(drop)
}

/// fcntl(fd, F_DUPFD_CLOEXEC, min) on a number in the fd table.
pub fn dupfd_cloexec(fd: RawFd, min: RawFd) -> io::Result<RawFd> {
    // SAFETY: dups an fd of ours; the new number is the caller's.
    cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) })
}

/// dup3(fd, target, O_CLOEXEC or 0): `target` is a number the caller freed.
pub fn dup3(fd: RawFd, target: RawFd, cloexec: bool) -> io::Result<()> {
    let flags = if cloexec { libc::O_CLOEXEC } else { 0 };
    // SAFETY: dups our own fd onto a number the caller freed.
    let r = cvt(unsafe { libc::dup3(fd, target, flags) })?;
    if r != target {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// close(fd) of a number in the fd table, whoever held it: the restoring
/// child lays out its fd table by number (errors, EBADF, are ignored).
pub fn close(fd: RawFd) {
    // SAFETY: closing a number in our own fd table; nothing of crctl's uses
    // it again (the child only goes on to the restore, or _exit).
    unsafe { libc::close(fd) };
}

/// close_range(0, ~0, 0): closes every fd.
pub fn close_all_fds() {
    // SAFETY: closes every fd of this process, which uses none after (the
    // `--pid ns` init, which only reaps).
    unsafe { libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) };
}

/// Writes all of `data` to fd `fd`, then closes it (the restoring child's
/// status pipe, a raw number after the fd table moved).
pub fn write_and_close(fd: RawFd, data: &[u8]) {
    let mut done = 0;
    while done < data.len() {
        // SAFETY: writes from `data`, valid for its length, to an fd of ours.
        let n = unsafe { libc::write(fd, data[done..].as_ptr().cast(), data.len() - done) };
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            break;
        }
        done += n as usize;
    }
    close(fd);
}

/// A fresh anonymous PROT_NONE reservation of `len` bytes; its address.
pub fn reserve(len: usize) -> io::Result<u64> {
    // SAFETY: A fresh anonymous mapping at an address of the kernel's
    // choosing; nothing else uses it.
    let p = unsafe {
        rustix::mm::mmap_anonymous(
            std::ptr::null_mut(),
            len,
            rustix::mm::ProtFlags::empty(),
            rustix::mm::MapFlags::PRIVATE,
        )
    }?;
    Ok(p as u64)
}

/// mremap(from, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to): moves a whole
/// special mapping ([vdso], [vvar]) of this process to `to`.
///
/// # Safety
///
/// No Rust object lives in `from..from + len`, and `to..to + len` holds
/// nothing of crctl's (whatever is there is unmapped).
pub unsafe fn move_special_mapping(from: u64, len: u64, to: u64) -> io::Result<()> {
    // SAFETY: The caller's promise: neither range holds memory crctl uses.
    let r = unsafe {
        rustix::mm::mremap_fixed(
            from as *mut std::ffi::c_void,
            len as usize,
            len as usize,
            rustix::mm::MremapFlags::MAYMOVE,
            to as *mut std::ffi::c_void,
        )
    }?;
    if r as u64 != to {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `struct clone_args` of clone3(2), up to `set_tid_size`.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
}

/// clone3 as fork: a new process on a copy of this one's memory (0 in the
/// child, its pid in the parent). `flags`: CLONE_* (CLONE_NEWPID); `tid`,
/// when given, is the pid it gets in the innermost pid namespace.
///
/// # Safety
///
/// As fork(2): the caller is single-threaded, or the child makes only
/// async-signal-safe calls (another thread may hold a lock forever).
pub unsafe fn fork(flags: u64, tid: Option<&Pid>) -> io::Result<Pid> {
    let args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        set_tid: tid.map_or(0, |t| t as *const Pid as u64),
        set_tid_size: u64::from(tid.is_some()),
        ..Default::default()
    };
    // The caller promises no other thread holds a lock.
    // SAFETY: without CLONE_VM the child runs on its own copy of this stack,
    // like fork(); `args` and `tid` live across the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as Pid)
    }
}

/// `CLONE_NEWPID`, for [`fork`].
pub const CLONE_NEWPID: u64 = libc::CLONE_NEWPID as u64;

/// Starts a thread that only calls CR_IOC_RESTORE_THREAD on `dev` with
/// `args` (and exits if that fails); returns its thread id. `tid` is its
/// thread id, if chosen.
///
/// # Safety
///
/// `args` must stay where it is, alive and otherwise untouched, until the
/// thread is done with it (the restore, or the thread's exit): the thread
/// reads and writes it after this returns.
pub unsafe fn spawn_restore_thread(
    dev: RawFd,
    args: &mut CrRestoreThreadArgs,
    tid: Option<&Pid>,
) -> io::Result<Pid> {
    const STACK: usize = 64 * 1024;
    // SAFETY: a fresh anonymous mapping for the thread's stack. It is never
    // unmapped by crctl: the restore replaces this whole address space.
    let stack = unsafe {
        rustix::mm::mmap_anonymous(
            std::ptr::null_mut(),
            STACK,
            rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
            rustix::mm::MapFlags::PRIVATE,
        )
    }?;
    let cl = CloneArgs {
        flags: (libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD
            | libc::CLONE_SYSVSEM) as u64,
        stack: stack as u64,
        stack_size: STACK as u64,
        set_tid: tid.map_or(0, |t| t as *const Pid as u64),
        set_tid_size: u64::from(tid.is_some()),
        ..Default::default()
    };
    let ret: i64;
    // clone3 with CLONE_VM on a stack of its own. The new thread runs only
    // the instructions below: ioctl(dev, CR_IOC_RESTORE_THREAD, args), which
    // on success returns into the restored program with all registers
    // replaced, and on failure exit(2)s the thread with the errno.
    // The parent path clobbers only rax, rcx and r11, as any system call.
    // SAFETY: The new thread touches no memory of crctl's but `args` (read
    // before the point of no return), which the caller keeps for it.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov rdi, r12",
            "mov rsi, r13",
            "mov rdx, r14",
            "mov eax, {ioctl}",
            "syscall",
            "mov rdi, rax",
            "neg rdi",
            "mov eax, {exit}",
            "syscall",
            "ud2",
            "2:",
            ioctl = const libc::SYS_ioctl,
            exit = const libc::SYS_exit,
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") &cl as *const CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") i64::from(dev),
            in("r13") u64::from(uapi::CR_IOC_RESTORE_THREAD),
            in("r14") args as *mut CrRestoreThreadArgs,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    if ret < 0 {
        return Err(io::Error::from_raw_os_error(-ret as i32));
    }
    Ok(ret as Pid)
}

/// `CR_IOC_INFO` into `info`.
pub fn ioctl_info(dev: BorrowedFd<'_>, info: &mut CrInfo) -> io::Result<()> {
    // SAFETY: CR_IOC_INFO is _IOR(.., struct cr_info): it writes at most one
    // `CrInfo` (the size encoded in the command) into `info`.
    Ok(unsafe { ioctl(dev, Updater::<{ uapi::CR_IOC_INFO }, CrInfo>::new(info)) }?)
}

/// `CR_IOC_CHECKPOINT` with `args`, the module's explanation of a failure
/// going into `msg` (`args.msg` and `args.msg_len` are set for the call,
/// then cleared).
/// unshare(CLONE_NEWTIME): the children crctl forks from here on start in a
/// new time namespace (crctl itself stays in its own).
pub fn unshare_time() -> io::Result<()> {
    // SAFETY: CLONE_NEWTIME changes only the time namespace of the children
    // to come; no fd table is unshared (what makes unshare unsafe).
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWTIME) }
        .map_err(Into::into)
}

/// The capabilities `crctl restore --run-as` keeps, permitted but not
/// effective, for its forks only: `CAP_CHECKPOINT_RESTORE` (a chosen pid,
/// clone3's set_tid) and `CAP_SYS_ADMIN` (a new pid namespace).
const FORK_CAPS: rustix::thread::CapabilitySet = rustix::thread::CapabilitySet::CHECKPOINT_RESTORE
    .union(rustix::thread::CapabilitySet::SYS_ADMIN);

/// Sets this thread's capability sets: `effective` of [`FORK_CAPS`] (or
/// none), `permitted` the same or none.
fn set_caps(effective: bool, permitted: bool) -> io::Result<()> {
    use rustix::thread::{set_capabilities, CapabilitySet, CapabilitySets};
    let pick = |on: bool| {
        if on {
            FORK_CAPS
        } else {
            CapabilitySet::empty()
        }
    };
    set_capabilities(
        None,
        CapabilitySets {
            effective: pick(effective),
            permitted: pick(permitted),
            inheritable: CapabilitySet::empty(),
        },
    )
    .map_err(Into::into)
}

/// Root becomes user `uid` (group `gid`, no supplementary groups) for
/// good, keeping only [`FORK_CAPS`], permitted and not effective (see
/// [`fork_caps`]), and stays dumpable, as a process of that user is (the
/// restored process is a fork of this one: its owner may trace and
/// checkpoint it). Per thread: call it while crctl has one.
pub fn become_user(uid: u32, gid: u32) -> io::Result<()> {
    use rustix::process::{set_dumpable_behavior, DumpableBehavior};
    use rustix::thread::{
        set_keep_capabilities, set_thread_groups, set_thread_res_gid, set_thread_res_uid,
    };
    use rustix::{fs::Gid, fs::Uid};
    if uid == 0 || uid == u32::MAX || gid == u32::MAX {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // The ids are per thread: another thread would stay root.
    if std::fs::read_dir("/proc/self/task")?.count() != 1 {
        return Err(io::Error::other("crctl has more than one thread"));
    }
    let (u, g) = (Uid::from_raw(uid), Gid::from_raw(gid));
    set_keep_capabilities(true)?;
    set_thread_groups(&[])?;
    set_thread_res_gid(g, g, g)?;
    set_thread_res_uid(u, u, u)?;
    set_keep_capabilities(false)?;
    set_caps(false, true)?;
    set_dumpable_behavior(DumpableBehavior::Dumpable)?;
    Ok(())
}

/// After [`become_user`]: makes [`FORK_CAPS`] effective (`on`) for a fork
/// that needs them, or no longer.
pub fn fork_caps(on: bool) -> io::Result<()> {
    set_caps(on, true)
}

/// After [`become_user`]: lets go of [`FORK_CAPS`] for good (the process
/// that becomes the restored one, once it has its pid).
pub fn drop_fork_caps() -> io::Result<()> {
    set_caps(false, false)
}

/// `CR_IOC_SERVE`: answers `args.done` (with `msg`, if any) and, unless
/// `CR_SERVE_ANSWER_ONLY`, takes the next request into `args`; its fd is
/// returned owned.
pub fn ioctl_serve(
    dev: BorrowedFd<'_>,
    args: &mut CrServeArgs,
    msg: Option<&[u8]>,
) -> io::Result<Option<OwnedFd>> {
    // The message goes NUL-terminated.
    let mut text: Vec<u8> = msg.map(|m| m.to_vec()).unwrap_or_default();
    text.truncate(uapi::CR_MSG_MAX as usize - 1);
    if msg.is_some() {
        text.push(0);
        args.msg = text.as_ptr() as u64;
        args.msg_len = text.len() as u32;
    }
    let answer_only = args.flags & uapi::CR_SERVE_ANSWER_ONLY != 0;
    // SAFETY: CR_IOC_SERVE reads and writes one `CrServeArgs` at `args` and
    // reads at most `msg_len` bytes at `msg`, both borrowed across the call.
    let r = unsafe {
        ioctl(
            dev,
            Updater::<{ uapi::CR_IOC_SERVE }, CrServeArgs>::new(args),
        )
    };
    args.msg = 0;
    args.msg_len = 0;
    r?;
    if answer_only {
        return Ok(None);
    }
    // SAFETY: on success the module installed `fd` in this process for the
    // caller, who owns it from here; nothing else knows of it.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(args.fd) }))
}

pub fn ioctl_checkpoint(
    dev: BorrowedFd<'_>,
    args: &mut CrCheckpointArgs,
    msg: &mut [u8],
) -> io::Result<()> {
    args.msg = msg.as_mut_ptr() as u64;
    args.msg_len = msg.len() as u32;
    // CR_IOC_CHECKPOINT's size field is that of `CrCheckpointArgs`.
    // SAFETY: it reads and writes one at `args`, and writes at most `msg_len`
    // bytes at `msg`, both borrowed across the call.
    let r = unsafe {
        ioctl(
            dev,
            Updater::<{ uapi::CR_IOC_CHECKPOINT }, CrCheckpointArgs>::new(args),
        )
    };
    args.msg = 0;
    args.msg_len = 0;
    Ok(r?)
}

/// `CR_IOC_RESTORE` with `args` on fd `dev`, a number in crctl's fd table
/// (the restoring child moves its fds about before). The caller keeps
/// `meta_len` bytes at `meta` alive across the call. Returns only on failure
/// (a successful restore returns into the restored program).
pub fn ioctl_restore(dev: RawFd, args: &mut CrRestoreArgs) -> io::Result<()> {
    // SAFETY: `dev` stays open across the call (it is only closed by the
    // restore itself, which then does not return here).
    let dev = unsafe { BorrowedFd::borrow_raw(dev) };
    // SAFETY: CR_IOC_RESTORE reads and writes one `CrRestoreArgs` at `args`
    // and reads the metadata, all of it valid memory.
    Ok(unsafe {
        ioctl(
            dev.as_fd(),
            Updater::<{ uapi::CR_IOC_RESTORE }, CrRestoreArgs>::new(args),
        )
    }?)
}
