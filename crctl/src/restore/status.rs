// SPDX-License-Identifier: GPL-2.0

//! The status pipe between crctl and the restoring child. The module writes
//! a `struct cr_restore_status` to it at the end of the restore (success, or
//! a failure past the point of no return); a child that fails before writes
//! [`MESSAGE`] and its error's words instead. crctl reads to the end (every
//! write end closed: the child's, by the restore or by its exit), reaps a
//! child that failed, and says what came of it.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{OwnedFd, RawFd};

use rustix::process::{Pid, WaitOptions};

use super::{fds, spawn, PidChoice, Restored};
use crate::error::{Error, Result};
use crate::sys;
use crate::uapi::{from_bytes, CrRestoreStatus};

/// Text the child writes to the status pipe when it fails before the kernel
/// could write a status: the first four bytes read as a positive `error`,
/// which a kernel status never has.
const MESSAGE: &[u8] = b"crctl-message:";

/// A new status pipe: (read end, write end), both close-on-exec.
pub(super) fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    fds::pipe_cloexec()
}

/// Writes a failure message for the parent to the status pipe, and closes
/// it. `status_fd` is the pipe's write end, still open in this child (a
/// restore that gets past it has closed it and never comes back).
pub(super) fn tell(status_fd: RawFd, err: &Error) {
    let mut msg = MESSAGE.to_vec();
    msg.extend_from_slice(err.to_string().as_bytes());
    sys::write_and_close(status_fd, &msg);
}

/// Reads what came of the restore from the status pipe's read end, once the
/// restoring `child` is done with it; reaps the child if it failed.
pub(super) fn outcome(
    status_rd: OwnedFd,
    child: spawn::Pid,
    choice: PidChoice,
) -> Result<Restored> {
    let mut status = File::from(status_rd);
    let mut buf = Vec::new();
    status.read_to_end(&mut buf)?;
    let reap = || {
        // Our child, which failed; how it ended says nothing more.
        let _ = rustix::process::waitpid(Pid::from_raw(child), WaitOptions::empty());
    };
    if let Some(text) = buf.strip_prefix(MESSAGE) {
        reap();
        return Err(Error::Child(String::from_utf8_lossy(text).into_owned()));
    }
    let Some(s) = from_bytes::<CrRestoreStatus>(&buf) else {
        reap();
        return Err(Error::NoWord);
    };
    if s.error != 0 {
        reap();
        return Err(Error::Late {
            err: io::Error::from_raw_os_error(-s.error),
            reason: s.reason,
            offset: s.offset,
        });
    }
    let outer = if choice == PidChoice::Namespace {
        let path = format!("/proc/{child}/task/{child}/children");
        let text = std::fs::read_to_string(&path).map_err(|err| Error::ReadChildren {
            path: path.clone(),
            err,
        })?;
        text.split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or(Error::NoRestoredChild(path))?
    } else {
        s.pid
    };
    Ok(Restored {
        pid: outer,
        inner_pid: s.pid,
        child: child as u32,
        forwarded: Vec::new(),
        stdin: None,
    })
}
