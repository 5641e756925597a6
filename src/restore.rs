// SPDX-License-Identifier: GPL-2.0

//! Restore: the calling process becomes the image's process (the way BLCR
//! restarts: its address space is emptied and rebuilt, then its registers are
//! set so that the ioctl returns into the restored program).
//!
//! Order: read and check every record up to the first page (with the same
//! rules as crctl, `format.rs`), then everything that can fail without harm
//! (credentials, CPU, vdso placement, opening and checking the mapped files,
//! the FPU state), then the point of no return (unmap the caller's memory),
//! then the mappings, the pages as they stream in, the mm fields, signal
//! state and registers. After the point of no return a failure is reported
//! on the status fd and the process is killed: it never runs half-restored.
//! With `CR_RESTORE_HOLD` the whole process then waits for a commit read
//! from the hold fd before its threads start (a migration's copy starts only
//! once the original has ended); without one it is killed, having never run.

pub(crate) mod plan;
mod prepare;
mod rebuild;
pub(crate) mod thread_meeting;

use kernel::{fs::File, prelude::*};

use crate::{
    error::{Failure, OrFail, Reason},
    image::format::MAX_METADATA,
    resume,
    sys::{
        caller,
        file::{InFile, StatusFile},
    },
    uapi::*,
};

use plan::{Plan, ACCOUNT};

/// Restores the image whose metadata is at `args.meta` and whose pages come
/// from `args.in_fd` into the calling process. On success the ioctl returns
/// into the restored program.
#[inline(never)]
pub(crate) fn restore(args: &CrRestoreArgs, dev: &File) -> Result<isize, Failure> {
    // With other threads, enter their session first, so that any failure
    // from here on releases them.
    let threads = caller::threads();
    let leader = if threads > 1 {
        Some(thread_meeting::Leader::enter().or_fail(Reason::Caller)?)
    } else {
        None
    };
    if args.meta_len == 0 {
        return Err(Failure::new(EINVAL, Reason::Args));
    }
    // The per-call limit on what a restore copies in (the format's own).
    if args.meta_len > MAX_METADATA {
        return Err(Failure::new(E2BIG, Reason::Limit));
    }
    // The fds closed as the process starts must not be this ioctl's file,
    // except `dev_fd`, which must be.
    if args.dev_fd >= 0 && !caller::fd_is(args.dev_fd, dev) {
        return Err(Failure::new(EINVAL, Reason::Args));
    }
    let hold_fd = if args.flags & CR_RESTORE_HOLD != 0 {
        args.hold_fd
    } else {
        -1
    };
    if [args.in_fd, args.status_fd, hold_fd]
        .iter()
        .any(|&fd| caller::fd_is(fd, dev))
    {
        return Err(Failure::new(EINVAL, Reason::Args));
    }
    let meta = caller::UserCopy::new(args.meta, args.meta_len as usize).map_err(|e| {
        Failure::new(
            e,
            if e == EFAULT {
                Reason::Args
            } else {
                Reason::None
            },
        )
    })?;
    let input = InFile::get(args.in_fd).or_fail(Reason::Args)?;
    let hold = if hold_fd >= 0 {
        Some(InFile::get(hold_fd).or_fail(Reason::Args)?)
    } else {
        None
    };
    let mut status = if args.status_fd >= 0 {
        Some(StatusFile::get(args.status_fd).or_fail(Reason::Args)?)
    } else {
        None
    };

    let mut plan = Plan::parse(&meta)?;
    drop(meta);
    if plan.threads.len() != threads {
        return Err(Failure::new(EBUSY, Reason::Caller));
    }
    prepare::prepare(&mut plan)?;
    if let Some(l) = &leader {
        l.gather(threads - 1, GATHER_TIMEOUT_MS)
            .map_err(|e| Failure::new(e, Reason::Caller))?;
    }

    // The point of no return: from here a failure ends the process.
    match rebuild::rebuild(&mut plan, &input) {
        Ok(()) => {}
        Err(f) => {
            report(&mut status, &f);
            // The process must not run half-restored.
            let _ = caller::raise(kernel::bindings::SIGKILL);
            return Err(f);
        }
    }
    // The fds crctl used close as the process starts. If that cannot be
    // arranged (no memory), the process must not start with them.
    // (Held, the status fd is closed as soon as the status is in it: its
    // reader learns the outcome while the process waits.)
    let status_fd = if hold.is_some() { -1 } else { args.status_fd };
    let closing = match caller::CloseOnReturn::new([args.in_fd, status_fd, args.dev_fd, hold_fd]) {
        Ok(c) => c,
        Err(e) => {
            let f = Failure::new(e, Reason::None);
            report(&mut status, &f);
            let _ = caller::raise(kernel::bindings::SIGKILL);
            return Err(f);
        }
    };
    report_ok(&mut status);
    drop(status);
    drop(input);
    if hold.is_some() {
        caller::close_now(args.status_fd);
    }
    // Held: the process is whole but starts only on a commit (a migration's:
    // the original has ended). Anything else ends it before it ran. (The
    // wait comes before the closing is queued, which would interrupt it.)
    if let Some(h) = hold {
        if !h.committed() {
            let _ = caller::raise(kernel::bindings::SIGKILL);
            return Err(Failure::new(ECANCELED, Reason::NotCommitted));
        }
    }
    if let Err(e) = closing.queue() {
        let _ = caller::raise(kernel::bindings::SIGKILL);
        return Err(Failure::new(e, Reason::None));
    }

    // The other threads take their state and go.
    let first = plan.threads[0].thread;
    let mut rest = KVVec::new();
    for t in plan.threads.drain_all().skip(1) {
        if rest.push(t, ACCOUNT).is_err() {
            let _ = caller::raise(kernel::bindings::SIGKILL);
            return Err(Failure::new(ENOMEM, Reason::None));
        }
    }
    if let Some(l) = leader {
        if let Err(e) = l.go(rest) {
            let _ = caller::raise(kernel::bindings::SIGKILL);
            return Err(Failure::new(e, Reason::None));
        }
    }
    start(&first)
}

