// SPDX-License-Identifier: GPL-2.0

//! Checkpoint of a local process: freeze it, stream its image, thaw (or end)
//! it. The image's records, in order, are described in
//! Documentation/image-format.rst.

mod collect;
mod pipeline;
mod write;

use kernel::prelude::*;

use crate::{
    class::{local::Local, CheckpointReport, CheckpointRequest, ProcessClass, Signal},
    deputy::Deputy,
    error::{Failure, OrFail, Reason},
    image::WriteError,
    sys::{
        self, caller,
        file::{self, Decision, InFile, OutFile},
        mm::AddressSpace,
        task::Claim,
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

/// Checkpoints `target` as `req` asks. The steps that act on the process
/// (its status, freeze, thaw, signal, exit) go through its class, as every
/// operation does; what only a local process has (its memory, fds and the
/// state its threads saved) is read from `target.process()`.
#[inline(never)]
pub(crate) fn checkpoint(
    target: &Local,
    req: &CheckpointRequest<'_>,
) -> Result<CheckpointReport, Failure> {
    let process = target.process();
    let status = target.status()?;
    let space = AddressSpace::of(process.leader()).or_fail(Reason::NoProcess)?;
    if req.proof_fd >= 0 {
        file::check_proof(req.proof_fd, &space).or_fail(Reason::Proof)?;
    } else if !status.caller_capable {
        return Err(Failure::new(EPERM, Reason::Perm));
    }
    // A kill that would not end it must not be promised (a hold's commit
    // is one).
    if (req.kill || req.hold_fd.is_some()) && !status.killable {
        return Err(Failure::new(EINVAL, Reason::Unkillable));
    }
    let mut out = OutFile::get(req.out_fd).or_fail(Reason::Output)?;
    let hold = req
        .hold_fd
        .map(InFile::get)
        .transpose()
        .or_fail(Reason::Args)?;
    refuse_what_restore_cannot_bring_back(process, &space, None, !req.partial)?;
    let claim = Claim::take(process).or_fail(Reason::Busy)?;

    let frozen = target.freeze(req.freeze_timeout_ms)?;
    // Frozen now; check what may have changed before the last thread stopped:
    // it may have exited (then it has no mm either), exec'd, or changed its
    // credentials or dumpability.
    let status = target.status()?;
    if !space.is_current_for(process.leader()) {
        return Err(Failure::new(EAGAIN, Reason::Exec));
    }
    if req.proof_fd < 0 && !status.caller_capable {
        return Err(Failure::new(EPERM, Reason::Perm));
    }

    // Frozen, nothing can race the look: no fork, no new fd, and every
    // reference to a pipe is a holder's.
    let (areas, fds) =
        refuse_what_restore_cannot_bring_back(process, &space, Some(&frozen), !req.partial)?
            .ok_or(Failure::new(EINVAL, Reason::None))?;
    let mut report = write_image(process, &space, &frozen, areas, &fds, &mut out)?;
    report.frozen_ns = sys::now_ns() - frozen.since;
    // Held: the decision (a migration's: has the copy been restored?) says
    // whether the process ends, leaves a deputy or runs on. Anything but a
    // commit thaws it.
    let kill = match hold {
        Some(h) => {
            // Its reader sees the image end while the decision is awaited.
            // (Not the ioctl's own file: /dev/cr cannot be written, so an
            // image could not have been written to it.)
            drop(out);
            caller::close_now(req.out_fd);
            match h.decision() {
                Decision::Commit => true,
                Decision::Deputy => {
                    let Ok(link) = h.into_link() else {
                        target.thaw(frozen);
                        return Err(Failure::new(EBADF, Reason::Args));
                    };
                    drop(space);
                    let leader = process.leader().as_ptr() as usize;
                    let deputy = Deputy::new(link, leader, report.carried, claim);
                    target.leave_deputy(frozen, deputy)?;
                    return Ok(report);
                }
                Decision::No => {
                    target.thaw(frozen);
                    return Err(Failure::new(ECANCELED, Reason::NotCommitted));
                }
            }
        }
        None => req.kill,
    };
    if kill {
        target.signal(Signal::Kill)?;
        target.thaw(frozen);
        drop(space);
        // The image is complete and the process is ending: a wait that runs
        // out is no failure of the checkpoint.
        let _ = target.wait_exit(req.freeze_timeout_ms);
    } else {
        target.thaw(frozen);
    }
    drop(claim);
    Ok(report)
}
