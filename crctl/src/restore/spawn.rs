// SPDX-License-Identifier: GPL-2.0

//! The processes and threads that become the restored ones: the child crctl
//! forks with clone3 (with the image's pid through set_tid, or as pid 1 of
//! a new pid namespace, which then forks the restored process and stays as
//! its init), and, in that child, the preparation in order (signals blocked,
//! fd table, special mappings, one waiting thread per extra image thread,
//! limits, settings, scheduling, timers) and the call to CR_IOC_RESTORE.

use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};

use rustix::process::WaitOptions;

use super::fds::{self, FdPlan};
use super::{settings, specials, status, Options, PidChoice, Stdio};
use crate::dev::Device;
use crate::error::{Error, Result};
use crate::image::Image;
use crate::sys;
use crate::uapi::{self, CrRestoreArgs, CrRestoreThreadArgs};

/// A process or thread id.
pub(super) type Pid = sys::Pid;

/// Why a chosen pid (`what`: "pid" or "thread id") could not be had.
fn pid_error(what: &'static str, id: Pid, err: std::io::Error) -> Error {
    Error::Pid { what, id, err }
}

/// clone3 as fork, single-threaded crctl being the caller.
fn fork(flags: u64, tid: Option<&Pid>) -> std::io::Result<Pid> {
    // The child only prepares and restores, or leaves with _exit.
    // SAFETY: crctl's restore runs single-threaded: no other thread holds a
    // lock the child could need.
    unsafe { sys::fork(flags, tid) }
}

/// Forks the process that becomes the restored one (or, for `--pid ns`, the
/// init of its new pid namespace): 0 in the child, its pid in crctl.
/// With `user` (crctl became a user, `--run-as`), the capabilities it kept
/// are effective for a fork that chooses the pid or makes a pid namespace
/// (and in the child, until it lets them go).
pub(super) fn fork_restorer(choice: PidChoice, pid: Pid, user: bool) -> Result<Pid> {
    if user && choice != PidChoice::Any {
        sys::fork_caps(true).map_err(Error::RunAs)?;
    }
    let forked = match choice {
        // (restore() has made Auto one of the others.)
        PidChoice::Namespace | PidChoice::Auto => {
            fork(sys::CLONE_NEWPID, None).map_err(Error::PidNamespace)
        }
        PidChoice::Original => fork(0, Some(&pid)).map_err(|e| pid_error("pid", pid, e)),
        PidChoice::Any => fork(0, None).map_err(|e| pid_error("pid", pid, e)),
    };
    // crctl needs them no more (the child lets them go once it has its pid,
    // or for `--pid ns` once it has forked the restored process).
    if user && !matches!(forked, Ok(0)) {
        sys::drop_fork_caps().map_err(Error::RunAs)?;
    }
    forked
}

/// The child forked by [`fork_restorer`]: enters the working directory and
/// becomes the restored process (or its namespace's init). Never returns;
/// a failure is told on the status pipe.
#[allow(clippy::too_many_arguments)]
pub(super) fn child(
    dev: &Device,
    img: &Image,
    meta: &[u8],
    fds: FdPlan,
    src: &std::fs::File,
    status_wr: OwnedFd,
    cwd: Option<&str>,
    opts: &Options,
) -> ! {
    if let Some(dir) = cwd {
        if let Err(err) = std::env::set_current_dir(dir) {
            let err = Error::EnterCwd {
                dir: dir.to_owned(),
                err,
            };
            status::tell(status_wr.into_raw_fd(), &err);
            sys::exit_now(1);
        }
    }
    let status_fd = status_wr.into_raw_fd();
    if opts.pid == PidChoice::Namespace {
        init(dev, img, meta, fds, src.as_raw_fd(), status_fd, opts);
    }
    become_restored(dev, img, meta, fds, src.as_raw_fd(), status_fd, opts);
    sys::exit_now(1);
}

