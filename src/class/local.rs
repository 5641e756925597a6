// SPDX-License-Identifier: GPL-2.0

//! The local class: a process on this host, acted on directly.

use crate::{
    checkpoint,
    class::{CheckpointReport, CheckpointRequest, ProcessClass},
    error::{Failure, OrFail, Reason},
    sys::task::Process,
};

/// A process on this host.
pub(crate) struct Local {
    process: Process,
}

impl Local {
    /// The local process whose id is `pid` in the caller's pid namespace.
    pub(crate) fn find(pid: u32) -> Result<Local, Failure> {
        let process = Process::find(pid).or_fail(Reason::NoProcess)?;
        Ok(Local { process })
    }
}

impl ProcessClass for Local {
    fn checkpoint(&self, req: &CheckpointRequest) -> Result<CheckpointReport, Failure> {
        checkpoint::checkpoint(&self.process, req)
    }
}
