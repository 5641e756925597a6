// SPDX-License-Identifier: GPL-2.0

//! Processes and their threads: lookup, credentials checks, signal state, the
//! open files, and running code in a thread's own context (task_work).

use core::ptr::NonNull;

use kernel::{
    bindings,
    ffi::{c_int, c_long},
    prelude::*,
    sync::{aref::ARef, Arc},
    task::Task,
    types::Opaque,
};

use super::{errno, ffi};
use crate::{
    freeze::ThreadStop,
    uapi::{CrFd, CrFs, CrItimers, CrProcess, CrSighand, CrSiginfo, CrThread},
};

/// `CR_TASK_*` of helpers.h: what cr_task_facts() reports of a process.
const TASK_KTHREAD: u32 = 1 << 0;
const TASK_CALLER: u32 = 1 << 1;
const TASK_LEADER_EXITING: u32 = 1 << 2;
const TASK_GROUP_EXITING: u32 = 1 << 3;
const TASK_THREADS: u32 = 1 << 4;
const TASK_STOPPED: u32 = 1 << 5;

/// `CR_HELD_*` of helpers.h: what cr_fd_get() reports held on a file.
const HELD_LOCK: u32 = 1 << 0;
const HELD_LEASE: u32 = 1 << 1;

/// What a process holds on the file of one of its fds (kernel state that no
/// image carries).
#[derive(Clone, Copy, Default)]
pub(crate) struct FileHeld {
    /// A flock, a POSIX lock of the process, or an OFD lock of the file.
    pub(crate) lock: bool,
    /// A lease.
    pub(crate) lease: bool,
}

/// A process (thread group), held by a reference on its leader.
pub(crate) struct Process {
    leader: ARef<Task>,
}

impl Process {
    /// The process whose id is `pid` in the caller's pid namespace. A thread
    /// id that is not a process id is not found (`ESRCH`).
    pub(crate) fn find(pid: u32) -> Result<Process> {
        let nr = i32::try_from(pid).map_err(|_| ESRCH)?;
        if nr <= 0 {
            return Err(ESRCH);
        }
        // SAFETY: Any number may be looked up; the result is NULL or a struct
        // pid with a reference we own.
        let p = unsafe { bindings::find_get_pid(nr) };
        if p.is_null() {
            return Err(ESRCH);
        }
        // SAFETY: `p` is a valid struct pid (we hold a reference).
        let t = unsafe { bindings::get_pid_task(p, bindings::pid_type_PIDTYPE_TGID) };
        // SAFETY: Drops the reference `find_get_pid` took.
        unsafe { bindings::put_pid(p) };
        let t = NonNull::new(t.cast::<Task>()).ok_or(ESRCH)?;
        // `get_pid_task` returned a task whose reference count it incremented.
        // SAFETY: The `ARef` takes over that reference; `Task` wraps `task_struct`.
        let leader = unsafe { ARef::from_raw(t) };
        Ok(Process { leader })
    }

    /// The thread group leader.
    pub(crate) fn leader(&self) -> &Task {
        &self.leader
    }

    /// OrFail this process cannot be checkpointed: `EINVAL` for a kernel thread,
    /// `EDEADLK` for the caller's own process, `ESRCH` once it is exiting,
    /// `EOPNOTSUPP` when its main thread left by itself (pthread_exit) while
    /// others run (the process lives, but has no leader to restore), `EBUSY`
    /// when a thread is stopped or traced. Checked again once every thread
    /// has stopped.
    pub(crate) fn checkable(&self) -> Result {
        // SAFETY: `leader` is a valid task (we hold a reference).
        let f = unsafe { ffi::cr_task_facts(self.leader.as_ptr()) };
        if f & TASK_KTHREAD != 0 {
            return Err(EINVAL);
        }
        if f & TASK_CALLER != 0 {
            return Err(EDEADLK);
        }
        if f & TASK_LEADER_EXITING != 0 {
            let leaderless = f & TASK_GROUP_EXITING == 0 && f & TASK_THREADS != 0;
            return Err(if leaderless { EOPNOTSUPP } else { ESRCH });
        }
        if f & TASK_STOPPED != 0 {
            return Err(EBUSY);
        }
        Ok(())
    }

