// SPDX-License-Identifier: GPL-2.0

//! Deputies: what stays of a process that migrated to another host, in its
//! home host's process table (as MOSIX's deputy does).
//!
//! A held checkpoint whose decision is `CR_HOLD_DEPUTY` does not end the
//! process: its threads but the main one exit, the main one unmaps every
//! memory area and then serves its holder (crd, through the hold fd, a
//! socket) from the task_work it was frozen in, never returning to user
//! space. It keeps the pid, the parent, the fds and the process's place in
//! its group and session, so that:
//!
//! - a signal anyone sends it (kill(2), a terminal's ^C) wakes it without
//!   acting (every signal but SIGKILL is caught as sigtimedwait() does) and
//!   goes to the holder as `CR_DEPUTY_SIGNAL`, for the host the process runs
//!   on; SIGKILL ends it, after a `CR_DEPUTY_KILLED`;
//! - the holder's `CR_DEPUTY_EXIT` with the copy's wait status ends it with
//!   that status, which its parent's wait() then gets.
//!
//! Signals that were pending when the image was written went with the image:
//! the deputy drops one of each such signal before it forwards any.
//! Idle, a deputy sleeps in the read of its link: it costs a task, its fds
//! and an empty address space.

use kernel::prelude::*;

use crate::{
    sys::{
        caller,
        file::DeputyLink,
        task::{self as systask, Claim, WorkEnd},
    },
    uapi::{self, CrDeputyMsg},
};

/// Signals of each number (1 to 64) that were pending when the image was
/// written.
#[derive(Clone, Copy)]
pub(crate) struct SignalCounts([u32; 65]);

impl Default for SignalCounts {
    fn default() -> Self {
        SignalCounts([0; 65])
    }
}

impl SignalCounts {
    /// Counts the pending set `set` (bit `n - 1` for signal `n`) and the
    /// queued signals `queued`: a signal counts as often as it is queued,
    /// and once if it is only in the set.
    pub(crate) fn add(&mut self, set: u64, queued: &[uapi::CrSiginfo]) {
        let mut here = [0u32; 65];
        for q in queued {
            if let Some(n) = here.get_mut(q.signo as usize) {
                *n += 1;
            }
        }
        for (sig, n) in here.iter_mut().enumerate().skip(1) {
            if *n == 0 && set & (1u64 << (sig - 1)) != 0 {
                *n = 1;
            }
            self.0[sig] += *n;
        }
    }

    /// Whether a signal `sig` is one of those counted, and if so uncounts it.
    fn take(&mut self, sig: u32) -> bool {
        match self.0.get_mut(sig as usize) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }
}

/// A deputy, shared by the threads of the frozen process until they go.
pub(crate) struct Deputy {
    /// The link to the holder.
    link: DeputyLink,
    /// The thread that stays: the process's main thread (an address, never
    /// dereferenced).
    pub(crate) leader: usize,
    /// The signals the image carried.
    carried: SignalCounts,
    /// The process stays claimed while the deputy lives: a checkpoint of it
    /// is refused (`EBUSY`), there is nothing left to checkpoint.
    _claim: Claim,
}

impl Deputy {
    pub(crate) fn new(
        link: DeputyLink,
        leader: usize,
        carried: SignalCounts,
        claim: Claim,
    ) -> Deputy {
        Deputy {
            link,
            leader,
            carried,
            _claim: claim,
        }
    }
}

/// The code do_exit() takes for wait status `status`, if it is one of a
/// process that ended (exited, or killed by a signal).
fn exit_code(status: u32) -> Option<kernel::ffi::c_long> {
    let sig = status & 0x7f;
    let ok = status <= 0xffff && sig != 0x7f && (sig == 0 || status & 0xff00 == 0);
    ok.then_some(status as kernel::ffi::c_long)
}

fn msg(kind: u32, value: u32) -> CrDeputyMsg {
    CrDeputyMsg { kind, value }
}

/// The deputy's life, in its main thread (a task_work inside get_signal(),
/// the other threads exiting): what the thread does at its end.
pub(crate) fn serve(d: &Deputy) -> WorkEnd {
    let pid = kernel::current!().tgid_nr_ns(None);
    if let Err(e) = caller::unmap_all() {
        pr_warn!("deputy {pid}: its memory stays mapped ({e:?})\n");
    }
    systask::deputy_catch_signals();
    let mut carried = d.carried;
    let mut buf = [0u8; core::mem::size_of::<CrDeputyMsg>()];
    let mut have = 0;
    loop {
        match d.link.read_some(&mut buf[have..]) {
            Ok(0) => {
                pr_warn!("deputy {pid}: its holder closed the link; it ends as if killed\n");
                return WorkEnd::Exit(kernel::bindings::SIGKILL as kernel::ffi::c_long);
            }
            Ok(n) => {
                have += n;
                if have < buf.len() {
                    continue;
                }
                have = 0;
                let m: CrDeputyMsg = uapi::from_bytes(&buf).unwrap_or_default();
                match (m.kind, exit_code(m.value)) {
                    (uapi::CR_DEPUTY_EXIT, Some(code)) => return WorkEnd::Exit(code),
                    _ => pr_warn!(
                        "deputy {pid}: message {} ({:#x}) ignored\n",
                        m.kind,
                        m.value
                    ),
                }
            }
            Err(e) if e == EINTR => {
                if systask::fatal_signal_pending() {
                    let _ = d
                        .link
                        .send(&msg(uapi::CR_DEPUTY_KILLED, kernel::bindings::SIGKILL));
                    // get_signal() goes on to the SIGKILL.
                    return WorkEnd::Return;
                }
                match systask::deputy_next_signal() {
                    Some(sig) if carried.take(sig) => {}
                    Some(sig) => {
                        if let Err(e) = d.link.send(&msg(uapi::CR_DEPUTY_SIGNAL, sig)) {
                            pr_warn!("deputy {pid}: signal {sig} not forwarded ({e:?})\n");
                        }
                    }
                    // Something else is asked of the thread (a freezer):
                    // it cannot be done here; look again a little later.
                    None => systask::sleep_ms(100),
                }
            }
            Err(e) => {
                pr_warn!("deputy {pid}: its link failed ({e:?}); it ends as if killed\n");
                return WorkEnd::Exit(kernel::bindings::SIGKILL as kernel::ffi::c_long);
            }
        }
    }
}
