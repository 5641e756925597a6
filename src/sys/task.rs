// SPDX-License-Identifier: GPL-2.0

//! Processes and their threads: lookup, credentials checks, signal state, the
//! open files, and running code in a thread's own context (task_work).

use core::ptr::{addr_of, addr_of_mut, NonNull};

use kernel::{
    bindings,
    prelude::*,
    sync::{aref::ARef, barrier, rcu, Arc},
    task::Task,
    types::Opaque,
};

use super::{
    errno, ffi, file, generated,
    lock::{SigLock, TaskLock},
    read_once,
};
use crate::uapi::{
    self, CrClocks, CrFd, CrFs, CrItimers, CrProcess, CrRegs, CrSighand, CrSiginfo, CrThread,
};

/// The kind of file (`CR_FD_*`) behind an fd.
fn fd_kind(id: &file::InodeId, f: *const bindings::file) -> u32 {
    const S_IFMT: u32 = bindings::S_IFMT;
    // SAFETY: `f` is a valid file (the caller holds a reference), and so are
    // its inode and superblock.
    let (magic, rdev) = unsafe {
        let i = (*f).f_inode;
        ((*(*i).i_sb).s_magic, (*i).i_rdev)
    };
    let anon = magic == bindings::ANON_INODE_FS_MAGIC as usize;
    match id.mode & S_IFMT {
        bindings::S_IFREG if anon => uapi::CR_FD_ANON,
        bindings::S_IFREG => uapi::CR_FD_REG,
        bindings::S_IFDIR => uapi::CR_FD_DIR,
        bindings::S_IFIFO => uapi::CR_FD_PIPE,
        bindings::S_IFSOCK => uapi::CR_FD_SOCKET,
        bindings::S_IFBLK => uapi::CR_FD_BLK,
        bindings::S_IFCHR => {
            let major = rdev >> bindings::MINORBITS;
            let pty = bindings::UNIX98_PTY_MASTER_MAJOR
                ..bindings::UNIX98_PTY_SLAVE_MAJOR + bindings::UNIX98_PTY_MAJOR_COUNT;
            if major == bindings::TTY_MAJOR
                || major == bindings::TTYAUX_MAJOR
                || pty.contains(&major)
            {
                uapi::CR_FD_TTY
            } else {
                uapi::CR_FD_CHR
            }
        }
        _ if anon => uapi::CR_FD_ANON,
        _ => uapi::CR_FD_OTHER,
    }
}

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

    /// The calling process.
    pub(crate) fn caller() -> Process {
        let current = kernel::current!();
        Process {
            leader: current.group_leader().into(),
        }
    }

    /// Whether this is the calling process.
    pub(crate) fn is_caller(&self) -> bool {
        // SAFETY: Both tasks are valid; a live task's `signal` never changes.
        unsafe { (*self.leader.as_ptr()).signal == (*Task::current_raw()).signal }
    }

    /// Waits until every thread of the process has exited (the leader may
    /// stay a zombie until its parent reaps it), at most `timeout_ms`:
    /// `ETIMEDOUT` then, `EINTR` if the caller is killed meanwhile.
    pub(crate) fn wait_exit(&self, timeout_ms: u32) -> Result {
        let deadline = super::now_ns().saturating_add(u64::from(timeout_ms) * 1_000_000);
        loop {
            let running = self.any_thread(|t| {
                // SAFETY: `any_thread` passes live threads, under RCU.
                unsafe { read_once(addr_of!((*t).exit_state)) == 0 }
            });
            if running.is_none() {
                return Ok(());
            }
            if super::caller::dying() {
                return Err(EINTR);
            }
            if super::now_ns() >= deadline {
                return Err(ETIMEDOUT);
            }
            kernel::time::delay::fsleep(kernel::time::Delta::from_millis(1));
        }
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
        let t = self.leader.as_ptr();
        // SAFETY: `leader` is a valid task (we hold a reference), and so is
        // its process's `signal_struct`; these words are read once each.
        let (flags, exit_state, group_flags, caller) = unsafe {
            (
                read_once(addr_of!((*t).flags)),
                read_once(addr_of!((*t).exit_state)),
                read_once(addr_of!((*(*t).signal).flags)),
                (*t).signal == (*Task::current_raw()).signal,
            )
        };
        if flags & bindings::PF_KTHREAD != 0 {
            return Err(EINVAL);
        }
        if caller {
            return Err(EDEADLK);
        }
        if flags & bindings::PF_EXITING != 0 || exit_state != 0 {
            let group_exit = group_flags & bindings::SIGNAL_GROUP_EXIT != 0;
            let leaderless = !group_exit && self.nr_threads() > 1;
            return Err(if leaderless { EOPNOTSUPP } else { ESRCH });
        }
        let stopped = self.any_thread(|t| {
            // SAFETY: `any_thread` passes live threads, under RCU.
            let (ptrace, state) = unsafe {
                (
                    read_once(addr_of!((*t).ptrace)),
                    read_once(addr_of!((*t).__state)),
                )
            };
            ptrace != 0 || state & (bindings::__TASK_STOPPED | bindings::__TASK_TRACED) != 0
        });
        if stopped.is_some() {
            return Err(EBUSY);
        }
        Ok(())
    }

    /// Threads in the process now (they may come and go).
    fn nr_threads(&self) -> usize {
        // SAFETY: The process's `signal_struct` lives as long as the leader;
        // `nr_threads` is read once, as get_nr_threads() does.
        unsafe { read_once(addr_of!((*(*self.leader.as_ptr()).signal).nr_threads)) as usize }
    }

    /// The first thread of the process for which `f` holds, if any. `f`
    /// runs under RCU (it must not sleep) and is given a live thread.
    fn any_thread(
        &self,
        mut f: impl FnMut(*mut bindings::task_struct) -> bool,
    ) -> Option<*mut bindings::task_struct> {
        let _rcu = rcu::read_lock();
        // for_each_thread(): the list of the process's threads, by their
        // `thread_node`, which RCU keeps walkable.
        // SAFETY: The leader's `signal_struct` lives as long as it does.
        let head = unsafe { addr_of!((*(*self.leader.as_ptr()).signal).thread_head) };
        // SAFETY: As above; list pointers are read once, as under RCU.
        let mut pos = unsafe { read_once(addr_of!((*head).next)) };
        while !core::ptr::eq(pos, head) {
            // SAFETY: `pos` is the `thread_node` of a task on the list.
            let t = unsafe { kernel::container_of!(pos, bindings::task_struct, thread_node) };
            if f(t) {
                return Some(t);
            }
            // SAFETY: As for `pos`.
            pos = unsafe { read_once(addr_of!((*pos).next)) };
        }
        None
    }

    /// Whether the caller has CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN over
    /// the process, in the namespaces where ptrace_may_access() asks for
    /// CAP_SYS_PTRACE (`__ptrace_may_access()`, `task_still_dumpable()`): the
    /// user namespace of the leader's credentials and, when it is not
    /// owner-dumpable (a setuid or unreadable binary, PR_SET_DUMPABLE 0),
    /// also that of its exec state, which owns the binary. The capability in
    /// a namespace a user created is no power over what its owner did not
    /// give it.
    pub(crate) fn caller_is_capable(&self) -> bool {
        // As ptrace_may_access(): under task_lock, which also keeps the exec
        // state, and RCU, which keeps the credentials.
        let l = TaskLock::new(&self.leader);
        let _rcu = rcu::read_lock();
        let t = l.raw();
        // SAFETY: `__task_cred(t)`: under RCU the credentials stay valid.
        let ok = unsafe { capable_in((*read_once(addr_of!((*t).real_cred))).user_ns) };
        // Pairs with commit_creds(): dumpability is read after the creds.
        barrier::smp_mb(barrier::Read);
        // SAFETY: `rcu_dereference(t->exec_state)`; kept by task_lock, held.
        let es =
            unsafe { read_once(addr_of!((*t).exec_state)) }.cast::<generated::task_exec_state>();
        if es.is_null() {
            return false;
        }
        // SAFETY: As above; `dumpable` is read once.
        let owner = unsafe { read_once(addr_of!((*es).dumpable)) }
            == bindings::task_dumpable_TASK_DUMPABLE_OWNER;
        // SAFETY: As above: the exec state and its user namespace are valid.
        ok && (owner || unsafe { capable_in((*es).user_ns) })
    }

    /// Whether SIGKILL ends the process (not so for a pid namespace's init).
    pub(crate) fn killable(&self) -> bool {
        // Not a kernel thread, not the system's init (ending it panics the
        // kernel), and not the init of a pid namespace the caller lives in
        // (its SIGKILL from inside the namespace is ignored:
        // sig_task_ignored()). From an ancestor namespace it can be ended, as
        // kill(2) can.
        let t = self.leader.as_ptr();
        // SAFETY: `leader` is a valid task (we hold a reference); so are its
        // `signal_struct` and active pid namespace; the current task is valid.
        unsafe {
            if (*t).flags & bindings::PF_KTHREAD != 0
                || pid_nr(t, bindings::pid_type_PIDTYPE_TGID, init_pid_ns()) == 1
            {
                return false;
            }
            (*(*t).signal).flags & bindings::SIGNAL_UNKILLABLE == 0
                || pid_nr(
                    Task::current_raw(),
                    bindings::pid_type_PIDTYPE_PID,
                    bindings::task_active_pid_ns(t),
                ) == 0
        }
    }

    /// A reference on each current thread, the leader first if it is alive.
    pub(crate) fn threads(&self) -> Result<KVVec<ARef<Task>>> {
        let mut room = self.nr_threads().max(1) + 8;
        loop {
            // Allocated before the walk, which cannot sleep.
            let mut threads: KVVec<ARef<Task>> = KVVec::with_capacity(room, GFP_KERNEL_ACCOUNT)?;
            let full = self.any_thread(|t| {
                if threads.len() == threads.capacity() {
                    // No room left: stop, and try again with more.
                    return true;
                }
                // SAFETY: A live thread, under RCU: a reference may be taken.
                unsafe { bindings::get_task_struct(t) };
                // SAFETY: The `ARef` owns the reference just taken; `Task`
                // wraps `task_struct`; `t` is not NULL.
                let t = unsafe { ARef::from_raw(NonNull::new_unchecked(t.cast::<Task>())) };
                // There is room (checked above): this cannot fail.
                threads.push_within_capacity(t).is_err()
            });
            if full.is_some() {
                // Dropping `threads` drops the references taken.
                room *= 2;
                continue;
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
    /// fills `nr_threads` and the `CR_PROCESS_*` flags its address space holds.
    pub(crate) fn info(&self) -> CrProcess {
        let t = self.leader.as_ptr();
        let ns = current_pid_ns();
        let mut p = CrProcess::default();
        {
            let _rcu = rcu::read_lock();
            // SAFETY: `t` is valid; under RCU its `real_parent` is a task that
            // stays valid; `ns` is the caller's, which outlives the call.
            unsafe {
                p.pid = pid_nr(t, bindings::pid_type_PIDTYPE_TGID, ns);
                p.ppid = pid_nr((*t).real_parent, bindings::pid_type_PIDTYPE_TGID, ns);
                p.pgid = pid_nr(t, bindings::pid_type_PIDTYPE_PGID, ns);
                p.sid = pid_nr(t, bindings::pid_type_PIDTYPE_SID, ns);
            }
            // SAFETY: `__task_cred(t)`: under RCU the task's credentials stay
            // valid.
            let c = unsafe { &*(*t).real_cred };
            // SAFETY: The caller's user namespace, valid during the call.
            let uns = unsafe { bindings::current_user_ns() };
            // SAFETY: `from_k[ug]id_munged` map any id into any namespace.
            let uid = |k| unsafe { bindings::from_kuid_munged(uns, k) };
            // SAFETY: As for `uid`.
            let gid = |k| unsafe { bindings::from_kgid_munged(uns, k) };
            (p.uid, p.euid, p.suid, p.fsuid) = (uid(c.uid), uid(c.euid), uid(c.suid), uid(c.fsuid));
            (p.gid, p.egid, p.sgid, p.fsgid) = (gid(c.gid), gid(c.egid), gid(c.sgid), gid(c.fsgid));
        }
        {
            let l = TaskLock::new(&self.leader);
            // SAFETY: `comm` is changed under `task_lock`, held.
            p.comm = comm(unsafe { &(*l.raw()).comm });
            // The process's own umask(2) changes it without a lock: read once.
            // SAFETY: An `fs_struct` lives while a task holds it (`fs()`).
            p.umask = l.fs().map_or(0, |fs| unsafe {
                read_once(addr_of!((*fs.as_ptr()).umask)) as u32
            });
        }
        // SAFETY: `t` is valid; these are plain fields of it and of its
        // process's `signal_struct`, which lives as long as it does.
        unsafe {
            p.personality = (*t).personality;
            p.exit_signal = (*t).exit_signal as u32;
            let sig = (*t).signal;
            p.oom_score_adj = read_once(addr_of!((*sig).oom_score_adj)).into();
            if read_once(addr_of!((*sig).is_child_subreaper)) {
                p.flags |= uapi::CR_PROCESS_SUBREAPER;
            }
        }
        // The leader is its process's group leader (found by its process id,
        // and a frozen process cannot exec).
        let l = TaskLock::new(&self.leader);
        // SAFETY: The rlimits are written under the group leader's
        // `task_lock`, held; `signal` is valid as above.
        let rlim = unsafe { &(*(*l.raw()).signal).rlim };
        for (i, out) in p.rlim.iter_mut().enumerate() {
            let Some(r) = rlim.get(i) else { break };
            out.cur = r.rlim_cur as u64;
            out.max = r.rlim_max as u64;
        }
        p
    }

    /// The signal dispositions of signals 1..64, into `out`.
    pub(crate) fn sighand(&self, out: &mut CrSighand) -> Result {
        let l = SigLock::new(&self.leader).ok_or(ESRCH)?;
        // SAFETY: The dispositions change only under the siglock, held.
        let actions = unsafe { &(*l.sighand()).action };
        for (i, o) in out.action.iter_mut().enumerate() {
            let Some(ka) = actions.get(i) else { break };
            // The handler and restorer are addresses in the process (or
            // SIG_DFL/SIG_IGN), read as the integers they are.
            // SAFETY: Both are pointer-sized fields of `ka`.
            unsafe {
                o.handler = addr_of!(ka.sa.sa_handler).cast::<u64>().read();
                o.restorer = addr_of!(ka.sa.sa_restorer).cast::<u64>().read();
            }
            o.flags = ka.sa.sa_flags as u64;
            o.mask = ka.sa.sa_mask.sig[0] as u64;
        }
        Ok(())
    }

    /// Signals pending for the whole process: the set and the queued siginfos.
    pub(crate) fn shared_pending(&self) -> Result<(u64, KVVec<CrSiginfo>)> {
        pending(&self.leader, true)
    }

    /// The working directory and root: the record, and the two paths back to
    /// back in `buf` (which should hold two paths of the longest length).
    pub(crate) fn fs(&self, buf: &mut [u8]) -> Result<CrFs> {
        let (pwd, root) = {
            let l = TaskLock::new(&self.leader);
            let fs = l.fs().ok_or(ESRCH)?.as_ptr();
            // get_fs_pwd() and get_fs_root(): a reference on each, taken under
            // the fs_struct's seqlock held exclusively (read_seqlock_excl()).
            // SAFETY: `fs` is valid while task_lock is held; the references
            // taken are ours, dropped below.
            unsafe {
                let lock = addr_of_mut!((*fs).seq.lock);
                bindings::spin_lock(lock);
                let (pwd, root) = ((*fs).pwd, (*fs).root);
                bindings::path_get(&pwd);
                bindings::path_get(&root);
                bindings::spin_unlock(lock);
                (pwd, root)
            }
        };
        let half = buf.len() / 2;
        // SAFETY: Both paths are valid (we hold references on them); the cwd's
        // dentry and superblock with it.
        let out = unsafe {
            let (first, second) = buf.split_at_mut(half);
            let cwd = file::path_into(&pwd, first);
            let rootp = file::path_into(&root, &mut second[..half]);
            let d = pwd.dentry;
            let ino = (*(*d).d_inode).i_ino;
            let dev = file::encode_dev((*(*d).d_sb).s_dev);
            bindings::path_put(&pwd);
            bindings::path_put(&root);
            let (cwd, rootp) = (cwd?, rootp?);
            // The two paths back to back.
            buf.copy_within(half..half + rootp, cwd);
            CrFs {
                cwd_len: cwd as u32,
                root_len: rootp as u32,
                cwd_dev: dev,
                cwd_ino: ino,
            }
        };
        Ok(out)
    }

    /// The process's clocks now, as it reads them: `CLOCK_MONOTONIC` and
    /// `CLOCK_BOOTTIME` with its time namespace's offsets, and
    /// `CLOCK_REALTIME`.
    pub(crate) fn clocks(&self) -> Result<CrClocks> {
        let (monotonic, boottime) = TaskLock::new(&self.leader).time_offsets().ok_or(ESRCH)?;
        Ok(CrClocks {
            monotonic_ns: super::now_ns() as i64 + monotonic,
            boottime_ns: super::now_boot_ns() as i64 + boottime,
            realtime_ns: super::now_real_ns() as i64,
        })
    }

    /// The interval timers, as getitimer(2) would give them: ITIMER_REAL
    /// from its hrtimer, ITIMER_VIRTUAL and ITIMER_PROF from their expiry
    /// against the process's CPU time (the thread-group cputimer runs
    /// whenever one of them is armed).
    pub(crate) fn itimers(&self) -> Result<CrItimers> {
        const REAL: usize = bindings::ITIMER_REAL as usize;
        const VIRTUAL: usize = bindings::ITIMER_VIRTUAL as usize;
        const PROF: usize = bindings::ITIMER_PROF as usize;
        // A timer due now is reported as due in 1 us, as getitimer does.
        const SOON: u64 = 1000;
        let mut out = CrItimers::default();
        let l = SigLock::new(&self.leader).ok_or(ESRCH)?;
        // SAFETY: The timers change only under the siglock, held; the
        // `signal_struct` lives as long as the task.
        let sig = unsafe { &*l.signal() };
        // SAFETY: `real_timer` is an initialized hrtimer.
        if unsafe { bindings::hrtimer_active(&sig.real_timer) } {
            // SAFETY: As above.
            let rem = unsafe { bindings::__hrtimer_get_remaining(&sig.real_timer, false) };
            out.it[2 * REAL] = if rem > 0 { rem as u64 } else { SOON };
        } else if sig.it_real_incr != 0 {
            // A periodic timer that fired: its SIGALRM is pending (it is in
            // the image), and the kernel re-arms it one interval on when that
            // is taken. Not running is not disarmed.
            out.it[2 * REAL] = sig.it_real_incr as u64;
        }
        out.it[2 * REAL + 1] = sig.it_real_incr as u64;
        let at = &sig.cputimer.cputime_atomic;
        // SAFETY: Atomic counters of the live `signal_struct`.
        let (utime, stime) = unsafe {
            (
                read_once(addr_of!(at.utime.counter)) as u64,
                read_once(addr_of!(at.stime.counter)) as u64,
            )
        };
        for (which, clock, now) in [
            (VIRTUAL, bindings::CPUCLOCK_VIRT, utime),
            (PROF, bindings::CPUCLOCK_PROF, utime + stime),
        ] {
            let it = &sig.it[clock as usize];
            if it.expires != 0 {
                out.it[2 * which] = if it.expires > now {
                    it.expires - now
                } else {
                    SOON
                };
            }
            out.it[2 * which + 1] = it.incr;
        }
        Ok(out)
    }

    /// The data in the pipe behind fd `fd`, without consuming it, and the
    /// pipe's capacity. `ENOTTY` if `fd` is not a pipe.
    pub(crate) fn pipe_data(&self, fd: u32) -> Result<(KVVec<u8>, u32)> {
        let file = self.fd_file(fd)?;
        let mut capacity = 0u32;
        let mut buf = KVVec::new();
        // SAFETY: `file` holds a reference on the file.
        match unsafe { file::pipe_peek(file.as_ptr(), &mut [], &mut capacity) } {
            Ok(_) => return Ok((buf, capacity)),
            Err(e) if e != E2BIG => return Err(e),
            Err(_) => {}
        }
        // The target is frozen: only a process at the pipe's other end can
        // add data, and never past the capacity.
        buf.resize(capacity as usize, 0u8, GFP_KERNEL_ACCOUNT)?;
        // SAFETY: As above.
        let n = unsafe { file::pipe_peek(file.as_ptr(), &mut buf, &mut capacity) }?;
        buf.truncate(n);
        Ok((buf, capacity))
    }

    /// The file of fd `fd`, with a reference; `EBADF` if it is not open.
    fn fd_file(&self, fd: u32) -> Result<ARef<kernel::fs::File>> {
        let mut at = fd;
        // fget_task() is not exported: the next open fd from `fd`, if it is `fd`.
        // SAFETY: `leader` is valid; the result is NULL or a file with a
        // reference we own, `at` set to its number.
        let f = unsafe { bindings::fget_task_next(self.leader.as_ptr(), &mut at) };
        let f = NonNull::new(f.cast::<kernel::fs::File>()).ok_or(EBADF)?;
        // SAFETY: The `ARef` owns the reference `fget_task_next` took.
        let file = unsafe { ARef::from_raw(f) };
        if at != fd {
            return Err(EBADF);
        }
        Ok(file)
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
        let mut fd = from;
        // SAFETY: `leader` is valid; the result is NULL or a file with a
        // reference we own (dropped below), `fd` set to its number.
        let f = unsafe { bindings::fget_task_next(self.leader.as_ptr(), &mut fd) };
        let Some(f) = NonNull::new(f.cast::<kernel::fs::File>()) else {
            return Ok(None);
        };
        // SAFETY: The `ARef` owns the reference `fget_task_next` took.
        let file = unsafe { ARef::from_raw(f) };
        let raw = file.as_ptr();
        // SAFETY: `raw` is valid while `file` lives.
        let id = unsafe { file::inode_id(raw) };
        let kind = fd_kind(&id, raw);
        // What the process holds on the file besides the fd: read under
        // task_lock, which keeps its fd table.
        let (cloexec, locks, shared) = {
            let l = TaskLock::new(&self.leader);
            match l.files() {
                None => (false, file::LocksHeld::default(), false),
                // SAFETY: `files` is valid while task_lock is held; `raw` is
                // valid while `file` lives.
                Some(files) => unsafe {
                    let cloexec = file::FdTable::lock(files).cloexec(fd);
                    let locks = file::locks_held(raw, files.as_ptr());
                    let shared =
                        exact && kind == uapi::CR_FD_PIPE && file::shared_outside(raw, files);
                    (cloexec, locks, shared)
                },
            }
        };
        let mut out = CrFd {
            fd: fd as i32,
            r#type: kind,
            // `f_flags` and `f_pos` of a frozen process's file hold still (a
            // racer could only be another process sharing it, which the image
            // refuses or marks).
            // SAFETY: `raw` is valid while `file` lives.
            f_flags: unsafe { (*raw).f_flags },
            mode: id.mode,
            // SAFETY: As above.
            pos: unsafe { (*raw).f_pos } as u64,
            dev: id.dev,
            ino: id.ino,
            size: id.size,
            ..CrFd::default()
        };
        if cloexec {
            out.f_flags |= bindings::O_CLOEXEC;
        }
        if shared {
            out.flags |= uapi::CR_FD_F_SHARED;
        }
        // SAFETY: `raw`'s path is valid while `file` lives.
        out.path_len =
            unsafe { file::path_into(addr_of!((*raw).__bindgen_anon_1.f_path), path) }? as u32;
        let held = FileHeld {
            lock: locks.lock,
            lease: locks.lease,
        };
        Ok(Some((out, held)))
    }

    /// A child process, by its pid in the caller's pid namespace, and whether
    /// it is a zombie; `None` when there is none. Complete only while the
    /// process is frozen (it could fork during the look).
    pub(crate) fn child(&self) -> Option<(u32, bool)> {
        // for_each_process() under RCU (tasklist_lock is not exported;
        // `children` is not RCU-safe): a child that appears during the walk
        // may be missed, which a walk made while the process is frozen (it
        // cannot fork then) rules out. A live child is preferred to a zombie.
        let leader = self.leader.as_ptr();
        let ns = current_pid_ns();
        let mut found = None;
        let _rcu = rcu::read_lock();
        let init = core::ptr::addr_of_mut!(bindings::init_task);
        let mut p = init;
        loop {
            // SAFETY: `p` is a live task on the RCU-walkable list of every
            // process, linked by `tasks`.
            p = unsafe {
                let next = read_once(addr_of!((*p).tasks.next));
                kernel::container_of!(next, bindings::task_struct, tasks)
            };
            if core::ptr::eq(p, init) {
                return found;
            }
            // SAFETY: `p` is live under RCU, and so is its `real_parent`; a
            // task's `signal` lives as long as it does.
            let (mine, zombie) = unsafe {
                let parent = read_once(addr_of!((*p).real_parent));
                (
                    p != leader && (*parent).signal == (*leader).signal,
                    read_once(addr_of!((*p).exit_state)) != 0,
                )
            };
            if mine {
                // SAFETY: As above; `ns` is the caller's.
                found = Some((
                    unsafe { pid_nr(p, bindings::pid_type_PIDTYPE_TGID, ns) },
                    zombie,
                ));
                if !zombie {
                    return found;
                }
            }
        }
    }

    /// The pages of locked memory (in `space`, its address space) that no
    /// restore by a caller like the process could lock again: more than its
    /// RLIMIT_MEMLOCK without CAP_IPC_LOCK. `None` if there are none.
    pub(crate) fn locked_beyond_limit(&self, space: &super::mm::AddressSpace) -> Option<u64> {
        let (locked, future) = space.locked();
        if locked == 0 && !future {
            return None;
        }
        let t = self.leader.as_ptr();
        let limit_bytes = {
            // SAFETY: The process's `signal_struct` lives as long as the
            // leader; task_rlimit() reads the soft limit once.
            unsafe {
                let rlim = addr_of!((*(*t).signal).rlim[bindings::RLIMIT_MEMLOCK as usize]);
                read_once(addr_of!((*rlim).rlim_cur))
            }
        };
        let limit = (limit_bytes >> bindings::PAGE_SHIFT) as u64;
        // capable(CAP_IPC_LOCK) as the process would ask it (has_capability()
        // is not exported): its effective set, in the initial user namespace.
        let cap = {
            let _rcu = rcu::read_lock();
            // SAFETY: `__task_cred(t)`: under RCU the credentials stay valid.
            let c = unsafe { &*read_once(addr_of!((*t).real_cred)) };
            core::ptr::eq(c.user_ns, core::ptr::addr_of!(bindings::init_user_ns))
                && c.cap_effective.val & (1 << bindings::CAP_IPC_LOCK) != 0
        };
        (!cap && (locked > limit || (future && limit == 0))).then_some(locked.max(1))
    }

    /// The id of a thread with `SCHED_DEADLINE`, if any.
    pub(crate) fn deadline_thread(&self) -> Option<u32> {
        let mut tid = 0;
        self.any_thread(|t| {
            // SAFETY: `any_thread` passes live threads; the caller's pid
            // namespace outlives the call.
            unsafe {
                let deadline = read_once(addr_of!((*t).policy)) == bindings::SCHED_DEADLINE;
                if deadline {
                    tid = pid_nr(t, bindings::pid_type_PIDTYPE_PID, current_pid_ns());
                }
                deadline
            }
        })?;
        Some(tid)
    }

    /// Whether the process has POSIX timers.
    pub(crate) fn has_posix_timers(&self) -> bool {
        let Some(l) = SigLock::new(&self.leader) else {
            return false;
        };
        // SAFETY: The timer lists change under the siglock, held.
        let sig = unsafe { &*l.signal() };
        !sig.posix_timers.first.is_null() || !sig.ignored_posix_timers.first.is_null()
    }

    /// Sends SIGKILL to the whole process.
    pub(crate) fn kill(&self) {
        // SAFETY: `leader` is valid. SIGKILL from the kernel (priv = 1) cannot
        // fail for a live process and is a no-op for a dead one.
        unsafe { bindings::send_sig(bindings::SIGKILL as i32, self.leader.as_ptr(), 1) };
    }
}

/// Whether the caller has CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN in `ns`.
///
/// # Safety
///
/// `ns` must be a user namespace valid for the call.
pub(super) unsafe fn capable_in(ns: *mut bindings::user_namespace) -> bool {
    // SAFETY: Per the function's contract; any capability number is accepted.
    unsafe {
        bindings::ns_capable(ns, bindings::CAP_CHECKPOINT_RESTORE as i32)
            || bindings::ns_capable(ns, bindings::CAP_SYS_ADMIN as i32)
    }
}

/// The initial pid namespace.
fn init_pid_ns() -> *mut bindings::pid_namespace {
    core::ptr::addr_of_mut!(bindings::init_pid_ns)
}

/// The pid namespace the caller sees pids in.
fn current_pid_ns() -> *mut bindings::pid_namespace {
    // SAFETY: The current task is valid; its active pid namespace lives as
    // long as it does.
    unsafe { bindings::task_active_pid_ns(Task::current_raw()) }
}

/// `t`'s id of kind `kind` (`PIDTYPE_*`) in `ns`, 0 if it has none there.
///
/// # Safety
///
/// `t` and `ns` must be valid for the call.
unsafe fn pid_nr(
    t: *mut bindings::task_struct,
    kind: bindings::pid_type,
    ns: *mut bindings::pid_namespace,
) -> u32 {
    // SAFETY: Per the function's contract.
    unsafe { bindings::__task_pid_nr_ns(t, kind, ns) as u32 }
}

/// A task name as the image stores it: NUL-terminated and NUL-padded.
fn comm(c: &[kernel::ffi::c_char; 16]) -> [u8; 16] {
    let mut out = [0u8; 16];
    let len = c.iter().take(15).position(|&b| b == 0).unwrap_or(15);
    out[..len].copy_from_slice(&c[..len]);
    out
}

/// `t`'s id in the caller's pid namespace.
pub(crate) fn tid(t: &Task) -> u32 {
    // SAFETY: `t` is valid; the caller's pid namespace outlives this call.
    unsafe { pid_nr(t.as_ptr(), bindings::pid_type_PIDTYPE_PID, current_pid_ns()) }
}

/// Whether the calling thread is exiting.
pub(crate) fn current_exiting() -> bool {
    // SAFETY: The current task is always valid.
    unsafe { (*Task::current_raw()).flags & bindings::PF_EXITING != 0 }
}

// A kernel siginfo fits in a `CrSiginfo` (`SIGINFO_FITS`).
const _: () = assert!(
    core::mem::size_of::<bindings::kernel_siginfo_t>() <= core::mem::size_of::<[u8; 128]>()
);

/// Signals pending for `t` alone (`shared` false) or its whole process: the
/// pending set and every queued siginfo.
pub(crate) fn pending(t: &Task, shared: bool) -> Result<(u64, KVVec<CrSiginfo>)> {
    let mut room = 16usize;
    loop {
        // Allocated before the siglock is taken; when the queue holds more,
        // count them and try again with room for all.
        let mut v: KVVec<CrSiginfo> = KVVec::with_capacity(room, GFP_KERNEL_ACCOUNT)?;
        let l = SigLock::new(t).ok_or(ESRCH)?;
        // SAFETY: The queues change only under the siglock, held; `t` and
        // its `signal_struct` are valid.
        let pending = unsafe {
            if shared {
                addr_of!((*l.signal()).shared_pending)
            } else {
                addr_of!((*t.as_ptr()).pending)
            }
        };
        // SAFETY: As above.
        let set = unsafe { (*pending).signal.sig[0] } as u64;
        // SAFETY: As above.
        let head = unsafe { addr_of!((*pending).list) };
        let mut n = 0usize;
        // SAFETY: A list of `struct sigqueue` linked by their `list` field,
        // stable under the siglock.
        let mut pos = unsafe { (*head).next };
        while !core::ptr::eq(pos, head) {
            // SAFETY: `pos` is the `list` field of a queued `sigqueue`.
            let q = unsafe { &*kernel::container_of!(pos, bindings::sigqueue, list) };
            let mut si = CrSiginfo::default();
            // SAFETY: A siginfo is plain data; the record's buffer is at least
            // as big (`SIGINFO_FITS`).
            unsafe {
                si.signo = q.info.__bindgen_anon_1.si_signo as u32;
                core::ptr::copy_nonoverlapping(
                    addr_of!(q.info).cast::<u8>(),
                    si.info.as_mut_ptr(),
                    core::mem::size_of::<bindings::kernel_siginfo_t>(),
                );
            }
            // Past the room: only counted.
            let _ = v.push_within_capacity(si);
            n += 1;
            // SAFETY: As for `pos`.
            pos = unsafe { (*pos).next };
        }
        drop(l);
        if n > room {
            room = n + 16;
            continue;
        }
        return Ok((set, v));
    }
}

// A thread record's registers are the NT_PRSTATUS regset as it is.
const _: () =
    assert!(core::mem::size_of::<CrRegs>() == core::mem::size_of::<bindings::user_regs_struct>());

/// The calling thread's regset of ELF note type `note` (`NT_*`), if its view
/// (64-bit, or 32-bit for a compat task) has one.
pub(super) fn regset(note: u32) -> Option<&'static generated::user_regset> {
    // SAFETY: The current task is valid; a regset view and its regsets are
    // static arch data.
    let view = unsafe { &*generated::task_user_regset_view(Task::current_raw()) };
    // SAFETY: As above: `regsets` holds `n` regsets.
    let sets = unsafe { core::slice::from_raw_parts(view.regsets, view.n as usize) };
    sets.iter().find(|r| r.core_note_type == note)
}

/// Bytes of user xsave state (NT_X86_XSTATE) a thread record carries on this
/// CPU, 0 if none.
pub(crate) fn xstate_size() -> usize {
    regset(bindings::NT_X86_XSTATE).map_or(0, |r| (r.n * r.size) as usize)
}

/// `struct sem_undo_list`, private to ipc/sem.c (7.3: line 162): its layout.
#[cfg(CONFIG_SYSVIPC)]
#[repr(C)]
struct SemUndoList {
    refcnt: bindings::refcount_t,
    lock: bindings::spinlock_t,
    list_proc: bindings::list_head,
}

/// Whether the calling thread has System V semaphore undo entries.
///
/// Every thread has an undo list (glibc's clone passes CLONE_SYSVSEM, which
/// makes one): undo state exists only when `list_proc` holds entries. Only a
/// thread itself may look: its list lives until its own exit_sem(), and
/// another task's could be freed under the look.
pub(crate) fn current_has_sem_undo() -> bool {
    #[cfg(CONFIG_SYSVIPC)]
    {
        // SAFETY: The calling thread's own list, which only its exit frees.
        let ul = unsafe { (*Task::current_raw()).sysvsem.undo_list }.cast::<SemUndoList>();
        if ul.is_null() {
            return false;
        }
        // SAFETY: As above; `list_proc` changes under `lock`, taken here.
        unsafe {
            bindings::spin_lock(addr_of_mut!((*ul).lock));
            let head = addr_of!((*ul).list_proc);
            let any = !core::ptr::eq((*head).next, head);
            bindings::spin_unlock(addr_of_mut!((*ul).lock));
            any
        }
    }
    #[cfg(not(CONFIG_SYSVIPC))]
    false
}

/// Saves the calling thread's registers, FPU/vector state and signal settings
/// into `th` and `xstate` (exactly [`xstate_size`] bytes). Only the thread
/// itself may read these: it runs them from its own task_work, stopped.
///
/// The registers and FPU state are the regsets a core dump writes. The thread
/// is stopped at its return to user space (inside get_signal, before any
/// syscall restart fix-up), so the state is consistent and the live FPU
/// registers are saved.
pub(crate) fn capture_current(th: &mut CrThread, xstate: &mut [u8]) -> Result {
    let size = u32::try_from(xstate.len()).map_err(|_| EINVAL)?;
    let t = Task::current_raw();
    let prstatus = regset(bindings::NT_PRSTATUS).ok_or(EOPNOTSUPP)?;
    let regs = core::mem::size_of::<CrRegs>() as u32;
    // SAFETY: `th.regs` is writable for `regs` bytes, the regset's size.
    errno(unsafe { generated::regset_get(t, prstatus, regs, addr_of_mut!(th.regs).cast()) })?;
    let xsave = regset(bindings::NT_X86_XSTATE)
        .filter(|r| r.n * r.size == size)
        .ok_or(EOPNOTSUPP)?;
    // SAFETY: `xstate` is writable for `size` bytes, the regset's size.
    errno(unsafe { generated::regset_get(t, xsave, size, xstate.as_mut_ptr().cast()) })?;
    th.xstate_size = size;
    // SAFETY: The calling thread's own fields: only it changes them, and it
    // is here.
    let c = unsafe { &*t };
    // task_nice(): the nice value is the static priority less 120.
    th.nice = c.static_prio - bindings::DEFAULT_PRIO as i32;
    th.policy = c.policy;
    if c.sched_reset_on_fork() != 0 {
        th.policy |= bindings::SCHED_RESET_ON_FORK;
    }
    th.rt_priority = match c.policy {
        bindings::SCHED_FIFO | bindings::SCHED_RR => c.rt_priority,
        _ => 0,
    };
    th.blocked = c.blocked.sig[0] as u64;
    th.sas_sp = c.sas_ss_sp as u64;
    th.sas_size = c.sas_ss_size as u64;
    th.sas_flags = c.sas_ss_flags;
    th.clear_child_tid = c.clear_child_tid as u64;
    th.robust_list = c.futex.robust_list as u64;
    th.robust_list_len = if c.futex.robust_list.is_null() {
        0
    } else {
        core::mem::size_of::<bindings::robust_list_head>() as u64
    };
    th.comm = comm(&c.comm);
    th.rseq = c.rseq.usrptr as u64;
    th.rseq_len = c.rseq.len;
    th.rseq_sig = c.rseq.sig;
    Ok(())
}

/// The calling thread's restart block as a sleep left it: its clock id and
/// absolute end (ns).
pub(crate) fn current_restart_sleep() -> (i32, i64) {
    // SAFETY: The calling thread's own restart block, which only it writes;
    // the call that stopped left its `nanosleep` member.
    unsafe {
        let rb = &(*Task::current_raw())
            .restart_block
            .__bindgen_anon_1
            .nanosleep;
        (rb.clockid, rb.expires)
    }
}

/// The calling thread's restart block as FUTEX_WAIT left it: its absolute
/// end (ns, CLOCK_MONOTONIC).
pub(crate) fn current_restart_futex() -> i64 {
    // SAFETY: As in `current_restart_sleep`, its `futex` member.
    unsafe {
        (*Task::current_raw())
            .restart_block
            .__bindgen_anon_1
            .futex
            .time
    }
}

/// The calling thread's restart block as poll left it: its absolute end
/// (ns, CLOCK_MONOTONIC), or `None` when it had no timeout.
pub(crate) fn current_restart_poll() -> Option<i64> {
    // SAFETY: As in `current_restart_sleep`, its `poll` member.
    let rb = unsafe { &(*Task::current_raw()).restart_block.__bindgen_anon_1.poll };
    // timespec64_to_ktime(); a poll's end is never past KTIME_MAX.
    (rb.has_timeout != 0).then(|| rb.end_time.tv_sec * 1_000_000_000 + rb.end_time.tv_nsec as i64)
}

/// The `callback_head` of a queued task_work, embedded in a [`TaskWork`].
#[repr(transparent)]
pub(crate) struct WorkHead(Opaque<bindings::callback_head>);

// SAFETY: Rust code never reads or writes the head: `queue_work` hands it to
// the kernel's task_work list, which the kernel synchronizes, and gets it back
// in `run_work`, from any thread.
unsafe impl Send for WorkHead {}
// SAFETY: As for `Send`: no method of `WorkHead` touches the head.
unsafe impl Sync for WorkHead {}

impl WorkHead {
    /// An unqueued work head.
    pub(crate) fn new() -> Self {
        WorkHead(Opaque::uninit())
    }
}

/// Work a thread runs in its own context at its next return to user space
/// ([`queue_work`]).
///
/// # Safety
///
/// [`TaskWork::from_head`] must return the `Self` whose [`TaskWork::head`]
/// is `head` (`container_of`).
pub(crate) unsafe trait TaskWork: Send + Sync + Sized {
    /// The work head embedded in `self`.
    fn head(&self) -> &WorkHead;

    /// The `Self` that embeds `head`.
    ///
    /// # Safety
    ///
    /// `head` must be the [`TaskWork::head`] of a live `Self`.
    unsafe fn from_head(head: *const WorkHead) -> *const Self;

    /// Runs in the thread the work was queued for; what the thread does
    /// next.
    fn run(this: Arc<Self>) -> WorkEnd;
}

/// What a thread does once its [`TaskWork`] has run.
pub(crate) enum WorkEnd {
    /// Goes on on its way (to user space, or to a signal's action).
    Return,
    /// Exits with this code (`do_exit()`: the thread alone; the process's
    /// wait status when it is the last one), without returning to user space.
    Exit(kernel::ffi::c_long),
}

/// Makes `t` run [`TaskWork::run`] of `work` in its own context at its next
/// return to user space (an interruptible sleep is interrupted and later
/// restarted, as for a signal). The queued work owns one reference on `work`
/// until it runs, and one on this module: [`super::unload`] waits for every
/// task that ran the work to have left the module's code. Fails with `ESRCH`
/// when `t` is already past the point of running works.
pub(crate) fn queue_work<W: TaskWork>(t: &Task, work: Arc<W>) -> Result {
    let module = this_module();
    let raw = Arc::into_raw(work);
    // We own a reference through `raw`; an `Arc` never moves its contents.
    // SAFETY: `raw` points to a live `W`, so its head is valid.
    let cb = unsafe { (*raw).head().0.get() };
    // The module reference is dropped by `run_work`, or below if the work is
    // not queued; the reference owned through `raw` is released only by it.
    // SAFETY: The module is live (this code runs in it); `cb` stays valid
    // until the callback has run; `t` is valid.
    let ret = unsafe {
        bindings::__module_get(module);
        bindings::init_task_work(cb, Some(run_work::<W>));
        bindings::task_work_add(t.as_ptr(), cb, bindings::task_work_notify_mode_TWA_SIGNAL)
    };
    if ret < 0 {
        // SAFETY: The work was not queued: take back both references.
        unsafe {
            drop(Arc::from_raw(raw));
            bindings::module_put(module);
        }
        return Err(Error::from_errno(ret));
    }
    Ok(())
}

/// This module.
fn this_module() -> *mut bindings::module {
    <crate::CrModule as kernel::ModuleMetadata>::THIS_MODULE.as_ptr()
}

/// The task_work callback of [`queue_work`]. After it drops the module
/// reference, the module may be unloading: the rest of this function (its
/// return) runs in module code that [`super::unload`] waits for, with
/// `synchronize_rcu_tasks()`, instead of relying on a tail call.
///
/// # Safety
///
/// `cb` must be the work head of a `W` queued by [`queue_work`], whose
/// references (on the `W` and on the module) this call now owns.
unsafe extern "C" fn run_work<W: TaskWork>(cb: *mut bindings::callback_head) {
    // `WorkHead` is transparent over `callback_head`.
    // SAFETY: Per the contract, `cb` is the head of a live `W`, and
    // `queue_work` leaked exactly one reference for this callback.
    let work = unsafe { Arc::from_raw(W::from_head(cb.cast::<WorkHead>())) };
    let end = W::run(work);
    // SAFETY: The module reference `queue_work` took for this callback.
    unsafe { bindings::module_put(this_module()) };
    if let WorkEnd::Exit(code) = end {
        // Nothing of the work is left to drop (`run` consumed it), and
        // do_exit() never returns into this module.
        // SAFETY: In the thread's own context, from a task_work, where a
        // fatal signal's do_group_exit() runs too.
        unsafe { bindings::do_exit(code) };
    }
}

/// Makes the calling thread catch every signal but SIGKILL without acting on
/// it: each interrupts its sleeps, and stays queued for
/// [`deputy_next_signal`]. For a thread that never returns to user space.
pub(crate) fn deputy_catch_signals() {
    // SAFETY: Changes the calling thread's masks under its siglock.
    unsafe { ffi::cr_deputy_catch_signals() }
}

/// The next signal queued for the calling thread or its process (not
/// SIGKILL), taken off the queue; `None` if there is none.
pub(crate) fn deputy_next_signal() -> Option<u32> {
    // SAFETY: Dequeues from the calling thread's queues under its siglock.
    let sig = unsafe { ffi::cr_deputy_next_signal() };
    u32::try_from(sig).ok().filter(|&s| s > 0)
}

/// Whether SIGKILL is pending for the calling thread.
pub(crate) fn fatal_signal_pending() -> bool {
    // SAFETY: Reads the calling thread's pending set.
    unsafe { ffi::cr_fatal_signal_pending() }
}

/// Sleeps `ms` milliseconds whatever is pending (uninterruptibly).
pub(crate) fn sleep_ms(ms: u32) {
    // SAFETY: msleep() may be called from any sleepable context.
    unsafe { bindings::msleep(ms) }
}

kernel::sync::global_lock! {
    // SAFETY: Initialized by `sys::init` in the module initializer, before
    // /dev/cr exists and so before any use.
    //
    // The leaders (as addresses, never dereferenced) of the processes being
    // checkpointed: one entry per live `Claim`.
    unsafe(uninit) static IN_PROGRESS: Mutex<KVec<usize>> = KVec::new();
}

/// Initializes this module's globals; called once, at module load.
pub(super) fn init() {
    // SAFETY: Called once, from the module initializer, before any use.
    unsafe { IN_PROGRESS.init() };
}

/// The exclusive right to checkpoint one process: a second checkpoint of the
/// same process while this lives fails with `EBUSY`.
///
/// # Invariants
///
/// `leader` is in `IN_PROGRESS` exactly once while this lives.
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
        // INVARIANT: pushed just above, under the lock, after checking it
        // was not there.
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