    /// Whether the caller has CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN over
    /// the process: in its credentials' user namespace and, if its mm is not
    /// dumpable, in the mm's (the namespaces ptrace's capability check uses).
    pub(crate) fn caller_is_capable(&self) -> bool {
        // SAFETY: `leader` is a valid task (we hold a reference).
        unsafe { ffi::cr_capable_over(self.leader.as_ptr()) }
    }

    /// Whether SIGKILL ends the process (not so for a pid namespace's init).
    pub(crate) fn killable(&self) -> bool {
        // SAFETY: `leader` is a valid task (we hold a reference).
        unsafe { ffi::cr_task_killable(self.leader.as_ptr()) }
    }

    /// A reference on each current thread, the leader first if it is alive.
    pub(crate) fn threads(&self) -> Result<KVVec<ARef<Task>>> {
        // SAFETY: `leader` is a valid task.
        let mut room = unsafe { ffi::cr_nr_threads(self.leader.as_ptr()) }.max(1) as usize + 8;
        loop {
            // Both allocated before any reference is taken, so no error path
            // between taking and owning them can leak one.
            let mut raw: KVVec<*mut bindings::task_struct> =
                KVVec::with_capacity(room, GFP_KERNEL_ACCOUNT)?;
            let mut threads: KVVec<ARef<Task>> = KVVec::with_capacity(room, GFP_KERNEL_ACCOUNT)?;
            let max = i32::try_from(room).map_err(|_| E2BIG)?;
            // SAFETY: `raw` has room for `max` pointers; the helper stores up to
            // `max` tasks, each with a reference it took for us.
            let n = unsafe { ffi::cr_threads_get(self.leader.as_ptr(), raw.as_mut_ptr(), max) };
            if n == -(bindings::E2BIG as i32) {
                room *= 2;
                continue;
            }
            let n = errno(n)? as usize;
            // SAFETY: The helper initialized the first `n` elements.
            unsafe { raw.inc_len(n) };
            for &t in raw.iter() {
                // `t` is a valid, non-null task with a reference the helper took.
                // SAFETY: The `ARef` owns that reference; `Task` wraps `task_struct`.
                let t = unsafe { ARef::from_raw(NonNull::new_unchecked(t.cast::<Task>())) };
                // Cannot allocate: `threads` has room for all `n`.
                threads.push(t, GFP_KERNEL_ACCOUNT)?;
            }
            // The leader first: its record carries CR_THREAD_LEADER.
            if let Some(i) = threads
                .iter()
                .position(|t| t.as_ptr() == self.leader.as_ptr())
            {
                threads.swap(0, i);
            }
            return Ok(threads);
        }
    }

    /// The process-wide record, ids in the caller's pid namespace. The caller
    /// fills `nr_threads`.
    pub(crate) fn info(&self) -> CrProcess {
        let mut p = CrProcess::default();
        // SAFETY: `leader` is valid; the pid namespace is the caller's, which
        // outlives this call; `p` is a valid `struct cr_process`.
        unsafe { ffi::cr_process_get(self.leader.as_ptr(), ffi::cr_current_pid_ns(), &mut p) };
        p
    }

    /// The signal dispositions, into `out`.
    pub(crate) fn sighand(&self, out: &mut CrSighand) -> Result {
        // SAFETY: `leader` is valid; `out` is a valid `struct cr_sighand`.
        errno(unsafe { ffi::cr_sighand_get(self.leader.as_ptr(), out) }).map(|_| ())
    }

    /// Signals pending for the whole process: the set and the queued siginfos.
    pub(crate) fn shared_pending(&self) -> Result<(u64, KVVec<CrSiginfo>)> {
        pending(&self.leader, true)
    }

    /// The working directory and root: the record, and the two paths back to
    /// back in `buf` (which should hold two paths of the longest length).
    pub(crate) fn fs(&self, buf: &mut [u8]) -> Result<CrFs> {
        let mut out = CrFs::default();
        let len = i32::try_from(buf.len()).map_err(|_| EINVAL)?;
        // SAFETY: `leader` is valid; `out` is a valid `struct cr_fs`; `buf`
        // is writable for `len` bytes.
        errno(unsafe {
            ffi::cr_fs_get(self.leader.as_ptr(), &mut out, buf.as_mut_ptr().cast(), len)
        })?;
        Ok(out)
    }

