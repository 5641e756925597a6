// SPDX-License-Identifier: GPL-2.0

//! Failures of cr's operations: the errno, why ([`Reason`], the ABI's
//! `CR_FAIL_*`), where, and a message for people.
//!
//! A [`Failure`] is what every operation returns on error, and what the
//! ioctls copy out (`fail_reason`, `fail_addr`, `msg`). Plain errors become
//! failures with [`Reason::None`] through `?` (`From<Error>`,
//! `From<AllocError>`); [`OrFail::or_fail`] gives one a reason.

use kernel::{alloc::AllocError, prelude::*};

use crate::{image::format::FormatError, uapi};

/// Why an operation failed: `CR_FAIL_*` of include/uapi/linux/cr.h (the
/// errno each usually comes with is the one named there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Reason {
    /// No particular reason: the errno says it all (an allocation failed, a write failed, ...).
    None = uapi::CR_FAIL_NONE,
    /// EINVAL: unknown flags, nonzero reserved fields.
    Args = uapi::CR_FAIL_ARGS,
    /// EREMOTE: the target lives on another host.
    Remote = uapi::CR_FAIL_REMOTE,
    /// ESRCH: no such process (or it exited).
    NoProcess = uapi::CR_FAIL_NO_PROCESS,
    /// EINVAL: a kernel thread.
    Kthread = uapi::CR_FAIL_KTHREAD,
    /// EDEADLK: the caller's own process.
    SelfProcess = uapi::CR_FAIL_SELF,
    /// EBUSY: stopped (SIGSTOP) or traced.
    Stopped = uapi::CR_FAIL_STOPPED,
    /// EPERM: no proof and no capability.
    Perm = uapi::CR_FAIL_PERM,
    /// EINVAL/EPERM: proof_fd is not the target's /proc/<pid>/mem.
    Proof = uapi::CR_FAIL_PROOF,
    /// Out_fd is bad (EBADF, EAGAIN: O_NONBLOCK) or a write failed.
    Output = uapi::CR_FAIL_OUTPUT,
    /// EBUSY: another checkpoint of this process is running.
    Busy = uapi::CR_FAIL_BUSY,
    /// ETIMEDOUT: a thread did not stop (uninterruptible sleep).
    Timeout = uapi::CR_FAIL_TIMEOUT,
    /// EINTR: the caller got a signal.
    Interrupted = uapi::CR_FAIL_INTERRUPTED,
    /// EAGAIN: the target exec'd during the checkpoint.
    Exec = uapi::CR_FAIL_EXEC,
    /// EOPNOTSUPP: shared anonymous/SysV memory at fail_addr.
    Shmem = uapi::CR_FAIL_SHMEM,
    /// EOPNOTSUPP: a device mapping at fail_addr.
    Device = uapi::CR_FAIL_DEVICE,
    /// E2BIG: more threads, areas or signals than an image holds.
    Limit = uapi::CR_FAIL_LIMIT,
    /// Restore: the image is not valid (EINVAL, EBADMSG, ENODATA, ...).
    Image = uapi::CR_FAIL_IMAGE,
    /// Restore: ENOEXEC: other xsave layout, or state this CPU cannot hold.
    Cpu = uapi::CR_FAIL_CPU,
    /// Restore: EINVAL: [vdso]/[vvar] not where the image has them.
    Vdso = uapi::CR_FAIL_VDSO,
    /// Restore: a mapped or open file is missing (ENOENT) or changed (ESTALE).
    File = uapi::CR_FAIL_FILE,
    /// Restore: EOPNOTSUPP: something this version cannot restore yet.
    Unsupported = uapi::CR_FAIL_UNSUPPORTED,
    /// Restore: EBUSY/ETIMEDOUT: the caller's threads do not match the image's.
    Caller = uapi::CR_FAIL_CALLER,
    /// Restore thread: ECANCELED: the leader's restore failed first.
    Canceled = uapi::CR_FAIL_CANCELED,
    /// EINVAL: CR_CHECKPOINT_KILL of a process SIGKILL cannot end (a pid namespace's init).
    Unkillable = uapi::CR_FAIL_UNKILLABLE,
    /// EINVAL: a restore would refuse the image (msg says why); nothing was ended.
    Unrestorable = uapi::CR_FAIL_UNRESTORABLE,
    /// EOPNOTSUPP: the main thread exited (pthread_exit) while others run.
    Leaderless = uapi::CR_FAIL_LEADERLESS,
    /// EOPNOTSUPP: it holds what no restore brings back yet (msg names it); nothing was frozen or ended.
    Holds = uapi::CR_FAIL_HOLDS,
    /// ECANCELED: a hold ended without commit; the target runs on (checkpoint)
    /// or never ran (restore).
    NotCommitted = uapi::CR_FAIL_NOT_COMMITTED,
    /// The operation failed on the process's host (msg: that host's words).
    Elsewhere = uapi::CR_FAIL_ELSEWHERE,
}