/// How long the leader waits for the other threads to arrive.
const GATHER_TIMEOUT_MS: u32 = 10_000;

/// Returns into the restored program with `regs` (ax included: the ioctl's
/// return value does not matter).
fn start(t: &CrThread) -> Result<isize, Failure> {
    match resume::resume(t).and_then(|(regs, ax)| caller::set_regs(&regs, ax)) {
        Ok(()) => Ok(0),
        Err(e) => {
            // Registers were checked in `prepare`; this cannot happen, but if
            // it does the process must not go on.
            let _ = caller::raise(kernel::bindings::SIGKILL);
            Err(Failure::new(e, Reason::Image))
        }
    }
}

/// `CR_IOC_RESTORE_THREAD`: waits for the leader's restore, then becomes the
/// image's thread `index`.
#[inline(never)]
pub(crate) fn restore_thread(index: u32) -> Result<isize, Failure> {
    let t = thread_meeting::join(index).map_err(|e| {
        let reason = if e == ECANCELED {
            Reason::Canceled
        } else {
            Reason::Caller
        };
        Failure::new(e, reason)
    })?;
    // Past the leader's point of no return: a failure ends the process.
    let applied = caller::set_xstate(&t.xstate)
        .and_then(|()| caller::set_thread(&t.thread))
        .map_err(|e| Failure::new(e, Reason::Image))
        .and_then(|()| rebuild::queue_pending(&t.pending, t.thread.pending));
    if let Err(f) = applied {
        let _ = caller::raise(kernel::bindings::SIGKILL);
        return Err(f);
    }
    start(&t.thread)
}

/// Writes a failure to the status fd, if there is one.
fn report(status: &mut Option<StatusFile>, f: &Failure) {
    let s = CrRestoreStatus {
        error: f.err.to_errno(),
        reason: f.reason.code(),
        offset: f.addr,
        pid: caller::pid(),
        __pad: 0,
    };
    write_status(status, &s);
}

/// Writes success to the status fd, if there is one.
fn report_ok(status: &mut Option<StatusFile>) {
    let s = CrRestoreStatus {
        error: 0,
        reason: Reason::None.code(),
        offset: 0,
        pid: caller::pid(),
        __pad: 0,
    };
    write_status(status, &s);
}

fn write_status(status: &mut Option<StatusFile>, s: &CrRestoreStatus) {
    if let Some(out) = status.as_mut() {
        // Nobody to tell if the status cannot be written.
        let _ = out.write(as_bytes(s));
    }
}