    /// The interval timers.
    pub(crate) fn itimers(&self) -> Result<CrItimers> {
        let mut out = CrItimers::default();
        // SAFETY: `leader` is valid; `out` is a valid `struct cr_itimers`.
        errno(unsafe { ffi::cr_itimers_get(self.leader.as_ptr(), &mut out) })?;
        Ok(out)
    }

    /// The data in the pipe behind fd `fd`, without consuming it, and the
    /// pipe's capacity. `ENOTTY` if `fd` is not a pipe.
    pub(crate) fn pipe_data(&self, fd: u32) -> Result<(KVVec<u8>, u32)> {
        let mut capacity = 0u32;
        // SAFETY: `leader` is valid; a zero-length buffer is never written;
        // `capacity` is writable.
        let r = unsafe {
            ffi::cr_pipe_peek(
                self.leader.as_ptr(),
                fd,
                core::ptr::null_mut(),
                0,
                &mut capacity,
            )
        };
        if r != -(bindings::E2BIG as c_long) && r < 0 {
            return Err(Error::from_errno(r as i32));
        }
        let mut buf = KVVec::new();
        if r == 0 {
            return Ok((buf, capacity));
        }
        // The target is frozen: only a process at the pipe's other end can
        // add data, and never past the capacity.
        buf.resize(capacity as usize, 0u8, GFP_KERNEL_ACCOUNT)?;
        // SAFETY: `buf` is writable for `capacity` bytes.
        let n = unsafe {
            ffi::cr_pipe_peek(
                self.leader.as_ptr(),
                fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut capacity,
            )
        };
        if n < 0 {
            return Err(Error::from_errno(n as i32));
        }
        buf.truncate(n as usize);
        Ok((buf, capacity))
    }

    /// The lowest open fd at or above `from`, its path in `path`, and what
    /// the process holds on its file. `exact` (only while the process is
    /// frozen) also finds out whether another process holds a pipe's file
    /// (`CR_FD_F_SHARED`).
    pub(crate) fn fd_at_or_after(
        &self,
        from: u32,
        path: &mut [u8],
        exact: bool,
    ) -> Result<Option<(CrFd, FileHeld)>> {
        let mut out = CrFd::default();
        let mut held = 0u32;
        let len = i32::try_from(path.len()).map_err(|_| EINVAL)?;
        // SAFETY: `leader` is valid; `out` is a valid `struct cr_fd`; `path`
        // is writable for `len` bytes; `held` is writable.
        let ret = unsafe {
            ffi::cr_fd_get(
                self.leader.as_ptr(),
                from,
                &mut out,
                path.as_mut_ptr().cast(),
                len,
                exact,
                &mut held,
            )
        };
        let held = FileHeld {
            lock: held & HELD_LOCK != 0,
            lease: held & HELD_LEASE != 0,
        };
        Ok((errno(ret)? == 1).then_some((out, held)))
    }

    /// A child process, by its pid in the caller's pid namespace, and whether
    /// it is a zombie; `None` when there is none. Complete only while the
    /// process is frozen (it could fork during the look).
    pub(crate) fn child(&self) -> Option<(u32, bool)> {
        let mut pid = 0u32;
        // SAFETY: `leader` is valid; the pid namespace is the caller's, which
        // outlives this call; `pid` is writable.
        match unsafe {
            ffi::cr_task_child(self.leader.as_ptr(), ffi::cr_current_pid_ns(), &mut pid)
        } {
            0 => None,
            n => Some((pid, n == 2)),
        }
    }

    /// The pages of locked memory (in `space`, its address space) that no
    /// restore by a caller like the process could lock again: more than its
    /// RLIMIT_MEMLOCK without CAP_IPC_LOCK. `None` if there are none.
    pub(crate) fn locked_beyond_limit(&self, space: &super::mm::AddressSpace) -> Option<u64> {
        // SAFETY: `leader` is valid; `space` holds a user reference on its mm.
        let pages =
            unsafe { ffi::cr_task_locked_beyond_limit(self.leader.as_ptr(), space.as_raw()) };
        (pages != 0).then_some(pages as u64)
    }