impl Reason {
    /// The ABI's `CR_FAIL_*` value.
    pub(crate) fn code(self) -> u32 {
        self as u32
    }

    /// The reason whose code is `code`, if the ABI defines one.
    pub(crate) fn from_code(code: u32) -> Option<Reason> {
        use Reason::*;
        [
            None,
            Args,
            Remote,
            NoProcess,
            Kthread,
            SelfProcess,
            Stopped,
            Perm,
            Proof,
            Output,
            Busy,
            Timeout,
            Interrupted,
            Exec,
            Shmem,
            Device,
            Limit,
            Image,
            Cpu,
            Vdso,
            File,
            Unsupported,
            Caller,
            Canceled,
            Unkillable,
            Unrestorable,
            Leaderless,
            Holds,
            NotCommitted,
            Elsewhere,
        ]
        .into_iter()
        .find(|r| r.code() == code)
    }
}

/// A failed operation: the errno, and why (with the address of the memory
/// area at fault, or the image offset, if any, and a message for people).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) err: Error,
    pub(crate) reason: Reason,
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
    pub(crate) fn new(err: Error, reason: Reason) -> Failure {
        Failure::at(err, reason, 0)
    }

    /// A failure at `addr` (a memory area's address, or an image offset).
    pub(crate) fn at(err: Error, reason: Reason, addr: u64) -> Failure {
        Failure {
            err,
            reason,
            addr,
            msg: Message::Fixed(""),
        }
    }

    /// `Err(self)` if `bad`.
    pub(crate) fn only_if(self, bad: bool) -> Result<(), Failure> {
        if bad {
            Err(self)
        } else {
            Ok(())
        }
    }

    /// A checkpoint refused because a restore would refuse its image: the
    /// format's rule, with the value it names.
    pub(crate) fn unrestorable(e: FormatError) -> Failure {
        Failure {
            err: EINVAL,
            reason: Reason::Unrestorable,
            addr: e.value,
            msg: Message::Fixed(e.what),
        }
    }

    /// A checkpoint refused because the process holds what no restore brings
    /// back (rules.rs), said as every side says it.
    pub(crate) fn holds(reason: Reason, addr: u64, what: &dyn core::fmt::Display) -> Failure {
        Failure {
            err: EOPNOTSUPP,
            reason,
            addr,
            msg: Message::made(what),
        }
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Failure {
        Failure::new(err, Reason::None)
    }
}

impl From<AllocError> for Failure {
    fn from(_: AllocError) -> Failure {
        Failure::new(ENOMEM, Reason::None)
    }
}

/// Attaches a [`Reason`] to an error.
pub(crate) trait OrFail<T> {
    fn or_fail(self, reason: Reason) -> Result<T, Failure>;
}

impl<T, E: Into<Error>> OrFail<T> for core::result::Result<T, E> {
    fn or_fail(self, reason: Reason) -> Result<T, Failure> {
        self.map_err(|err| Failure::new(err.into(), reason))
    }
}
