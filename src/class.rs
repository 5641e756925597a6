// SPDX-License-Identifier: GPL-2.0

//! The process-class layer: a process is an object, and its class decides how
//! each of cr's operations acts on it. An ioctl resolves its target (a
//! cluster-wide pid) to a class instance and calls through [`ProcessClass`]:
//! one indirect call per operation, not per page or record, which is all the
//! layer costs a local process.
//!
//! Classes: [`local::Local`] (this host, implemented), `Debugged` and `Remote`
//! (designed in Documentation/design.rst, not built yet: a cluster pid naming
//! another host is refused with `EREMOTE`).

use kernel::prelude::*;

use crate::uapi;

pub(crate) mod local;

/// What a checkpoint is asked to do (from `struct cr_checkpoint_args`).
pub(crate) struct CheckpointRequest {
    /// fd the image is streamed to.
    pub(crate) out_fd: i32,
    /// fd of the target's /proc/<pid>/mem, or -1.
    pub(crate) proof_fd: i32,
    /// End the target once the image is complete.
    pub(crate) kill: bool,
    /// Write the image even if the process holds what no restore brings
    /// back (never with `kill`).
    pub(crate) partial: bool,
    /// How long the threads may take to stop.
    pub(crate) freeze_timeout_ms: u32,
}

/// What a checkpoint did.
#[derive(Default)]
pub(crate) struct CheckpointReport {
    pub(crate) bytes: u64,
    pub(crate) pages: u64,
    pub(crate) frozen_ns: u64,
    pub(crate) threads: u32,
    pub(crate) vmas: u32,
}

/// A failed operation: the errno, and `CR_FAIL_*` saying why (with the
/// address of the memory area at fault, if any, and a message for people).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) err: Error,
    pub(crate) reason: u32,
    pub(crate) addr: u64,
    /// What exactly is wrong, in the words every reader of cr uses (empty
    /// when `reason` says it all).
    pub(crate) msg: Message,
}

/// The text of a [`Failure`]: fixed, or formatted for this one.
#[derive(Debug)]
pub(crate) enum Message {
    Fixed(&'static str),
    Made(KVec<u8>),
}

impl Message {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Fixed(s) => s.as_bytes(),
            Message::Made(v) => v,
        }
    }

    /// `what` formatted, cut at the longest message the ABI carries (a
    /// failed allocation cuts it too: the errno and reason still say why).
    fn made(what: &dyn core::fmt::Display) -> Message {
        struct Text(KVec<u8>);
        impl core::fmt::Write for Text {
            fn write_str(&mut self, s: &str) -> core::fmt::Result {
                let room = (uapi::CR_MSG_MAX as usize - 1).saturating_sub(self.0.len());
                let s = &s.as_bytes()[..s.len().min(room)];
                self.0
                    .extend_from_slice(s, GFP_KERNEL_ACCOUNT)
                    .map_err(|_| core::fmt::Error)
            }
        }
        let mut t = Text(KVec::new());
        let _ = core::fmt::write(&mut t, format_args!("{what}"));
        Message::Made(t.0)
    }
}

impl Failure {
    pub(crate) fn new(err: Error, reason: u32) -> Failure {
        Failure::at(err, reason, 0)
    }

    /// A failure at `addr` (a memory area's address, or an image offset).
    pub(crate) fn at(err: Error, reason: u32, addr: u64) -> Failure {
        Failure {
            err,
            reason,
            addr,
            msg: Message::Fixed(""),
        }
    }

    /// A checkpoint refused because a restore would refuse its image: the
    /// format's rule, with the value it names.
    pub(crate) fn unrestorable(e: crate::format::FormatError) -> Failure {
        Failure {
            err: EINVAL,
            reason: uapi::CR_FAIL_UNRESTORABLE,
            addr: e.value,
            msg: Message::Fixed(e.what),
        }
    }

    /// A checkpoint refused because the process holds what no restore brings
    /// back (rules.rs), said as every side says it.
    pub(crate) fn holds(reason: u32, addr: u64, what: &dyn core::fmt::Display) -> Failure {
        Failure {
            err: EOPNOTSUPP,
            reason,
            addr,
            msg: Message::made(what),
        }
    }
}

/// Attaches a `CR_FAIL_*` reason to an error.
pub(crate) trait OrFail<T> {
    fn or_fail(self, reason: u32) -> Result<T, Failure>;
}

impl<T, E: Into<Error>> OrFail<T> for core::result::Result<T, E> {
    fn or_fail(self, reason: u32) -> Result<T, Failure> {
        self.map_err(|err| Failure::new(err.into(), reason))
    }
}

/// The operations cr performs on a process, one implementation per class.
pub(crate) trait ProcessClass {
    /// Stops the process, streams its image to `req.out_fd`, then lets it run
    /// on, or ends it when `req.kill` is set.
    fn checkpoint(&self, req: &CheckpointRequest) -> Result<CheckpointReport, Failure>;
}

/// The class instance for cluster-wide pid `cpid`.
pub(crate) fn resolve(cpid: u64) -> Result<KBox<dyn ProcessClass>, Failure> {
    if uapi::cpid_host(cpid) != 0 {
        return Err(Failure::new(EREMOTE, uapi::CR_FAIL_REMOTE));
    }
    let local = local::Local::find(uapi::cpid_pid(cpid))?;
    let class: KBox<dyn ProcessClass> =
        KBox::new(local, GFP_KERNEL_ACCOUNT).or_fail(uapi::CR_FAIL_NONE)?;
    Ok(class)
}