    /// The id of a thread with `SCHED_DEADLINE`, if any.
    pub(crate) fn deadline_thread(&self) -> Option<u32> {
        // SAFETY: `leader` is valid; the pid namespace is the caller's, which
        // outlives this call.
        match unsafe { ffi::cr_task_sched_deadline(self.leader.as_ptr(), ffi::cr_current_pid_ns()) }
        {
            0 => None,
            tid => Some(tid),
        }
    }

    /// Whether the process has POSIX timers.
    pub(crate) fn has_posix_timers(&self) -> bool {
        // SAFETY: `leader` is valid.
        unsafe { ffi::cr_task_posix_timers(self.leader.as_ptr()) }
    }

    /// Sends SIGKILL to the whole process.
    pub(crate) fn kill(&self) {
        // SAFETY: `leader` is valid. SIGKILL from the kernel (priv = 1) cannot
        // fail for a live process and is a no-op for a dead one.
        unsafe { bindings::send_sig(bindings::SIGKILL as i32, self.leader.as_ptr(), 1) };
    }
}

/// `t`'s id in the caller's pid namespace.
pub(crate) fn tid(t: &Task) -> u32 {
    // SAFETY: `t` is valid; the caller's pid namespace outlives this call.
    unsafe { ffi::cr_task_tid(t.as_ptr(), ffi::cr_current_pid_ns()) }
}

/// Whether the calling thread is exiting.
pub(crate) fn current_exiting() -> bool {
    // SAFETY: The current task is always valid.
    unsafe { ffi::cr_task_exiting(Task::current_raw()) }
}

/// Signals pending for `t` alone (`shared` false) or its whole process.
pub(crate) fn pending(t: &Task, shared: bool) -> Result<(u64, KVVec<CrSiginfo>)> {
    let mut room = 16usize;
    loop {
        let mut v: KVVec<CrSiginfo> = KVVec::with_capacity(room, GFP_KERNEL_ACCOUNT)?;
        let mut set = 0u64;
        let max = i32::try_from(room).map_err(|_| E2BIG)?;
        // SAFETY: `t` is valid; `set` is writable; `v` has room for `max`
        // siginfos, of which the helper initializes min(n, max).
        let n = errno(unsafe {
            ffi::cr_sigpending_get(t.as_ptr(), shared, &mut set, v.as_mut_ptr(), max)
        })? as usize;
        if n > room {
            room = n + 16;
            continue;
        }
        // SAFETY: The helper initialized the first `n` elements.
        unsafe { v.inc_len(n) };
        return Ok((set, v));
    }
}

/// Bytes of user xsave state a thread record carries.
pub(crate) fn xstate_size() -> usize {
    // SAFETY: No preconditions.
    unsafe { ffi::cr_xstate_size() as usize }
}

/// Whether the calling thread has System V semaphore undo entries (only a
/// thread itself can safely look).
pub(crate) fn current_has_sem_undo() -> bool {
    // SAFETY: No preconditions.
    unsafe { ffi::cr_current_sem_undo() }
}

/// Saves the calling thread's registers, FPU/vector state and signal settings
/// into `th` and `xstate` (exactly [`xstate_size`] bytes).
pub(crate) fn capture_current(th: &mut CrThread, xstate: &mut [u8]) -> Result {
    let size = u32::try_from(xstate.len()).map_err(|_| EINVAL)?;
    // SAFETY: `th` is a valid `struct cr_thread`; `xstate` is writable for
    // `size` bytes.
    errno(unsafe { ffi::cr_capture_current(th, xstate.as_mut_ptr().cast(), size) }).map(|_| ())
}

/// The calling thread's restart block as a sleep left it: its clock id and
/// absolute end (ns).
pub(crate) fn current_restart_sleep() -> (i32, i64) {
    let mut clock: c_int = 0;
    // SAFETY: Reads the calling thread's own restart block; `clock` is
    // writable.
    let end = unsafe { ffi::cr_restart_sleep(&mut clock) };
    (clock, end)
}