/// `--pid ns`: this child is pid 1 of a new pid namespace. It makes the
/// restored process (with the image's pid there) and stays as its init:
/// reaping orphans, and leaving with the restored process's exit status.
fn init(
    dev: &Device,
    img: &Image,
    meta: &[u8],
    fds: FdPlan,
    src_fd: RawFd,
    status_fd: RawFd,
    outer: &Options,
) -> ! {
    // The restored process gets the image's pid in the new namespace.
    let pid = img.process.pid as Pid;
    let leader = match fork(0, Some(&pid)) {
        Ok(0) => {
            let opts = Options {
                pid: PidChoice::Original,
                stdio: Stdio::Inherit,
                hold: outer.hold,
                portable: outer.portable,
                user: outer.user,
                clocks_from_image: false,
                stdin_carried: false,
            };
            become_restored(dev, img, meta, fds, src_fd, status_fd, &opts);
            sys::exit_now(1)
        }
        Ok(p) => p,
        Err(e) => {
            status::tell(status_fd, &pid_error("pid", pid, e));
            sys::exit_now(1)
        }
    };
    // The init of a user's namespace forks nothing more that needs them.
    if outer.user && sys::drop_fork_caps().is_err() {
        sys::exit_now(1);
    }
    // Let go of everything: the restored process has its own copies.
    drop(fds);
    sys::close_all_fds();
    loop {
        let r = rustix::process::wait(WaitOptions::empty());
        match r {
            Ok(Some((p, st))) if p.as_raw_pid() == leader => {
                let code = match (st.exit_status(), st.terminating_signal()) {
                    (Some(code), _) => code,
                    (None, Some(sig)) => 128 + sig,
                    (None, None) => 0,
                };
                // The namespace's other processes are killed as this leaves.
                sys::exit_now(code);
            }
            Ok(_) => {}
            // No child left (a status of 0, as waitpid's zeroed one read).
            Err(_) => sys::exit_now(0),
        }
    }
}

/// The child: prepare, then become the restored process. Returns only on
/// failure, having told the parent why on the status pipe (which moves with
/// the fd table's layout).
fn become_restored(
    dev: &Device,
    img: &Image,
    meta: &[u8],
    fds: FdPlan,
    src_fd: RawFd,
    status_fd: RawFd,
    opts: &Options,
) {
    // A user's restored process has its pid: it keeps no capability.
    if opts.user {
        if let Err(e) = sys::drop_fork_caps() {
            status::tell(status_fd, &Error::RunAs(e));
            return;
        }
    }
    let mut status_fd_now = status_fd;
    // The waiting threads read their arguments until the restore: they live
    // here, past `prepare_and_restore`.
    let mut targs: Vec<CrRestoreThreadArgs> = (1..img.threads.len())
        .map(|i| CrRestoreThreadArgs {
            index: i as u32,
            ..Default::default()
        })
        .collect();
    let prepare_and_restore = || -> Error {
        // The restore sets the image's mask; until then nothing may interrupt.
        sys::block_all_signals();
        let mut keep = [
            src_fd,
            status_fd_now,
            dev.as_raw_fd(),
            opts.hold.unwrap_or(-1),
        ];
        let laid_out = fds::lay_out_fds(fds, &mut keep);
        let [src_fd, status, dev_fd, hold_fd] = keep;
        status_fd_now = status;
        if let Err(e) = laid_out {
            return e;
        }
        if let Err(e) = specials::move_specials(img) {
            return e;
        }
        // One waiting thread per image thread but the first.
        let tids: Vec<Pid> = img.threads.iter().map(|t| t.thread.tid as Pid).collect();
        let mut waiters = Vec::with_capacity(targs.len());
        for (i, a) in targs.iter_mut().enumerate() {
            let tid = (opts.pid != PidChoice::Any).then_some(&tids[i + 1]);
            // `targs` is `become_restored`'s and never moves.
            // SAFETY: `targs` outlives the restore the thread waits in, and
            // `dev_fd` stays open until then.
            match unsafe { sys::spawn_restore_thread(dev_fd, a, tid) } {
                Ok(t) => waiters.push(t),
                Err(e) => return pid_error("thread id", tids[i + 1], e),
            }
        }
        if let Err(e) = settings::set_rlimits(img) {
            return e;
        }
        if let Err(e) = settings::set_process_settings(img) {
            return e;
        }
        // The waiting threads first, the caller (the leader) last.
        for (t, &tid) in img.threads[1..].iter().zip(&waiters) {
            if let Err(e) = settings::set_sched(&t.thread, tid, t.thread.tid) {
                return e;
            }
        }
        if let Err(e) = settings::set_sched(&img.threads[0].thread, 0, img.threads[0].thread.tid) {
            return e;
        }
        if let Err(e) = settings::arm_itimers(img) {
            return e;
        }
        let mut args = CrRestoreArgs {
            meta: meta.as_ptr() as u64,
            meta_len: meta.len() as u64,
            in_fd: src_fd,
            status_fd: status,
            dev_fd,
            flags: if opts.hold.is_some() {
                uapi::CR_RESTORE_HOLD
            } else {
                0
            },
            hold_fd: hold_fd.max(0),
            ..Default::default()
        };
        match Device::restore_on(dev_fd, &mut args) {
            // Unreachable: a successful restore returns into the restored program.
            Ok(()) => Error::Returned,
            Err(e) => Error::Dev(e),
        }
    };
    let err = prepare_and_restore();
    status::tell(status_fd_now, &err);
}
