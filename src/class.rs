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

use crate::{
    error::{Failure, Reason},
    uapi,
};

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

/// The operations cr performs on a process, one implementation per class.
pub(crate) trait ProcessClass {
    /// Stops the process, streams its image to `req.out_fd`, then lets it run
    /// on, or ends it when `req.kill` is set.
    fn checkpoint(&self, req: &CheckpointRequest) -> Result<CheckpointReport, Failure>;
}

/// The class instance for cluster-wide pid `cpid`.
pub(crate) fn resolve(cpid: u64) -> Result<KBox<dyn ProcessClass>, Failure> {
    if uapi::cpid_host(cpid) != 0 {
        return Err(Failure::new(EREMOTE, Reason::Remote));
    }
    let local = local::Local::find(uapi::cpid_pid(cpid))?;
    let class: KBox<dyn ProcessClass> = KBox::new(local, GFP_KERNEL_ACCOUNT)?;
    Ok(class)
}