/// The calling thread's restart block as FUTEX_WAIT left it: its absolute
/// end (ns, CLOCK_MONOTONIC).
pub(crate) fn current_restart_futex() -> i64 {
    // SAFETY: Reads the calling thread's own restart block.
    unsafe { ffi::cr_restart_futex() }
}

/// The calling thread's restart block as poll left it: its absolute end
/// (ns, CLOCK_MONOTONIC), or `None` when it had no timeout.
pub(crate) fn current_restart_poll() -> Option<i64> {
    // SAFETY: Reads the calling thread's own restart block.
    let end = unsafe { ffi::cr_restart_poll() };
    (end >= 0).then_some(end)
}

/// The `callback_head` of a queued task_work, embedded in [`ThreadStop`].
#[repr(transparent)]
pub(crate) struct WorkHead(Opaque<bindings::callback_head>);

impl WorkHead {
    /// An unqueued work head.
    pub(crate) fn new() -> Self {
        WorkHead(Opaque::uninit())
    }
}

/// Makes `t` run [`ThreadStop::run`] in its own context at its next return to
/// user space (an interruptible sleep is interrupted and later restarted, as
/// for a signal). The queued work owns one reference on `stop` until it runs.
/// Fails with `ESRCH` when `t` is already past the point of running works.
pub(crate) fn queue_stop(t: &Task, stop: Arc<ThreadStop>) -> Result {
    let raw = Arc::into_raw(stop);
    // We own a reference through `raw`; an `Arc` never moves its contents.
    // SAFETY: `raw` points to a live, pinned `ThreadStop`, so `work` is valid.
    let cb = unsafe { (*raw).work_head().0.get() };
    // SAFETY: `t` is valid; `cb` stays valid until the callback has run,
    // because the reference owned through `raw` is only released by it.
    let ret = unsafe { ffi::cr_task_work_queue(t.as_ptr(), cb) };
    if ret < 0 {
        // SAFETY: The work was not queued: take back the reference.
        drop(unsafe { Arc::from_raw(raw) });
        return Err(Error::from_errno(ret));
    }
    Ok(())
}

/// The task_work callback (see `cr_task_work_fn` in helpers.c).
///
/// # Safety
///
/// `cb` must be the work head of a [`ThreadStop`] queued by [`queue_stop`],
/// whose reference this call now owns.
#[no_mangle]
unsafe extern "C" fn cr_thread_stop_work(cb: *mut bindings::callback_head) {
    // SAFETY: Per the function's contract, `cb` is the `work` field of a
    // `ThreadStop` (`WorkHead` is transparent over `callback_head`).
    let stop = unsafe { kernel::container_of!(cb.cast::<WorkHead>(), ThreadStop, work) };
    // SAFETY: `queue_stop` leaked exactly one reference for this callback.
    let stop = unsafe { Arc::from_raw(stop) };
    ThreadStop::run(stop);
}

kernel::sync::global_lock! {
    // SAFETY: Initialized by `sys::init` in the module initializer, before
    // /dev/cr exists and so before any use.
    unsafe(uninit) static IN_PROGRESS: Mutex<KVec<usize>> = KVec::new();
}

/// Initializes this module's globals; called once, at module load.
pub(super) fn init() {
    // SAFETY: Called once, from the module initializer, before any use.
    unsafe { IN_PROGRESS.init() };
}

/// The exclusive right to checkpoint one process: a second checkpoint of the
/// same process while this lives fails with `EBUSY`.
pub(crate) struct Claim {
    leader: usize,
}

impl Claim {
    /// Claims `process`.
    pub(crate) fn take(process: &Process) -> Result<Claim> {
        let leader = process.leader.as_ptr() as usize;
        let mut busy = IN_PROGRESS.lock();
        if busy.contains(&leader) {
            return Err(EBUSY);
        }
        busy.push(leader, GFP_KERNEL_ACCOUNT)?;
        Ok(Claim { leader })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut busy = IN_PROGRESS.lock();
        if let Some(i) = busy.iter().position(|&p| p == self.leader) {
            let _ = busy.remove(i);
        }
        // A static is never dropped: give the buffer back whenever the list
        // empties, so none is left behind when the module unloads (it always
        // unloads with no checkpoint running, since an open /dev/cr pins it).
        if busy.is_empty() {
            *busy = KVec::new();
        }
    }
}
