// SPDX-License-Identifier: GPL-2.0

//! Checkpoint of a local process: freeze it, stream its image, thaw (or end)
//! it. The image's records, in order, are described in
//! Documentation/image-format.rst.

mod collect;
mod write;

use kernel::prelude::*;

use crate::{
    class::{CheckpointReport, CheckpointRequest},
    error::{Failure, OrFail, Reason},
    freeze::{self, FreezeError},
    image::WriteError,
    sys::{
        self,
        file::{self, OutFile},
        mm::AddressSpace,
        task::{Claim, Process},
    },
    uapi,
};

use collect::refuse_what_restore_cannot_bring_back;
use write::write_image;

/// Longest path cr stores.
pub(super) const PATH_MAX: usize = uapi::CR_IMAGE_MAX_PATH as usize;

/// The errno and reason for an error from the image writer: the output
/// stream's, or a rule of the format the image would break.
pub(super) fn output_failure(err: WriteError) -> Failure {
    let err = match err {
        WriteError::Output(e) => e,
        WriteError::Refused(e) => return Failure::unrestorable(e),
    };
    let reason = if err == EINTR {
        Reason::Interrupted
    } else if err == E2BIG {
        Reason::Limit
    } else if err == ENOMEM {
        Reason::None
    } else {
        Reason::Output
    };
    Failure::new(err, reason)
}

/// OrFail `Process::checkable` refused.
fn check_failure(err: Error) -> Failure {
    let reason = if err == EDEADLK {
        Reason::SelfProcess
    } else if err == EBUSY {
        Reason::Stopped
    } else if err == EINVAL {
        Reason::Kthread
    } else if err == EOPNOTSUPP {
        Reason::Leaderless
    } else {
        Reason::NoProcess
    };
    Failure::new(err, reason)
}

/// Checkpoints `process` as `req` asks.
#[inline(never)]
pub(crate) fn checkpoint(
    process: &Process,
    req: &CheckpointRequest,
) -> Result<CheckpointReport, Failure> {
    process.checkable().map_err(check_failure)?;
    let space = AddressSpace::of(process.leader()).or_fail(Reason::NoProcess)?;
    if req.proof_fd >= 0 {
        file::check_proof(req.proof_fd, &space).or_fail(Reason::Proof)?;
    } else if !process.caller_is_capable() {
        return Err(Failure::new(EPERM, Reason::Perm));
    }
    // A kill that would not end it must not be promised.
    if req.kill && !process.killable() {
        return Err(Failure::new(EINVAL, Reason::Unkillable));
    }
    let mut out = OutFile::get(req.out_fd).or_fail(Reason::Output)?;
    refuse_what_restore_cannot_bring_back(process, &space, None, !req.partial)?;
    let _claim = Claim::take(process).or_fail(Reason::Busy)?;

    let frozen = freeze::freeze(process, req.freeze_timeout_ms).map_err(|e| match e {
        FreezeError::Timeout => Failure::new(ETIMEDOUT, Reason::Timeout),
        FreezeError::Interrupted => Failure::new(EINTR, Reason::Interrupted),
        FreezeError::Exited => Failure::new(ESRCH, Reason::NoProcess),
        FreezeError::Other(e) => Failure::new(e, Reason::None),
    })?;
    // Frozen now; check what may have changed before the last thread stopped:
    // it may have exited (then it has no mm either), exec'd, or changed its
    // credentials or dumpability.
    process.checkable().map_err(check_failure)?;
    if !space.is_current_for(process.leader()) {
        return Err(Failure::new(EAGAIN, Reason::Exec));
    }
    if req.proof_fd < 0 && !process.caller_is_capable() {
        return Err(Failure::new(EPERM, Reason::Perm));
    }

    // Frozen, nothing can race the look: no fork, no new fd, and every
    // reference to a pipe is a holder's.
    let (areas, fds) =
        refuse_what_restore_cannot_bring_back(process, &space, Some(&frozen), !req.partial)?
            .ok_or(Failure::new(EINVAL, Reason::None))?;
    let mut report = write_image(process, &space, &frozen, areas, &fds, &mut out)?;
    if req.kill {
        process.kill();
    }
    report.frozen_ns = sys::now_ns() - frozen.since;
    drop(frozen);
    Ok(report)
}
